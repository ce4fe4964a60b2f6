/**
 * The index step of an integration round (SPEC.md "The index": "When a checkpoint is due, the integrator
 * appends one index leaf after the new entries, in the same transaction, then signs size M"). It runs
 * inside the sequencer's transaction (server/sequencer.ts, step 4), so the entries, the map's new bucket
 * versions, the index leaf, its tiles and the checkpoint over it commit together or not at all.
 */
import { hashLeaf } from '../log/hash.js';
import { encodeIndexLeaf } from '../log/index-map.js';
import { appendLeaves, edgeTiles, type TileCoord } from '../log/tiles.js';
import { InThreadFolder, type MapFolder, WorkerFolder } from './index-folder.js';
import {
  type BucketWrite,
  HISTORY_MS,
  type IndexStore,
  type KeyedEntry,
  type MapReadStore,
  type MapState,
} from './index-state.js';

/** PRUNE_EVERY_MS: how often an integrator prunes old map versions (each prune takes all that is due). */
export const PRUNE_EVERY_MS = 10_000;

/** LeafTx is what the index step needs of the round's transaction (server/sequencer.ts IntegrationTx extends it). */
export interface LeafTx {
  /** index is the index map's storage in this transaction (server/index-sql.ts). */
  index: IndexStore;
  /**
   * versions, where the database has more than one connection (Postgres), reads the map's committed
   * versions on a connection beside the round's, so the touched buckets are read while the round's
   * own connection writes. Versions up to the map size read under the lock are committed and never
   * change (only the integrator prunes, and never a bucket's newest version), so the other connection
   * sees exactly what the transaction would. Only the touched buckets' records go through it: bucket
   * heads are read in the transaction, which may have written them itself (a bulk load builds the map
   * and appends its leaf in one transaction, folding no entries). PGlite has one connection: undefined.
   */
  versions?: MapReadStore | undefined;
  /** readTiles is a TileFetcher inside this transaction. */
  readTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[]>;
  /**
   * appendBatch writes entries start.. (in order), the changed tiles and, when given, the new state,
   * and deletes the pending rows of those that came from pending (seq set). The leaf hashes live in the
   * level-0 tiles only (sql/007). A round may call it more than once; its last call carries the state.
   */
  appendBatch(b: {
    start: bigint;
    rows: readonly AppendRow[];
    tiles: readonly { tile: TileCoord; data: Uint8Array }[];
    state?: { treeSize: bigint; rootHash: Uint8Array };
    /**
     * map: the map's new bucket versions (as `version`) and, with the index leaf and `state`, the map's
     * columns of the state row.
     */
    map?: { version: bigint; buckets: readonly BucketWrite[]; state?: MapState };
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

/** BatchRow is an attestation taken from pending for this round: an AppendRow with its map keys' sources. */
export interface BatchRow extends AppendRow {
  identifier: string;
  signer: string;
}

/** Tail: the keys of entries from.. appended by this process's committed rounds, positions being immutable. */
type Tail = { from: bigint; keys: KeyedEntry[] };

/** TAIL_MAX: the most unfolded entries kept in memory between checkpoints (beyond, they are read back). */
const TAIL_MAX = 100_000;

/**
 * IndexRound makes a round's one append: the batch's attestation entries and, when a checkpoint is due
 * and the tree does not end with one, the index leaf after them, in one appendLeaves and one appendBatch
 * (one tile read, one write of each kind). It keeps between rounds, in memory:
 * - the top of the map (in a MapFolder, server/index-folder.ts: a worker thread by default), so a round
 *   reads only the buckets its entries touch and hashes them off the main thread;
 * - the keys of the entries appended since the newest index leaf (the tail), so folding them needs no
 *   read back. Both are trusted only when the stored map's size says they match, and only after the
 *   round that made them committed; a process that takes over, or whose round rolled back, reads them
 *   again (the top from the bucket heads, the tail from entries).
 */
export class IndexRound {
  readonly #folder: MapFolder;
  readonly #faults: IndexFaults;

  /**
   * faults: test hooks. inThread: hash the map on the calling thread (server/index-folder.ts) instead of
   * in a worker thread of its own; cacheBytes: the most of bucket records that worker keeps
   * (MAP_CACHE_BYTES by default); call close() when done either way.
   */
  constructor(faults: IndexFaults = {}, opts: { inThread?: boolean; cacheBytes?: number } = {}) {
    this.#faults = faults;
    this.#folder = opts.inThread ? new InThreadFolder() : new WorkerFolder({ cacheBytes: opts.cacheBytes });
  }

  /**
   * warm says whether the map's worker keeps all the bucket records it can (server/index-folder.ts
   * WorkerFolder fills them between rounds after a takeover), so a round reads none: benchmarks of the
   * steady state wait for it.
   */
  warm(): boolean {
    return this.#folder.filled();
  }

  /** close stops the map's worker thread (a later round starts another). */
  close(): Promise<void> {
    return this.#folder.close();
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

  /** The map's row as needsLeaf read it in this round's transaction (append follows it in the same one). */
  #state: MapState | undefined;
  /** When this process last pruned (ms): pruning runs at most every PRUNE_EVERY_MS, not every round. */
  #prunedAt = 0;
  /** The committed tail: entries from..from+keys.length-1 are in the log and not in the stored map. */
  #tail: Tail | undefined;
  /**
   * The map's row as this process's last committed round left it, and the tree size after that round.
   * A round that starts at that tree size uses it instead of reading the row: the map moves only in a
   * round that appends an index leaf, which grows the tree, so a tree still of that size means no other
   * process has integrated since (the integrator lock orders rounds; the tree never shrinks).
   */
  #known: { treeSize: bigint; state: MapState } | undefined;
  /** What this round's commit makes of the tail, the top and the known map row (committed / rolledBack). */
  #pending:
    | {
        tail: Tail | undefined;
        mapSize: bigint | undefined;
        known: { treeSize: bigint; state: MapState } | undefined;
      }
    | undefined;

  /**
   * append appends `rows` at `start` and, with `leaf`, the index leaf after them: it folds the entries
   * the map does not cover yet (mapSize..start-1, then rows) into the map, appends the leaf
   * {root, size} at size = start + rows.length, stores the map's new bucket versions as version size,
   * prunes versions no checkpoint of the last HISTORY_MS needs (nor the served checkpoint, of tree size
   * `leaf.served`, when answers are bounded by an older one than the newest), and returns the new tree.
   * Call `committed` after the transaction commits, `rolledBack` if it does not.
   */
  async append(
    tx: LeafTx,
    start: bigint,
    rows: readonly BatchRow[],
    leaf?: { now: Date; served?: bigint | undefined },
  ): Promise<{ treeSize: bigint; rootHash: Uint8Array }> {
    const keyed = rows.map((r, i) => ({
      index: start + BigInt(i),
      identifier: r.identifier,
      signer: r.signer,
    }));
    if (leaf) return this.#appendWithLeaf(tx, start, rows, keyed, leaf);
    if (rows.length === 0) throw new Error('IndexRound.append: nothing to append');
    const t = this.#tail;
    const tail =
      t && t.from + BigInt(t.keys.length) === start && t.keys.length + keyed.length <= TAIL_MAX
        ? { from: t.from, keys: [...t.keys, ...keyed] }
        : { from: start, keys: keyed };
    const appended = await appendLeaves(
      start,
      rows.map((r) => hashLeaf(r.entry)),
      tx.readTiles,
    );
    const next = { treeSize: appended.treeSize, rootHash: appended.rootHash };
    const k = this.#known;
    const known = k && k.treeSize === start ? { treeSize: next.treeSize, state: k.state } : undefined;
    this.#pending = { tail, mapSize: undefined, known };
    await tx.appendBatch({ start, rows, tiles: appended.tiles, state: next });
    return next;
  }

  /**
   * #appendWithLeaf is append with the index leaf. Its statements run on the round's connection, in
   * the order they are sent (server/db.ts inOrder), but for the read of the touched buckets; each is
   * sent as soon as what it needs is known, without waiting for the answers before it, so the map is
   * hashed while Postgres writes:
   *   1. the touched buckets (the hashing needs them first; on a connection of their own where there
   *   is one: LeafTx.versions), 2. the right-edge tiles, 3. while the buckets are read, the entries
   *   (packed here; the map's worker, server/index-folder.ts, gets the buckets after), 4. the touched
   *   buckets' new versions, as soon as the worker has hashed them (it goes on with the top above
   *   them), then, once the root is known, 5. one statement with the index leaf, the tiles and the
   *   state row with the map's columns (server/integration-tx.ts appendBatch).
   * All in the round's transaction: a failed statement aborts it, the sequencer rolls back, and every
   * statement sent is awaited (settled) before this returns or throws, so none outlives the round.
   */
  async #appendWithLeaf(
    tx: LeafTx,
    start: bigint,
    rows: readonly BatchRow[],
    keyed: readonly KeyedEntry[],
    leaf: { now: Date; served?: bigint | undefined },
  ): Promise<{ treeSize: bigint; rootHash: Uint8Array }> {
    const size = start + BigInt(rows.length);
    const k = this.#known;
    const s = this.#state ?? (k && k.treeSize === start ? k.state : await tx.index.mapState());
    this.#state = undefined;
    const unfolded = await this.#unfolded(tx, s.mapSize, start);
    const sent = new Sent();
    try {
      let readSent = () => {};
      const reading = new Promise<void>((resolve) => {
        readSent = resolve;
      });
      const all = [...unfolded, ...keyed];
      const folding = this.#folder.fold(tx.index, tx.versions ?? tx.index, s.mapSize, all, readSent);
      sent.add(folding.writes);
      sent.add(folding.root);
      const edge = sent.add(tx.readTiles(edgeTiles(start)));
      await Promise.race([reading, folding.root]);
      if (rows.length > 0) sent.add(tx.appendBatch({ start, rows, tiles: [] }));
      const leafHashes = rows.map((r) => hashLeaf(r.entry));
      const buckets = await folding.writes;
      // Version `size` goes in before the prune below, which never reaches it: it keeps what the
      // checkpoints of the window need, all of them older than this round (#prune).
      if (buckets.length > 0)
        sent.add(tx.appendBatch({ start: size, rows: [], tiles: [], map: { version: size, buckets } }));
      const root = await folding.root;
      const leafRow: AppendRow = {
        entry: encodeIndexLeaf({
          root: this.#faults.indexRoot ? this.#faults.indexRoot(root, size) : root,
          size,
        }),
        digest: null,
        identifier: null,
        signer: null,
        acceptedAt: leaf.now,
      };
      leafHashes.push(hashLeaf(leafRow.entry));
      const appended = await appendLeaves(start, leafHashes, () => edge);
      const next = { treeSize: appended.treeSize, rootHash: appended.rootHash };
      const due = leaf.now.getTime() - this.#prunedAt >= PRUNE_EVERY_MS;
      const prunedTo = due ? await this.#prune(tx, s, size, leaf.served) : s.prunedTo;
      if (due) this.#prunedAt = leaf.now.getTime();
      const state = { mapSize: size, prunedTo, indexLeafAt: size };
      const map = { version: size, buckets: [], state };
      sent.add(tx.appendBatch({ start: size, rows: [leafRow], tiles: appended.tiles, state: next, map }));
      await sent.all();
      this.#pending = { tail: undefined, mapSize: size, known: { treeSize: next.treeSize, state } };
      return next;
    } catch (err) {
      await sent.settled();
      throw err;
    }
  }

  /**
   * appendLeaf appends the index leaf alone at tree.treeSize (a migrated log, bulk loads, tests): the
   * same step as append with no rows.
   */
  appendLeaf(
    tx: LeafTx,
    tree: { treeSize: bigint; rootHash: Uint8Array },
    now: Date,
    served?: bigint,
  ): Promise<{ treeSize: bigint; rootHash: Uint8Array }> {
    return this.append(tx, tree.treeSize, [], { now, served });
  }

  /** #unfolded returns the attestation entries mapSize..start-1: from the tail when it is exactly them. */
  async #unfolded(tx: LeafTx, mapSize: bigint, start: bigint): Promise<readonly KeyedEntry[]> {
    if (mapSize === start) return [];
    const t = this.#tail;
    if (t && t.from === mapSize && t.from + BigInt(t.keys.length) === start) return t.keys;
    return tx.index.attestationsIn(mapSize, start);
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

  /** committed tells the step that the round's transaction committed: the top and tail are what it wrote. */
  committed(): void {
    // The map row needsLeaf read belongs to that round's transaction: never carried into the next one
    // (a round with a batch skips needsLeaf, and another process may have moved the map meanwhile).
    this.#state = undefined;
    const p = this.#pending;
    if (p === undefined) return;
    if (p.mapSize !== undefined) this.#folder.moved(p.mapSize);
    this.#tail = p.tail;
    this.#known = p.known;
    this.#pending = undefined;
  }

  /** rolledBack tells the step that the round's transaction did not commit. */
  rolledBack(): void {
    this.#pending = undefined;
    this.#state = undefined;
    this.#prunedAt = 0;
    this.#tail = undefined;
    this.#known = undefined;
    this.#folder.forget();
  }
}

/**
 * Sent holds the statements a round has sent and not yet awaited. A rejection is kept (never unhandled)
 * until `all` or `settled` looks at it.
 */
class Sent {
  readonly #all: Promise<unknown>[] = [];

  /** add keeps `p` and returns it. */
  add<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    this.#all.push(p);
    return p;
  }

  /** all waits for every statement sent and throws the first failure. */
  async all(): Promise<void> {
    await Promise.all(this.#all);
  }

  /** settled waits until every statement sent has answered, failed or not. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#all);
  }
}
