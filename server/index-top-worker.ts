/**
 * The index top worker (server/index-folder.ts starts it): holds the integrator's MapTop (the 18 levels
 * above the buckets, 16 MiB) and does a round's map hashing off the main thread, which meanwhile packs
 * and writes the round's entries. Pure CPU: it never touches the database; the main thread reads the
 * bucket heads and records and sends them. One message in, one answer out, in order: {id, op} ->
 * {id, result} or {id, error}; a fold answers its bucket rows first ({id, writes}), as soon as they are
 * hashed, so the main thread sends them to Postgres while the top above them is hashed.
 *
 * Ops:
 * - `load` {heads, cacheBytes}: a new top from every bucket's head (a process taking over), nothing kept;
 * - `apply` {heads}: the heads of the buckets that changed since the top's size (another process
 *   integrated meanwhile); their kept records are dropped;
 * - `fold` {fold}: each touched bucket's records (sent, or kept here) after its additions
 *   (log/index-buckets.ts addToBucket), its hash and count set in the top; answers the bucket rows to
 *   write and which of them it keeps ({id, writes, cached}), then the new root ({id, result: {root}});
 * - `fill` {fill}: buckets' records as of the top's size, read between rounds, kept with their leaf
 *   hashes while they fit (about 30 ms of hashing for 8,192 buckets at 10^6 keys, which a fold sent
 *   meanwhile waits for); answers which it keeps ({id, result: null, cached});
 * - `forget`: drop the top and what is kept (a round rolled back after changing them; the next round
 *   loads the top again).
 * Which size the top is at is the main thread's to track (WorkerFolder): the worker does what it is told.
 */
import { parentPort } from 'node:worker_threads';
import { HASH_SIZE } from '../log/hash.js';
import { type KeptBucket, leafHashes, MapTop, RECORD_BYTES } from '../log/index-buckets.js';
import { bucketWrites } from './index-state.js';
import {
  buffersOf,
  packWrites,
  type TopAnswer,
  type TopRequest,
  unpackFold,
  unpackRecords,
} from './index-top-messages.js';
// Node's native SHA-256 for every hash of log/ in this thread too (it is per thread: a module's state).
import './native-hash.js';

let top: MapTop | undefined;

/**
 * The records of buckets as of the map size the top is at, kept so that a fold needs no read of them:
 * filled by the main thread between rounds ('fill') and by every fold (its new records), emptied with
 * the top ('load', 'forget', a failed op), and a bucket dropped when another process changed it
 * ('apply'). Each bucket with its leaf hashes, so a fold hashes only the leaves it changes, in one array
 * (records || leaf hashes: 104 bytes a key); every empty bucket shares one empty array. At most
 * `cacheBytes`, each bucket counted with what it costs besides its bytes (a map slot and an array).
 */
const cache = new Map<number, Uint8Array>();
let cacheBytes = 0;
let cacheLimit = 0;
const EMPTY = new Uint8Array(0);
const cost = (data: Uint8Array) => data.length + (data.length === 0 ? 48 : 160);

/** kept returns bucket `prefix`'s kept records and leaf hashes (views of its array), if kept. */
function kept(prefix: number): KeptBucket | undefined {
  const data = cache.get(prefix);
  if (data === undefined) return undefined;
  const split = (data.length / (RECORD_BYTES + HASH_SIZE)) * RECORD_BYTES;
  return { records: data.subarray(0, split), leaves: data.subarray(split) };
}

/** keep keeps `b` as bucket `prefix` (replacing what it held) and says whether it did. */
function keep(prefix: number, b: KeptBucket): boolean {
  const old = cache.get(prefix);
  let data = EMPTY;
  if (b.records.length > 0) {
    data = new Uint8Array(b.records.length + b.leaves.length);
    data.set(b.records);
    data.set(b.leaves, b.records.length);
  }
  const delta = cost(data) - (old ? cost(old) : 0);
  if (cacheBytes + delta > cacheLimit) {
    if (old) forgetBucket(prefix);
    return false;
  }
  cache.set(prefix, data);
  cacheBytes += delta;
  return true;
}

function forgetBucket(prefix: number): void {
  const old = cache.get(prefix);
  if (old === undefined) return;
  cache.delete(prefix);
  cacheBytes -= cost(old);
}

function drop(): void {
  top = undefined;
  cache.clear();
  cacheBytes = 0;
}

type Final = { result: { root: Uint8Array } | null; cached?: Uint8Array };

function run(m: TopRequest): Final {
  if (m.op === 'forget') {
    drop();
    return { result: null };
  }
  if (m.op === 'load') {
    drop();
    cacheLimit = m.cacheBytes;
    top = new MapTop();
  }
  if (top === undefined) throw new Error(`index top worker: ${m.op} before load`);
  if (m.op === 'load' || m.op === 'apply') {
    const { prefixes, counts, hashes } = m.heads;
    for (let i = 0; i < prefixes.length; i++) {
      top.setBucket(prefixes[i]!, hashes.subarray(i * 32, i * 32 + 32), counts[i]!);
      forgetBucket(prefixes[i]!);
    }
    top.root();
    return { result: null };
  }
  if (m.op === 'fill') {
    const records = unpackRecords(m.fill);
    // Their leaf hashes are made now, between rounds, so a fold hashes only the leaves it changes (keep
    // copies the records out of the message's array).
    const fill = (p: number) => {
      const r = records.get(p)!; // every bucket of a fill is given (an empty one empty)
      return keep(p, { records: r, leaves: leafHashes(r) }) ? 1 : 0;
    };
    return { result: null, cached: Uint8Array.from(m.fill.prefixes, fill) };
  }
  const { additions, stored } = unpackFold(m.fold);
  for (const [prefix] of additions) {
    if (!stored.has(prefix) && !cache.has(prefix))
      throw new Error(`index top worker: bucket ${prefix} was neither sent nor kept`);
  }
  const rows = bucketWrites(top, additions, stored, kept);
  const cached = Uint8Array.from(rows, (w) =>
    keep(w.prefix, { records: w.records, leaves: w.leaves }) ? 1 : 0,
  );
  const writes = packWrites(rows);
  parentPort?.postMessage({ id: m.id, writes, cached } satisfies TopAnswer, buffersOf(writes));
  return { result: { root: top.root() } };
}

parentPort?.on('message', (m: TopRequest) => {
  let answer: TopAnswer;
  try {
    answer = { id: m.id, ...run(m) };
  } catch (err) {
    // A failed op leaves the top and the kept records in an unknown state: drop them (the main
    // thread forgets the top's size too, and what it believed kept).
    drop();
    const e = err as { message?: string; code?: string };
    answer = { id: m.id, error: { message: String(e.message ?? err), code: e.code } };
  }
  parentPort?.postMessage(answer);
});
