/**
 * The view of GET /v1/peers (SPEC.md "Gossip"): for each peer of the PEERS setting, its pinned key, the
 * last checkpoint verified (size, root, the signed note, when), how far its entries were carried, the
 * lag, the counts, the last error, and its state: `following`, `stale` (no checkpoint verified for
 * staleMs: the peer is down, or refuses us, or serves tiles we refuse), or `forked`, with the evidence
 * (both signed checkpoints and the proof, as cli/fork-evidence.ts checks them). Any process answers it
 * from the database, not only the one that follows.
 */
import { base64Encode } from '../../log/bytes.js';
import type { PeerSpec } from './config.js';
import type { Evidence, PeerSqlStore } from './store.js';

/** jsonSize returns a size as a JSON number (safe integers; sizes are at most 2^53-1 here). */
function n(v: bigint): number {
  return Number(v);
}

/** evidenceJson is the wire form of fork evidence (the input of `sig audit --evidence`). */
export function evidenceJson(peer: { url: string; vkey: string }, e: Evidence): Record<string, unknown> {
  return {
    peer: peer.url,
    vkey: peer.vkey,
    kind: e.kind,
    kept: e.keptCheckpoint,
    next: e.nextCheckpoint,
    consistencyProof: e.consistencyProof.map(base64Encode),
    prefixRoot: e.prefixRoot ? base64Encode(e.prefixRoot) : null,
    message: e.message,
    detectedAt: e.detectedAt?.toISOString() ?? null,
  };
}

/** peersView returns the JSON body of GET /v1/peers: `{"peers": [...]}` in PEERS order. */
export async function peersView(
  specs: readonly PeerSpec[],
  store: Pick<PeerSqlStore, 'list' | 'evidence'>,
  staleMs: number,
  now = new Date(),
): Promise<{ peers: Record<string, unknown>[] }> {
  const rows = new Map((await store.list()).map((r) => [`${r.url} ${r.vkey}`, r]));
  const peers: Record<string, unknown>[] = [];
  for (const p of specs) {
    const r = rows.get(`${p.url} ${p.vkey}`);
    const verifiedAt = r?.verifiedAt;
    const state =
      r?.state === 'forked'
        ? 'forked'
        : verifiedAt === undefined || now.getTime() - verifiedAt.getTime() > staleMs
          ? 'stale'
          : 'following';
    const evidence =
      r?.state === 'forked' ? (await store.evidence(p.url, p.vkey)).map((e) => evidenceJson(p, e)) : [];
    peers.push({
      url: p.url,
      vkey: p.vkey,
      origin: p.origin,
      state,
      verified: r?.checkpoint
        ? {
            treeSize: n(r.treeSize),
            rootHash: r.rootHash ? base64Encode(r.rootHash) : null,
            checkpoint: r.checkpoint,
            at: verifiedAt?.toISOString() ?? null,
          }
        : null,
      carried: r ? n(r.carried) : 0,
      lag: {
        entries: r ? n(r.treeSize - r.carried) : 0,
        seconds: verifiedAt ? Math.max(0, (now.getTime() - verifiedAt.getTime()) / 1000) : null,
      },
      counts: {
        attestations: r ? n(r.attestations) : 0,
        indexLeaves: r ? n(r.indexLeaves) : 0,
        invalid: r ? n(r.invalid) : 0,
      },
      lastInvalid: r?.lastInvalid ?? null,
      lastError: r?.lastError ? { message: r.lastError, at: r.lastErrorAt?.toISOString() ?? null } : null,
      evidence,
    });
  }
  return { peers };
}
