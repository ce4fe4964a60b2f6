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
  BUCKETS,
  type BucketAddition,
  bucketHash,
  bucketOf,
  compareAt,
  type KeptBucket,
  leafHashes,
  MapTop,
  RECORD_BYTES,
} from '../log/index-buckets.js';
import { chainStep, identifierMapKey, MAP_KEY_SIZE, signerMapKey } from '../log/index-map.js';

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

/** Additions is what a batch of entries adds to the map: per touched bucket, each key with its indexes. */
export type Additions = [prefix: number, adds: BucketAddition[]][];

/**
 * mapKeys returns the two map keys of each entry (SPEC.md "Map keys"), in order: entry i's identifier's
 * at 2i, its signer's at 2i + 1. A round's entries come from a few signers: each signer's key is hashed
 * once per call.
 */
export function mapKeys(rows: readonly KeyedEntry[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  const signerKeys = new Map<string, Uint8Array>();
  for (const r of rows) {
    let signerKey = signerKeys.get(r.signer);
    if (signerKey === undefined) {
      signerKey = signerMapKey(r.signer);
      signerKeys.set(r.signer, signerKey);
    }
    keys.push(identifierMapKey(r.identifier), signerKey);
  }
  return keys;
}

/** touchedBuckets returns the buckets of `keys` (mapKeys), each once, in the order first touched. */
export function touchedBuckets(keys: readonly Uint8Array[]): number[] {
  return [...new Set(keys.map((k) => bucketOf(k)))];
}

/**
 * groupByBucket returns the map keys of attestation entries (mapKeys, unless given), each with its log
 * indexes in order, grouped by bucket, the buckets in touchedBuckets' order.
 */
export function groupByBucket(rows: readonly KeyedEntry[], keys = mapKeys(rows)): Additions {
  const byBucket = new Map<number, Map<string, BucketAddition & { indexes: bigint[] }>>();
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const index = rows[i >> 1]!.index;
    const b = bucketOf(key);
    let adds = byBucket.get(b);
    if (adds === undefined) {
      adds = new Map();
      byBucket.set(b, adds);
    }
    const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
    const a = adds.get(k);
    if (a === undefined) adds.set(k, { key, indexes: [index] });
    else a.indexes.push(index);
  }
  return [...byBucket].map(([prefix, adds]) => [prefix, [...adds.values()]]);
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
  const additions = groupByBucket(entries);
  const stored = await store.bucketRecords(
    additions.map(([prefix]) => prefix),
    mapSize,
  );
  return foldBuckets(top, additions, stored);
}

/**
 * foldBuckets adds each bucket's additions to its stored records (absent: an empty bucket), sets the
 * new bucket in `top`, and returns the new root and the rows to write: the hashing half of foldEntries.
 * The integrator's map worker (server/index-top-worker.ts) runs its two steps apart, bucketWrites then
 * top.root(), so the rows go to Postgres while the top is hashed.
 */
export function foldBuckets(
  top: MapTop,
  additions: Additions,
  stored: ReadonlyMap<number, Uint8Array>,
): { root: Uint8Array; writes: BucketWrite[] } {
  const writes = bucketWrites(top, additions, stored);
  return { root: top.root(), writes };
}

/**
 * bucketWrites is foldBuckets up to the root: the touched buckets' new rows, each set in `top`, with
 * their leaf hashes. A bucket's records before the additions are `stored`'s, else `kept`'s (records a
 * process holds with their leaf hashes, whose unchanged leaves are then not hashed again), else none.
 */
export function bucketWrites(
  top: MapTop,
  additions: Additions,
  stored: ReadonlyMap<number, Uint8Array>,
  kept?: (prefix: number) => KeptBucket | undefined,
): (BucketWrite & KeptBucket)[] {
  const writes: (BucketWrite & KeptBucket)[] = [];
  for (const [prefix, adds] of additions) {
    const had = stored.has(prefix) ? undefined : kept?.(prefix);
    const records = addToBucket(stored.get(prefix) ?? had?.records ?? new Uint8Array(0), adds);
    const leaves = leafHashes(records, had);
    const hash = bucketHash(records, leaves);
    const count = records.length / RECORD_BYTES;
    top.setBucket(prefix, hash, count);
    writes.push({ prefix, count, hash, records, leaves });
  }
  return writes;
}

/** BUILD_BATCH: entries read per statement when building the map of a whole log (about 5 MB of rows). */
const BUILD_BATCH = 50_000n;
/** WRITE_BATCH: bucket rows written per statement. */
const WRITE_BATCH = 5000;
/** BLOCK_BITS: a KeyTable keeps 2^16 records per block (4.5 MiB), so it grows without copying them. */
const BLOCK_BITS = 16;
const BLOCK = 1 << BLOCK_BITS;

/**
 * KeyTable holds one record (key || count || chain, as stored) per distinct key while buildIndex reads
 * the log: records in fixed blocks, found by an open-addressing hash table of record numbers (the
 * keys are SHA-256 outputs, so four of their bytes are a hash). About 72 + 8 (count) + 8 to 16 (table)
 * bytes per key, in typed arrays only (no object per key for the garbage collector to walk).
 */
class KeyTable {
  readonly #blocks: Uint8Array[] = [];
  readonly #counts: Float64Array[] = [];
  #slots = new Int32Array(1 << 16);
  size = 0;

  /** bytes returns the block holding record n (at offset(n)). */
  bytes(n: number): Uint8Array {
    return this.#blocks[n >>> BLOCK_BITS]!;
  }
  /** offset returns where record n starts in its block. */
  offset(n: number): number {
    return (n & (BLOCK - 1)) * RECORD_BYTES;
  }
  /** count returns how many indexes record n's chain has been stepped with. */
  count(n: number): number {
    return this.#counts[n >>> BLOCK_BITS]![n & (BLOCK - 1)]!;
  }

  /** find returns the number of key's record, adding it (count 0, chain h0) when the key is new. */
  find(key: Uint8Array): number {
    const mask = this.#slots.length - 1;
    for (let s = slotHash(key, 0) & mask; ; s = (s + 1) & mask) {
      const n = this.#slots[s]! - 1;
      if (n < 0) break;
      if (compareAt(this.bytes(n), this.offset(n), key, 0) === 0) return n;
    }
    const n = this.size++;
    if ((n & (BLOCK - 1)) === 0) {
      this.#blocks.push(new Uint8Array(BLOCK * RECORD_BYTES));
      this.#counts.push(new Float64Array(BLOCK));
    }
    this.bytes(n).set(key, this.offset(n));
    if (2 * this.size > this.#slots.length) this.#grow();
    else this.#place(this.#slots, n);
    return n;
  }

  /** step extends record n's chain by `index` (SPEC.md "Map value") and counts it. */
  step(n: number, index: bigint): void {
    const b = this.bytes(n);
    const o = this.offset(n) + MAP_KEY_SIZE + 8;
    b.set(chainStep(b.subarray(o, o + MAP_KEY_SIZE), index), o);
    this.#counts[n >>> BLOCK_BITS]![n & (BLOCK - 1)]! += 1;
  }

  #place(slots: Int32Array, n: number): void {
    const mask = slots.length - 1;
    let s = slotHash(this.bytes(n), this.offset(n)) & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = n + 1;
  }

  /** #grow doubles the table (load at most 1/2) and places every record again. */
  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    for (let n = 0; n < this.size; n++) this.#place(slots, n);
    this.#slots = slots;
  }
}

/** slotHash: bytes 4..7 of the key at `o` (past the bucket's 18 bits; uniform, keys being SHA-256 outputs). */
function slotHash(b: Uint8Array, o: number): number {
  return ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
}

/**
 * buildIndex makes the map of entries 0..treeSize-1 from scratch and stores it as the version
 * treeSize (sql/003_index.sql's migration step, and bulk loads in bench/). It reads the entries once, in
 * log order, and steps each key's chain as it goes (a KeyTable: one record per key, about 100 bytes per
 * key, so 1 GB at 10^7 keys, and nothing else that grows with the log); then it sorts the records by
 * bucket (a counting sort, then each bucket's few keys), hashes each bucket once and writes it. The time
 * is linear in the log: two SHA-256 per entry for its keys' chains (the signer's key computed once per
 * signer), and about two per key for the bucket hashes. Every write goes through `store`, in the
 * caller's transaction, so a crash leaves nothing behind. The log has no index leaf afterwards: the
 * integrator appends one at the next checkpoint (map_size = tree_size, index_leaf_at unset).
 */
export async function buildIndex(store: IndexStore, treeSize: bigint): Promise<void> {
  const table = new KeyTable();
  const signers = new Map<string, number>(); // fingerprint -> record number (the few signers of a log)
  const batch = (start: bigint) => {
    const p = store.attestationsIn(start, start + BUILD_BATCH < treeSize ? start + BUILD_BATCH : treeSize);
    p.catch(() => undefined); // awaited below; a fold that throws first leaves it unawaited
    return p;
  };
  let next = treeSize > 0n ? batch(0n) : undefined;
  for (let start = 0n; next !== undefined; start += BUILD_BATCH) {
    const rows = await next;
    // The next batch's statement runs in Postgres while this one is folded.
    next = start + BUILD_BATCH < treeSize ? batch(start + BUILD_BATCH) : undefined;
    for (const r of rows) {
      table.step(table.find(identifierMapKey(r.identifier)), r.index);
      let s = signers.get(r.signer);
      if (s === undefined) {
        s = table.find(signerMapKey(r.signer));
        if (signers.size < 100_000) signers.set(r.signer, s);
      }
      table.step(s, r.index);
    }
  }
  // Records by bucket: a counting sort of the record numbers, then each bucket's own by key.
  const n = table.size;
  const starts = new Int32Array(BUCKETS + 1);
  for (let r = 0; r < n; r++) starts[bucketOf(table.bytes(r), table.offset(r)) + 1]!++;
  for (let b = 0; b < BUCKETS; b++) starts[b + 1]! += starts[b]!;
  const order = new Int32Array(n);
  const fill = starts.slice(0, BUCKETS);
  for (let r = 0; r < n; r++) order[fill[bucketOf(table.bytes(r), table.offset(r))]!++] = r;
  const byKey = (x: number, y: number) =>
    compareAt(table.bytes(x), table.offset(x), table.bytes(y), table.offset(y));
  // One statement of WRITE_BATCH rows in flight: Postgres stores a batch while the next is hashed.
  let writing: Promise<void> = Promise.resolve();
  const write = async (rows: BucketWrite[]) => {
    await writing;
    writing = store.writeBuckets(treeSize, rows);
    writing.catch(() => undefined); // awaited by the next write or at the end
  };
  let writes: BucketWrite[] = [];
  for (let prefix = 0; prefix < BUCKETS; prefix++) {
    const members = order.subarray(starts[prefix]!, starts[prefix + 1]!).sort(byKey);
    if (members.length === 0) continue;
    const records = new Uint8Array(members.length * RECORD_BYTES);
    const view = new DataView(records.buffer);
    for (let i = 0; i < members.length; i++) {
      const r = members[i]!;
      const o = table.offset(r);
      records.set(table.bytes(r).subarray(o, o + RECORD_BYTES), i * RECORD_BYTES);
      const count = table.count(r);
      view.setUint32(i * RECORD_BYTES + MAP_KEY_SIZE, Math.floor(count / 2 ** 32), false);
      view.setUint32(i * RECORD_BYTES + MAP_KEY_SIZE + 4, count >>> 0, false);
    }
    writes.push({ prefix, count: members.length, hash: bucketHash(records), records });
    if (writes.length >= WRITE_BATCH) {
      await write(writes);
      writes = [];
    }
  }
  await write(writes);
  await writing;
  await store.setMapState({ mapSize: treeSize, prunedTo: treeSize, indexLeafAt: undefined });
}
