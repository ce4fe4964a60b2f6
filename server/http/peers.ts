/**
 * GET /v1/peers (SPEC.md "Gossip: servers that follow each other"): each peer of the PEERS setting, its
 * pinned key, the last checkpoint verified (size, root, time), how far its entries were carried, the
 * lag, the counts of what was carried and skipped, the last error, and its state (following, stale,
 * forked with the evidence: both signed checkpoints and the proof). The view is server/peers/status.ts;
 * the Prometheus lines of the followers' counters are renderPeerMetrics (GET /metrics).
 */
import { type Router as ExpressRouter, Router } from 'express';
import type { PeerCounters } from '../peers/followers.js';
import type { HttpContext } from './context.js';

/** PEER_STALE_MS: a peer whose checkpoint was not verified for this long is `stale` (the follower polls every second). */
export const PEER_STALE_MS = 60_000;

/** peerRoutes returns the router of GET /v1/peers. */
export function peerRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.get('/v1/peers', async (_req, res) => {
    const body = await ctx.service.peers(ctx.config.peers ?? [], PEER_STALE_MS);
    res.setHeader('Cache-Control', 'no-store');
    res.json(body);
  });
  return r;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** renderPeerMetrics returns the Prometheus lines of the followers' counters, labelled by peer URL. */
export function renderPeerMetrics(counters: ReadonlyMap<string, PeerCounters>): string[] {
  if (counters.size === 0) return [];
  const out: string[] = [];
  const family = (name: string, type: string, help: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}{${labels}} ${v}`);
  };
  const each = (f: (c: PeerCounters) => number): [string, number][] =>
    [...counters].map(([url, c]) => [`peer="${esc(url)}"`, f(c)]);
  family(
    'sig_peer_rounds_total',
    'counter',
    'Rounds of following a peer that completed.',
    each((c) => c.rounds),
  );
  family(
    'sig_peer_attestations_total',
    'counter',
    "Attestation entries of a peer's log submitted to this log.",
    each((c) => c.carried),
  );
  family(
    'sig_peer_attestations_new_total',
    'counter',
    'Of those, attestations this log did not hold yet.',
    each((c) => c.added),
  );
  family(
    'sig_peer_index_leaves_total',
    'counter',
    "Index leaves of a peer's log skipped.",
    each((c) => c.indexLeaves),
  );
  family(
    'sig_peer_forked',
    'gauge',
    'A peer caught forking or rolling back (evidence on GET /v1/peers): following it stopped.',
    each((c) => c.forked),
  );
  const byCode = (pick: (c: PeerCounters) => Record<string, number>): [string, number][] =>
    [...counters].flatMap(([url, c]) =>
      Object.entries(pick(c)).map(([code, n]): [string, number] => [
        `peer="${esc(url)}",code="${esc(code)}"`,
        n,
      ]),
    );
  family(
    'sig_peer_invalid_total',
    'counter',
    "Entries of a peer's log skipped because they failed our checks, by error code.",
    byCode((c) => c.invalid),
  );
  family(
    'sig_peer_errors_total',
    'counter',
    'Rounds of following a peer that failed, by error code.',
    byCode((c) => c.errors),
  );
  return out;
}
