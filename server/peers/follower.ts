/**
 * Follower: one round of following one peer log (SPEC.md "Gossip: servers that follow each other").
 *
 *  1. Fetch <url>/log/checkpoint (bounded), verify its signature by the pinned vkey (log/note.ts) and its
 *     body (log/checkpoint.ts); the origin must be the vkey's name, the size at most 2^53-1 (an index
 *     leaf names sizes up to there, SPEC.md "The index": no Sig Server log grows past it, so a 2^63
 *     tree is refused before any work).
 *  2. Judge it against the checkpoint kept for the peer (log/consistency.ts judgeCheckpoint): a smaller
 *     tree is a rollback; a larger one needs the consistency proof (log/proof.ts proveConsistency)
 *     built from the peer's own tiles, each authenticated against the new root (tiles.ts). A fork or a
 *     rollback stores the evidence and stops following the peer for good; never a smaller tree kept.
 *  3. Keep the new checkpoint (compare-and-set), then read the entries not yet carried from the entry
 *     bundles, each checked against the authenticated level-0 tile, and carry them a bundle at a time
 *     (carry.ts) until the round's budget of entries or bytes is spent, or our backlog share is full.
 *
 * Crash safety: the position (peer_state.carried) moves only after the batch's attestations are stored
 * as pending (server/admission.ts addPending commits them), so dying between the two re-reads the
 * batch at the next round, and dedup stores nothing twice; dying before addPending stores nothing. A
 * checkpoint is kept before its entries are read, and only if consistent, so a restart resumes from the
 * kept position under the kept tree, never re-reading the log from the start.
 */
import { base64Encode } from '../../log/bytes.js';
import { type Checkpoint, parseCheckpoint } from '../../log/checkpoint.js';
import { judgeCheckpoint } from '../../log/consistency.js';
import { isLogError } from '../../log/errors.js';
import { MAX_INDEX_LEAF_SIZE } from '../../log/index-map.js';
import { openNote } from '../../log/note.js';
import { proveConsistency, treeHash } from '../../log/proof.js';
import { type CarryCounts, carryBatch, type PeerAdmission } from './carry.js';
import { PeerClient } from './client.js';
import type { PeerSpec } from './config.js';
import { PeerError } from './errors.js';
import type { Evidence, PeerRow, PeerSqlStore } from './store.js';
import { VerifiedTiles } from './tiles.js';

/** PeerStore is what a follower reads and writes (PeerSqlStore, store.ts). */
export type PeerStore = Pick<PeerSqlStore, 'load' | 'keep' | 'advance' | 'failed' | 'forked'>;

/** FollowLimits bound one round. */
export interface FollowLimits {
  /** roundEntries: the most entries carried in one round. */
  roundEntries: number;
  /** roundBytes: the most body bytes read from the peer in one round (checked between requests). */
  roundBytes: number;
  /** requestTimeoutMs: one request, its body included. */
  requestTimeoutMs: number;
  /** backlogShare: carry nothing while this many attestations (all sources) wait for integration. */
  backlogShare: number;
  /** stop: aborts the round's requests when the followers close. */
  stop?: AbortSignal;
  /** maxAttestationBytes: this server's MAX_ATTESTATION_BYTES (larger attestations are skipped). */
  maxAttestationBytes?: number;
}

/** RoundOutcome: `more` when there is more to carry now; `stop` when the peer forked. */
export interface RoundOutcome {
  more: boolean;
  stop: boolean;
  /** waitMs: come back after this long (our backlog share is full). */
  waitMs?: number;
  counts?: CarryCounts;
}

/** Follower follows one peer. */
export class Follower {
  readonly peer: PeerSpec;
  private readonly store: PeerStore;
  private readonly admission: PeerAdmission & { backlog(): Promise<number> };
  private readonly limits: FollowLimits;
  /** onCarried is told each batch's counts (metrics). */
  onCarried: (c: CarryCounts) => void = () => {};

  constructor(
    peer: PeerSpec,
    store: PeerStore,
    admission: PeerAdmission & { backlog(): Promise<number> },
    limits: FollowLimits,
  ) {
    this.peer = peer;
    this.store = store;
    this.admission = admission;
    this.limits = limits;
  }

  /**
   * round runs one round (see the file comment). Throws PeerError for what the peer did wrong
   * (unreachable, busy, too large, invalid, a tile that does not match), and our own errors
   * (BACKLOG_FULL, database) as they come; a fork is an outcome (stop), not an error.
   */
  async round(): Promise<RoundOutcome> {
    let row = await this.store.load(this.peer.url, this.peer.vkey, this.peer.origin);
    if (row.state === 'forked') return { more: false, stop: true };
    const client = new PeerClient(this.peer.url, this.limits.requestTimeoutMs, this.limits.stop);
    const note = await client.checkpoint();
    const next = await this.openCheckpoint(note);
    const tiles = new VerifiedTiles(next.treeSize, next.rootHash, (t) => client.tile(t));
    const evidence = await this.judge(row, note, next, tiles);
    if (evidence) {
      await this.store.forked(row, evidence);
      return { more: false, stop: true };
    }
    if (!(await this.store.keep(row, { note, treeSize: next.treeSize, rootHash: next.rootHash }))) {
      return { more: false, stop: false }; // another follower moved the peer first
    }
    row = { ...row, checkpoint: note, treeSize: next.treeSize, rootHash: next.rootHash };
    return this.carry(row, client, tiles);
  }

  /** carry reads and submits entries from row.carried, a bundle at a time, within the round's budget. */
  private async carry(row: PeerRow, client: PeerClient, tiles: VerifiedTiles): Promise<RoundOutcome> {
    let carried = row.carried;
    let entries = 0;
    const keysMerged = new Set<string>();
    const total: CarryCounts = {
      attestations: 0,
      indexLeaves: 0,
      invalid: 0,
      lastInvalid: undefined,
      added: 0,
      invalidCodes: [],
    };
    // The next bundle is fetched while this one is checked (a remote peer's round trips overlap the
    // verification); a prefetch left when the round ends early is dropped.
    let prefetched: Promise<Uint8Array[]> | undefined;
    while (carried < row.treeSize) {
      if (entries >= this.limits.roundEntries || client.bytes >= this.limits.roundBytes) {
        return { more: true, stop: false, counts: total };
      }
      if ((await this.admission.backlog()) >= this.limits.backlogShare) {
        return { more: false, stop: false, waitMs: 500, counts: total };
      }
      const bundle = carried >> 8n;
      const all = await (prefetched ?? tiles.entries(bundle));
      prefetched = undefined;
      if ((bundle + 1n) << 8n < row.treeSize) {
        prefetched = tiles.entries(bundle + 1n);
        prefetched.catch(() => {}); // awaited (and its error thrown) by the next iteration, if any
      }
      const first = bundle << 8n;
      const batch = all
        .slice(Number(carried - first))
        .map((entry, i) => ({ index: carried + BigInt(i), entry }));
      const c = await carryBatch(batch, client, this.admission, keysMerged, this.limits.maxAttestationBytes);
      const to = carried + BigInt(batch.length);
      if (!(await this.store.advance(row, carried, { ...c, to })))
        return { more: false, stop: false, counts: total };
      this.onCarried(c);
      total.attestations += c.attestations;
      total.indexLeaves += c.indexLeaves;
      total.invalid += c.invalid;
      total.added += c.added;
      total.invalidCodes.push(...c.invalidCodes);
      total.lastInvalid = c.lastInvalid ?? total.lastInvalid;
      entries += batch.length;
      carried = to;
    }
    return { more: false, stop: false, counts: total };
  }

  /** openCheckpoint verifies the signed checkpoint by the pinned key and returns its body. */
  private async openCheckpoint(note: string): Promise<Checkpoint> {
    let c: Checkpoint;
    try {
      c = parseCheckpoint((await openNote(note, [this.peer.verifier])).text);
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw new PeerError(
        'PEER_RESPONSE_INVALID',
        `${this.peer.url}/log/checkpoint is not a checkpoint signed by the pinned key ${this.peer.vkey}: ${e.code}: ${e.message}`,
        { url: this.peer.url, cause: e.code },
      );
    }
    if (c.origin !== this.peer.origin) {
      throw new PeerError(
        'PEER_RESPONSE_INVALID',
        `${this.peer.url}/log/checkpoint is of log ${JSON.stringify(c.origin)}, the pinned key names ${JSON.stringify(this.peer.origin)}`,
        { url: this.peer.url },
      );
    }
    if (c.treeSize > MAX_INDEX_LEAF_SIZE) {
      throw new PeerError(
        'PEER_RESPONSE_INVALID',
        `${this.peer.url}/log/checkpoint claims a tree of ${c.treeSize} entries; no Sig Server log passes 2^53-1 (SPEC.md "The index"): refused`,
        { url: this.peer.url, treeSize: c.treeSize.toString() },
      );
    }
    return c;
  }

  /**
   * judge returns the evidence when `next` cannot follow the kept checkpoint (rollback, fork), else
   * undefined. The first checkpoint of a peer is taken as it is (there is nothing to compare it with).
   */
  private async judge(
    row: PeerRow,
    note: string,
    next: Checkpoint,
    tiles: VerifiedTiles,
  ): Promise<Evidence | undefined> {
    if (row.checkpoint === undefined || row.rootHash === undefined) return undefined;
    const kept: Checkpoint = {
      origin: this.peer.origin,
      treeSize: row.treeSize,
      rootHash: row.rootHash,
      extensions: [],
    };
    const proof =
      kept.treeSize > 0n && next.treeSize > kept.treeSize
        ? await proveConsistency(kept.treeSize, next.treeSize, tiles.hashReader())
        : [];
    const j = judgeCheckpoint(kept, next, proof);
    if (j.verdict === 'same' || j.verdict === 'consistent') return undefined;
    const base = {
      keptCheckpoint: row.checkpoint,
      nextCheckpoint: note,
      message: `${this.peer.url}: ${j.message}`,
    };
    if (j.verdict === 'rollback')
      return { ...base, kind: 'rollback', consistencyProof: [], prefixRoot: undefined };
    if (j.reason === 'root-mismatch')
      return { ...base, kind: 'root-mismatch', consistencyProof: [], prefixRoot: undefined };
    // The proof's hashes are nodes of the next tree (its tiles are authenticated by its root), so the
    // root they give at the kept size is what the peer's new tree says its first kept-size entries were.
    const prefixRoot = await treeHash(kept.treeSize, tiles.hashReader());
    return {
      ...base,
      message: `${base.message} (the new tree's first ${kept.treeSize} entries have root ${base64Encode(prefixRoot)})`,
      kind: 'proof-invalid',
      consistencyProof: proof,
      prefixRoot,
    };
  }
}
