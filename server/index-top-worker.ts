/**
 * The index top worker (server/index-folder.ts starts it): holds the integrator's MapTop (the 18 levels
 * above the buckets, 16 MiB) and does a round's map hashing off the main thread, which meanwhile packs
 * and writes the round's entries. Pure CPU: it never touches the database; the main thread reads the
 * bucket heads and records and sends them. One message in, one out, in order: {id, op} -> {id, result}
 * or {id, error}.
 *
 * Ops:
 * - `load` {heads}: a new top from every bucket's head (a process taking over);
 * - `apply` {heads}: the heads of the buckets that changed since the top's size (another process
 *   integrated meanwhile);
 * - `fold` {additions, records}: each touched bucket's records after its additions (log/index-buckets.ts
 *   addToBucket), its hash and count set in the top; answers the bucket rows to write and the new root;
 * - `forget`: drop the top (a round rolled back after changing it; the next round loads it again).
 * Which size the top is at is the main thread's to track (WorkerFolder): the worker does what it is told.
 */
import { parentPort } from 'node:worker_threads';
import { MapTop } from '../log/index-buckets.js';
import { type Additions, type BucketHead, type BucketWrite, foldBuckets } from './index-state.js';
// Node's native SHA-256 for every hash of log/ in this thread too (it is per thread: a module's state).
import './native-hash.js';

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

/** TopRequest is one op for the worker (see the file comment). */
export type TopRequest =
  | { id: number; op: 'load' | 'apply'; heads: PackedHeads }
  | {
      id: number;
      op: 'fold';
      additions: Additions;
      records: Map<number, Uint8Array>;
    }
  | { id: number; op: 'forget' };

/** TopAnswer is the worker's answer to the request with the same id. */
export type TopAnswer =
  | { id: number; result: { root: Uint8Array; writes: BucketWrite[] } | null }
  | { id: number; error: { message: string; code?: string } };

let top: MapTop | undefined;

function run(m: TopRequest): { root: Uint8Array; writes: BucketWrite[] } | null {
  if (m.op === 'forget') {
    top = undefined;
    return null;
  }
  if (m.op === 'load') top = new MapTop();
  if (top === undefined) throw new Error(`index top worker: ${m.op} before load`);
  if (m.op !== 'fold') {
    const { prefixes, counts, hashes } = m.heads;
    for (let i = 0; i < prefixes.length; i++)
      top.setBucket(prefixes[i]!, hashes.subarray(i * 32, i * 32 + 32), counts[i]!);
    top.root();
    return null;
  }
  return foldBuckets(top, m.additions, m.records);
}

parentPort?.on('message', (m: TopRequest) => {
  let answer: TopAnswer;
  try {
    answer = { id: m.id, result: run(m) };
  } catch (err) {
    // A failed op leaves the top in an unknown state: drop it (the main thread forgets its size too).
    top = undefined;
    const e = err as { message?: string; code?: string };
    answer = { id: m.id, error: { message: String(e.message ?? err), code: e.code } };
  }
  parentPort?.postMessage(answer);
});
