/**
 * The index map on the server side (SPEC.md "The index"): where it lives, how a round folds entries
 * into it, and how a process gets the top of the map at a given size.
 *
 * Where the map lives: in index_buckets (sql/003_index.sql), 2^18 buckets of records, one row per bucket
 * and version, each with its hash and key count (log/index-buckets.ts). In memory, each process keeps a
 * MapTop (the 18 levels above the buckets, 16 MiB) in a TopCache, loaded once from the bucket hashes and
 * then moved from version to version by reading only the buckets that changed in between. So:
 * - a round folds its entries by reading the touched buckets (one query), re-hashing them and their
 *   paths, and writing one new row per touched bucket (one statement);
 * - a process that takes over integration loads one (hash, count) per bucket, never a key;
 * - the index costs about 72 bytes per key plus a row per bucket, and the rows of recent versions.
 *
 * The integrator folds entries into the map only when it appends an index leaf (a checkpoint is due):
 * the stored map is then always the map of the newest index leaf, written in the transaction that
 * appends that leaf and signs the checkpoint over it.
 */
import {
  addToBucket,
  type BucketAddition,
  bucketHash,
  bucketOf,
  MapTop,
  RECORD_BYTES,
} from '../log/index-buckets.js';
import { identifierMapKey, signerMapKey } from '../log/index-map.js';

/** MapState is the map's row of log_state. */
export interface MapState {
  /** mapSize: the stored map covers the entries below this index (the newest version). */
  mapSize: bigint;
  /** prunedTo: versions older than this may be gone; lookups are served for sizes >= it. */
  prunedTo: bigint;
  /** indexLeafAt: the position of the newest index leaf, undefined before the first. */
  indexLeafAt: bigint | undefined;
}

/** BucketHead is a bucket's hash and key count (what the top needs). */
export interface BucketHead {
  prefix: number;
  count: number;
  hash: Uint8Array;
}

/** BucketWrite is a new version of a bucket. */
export interface BucketWrite extends BucketHead {
  records: Uint8Array;
}

/** MapReadStore is what reading the map needs (server/index-sql.ts implements it). Throws on database errors. */
export interface MapReadStore {
  /** mapState reads the map's row of log_state. */
  mapState(): Promise<MapState>;
  /**
   * bucketHeads returns the head of the newest version <= at of every bucket that has one; with
   * `changed`, only of the buckets with a version in (after, upTo], and count 0 for those of them with
   * no version <= at.
   */
  bucketHeads(at: bigint, changed?: { after: bigint; upTo: bigint }): Promise<BucketHead[]>;
  /** bucketRecords returns the records of the newest version <= at of each bucket asked (absent: empty). */
  bucketRecords(prefixes: readonly number[], at: bigint): Promise<Map<number, Uint8Array>>;
}

/** IndexStore is what the integrator and the migration do to the map, in their transaction. */
export interface IndexStore extends MapReadStore {
  /** attestationsIn returns the attestation entries (not index leaves) with start <= index < end, in order. */
  attestationsIn(start: bigint, end: bigint): Promise<KeyedEntry[]>;
  /** writeBuckets stores the rows as the version `fromSize`. */
  writeBuckets(fromSize: bigint, rows: readonly BucketWrite[]): Promise<void>;
  /** setMapState writes the map's row of log_state. */
  setMapState(s: MapState): Promise<void>;
  /** servedSizeAgo returns the tree size of the checkpoint that was the newest windowMs ago (undefined when none). */
  servedSizeAgo(windowMs: number): Promise<bigint | undefined>;
  /** prune deletes the versions superseded by a version in (after, keep]. */
  prune(after: bigint, keep: bigint): Promise<void>;
}

/**
 * HISTORY_MS: versions of the map needed by a checkpoint signed in the last 10 minutes are kept, so an
 * answer against any of them (a query paging against its first page's checkpoint, a replica that lags)
 * can still prove its lookups. Older superseded versions are pruned.
 */
export const HISTORY_MS = 10 * 60 * 1000;

/**
 * TopCache holds one MapTop and the map size it is at. `at` moves it to another size by reading only the
 * buckets that changed in between (or all bucket heads the first time). Shared by concurrent readers
 * through `use`, which runs one move at a time; the integrator owns its own.
 */
export class TopCache {
  #top: MapTop | undefined;
  #version: bigint | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * use runs `fn` on the top at map size `size`, synchronously right after moving it there (one
   * caller at a time), and returns what fn returns. A failed move forgets the top.
   */
  use<T>(store: MapReadStore, size: bigint, fn: (top: MapTop) => T): Promise<T> {
    const run = this.#queue.then(async () => fn(await this.at(store, size)));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** at returns the top at map size `size` (the cache's own object: the caller must not keep it across awaits). */
  async at(store: MapReadStore, size: bigint): Promise<MapTop> {
    const top = this.#top;
    const from = this.#version;
    if (top !== undefined && from === size) return top;
    // In motion: until the move completes, the cache claims no size, so a failure means a full load.
    this.#version = undefined;
    let next: MapTop;
    if (top === undefined || from === undefined) {
      next = new MapTop();
      for (const h of await store.bucketHeads(size)) next.setBucket(h.prefix, h.hash, h.count);
    } else {
      const changed = from < size ? { after: from, upTo: size } : { after: size, upTo: from };
      next = top;
      for (const h of await store.bucketHeads(size, changed)) next.setBucket(h.prefix, h.hash, h.count);
    }
    next.root();
    this.#top = next;
    this.#version = size;
    return next;
  }

  /**
   * take returns the top at `size` for the caller to change (the integrator's fold). The cache claims no
   * size until `moved` says which one the changed top is at; a round that fails never calls it, so its
   * rolled-back changes are never used (the next `at` loads the top again).
   */
  async take(store: MapReadStore, size: bigint): Promise<MapTop> {
    const top = await this.at(store, size);
    this.#version = undefined;
    return top;
  }

  /** moved says that the top taken is now the map at `size` (its round committed). */
  moved(size: bigint): void {
    if (this.#top !== undefined) this.#version = size;
  }
}

/** Additions is what a batch of entries adds to the map, grouped by bucket then by key. */
type Additions = Map<number, Map<string, BucketAddition & { indexes: bigint[] }>>;

/** groupByBucket returns the map keys of attestation entries (SPEC.md "Map keys": the identifier's and
 *  the signer's), each with its log indexes in order, grouped by bucket. */
function groupByBucket(rows: readonly KeyedEntry[]): Additions {
  const byBucket: Additions = new Map();
  for (const r of rows) {
    for (const key of [identifierMapKey(r.identifier), signerMapKey(r.signer)]) {
      const b = bucketOf(key);
      let adds = byBucket.get(b);
      if (adds === undefined) {
        adds = new Map();
        byBucket.set(b, adds);
      }
      const k = String.fromCharCode(...key);
      const a = adds.get(k);
      if (a === undefined) adds.set(k, { key, indexes: [r.index] });
      else a.indexes.push(r.index);
    }
  }
  return byBucket;
}

/** KeyedEntry is an attestation entry's log index and its two map keys' sources (SPEC.md "Map keys"). */
export interface KeyedEntry {
  index: bigint;
  identifier: string;
  signer: string;
}

/**
 * foldEntries adds `entries` (attestation entries in log order, the first at the map's size `mapSize`
 * or later) to the map whose top is `top` (at mapSize): two keys per entry (its identifier and its
 * signer), each key's chain stepped with its indexes in log order. It reads the touched buckets as of
 * mapSize (one query) and returns the new root and the bucket rows to write.
 */
export async function foldEntries(
  store: MapReadStore,
  top: MapTop,
  mapSize: bigint,
  entries: readonly KeyedEntry[],
): Promise<{ root: Uint8Array; writes: BucketWrite[] }> {
  const byBucket = groupByBucket(entries);
  const stored = await store.bucketRecords([...byBucket.keys()], mapSize);
  const writes: BucketWrite[] = [];
  for (const [prefix, adds] of byBucket) {
    const records = addToBucket(stored.get(prefix) ?? new Uint8Array(0), [...adds.values()]);
    const hash = bucketHash(records);
    const count = records.length / RECORD_BYTES;
    top.setBucket(prefix, hash, count);
    writes.push({ prefix, count, hash, records });
  }
  return { root: top.root(), writes };
}

/** BUILD_BATCH: entries read per statement when building the map of a whole log (about 20 MB); each bucket
 *  is re-encoded once per batch it gains keys in, so fewer, larger batches cost less. */
const BUILD_BATCH = 200_000n;
/** WRITE_BATCH: bucket rows written per statement. */
const WRITE_BATCH = 5000;

/**
 * buildIndex makes the map of entries 0..treeSize-1 from scratch and stores it as the version
 * treeSize (sql/003_index.sql's migration step, and bulk loads in bench/): memory is the records of
 * every key, about 100 bytes per key. The log has no index leaf afterwards: the integrator appends one
 * at the next checkpoint (map_size = tree_size, index_leaf_at unset).
 */
export async function buildIndex(store: IndexStore, treeSize: bigint): Promise<void> {
  const buckets = new Map<number, Uint8Array>();
  for (let start = 0n; start < treeSize; start += BUILD_BATCH) {
    const end = start + BUILD_BATCH < treeSize ? start + BUILD_BATCH : treeSize;
    const byBucket = groupByBucket(await store.attestationsIn(start, end));
    for (const [b, adds] of byBucket)
      buckets.set(b, addToBucket(buckets.get(b) ?? new Uint8Array(0), [...adds.values()]));
  }
  let writes: BucketWrite[] = [];
  for (const [prefix, records] of buckets) {
    writes.push({ prefix, count: records.length / RECORD_BYTES, hash: bucketHash(records), records });
    if (writes.length >= WRITE_BATCH) {
      await store.writeBuckets(treeSize, writes);
      writes = [];
    }
  }
  await store.writeBuckets(treeSize, writes);
  await store.setMapState({ mapSize: treeSize, prunedTo: treeSize, indexLeafAt: undefined });
}
