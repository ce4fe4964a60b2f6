/**
 * PeerClient: the requests a follower makes to a peer (c2sp.org/tlog-tiles under <url>/log, and
 * GET /v1/keys/<fp>), each bounded before any work: a timeout that covers the body, a byte cap checked
 * on Content-Length and again while streaming (an endless or huge body is cut at the cap, never
 * buffered), and no redirects (a peer is pinned by URL). Bounds as cli/client.ts CLIENT_LIMITS puts them
 * on a server: hash tiles by their width (32 bytes a hash), entry bundles by their width (65,537 bytes an
 * entry), keys by log/keys.ts KEY_LIMITS.maxBytes, checkpoints by CHECKPOINT_BYTES.
 */

import { type BodyRead, raceAbort, readBody, timeoutSignal } from '../../log/bounded-read.js';
import { MAX_ENTRY_BYTES } from '../../log/entry.js';
import { HASH_SIZE } from '../../log/hash.js';
import { KEY_LIMITS } from '../../log/keys.js';
import { ENTRIES_LEVEL, type TileCoord, tilePath } from '../../log/tiles.js';
import { PeerError } from './errors.js';

/** CHECKPOINT_BYTES: the largest checkpoint read from a peer (ours are under 1 KiB; cosigned ones grow). */
export const CHECKPOINT_BYTES = 64 * 1024;

/** tileBytes returns the most bytes a tile may have: 32 a hash, 65,537 an entry of a bundle. */
export function tileBytes(t: TileCoord): number {
  return t.level === ENTRIES_LEVEL ? t.width * (2 + MAX_ENTRY_BYTES) : t.width * HASH_SIZE;
}

/** PeerClient talks to one peer. `bytes` counts what its bodies carried (the round's byte budget). */
export class PeerClient {
  readonly url: string;
  readonly timeoutMs: number;
  /** stop: aborted when the follower closes, so shutdown never waits out a request's timeout. */
  private readonly stop: AbortSignal | undefined;
  bytes = 0;

  constructor(url: string, timeoutMs: number, stop?: AbortSignal) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.stop = stop;
  }

  /** checkpoint returns the peer's signed checkpoint text (unverified). */
  async checkpoint(): Promise<string> {
    const b = await this.get('/log/checkpoint', CHECKPOINT_BYTES, 'a checkpoint');
    return new TextDecoder('utf-8', { fatal: false }).decode(b!);
  }

  /** tile returns the tile's data, at most tileBytes(t) bytes (unverified). */
  async tile(t: TileCoord): Promise<Uint8Array> {
    return (await this.get(`/log/${tilePath(t)}`, tileBytes(t), tilePath(t)))!;
  }

  /** key returns the armored signer key the peer holds for `fp`, or undefined on 404. */
  async key(fp: string): Promise<string | undefined> {
    const b = await this.get(`/v1/keys/${fp}`, KEY_LIMITS.maxBytes, `signer key ${fp}`, true);
    return b === undefined ? undefined : new TextDecoder().decode(b);
  }

  /**
   * get fetches `<url><path>` and returns its body, at most `cap` bytes (undefined for a 404 when
   * allow404). Throws PeerError PEER_UNAVAILABLE (network, timeout, cut body, 5xx, other status),
   * PEER_BUSY (429, 503; retryAfterMs from Retry-After), PEER_LIMIT_EXCEEDED (past the cap).
   */
  async get(path: string, cap: number, what: string, allow404 = false): Promise<Uint8Array | undefined> {
    const url = `${this.url}${path}`;
    const signal = timeoutSignal(this.timeoutMs, this.stop);
    let res: Response;
    try {
      res = await raceAbort(fetch(url, { redirect: 'error', signal }), signal);
    } catch (e) {
      throw unavailable(url, e, this.timeoutMs);
    }
    if (res.status === 404 && allow404) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    if (res.status === 429 || res.status === 503) {
      await res.body?.cancel().catch(() => {});
      const ra = Number(res.headers.get('retry-after'));
      throw new PeerError(
        'PEER_BUSY',
        `${url}: ${res.status}, the peer asks to come back later`,
        { url, status: res.status },
        Number.isFinite(ra) && ra >= 0 ? Math.min(ra, 3600) * 1000 : undefined,
      );
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new PeerError('PEER_UNAVAILABLE', `${url}: answered ${res.status} for ${what}`, {
        url,
        status: res.status,
      });
    }
    return this.body(res, cap, url, what, signal);
  }

  /** body streams a response body within the request's signal, refusing it at once past `cap` bytes. */
  private async body(
    res: Response,
    cap: number,
    url: string,
    what: string,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    let read: BodyRead;
    try {
      read = await readBody(res, cap, signal);
    } catch (e) {
      throw unavailable(url, e, this.timeoutMs, true);
    }
    if (read.over) {
      throw new PeerError(
        'PEER_LIMIT_EXCEEDED',
        `${url}: the answer is larger than ${cap} bytes, the most a follower reads for ${what}; refused without reading further`,
        { url, limit: cap },
      );
    }
    this.bytes += read.bytes.length;
    return read.bytes;
  }
}

function unavailable(url: string, e: unknown, timeoutMs: number, reading = false): PeerError {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError';
  const why = timedOut
    ? `no complete answer within ${timeoutMs / 1000}s`
    : (err.cause?.code ?? err.cause?.message ?? err.message ?? String(e));
  return new PeerError(
    'PEER_UNAVAILABLE',
    reading ? `${url}: the answer stopped before it was complete (${why})` : `${url}: ${why}`,
    { url },
  );
}
