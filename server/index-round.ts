/**
 * The index step of an integration round (SPEC.md "The index": "When a checkpoint is due, the integrator
 * appends one index leaf after the new entries, in the same transaction, then signs size M"). It runs
 * inside the sequencer's transaction (server/sequencer.ts, step 4), so the entries, the map's new bucket
 * versions, the index leaf, its tiles and the checkpoint over it commit together or not at all.
 */
import { hashLeaf } from '../log/hash.js';
import { encodeIndexLeaf } from '../log/index-map.js';
import { appendLeaves, type TileCoord } from '../log/tiles.js';
import { foldEntries, HISTORY_MS, type IndexStore, type MapState, TopCache } from './index-state.js';

/** PRUNE_EVERY_MS: how often an integrator prunes old map versions (each prune takes all that is due). */
const PRUNE_EVERY_MS = 10_000;

/** LeafTx is what the index step needs of the round's transaction (server/sequencer.ts IntegrationTx extends it). */
export interface LeafTx {
  /** index is the index map's storage in this transaction (server/index-sql.ts). */
  index: IndexStore;
  /** readTiles is a TileFetcher inside this transaction. */
  readTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[]>;
  /**
   * appendBatch writes entries start.. (in order) with their leaf hashes, the changed tiles and the
   * new state, and deletes the pending rows of those that came from pending (seq set).
   */
  appendBatch(b: {
    start: bigint;
    rows: readonly AppendRow[];
    leafHashes: readonly Uint8Array[];
    tiles: readonly { tile: TileCoord; data: Uint8Array }[];
    state: { treeSize: bigint; rootHash: Uint8Array };
  }): Promise<void>;
}

/** AppendRow is one entry to append: an attestation (from pending, with its seq) or an index leaf (nulls). */
export interface AppendRow {
  seq?: bigint;
  entry: Uint8Array;
  digest: Uint8Array | null;
  identifier: string | null;
  signer: string | null;
  acceptedAt: Date;
}

/** IndexFaults are test-only hooks: indexRoot replaces the root written into the index leaf (a lying log). */
export interface IndexFaults {
  indexRoot?: (root: Uint8Array, size: bigint) => Uint8Array;
}

/**
 * IndexRound appends index leaves for one integrating process. It keeps the top of the map between
 * rounds (TopCache), so a round reads only the buckets its entries touch; a process that takes over, or
 * whose previous round rolled back, loads the top again from the bucket heads first.
 */
export class IndexRound {
  readonly #cache = new TopCache();
  readonly #faults: IndexFaults;

  constructor(faults: IndexFaults = {}) {
    this.#faults = faults;
  }

  /**
   * needsLeaf says whether the tree of `treeSize` must get an index leaf before its next checkpoint:
   * it is not empty and does not end with one (new entries, or a log migrated from schema 2).
   */
  async needsLeaf(tx: LeafTx, treeSize: bigint): Promise<boolean> {
    if (treeSize === 0n) return false;
    this.#state = await tx.index.mapState();
    return this.#state.indexLeafAt !== treeSize - 1n;
  }

  /** The map's row as needsLeaf read it in this round's transaction (appendLeaf follows it in the same one). */
  #state: MapState | undefined;
  /** When this process last pruned (ms): pruning runs at most every PRUNE_EVERY_MS, not every round. */
  #prunedAt = 0;

  /**
   * appendLeaf folds the entries the map does not cover yet (mapSize..treeSize-1), appends the index
   * leaf {root, size: treeSize} at treeSize, stores the map's new bucket versions as version treeSize,
   * prunes versions no checkpoint of the last HISTORY_MS needs (nor the served checkpoint, of tree size
   * `served`, when answers are bounded by an older one than the newest), and returns the new tree.
   * Call `committed` after the transaction commits; if it does not, the next round reloads the top.
   */
  async appendLeaf(
    tx: LeafTx,
    tree: { treeSize: bigint; rootHash: Uint8Array },
    now: Date,
    served?: bigint,
  ): Promise<{ treeSize: bigint; rootHash: Uint8Array }> {
    const s = this.#state ?? (await tx.index.mapState());
    this.#state = undefined;
    const top = await this.#cache.take(tx.index, s.mapSize);
    const { root, writes } = await foldEntries(tx.index, top, s.mapSize, tree.treeSize);
    const size = tree.treeSize;
    const leafRoot = this.#faults.indexRoot ? this.#faults.indexRoot(root, size) : root;
    const entry = encodeIndexLeaf({ root: leafRoot, size });
    const leafHash = hashLeaf(entry);
    const appended = await appendLeaves(size, [leafHash], tx.readTiles);
    const next = { treeSize: appended.treeSize, rootHash: appended.rootHash };
    await tx.appendBatch({
      start: size,
      rows: [{ entry, digest: null, identifier: null, signer: null, acceptedAt: now }],
      leafHashes: [leafHash],
      tiles: appended.tiles,
      state: next,
    });
    await tx.index.writeBuckets(size, writes);
    const prunedTo =
      now.getTime() - this.#prunedAt >= PRUNE_EVERY_MS ? await this.#prune(tx, s, size, served) : s.prunedTo;
    if (prunedTo !== s.prunedTo) this.#prunedAt = now.getTime();
    await tx.index.setMapState({ mapSize: size, prunedTo, indexLeafAt: size });
    this.#pending = size;
    return next;
  }

  /**
   * #prune deletes the bucket versions no served checkpoint needs any more and returns the new
   * map_pruned_to. It keeps every version a checkpoint served in the last HISTORY_MS needs (a checkpoint
   * of tree size M needs the map of size M - 1): from the checkpoint that was the newest HISTORY_MS ago
   * on, and from the served one (`served`) when witnessing makes it lag.
   */
  async #prune(tx: LeafTx, s: MapState, size: bigint, served: bigint | undefined): Promise<bigint> {
    const then = await tx.index.servedSizeAgo(HISTORY_MS);
    let keep = then === undefined || then === 0n ? s.prunedTo : then - 1n;
    if (served !== undefined && served > 0n && served - 1n < keep) keep = served - 1n;
    if (keep < s.prunedTo) keep = s.prunedTo;
    if (keep > size) keep = size;
    if (keep > s.prunedTo) await tx.index.prune(s.prunedTo, keep);
    return keep;
  }

  #pending: bigint | undefined;

  /** committed tells the step that the round's transaction committed: the top is the map it wrote. */
  committed(): void {
    if (this.#pending !== undefined) this.#cache.moved(this.#pending);
    this.#pending = undefined;
  }

  /** rolledBack tells the step that the round's transaction did not commit. */
  rolledBack(): void {
    this.#pending = undefined;
    this.#state = undefined;
    this.#prunedAt = 0;
  }
}
