/**
 * What the main thread and the integrator's map worker (server/index-top-worker.ts) send each other:
 * the requests and answers, and their flat forms. Bulk data (bucket heads, a fold's keys and records,
 * its bucket rows) travels in a few typed arrays that are transferred, not cloned. No side effects: the
 * main thread imports this, the worker's own module is only ever loaded in the worker.
 */
import type { Additions, BucketHead, BucketWrite } from './index-state.js';

/** PackedHeads are bucket heads in three arrays (transferred, not cloned: a log of 10^7 has 2^18 heads). */
export interface PackedHeads {
  prefixes: Int32Array;
  counts: Float64Array;
  /** hashes: 32 bytes per head, in the order of prefixes. */
  hashes: Uint8Array;
}

/** packHeads returns heads as PackedHeads. */
export function packHeads(heads: readonly BucketHead[]): PackedHeads {
  const out = {
    prefixes: new Int32Array(heads.length),
    counts: new Float64Array(heads.length),
    hashes: new Uint8Array(heads.length * 32),
  };
  heads.forEach((h, i) => {
    out.prefixes[i] = h.prefix;
    out.counts[i] = h.count;
    out.hashes.set(h.hash, i * 32);
  });
  return out;
}

/**
 * PackedRecords are buckets' records in flat arrays: bucket i is prefixes[i], its records are
 * records[recordsAt[i]..recordsAt[i+1]) when given[i] is 1 (0: not sent, the worker has them).
 */
export interface PackedRecords {
  prefixes: Int32Array;
  given: Uint8Array;
  recordsAt: Int32Array;
  records: Uint8Array;
}

/** packRecords returns the records of `prefixes` as PackedRecords, given for those in `stored` only. */
export function packRecords(
  prefixes: readonly number[],
  stored: ReadonlyMap<number, Uint8Array>,
): PackedRecords {
  const n = prefixes.length;
  const out: PackedRecords = {
    prefixes: Int32Array.from(prefixes),
    given: new Uint8Array(n),
    recordsAt: new Int32Array(n + 1),
    records: new Uint8Array(prefixes.reduce((a, p) => a + (stored.get(p)?.length ?? 0), 0)),
  };
  let r = 0;
  prefixes.forEach((prefix, i) => {
    const records = stored.get(prefix);
    if (records) {
      out.given[i] = 1;
      out.records.set(records, r);
      r += records.length;
    }
    out.recordsAt[i + 1] = r;
  });
  return out;
}

/** unpackRecords returns the given records of PackedRecords by bucket (views into its arrays). */
export function unpackRecords(p: PackedRecords): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  p.prefixes.forEach((prefix, i) => {
    if (p.given[i] === 1) out.set(prefix, p.records.subarray(p.recordsAt[i], p.recordsAt[i + 1]));
  });
  return out;
}

/**
 * PackedFold is a fold's input in flat arrays, transferred, not cloned (a structured clone of ~260
 * buckets and ~500 keys, each an object with its own arrays, cost the main thread about 2 ms a round):
 * the touched buckets in PackedRecords (the records of those the worker does not keep), and bucket i's
 * added keys k from keyAt[i] to keyAt[i+1]-1 (32 bytes each in `keys`), key k's new log indexes being
 * indexes[indexAt[k]..indexAt[k+1]).
 */
export interface PackedFold extends PackedRecords {
  keyAt: Int32Array;
  keys: Uint8Array;
  indexAt: Int32Array;
  indexes: BigUint64Array;
}

/** packFold returns the additions and the records of the touched buckets in `stored` as a PackedFold. */
export function packFold(additions: Additions, stored: ReadonlyMap<number, Uint8Array>): PackedFold {
  const n = additions.length;
  const keyCount = additions.reduce((a, [, adds]) => a + adds.length, 0);
  const indexCount = additions.reduce((a, [, adds]) => adds.reduce((b, x) => b + x.indexes.length, a), 0);
  const out: PackedFold = {
    ...packRecords(
      additions.map(([prefix]) => prefix),
      stored,
    ),
    keyAt: new Int32Array(n + 1),
    keys: new Uint8Array(keyCount * 32),
    indexAt: new Int32Array(keyCount + 1),
    indexes: new BigUint64Array(indexCount),
  };
  let k = 0;
  let x = 0;
  additions.forEach(([, adds], i) => {
    for (const a of adds) {
      out.keys.set(a.key, k * 32);
      for (const index of a.indexes) out.indexes[x++] = index;
      out.indexAt[++k] = x;
    }
    out.keyAt[i + 1] = k;
  });
  return out;
}

/** unpackFold returns a PackedFold's additions and the records it gives (views into its arrays). */
export function unpackFold(p: PackedFold): { additions: Additions; stored: Map<number, Uint8Array> } {
  const additions: Additions = [];
  p.prefixes.forEach((prefix, i) => {
    const adds = [];
    for (let k = p.keyAt[i]!; k < p.keyAt[i + 1]!; k++) {
      adds.push({
        key: p.keys.subarray(k * 32, k * 32 + 32),
        indexes: [...p.indexes.subarray(p.indexAt[k], p.indexAt[k + 1])],
      });
    }
    additions.push([prefix, adds]);
  });
  return { additions, stored: unpackRecords(p) };
}

/** PackedWrites are a fold's bucket rows: their heads, and their records one after another. */
export interface PackedWrites extends PackedHeads {
  recordsAt: Int32Array;
  records: Uint8Array;
}

/** packWrites returns rows as PackedWrites. */
export function packWrites(rows: readonly BucketWrite[]): PackedWrites {
  const recordsAt = new Int32Array(rows.length + 1);
  rows.forEach((w, i) => {
    recordsAt[i + 1] = recordsAt[i]! + w.records.length;
  });
  const records = new Uint8Array(recordsAt[rows.length]!);
  rows.forEach((w, i) => {
    records.set(w.records, recordsAt[i]);
  });
  return { ...packHeads(rows), recordsAt, records };
}

/** unpackWrites returns the rows of PackedWrites (views into its arrays). */
export function unpackWrites(p: PackedWrites): BucketWrite[] {
  return [...p.prefixes].map((prefix, i) => ({
    prefix,
    count: p.counts[i]!,
    hash: p.hashes.subarray(i * 32, i * 32 + 32),
    records: p.records.subarray(p.recordsAt[i], p.recordsAt[i + 1]),
  }));
}

/** buffersOf returns the ArrayBuffers of a packed message's arrays, to transfer with it. */
export function buffersOf(p: object): ArrayBuffer[] {
  return Object.values(p).map((a) => (a as Uint8Array).buffer as ArrayBuffer);
}

/** TopRequest is one op for the worker (see server/index-top-worker.ts). */
export type TopRequest =
  | { id: number; op: 'load'; heads: PackedHeads; cacheBytes: number }
  | { id: number; op: 'apply'; heads: PackedHeads }
  | { id: number; op: 'fold'; fold: PackedFold }
  | { id: number; op: 'fill'; fill: PackedRecords }
  | { id: number; op: 'forget' };

/**
 * TopAnswer is the worker's answer to the request with the same id (a fold's writes come first).
 * `cached` says, bucket by bucket (a fold's written buckets, a fill's), whether the worker keeps its
 * records: the main thread sends them no more while the map stays at that size.
 */
export type TopAnswer =
  | { id: number; writes: PackedWrites; cached: Uint8Array }
  | { id: number; result: { root: Uint8Array } | null; cached?: Uint8Array }
  | { id: number; error: { message: string; code?: string } };
