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
import { MapTop } from '../log/index-buckets.js';
import { bucketWrites } from './index-state.js';
import { buffersOf, packWrites, type TopAnswer, type TopRequest, unpackFold } from './index-top-messages.js';
// Node's native SHA-256 for every hash of log/ in this thread too (it is per thread: a module's state).
import './native-hash.js';

let top: MapTop | undefined;

function run(m: TopRequest): { root: Uint8Array } | null {
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
  const { additions, stored } = unpackFold(m.fold);
  const writes = packWrites(bucketWrites(top, additions, stored));
  parentPort?.postMessage({ id: m.id, writes } satisfies TopAnswer, buffersOf(writes));
  return { root: top.root() };
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
