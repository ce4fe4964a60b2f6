/**
 * The index map cut into buckets, the way the server stores it (SPEC.md "The index": the hashes are
 * the same; only where they are kept differs).
 *
 * The 256-bit key space is cut at depth BUCKET_BITS (18) into 2^18 buckets: bucket p holds the keys whose
 * first 18 bits are p. A bucket is stored as its records (key || value, sorted by key), its key count
 * and its hash: the hash of the subtree at depth 18 holding exactly its keys (EMPTY, LEAF, or NODE by
 * the rule of the map root). MapTop keeps the 18 levels above the buckets in memory, hashes and key
 * counts, so that:
 * - the root after a batch re-hashes only the touched buckets (a few keys each, about n + n hashes for n
 *   keys) and their paths to the root (at most 18 hashes each, fewer where paths share nodes);
 * - a lookup proof needs the top (in memory) and one bucket (one read);
 * - loading the whole top needs one (hash, count) per bucket, never a key.
 *
 * The node rule above the buckets: a subtree with no keys hashes to EMPTY, one with exactly one key to
 * that key's LEAF (whatever the depth, so the single non-empty child's hash passes up unchanged), and
 * one with two or more keys to NODE(left, right), an empty side being EMPTY.
 *
 * Why 18 bits: with 10^6 keys a bucket holds about 4, so re-hashing a touched bucket from its records
 * costs about 8 hashes, and the top is 2^19 hashes (16 MiB). Pure: no I/O.
 */
import { LogError } from './errors.js';
import { HASH_SIZE } from './hash.js';
import {
  checkUint64,
  type LookupProof,
  MAP_CHAIN_BYTE,
  MAP_KEY_SIZE,
  MAP_LEAF_BYTE,
  MAP_NODE_BYTE,
  MAP_VALUE_SIZE,
} from './index-map.js';
import { sha256Prefixed } from './sha256.js';

/** BUCKET_BITS is the depth at which the key space is cut into buckets. */
export const BUCKET_BITS = 18;

/** BUCKETS is the number of buckets, 2^BUCKET_BITS. */
export const BUCKETS = 1 << BUCKET_BITS;

/** RECORD_BYTES is the size of one stored record: key (32) || value (40). */
export const RECORD_BYTES = MAP_KEY_SIZE + MAP_VALUE_SIZE;

const ZERO = new Uint8Array(HASH_SIZE);

/** bucketOf returns the bucket of the 32-byte key at key[off]: its first BUCKET_BITS bits. */
export function bucketOf(key: Uint8Array, off = 0): number {
  return ((key[off]! << 16) | (key[off + 1]! << 8) | key[off + 2]!) >>> (24 - BUCKET_BITS);
}

function keyBit(key: Uint8Array, off: number, d: number): number {
  return (key[off + (d >> 3)]! >> (7 - (d & 7))) & 1;
}

/** compareAt orders keys held at offsets of larger arrays: negative when the key at a[ao] sorts first. */
export function compareAt(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < MAP_KEY_SIZE; i++) {
    const x = a[ao + i]! - b[bo + i]!;
    if (x !== 0) return x;
  }
  return 0;
}

/** checkRecords throws HASH_INVALID unless `records` is whole records in strictly increasing key order. */
export function checkRecords(records: Uint8Array, prefix: number): void {
  if (records.length % RECORD_BYTES !== 0) {
    throw new LogError('HASH_INVALID', `bucket ${prefix} is ${records.length} bytes, not whole records`, {
      field: 'records',
    });
  }
  for (let o = 0; o < records.length; o += RECORD_BYTES) {
    if (bucketOf(records, o) !== prefix) {
      throw new LogError('HASH_INVALID', `bucket ${prefix} holds a key of another bucket`, {
        field: 'records',
      });
    }
    if (o > 0 && compareAt(records, o - RECORD_BYTES, records, o) >= 0) {
      throw new LogError('HASH_INVALID', `bucket ${prefix} is not in strictly increasing key order`, {
        field: 'records',
      });
    }
  }
}

/**
 * STACK holds, for each depth below the buckets, the two child hashes of the node being hashed there
 * (64 bytes per depth): subtreeHashInto hashes a subtree without allocating.
 */
const STACK = new Uint8Array(257 * 64);

/**
 * subtreeHashInto writes to out[at..at+32] the hash of the subtree at depth `depth` holding records
 * lo..hi-1 (byte offsets in `records`, sorted, all sharing their first `depth` bits): EMPTY, the one
 * record's LEAF (a record is key || value, LEAF's message after its prefix; taken from `leaves`, the
 * records' leaf hashes in order, when given), or NODE of the two halves.
 */
function subtreeHashInto(
  records: Uint8Array,
  lo: number,
  hi: number,
  depth: number,
  out: Uint8Array,
  at: number,
  leaves?: Uint8Array,
): void {
  const n = (hi - lo) / RECORD_BYTES;
  if (n === 0) out.fill(0, at, at + HASH_SIZE);
  else if (n === 1) {
    if (leaves === undefined) sha256Prefixed(MAP_LEAF_BYTE, records, lo, RECORD_BYTES, out, at);
    else {
      const from = (lo / RECORD_BYTES) * HASH_SIZE;
      for (let k = 0; k < HASH_SIZE; k++) out[at + k] = leaves[from + k]!;
    }
  } else {
    const mid = splitAt(records, lo, hi, depth);
    subtreeHashInto(records, lo, mid, depth + 1, STACK, depth * 64, leaves);
    subtreeHashInto(records, mid, hi, depth + 1, STACK, depth * 64 + HASH_SIZE, leaves);
    sha256Prefixed(MAP_NODE_BYTE, STACK, depth * 64, 2 * HASH_SIZE, out, at);
  }
}

/** subtreeHash returns subtreeHashInto's hash as a new array. */
function subtreeHash(records: Uint8Array, lo: number, hi: number, depth: number): Uint8Array {
  const out = new Uint8Array(HASH_SIZE);
  subtreeHashInto(records, lo, hi, depth, out, 0);
  return out;
}

/** KeptBucket is a bucket's records with their leaf hashes (leafHashes), as a process keeps it in memory. */
export interface KeptBucket {
  records: Uint8Array;
  leaves: Uint8Array;
}

/**
 * leafHashes returns the LEAF hash of each of a bucket's records, 32 bytes each in record order
 * (SPEC.md "Map root": SHA-256(0x10 || K || V)). With `prev`, another version of the same bucket with
 * its leaf hashes, a record found byte for byte in it keeps its hash: a round that changes one key of a
 * bucket hashes that key's leaf only.
 */
export function leafHashes(records: Uint8Array, prev?: KeptBucket): Uint8Array {
  const n = records.length / RECORD_BYTES;
  const m = prev === undefined ? 0 : prev.records.length / RECORD_BYTES;
  const out = new Uint8Array(n * HASH_SIZE);
  for (let i = 0, j = 0; i < n; i++) {
    const o = i * RECORD_BYTES;
    while (j < m && compareAt(prev!.records, j * RECORD_BYTES, records, o) < 0) j++;
    if (j < m && sameRecord(prev!.records, j * RECORD_BYTES, records, o)) {
      for (let k = 0; k < HASH_SIZE; k++) out[i * HASH_SIZE + k] = prev!.leaves[j * HASH_SIZE + k]!;
    } else sha256Prefixed(MAP_LEAF_BYTE, records, o, RECORD_BYTES, out, i * HASH_SIZE);
  }
  return out;
}

function sameRecord(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let k = 0; k < RECORD_BYTES; k++) if (a[ao + k] !== b[bo + k]) return false;
  return true;
}

/** The offset of the first record in lo..hi-1 whose bit `depth` is 1 (hi when none). */
function splitAt(records: Uint8Array, lo: number, hi: number, depth: number): number {
  let mid = lo;
  while (mid < hi && keyBit(records, mid, depth) === 0) mid += RECORD_BYTES;
  return mid;
}

/**
 * bucketHash returns the hash of a bucket: the subtree at depth BUCKET_BITS holding its records. With
 * `leaves`, the records' leaf hashes (leafHashes), it makes only the NODE hashes.
 */
export function bucketHash(records: Uint8Array, leaves?: Uint8Array): Uint8Array {
  const out = new Uint8Array(HASH_SIZE);
  subtreeHashInto(records, 0, records.length, BUCKET_BITS, out, 0, leaves);
  return out;
}

/** BucketAddition is what a batch adds to one key: its new log indexes, increasing. */
export interface BucketAddition {
  key: Uint8Array;
  indexes: readonly bigint[];
}

/**
 * addToBucket returns the records of a bucket after the additions: for each key, count += n and the
 * chain stepped with each index in order (SPEC.md "Map value"), a new key inserted in order. The input
 * is not changed. Throws INDEX_OUT_OF_RANGE when an index is not above the key's previous ones (the
 * caller folds entries in log order).
 */
export function addToBucket(records: Uint8Array, additions: readonly BucketAddition[]): Uint8Array {
  // A merge of two sorted lists: the records, and the additions sorted by key (a key added twice gets
  // both in order). No strings, one output allocation.
  const adds = additions.slice().sort((x, y) => compareAt(x.key, 0, y.key, 0));
  const n = records.length / RECORD_BYTES;
  let fresh = 0;
  for (let i = 0, j = 0; j < adds.length; j++) {
    if (j > 0 && compareAt(adds[j - 1]!.key, 0, adds[j]!.key, 0) === 0) continue;
    while (i < n && compareAt(records, i * RECORD_BYTES, adds[j]!.key, 0) < 0) i++;
    if (i === n || compareAt(records, i * RECORD_BYTES, adds[j]!.key, 0) !== 0) fresh++;
  }
  const out = new Uint8Array((n + fresh) * RECORD_BYTES);
  const view = new DataView(out.buffer);
  let o = 0;
  let i = 0;
  for (let j = 0; j < adds.length; ) {
    const key = adds[j]!.key;
    while (i < n && compareAt(records, i * RECORD_BYTES, key, 0) < 0) {
      out.set(records.subarray(i * RECORD_BYTES, (i + 1) * RECORD_BYTES), o);
      o += RECORD_BYTES;
      i++;
    }
    // The key's record is written in place, then its chain stepped there (SPEC.md "Map value").
    let count = 0n;
    out.set(key, o);
    if (i < n && compareAt(records, i * RECORD_BYTES, key, 0) === 0) {
      const at = i * RECORD_BYTES + MAP_KEY_SIZE;
      count = new DataView(records.buffer, records.byteOffset + at, 8).getBigUint64(0, false);
      out.set(records.subarray(at + 8, at + MAP_VALUE_SIZE), o + MAP_KEY_SIZE + 8);
      i++;
    }
    for (; j < adds.length && compareAt(adds[j]!.key, 0, key, 0) === 0; j++) {
      for (const index of adds[j]!.indexes) {
        stepChainAt(out, o + MAP_KEY_SIZE + 8, index);
        count += 1n;
      }
    }
    view.setBigUint64(o + MAP_KEY_SIZE, count, false);
    o += RECORD_BYTES;
  }
  out.set(records.subarray(i * RECORD_BYTES), o);
  return out;
}

/** CHAIN_MSG holds a chain step's message after its prefix: h(j-1) || uint64be(ij). */
const CHAIN_MSG = new Uint8Array(HASH_SIZE + 8);
const CHAIN_VIEW = new DataView(CHAIN_MSG.buffer);

/**
 * stepChainAt replaces the chain at buf[at..at+32] with SHA-256(0x12 || chain || uint64be(index)), the
 * same step as log/index-map.ts chainStep, in place. Throws INDEX_OUT_OF_RANGE unless index is a
 * uint64.
 */
function stepChainAt(buf: Uint8Array, at: number, index: bigint): void {
  checkUint64(index, 'index');
  for (let k = 0; k < HASH_SIZE; k++) CHAIN_MSG[k] = buf[at + k]!;
  CHAIN_VIEW.setBigUint64(HASH_SIZE, index, false);
  sha256Prefixed(MAP_CHAIN_BYTE, CHAIN_MSG, 0, HASH_SIZE + 8, buf, at);
}

/** MapWalk is where a key's path through the top ends: see MapTop.walk. */
export type MapWalk =
  | { stop: 'empty'; siblings: Uint8Array[] }
  | { stop: 'single'; siblings: Uint8Array[]; bucket: number }
  | { stop: 'bucket'; siblings: Uint8Array[]; bucket: number };

/**
 * MapTop is the map above the buckets: for each level d from 0 (the root) to BUCKET_BITS (the
 * buckets), the hash and key count of each of its 2^d subtrees. setBucket records a bucket; root()
 * re-hashes the paths of the buckets set since the last root().
 */
export class MapTop {
  readonly #hashes: Uint8Array[] = [];
  readonly #counts: Float64Array[] = [];
  #dirty: number[] = [];

  constructor(from?: MapTop) {
    for (let d = 0; d <= BUCKET_BITS; d++) {
      this.#hashes.push(from ? from.#hashes[d]!.slice() : new Uint8Array((1 << d) * HASH_SIZE));
      this.#counts.push(from ? from.#counts[d]!.slice() : new Float64Array(1 << d));
    }
    if (from) this.#dirty = from.#dirty.slice();
  }

  /** keys is the number of keys in the map (after root() has folded the latest buckets). */
  get keys(): number {
    return this.#counts[0]![0]!;
  }

  /** count returns the number of keys of a bucket. */
  bucketCount(bucket: number): number {
    return this.#counts[BUCKET_BITS]![bucket]!;
  }

  /** setBucket records bucket `bucket`'s hash and key count; root() folds it in. */
  setBucket(bucket: number, hash: Uint8Array, count: number): void {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS) {
      throw new LogError('INDEX_OUT_OF_RANGE', `bucket must be from 0 to ${BUCKETS - 1}, found ${bucket}`, {
        field: 'bucket',
      });
    }
    if (hash.length !== HASH_SIZE || !Number.isSafeInteger(count) || count < 0) {
      throw new LogError('HASH_INVALID', `bucket ${bucket}: a 32-byte hash and a count >= 0 are needed`, {
        field: 'bucket',
      });
    }
    this.#hashes[BUCKET_BITS]!.set(count === 0 ? ZERO : hash, bucket * HASH_SIZE);
    this.#counts[BUCKET_BITS]![bucket] = count;
    this.#dirty.push(bucket);
  }

  /** root returns the map root, re-hashing the paths of the buckets set since the last call. */
  root(): Uint8Array {
    // The dirty buckets sorted, then each level's parents deduplicated in place (sorted stays sorted).
    let dirty = Int32Array.from(this.#dirty).sort();
    this.#dirty = [];
    for (let d = BUCKET_BITS - 1; d >= 0 && dirty.length > 0; d--) {
      let m = 0;
      for (let k = 0; k < dirty.length; k++) {
        const p = dirty[k]! >>> 1;
        if (m > 0 && dirty[m - 1] === p) continue;
        dirty[m++] = p;
        this.#rehash(d, p);
      }
      dirty = dirty.subarray(0, m);
    }
    return this.#hashes[0]!.slice(0, HASH_SIZE);
  }

  /** The hash and count of node i at level d from its two children (the node rule in the file comment). */
  #rehash(d: number, i: number): void {
    const cl = this.#counts[d + 1]![2 * i]!;
    const cr = this.#counts[d + 1]![2 * i + 1]!;
    const below = this.#hashes[d + 1]!;
    const here = this.#hashes[d]!;
    const count = cl + cr;
    if (count === 0) here.fill(0, i * HASH_SIZE, (i + 1) * HASH_SIZE);
    else if (count === 1) {
      const from = (cl === 1 ? 2 * i : 2 * i + 1) * HASH_SIZE;
      here.set(below.subarray(from, from + HASH_SIZE), i * HASH_SIZE);
    }
    // The two children lie side by side at level d + 1: NODE's message after its prefix.
    else sha256Prefixed(MAP_NODE_BYTE, below, 2 * i * HASH_SIZE, 2 * HASH_SIZE, here, i * HASH_SIZE);
    this.#counts[d]![i] = count;
  }

  /**
   * walk follows key's path from the root (call root() first) and returns the siblings of the lookup
   * proof down to where the path leaves the top: a subtree with no key ('empty': the proof is
   * complete, leaf null), with one key ('single': that key, in `bucket`, is the proof's leaf), or a
   * bucket with two or more keys ('bucket': the proof goes on inside it, proveInBucket).
   */
  walk(key: Uint8Array): MapWalk {
    const siblings: Uint8Array[] = [];
    const target = bucketOf(key);
    for (let d = 0; ; d++) {
      const i = target >>> (BUCKET_BITS - d);
      const count = this.#counts[d]![i]!;
      if (count === 0) return { stop: 'empty', siblings };
      if (count === 1) return { stop: 'single', siblings, bucket: this.#onlyBucket(d, i) };
      if (d === BUCKET_BITS) return { stop: 'bucket', siblings, bucket: target };
      const other = (2 * i) | (1 - ((target >>> (BUCKET_BITS - d - 1)) & 1));
      siblings.push(this.#hashes[d + 1]!.slice(other * HASH_SIZE, (other + 1) * HASH_SIZE));
    }
  }

  /** The bucket under node i of level d that holds its only key. */
  #onlyBucket(d: number, i: number): number {
    for (; d < BUCKET_BITS; d++) i = this.#counts[d + 1]![2 * i]! === 1 ? 2 * i : 2 * i + 1;
    return i;
  }
}

/**
 * proveInBucket completes a lookup proof whose walk through the top ended at `walk`: records are the
 * bucket the walk named (the one-key bucket for 'single', key's own bucket for 'bucket'; ignored for
 * 'empty'). It goes on down key's path inside the bucket to the first subtree with at most one key.
 * The result is the one proof every honest prover makes (log/index-map.ts IndexMap.proveLookup).
 * Throws HASH_INVALID when the records do not match the walk (a store out of step with its top).
 */
export function proveLookupFrom(key: Uint8Array, walk: MapWalk, records: Uint8Array): LookupProof {
  const siblings = walk.siblings.slice();
  const leafAt = (o: number): LookupProof['leaf'] => ({
    key: records.slice(o, o + MAP_KEY_SIZE),
    value: records.slice(o + MAP_KEY_SIZE, o + RECORD_BYTES),
  });
  if (walk.stop === 'empty') return { key: key.slice(), siblings, leaf: null };
  if (walk.stop === 'single') {
    if (records.length !== RECORD_BYTES) {
      throw new LogError('HASH_INVALID', `bucket ${walk.bucket} should hold one key`, { field: 'records' });
    }
    return { key: key.slice(), siblings, leaf: leafAt(0) };
  }
  let lo = 0;
  let hi = records.length;
  for (let d = BUCKET_BITS; ; d++) {
    const n = (hi - lo) / RECORD_BYTES;
    if (n === 0) return { key: key.slice(), siblings, leaf: null };
    if (n === 1) return { key: key.slice(), siblings, leaf: leafAt(lo) };
    if (d >= 256) throw new LogError('HASH_INVALID', 'a bucket repeats a key', { field: 'records' });
    const mid = splitAt(records, lo, hi, d);
    if (keyBit(key, 0, d) === 0) {
      siblings.push(subtreeHash(records, mid, hi, d + 1));
      hi = mid;
    } else {
      siblings.push(subtreeHash(records, lo, mid, d + 1));
      lo = mid;
    }
  }
}
