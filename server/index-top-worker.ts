/**
 * The index top worker (server/index-folder.ts starts it): holds the integrator's MapTop (the 18 levels
 * above the buckets, 16 MiB) and does a round's map hashing off the main thread, which meanwhile packs
 * and writes the round's entries. Pure CPU: it never touches the database; the main thread reads the
 * bucket heads and records and sends them. One message in, one answer out, in order: {id, op} ->
 * {id, result} or {id, error}; a fold answers its bucket rows first ({id, writes}), as soon as they are
 * hashed, so the main thread sends them to Postgres while the top above them is hashed.
 *
 * Ops:
 * - `load` {heads}: a new top from every bucket's head (a process taking over);
 * - `apply` {heads}: the heads of the buckets that changed since the top's size (another process
 *   integrated meanwhile);
 * - `fold` {additions, records}: each touched bucket's records after its additions (log/index-buckets.ts
 *   addToBucket), its hash and count set in the top; answers the bucket rows to write ({id, writes}),
 *   then the new root ({id, result: {root}});
 * - `forget`: drop the top (a round rolled back after changing it; the next round loads it again).
 * Which size the top is at is the main thread's to track (WorkerFolder): the worker does what it is told.
 */
import { parentPort } from 'node:worker_threads';
import { type KeptBucket, leafHashes, MapTop } from '../log/index-buckets.js';
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
 * ('apply'). Each bucket with its leaf hashes, so a fold hashes only the leaves it changes. At most
 * `cacheBytes`, each bucket counted with its typed arrays' own cost (ENTRY_COST).
 */
const cache = new Map<number, KeptBucket>();
let cacheBytes = 0;
let cacheLimit = 0;
const ENTRY_COST = 256;

/** keep caches `b` as bucket `prefix` (replacing what it held) and says whether it did. */
function keep(prefix: number, b: KeptBucket): boolean {
  const old = cache.get(prefix);
  const size = (x: KeptBucket) => x.records.length + x.leaves.length;
  const delta = size(b) - (old ? size(old) : -ENTRY_COST);
  if (cacheBytes + delta > cacheLimit) {
    if (old) forgetBucket(prefix);
    return false;
  }
  cache.set(prefix, b);
  cacheBytes += delta;
  return true;
}

function forgetBucket(prefix: number): void {
  const old = cache.get(prefix);
  if (old === undefined) return;
  cache.delete(prefix);
  cacheBytes -= old.records.length + old.leaves.length + ENTRY_COST;
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
    // Copies: the records are views of the message's array, which a kept bucket must not pin. Their
    // leaf hashes are made now, between rounds, so a fold hashes only the leaves it changes.
    const kept = (p: number) => {
      const r = records.get(p)?.slice() ?? new Uint8Array(0);
      return keep(p, { records: r, leaves: leafHashes(r) }) ? 1 : 0;
    };
    return { result: null, cached: Uint8Array.from(m.fill.prefixes, kept) };
  }
  const { additions, stored } = unpackFold(m.fold);
  for (const [prefix] of additions) {
    if (!stored.has(prefix) && !cache.has(prefix))
      throw new Error(`index top worker: bucket ${prefix} was neither sent nor kept`);
  }
  const rows = bucketWrites(top, additions, stored, cache);
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
