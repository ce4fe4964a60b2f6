/**
 * The verify worker (server/verify-pool.ts starts it): runs the OpenPGP work of requests
 * (server/crypto-tasks.ts), the CPU-heavy part of a publish or a key upload, off the main thread, which
 * keeps HTTP, the database and the integrator. One message in, one out: {id, task} -> {id, result} or
 * {id, error}.
 *
 * Tasks run one at a time, in the order they arrive: the pool then knows which task is running (the
 * oldest one not answered) and since when, and can hold each to its time budget.
 */
import { parentPort } from 'node:worker_threads';
import {
  type CryptoFailure,
  type CryptoResult,
  type CryptoTask,
  runTask,
  toFailure,
  transferables,
} from './crypto-tasks.js';
import { KeyCache } from './key-cache.js';

/** WorkerRequest is one task for the worker. */
export interface WorkerRequest {
  id: number;
  task: CryptoTask;
}

/** WorkerAnswer is the worker's answer to the request with the same id. */
export type WorkerAnswer = { id: number; result: CryptoResult } | { id: number; error: CryptoFailure };

const cache = new KeyCache();
let queue: Promise<void> = Promise.resolve();

async function answer(req: WorkerRequest): Promise<WorkerAnswer> {
  try {
    return { id: req.id, result: await runTask(req.task, cache) };
  } catch (e) {
    return { id: req.id, error: toFailure(e) };
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  // An admit result's buffers move to the main thread rather than being copied.
  queue = queue.then(() =>
    answer(req).then((a) => parentPort?.postMessage(a, 'result' in a ? transferables(a.result) : [])),
  );
});
// Loaded: the pool starts the clock of the first task now, not when the thread was asked for.
parentPort?.postMessage('ready');
