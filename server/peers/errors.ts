/**
 * Errors of following a peer (server/peers/). A peer's answers are hostile until verified: each failure
 * has a stable code, kept as the peer's last error (GET /v1/peers) and counted on /metrics. None of them
 * is an HTTP answer of this server; HTTP_STATUS lists them (as an upstream's fault) so every code has one.
 */

/** PEER_ERROR_CODES lists every stable PeerError code. */
export const PEER_ERROR_CODES = [
  'PEER_UNAVAILABLE', // network failure, timeout, a body cut short, or a 5xx
  'PEER_BUSY', // 429 or 503: the peer asked us to come back later (Retry-After)
  'PEER_LIMIT_EXCEEDED', // an answer past our cap (a huge tile, an endless body)
  'PEER_RESPONSE_INVALID', // an answer of the wrong shape, or a checkpoint not signed by the pinned key
  'PEER_TILE_MISMATCH', // a tile or entry bundle that does not match the checkpoint's root (names the tile)
  'PEER_FORKED', // the peer signed two checkpoints that cannot both be true (evidence stored)
] as const;

export type PeerErrorCode = (typeof PEER_ERROR_CODES)[number];

/** PeerError is a failed request to, or a refused answer from, a followed peer. */
export class PeerError extends Error {
  readonly code: PeerErrorCode;
  readonly details: Record<string, unknown>;
  /** retryAfterMs: the peer's Retry-After (PEER_BUSY), when it sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: PeerErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'PeerError';
    this.code = code;
    this.details = details;
    this.retryAfterMs = retryAfterMs;
  }
}
