/**
 * VerifyPool verifies attestation signatures in worker threads (server/verify-worker.ts), round robin.
 * OpenPGP verification is most of a publish's CPU; on the main thread it would cap a server at one
 * core, and the main thread also serves HTTP, talks to the database and integrates. Results are the
 * same as log/signet.ts verifyAttestation in-thread: a LogError with the same code, message and details,
 * or the signature time.
 *
 * A worker that dies (a bug, out of memory) fails the verifications it had in flight with a plain
 * Error (a 500: nothing is stored, since publish stores only after every item verified) and is
 * replaced on the next call.
 */
import { Worker } from 'node:worker_threads';
import type { ErrorCode } from '../log/errors.js';
import { LogError } from '../log/errors.js';
import type { Attestation } from '../log/signet.js';
import type { VerifyAnswer, VerifyRequest } from './verify-worker.js';

interface Pending {
  resolve: (signedAt: Date) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

// Under tsx (the tests) this module is server/verify-pool.ts and the worker is a .ts file too, which
// the worker loads with tsx as well. Built, both are .js in dist/server/.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './verify-worker.ts' : './verify-worker.js', import.meta.url);

/** newWorker starts the worker: built, the .js file; from source, a bootstrap that registers tsx first. */
function newWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true });
}

export class VerifyPool {
  private readonly slots: (Slot | undefined)[];
  private next = 0;
  private seq = 0;
  private closed = false;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError(`VerifyPool size must be >= 1, found ${size}`);
    this.slots = new Array(size).fill(undefined);
  }

  /** verify resolves to the signature time, or rejects as verifyAttestation(att, key, {now}) would. */
  verify(att: Attestation, armoredKey: string, now: Date): Promise<Date> {
    if (this.closed) return Promise.reject(new Error('the verification pool is closed'));
    const i = this.next;
    this.next = (this.next + 1) % this.slots.length;
    const slot = this.slots[i] ?? this.spawn(i);
    const id = ++this.seq;
    const req: VerifyRequest = { id, att, armoredKey, nowMs: now.getTime() };
    return new Promise<Date>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage(req);
    });
  }

  /** close stops the workers; verifications in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  private spawn(i: number): Slot {
    const worker = newWorker();
    const slot: Slot = { worker, pending: new Map() };
    // An idle worker must not keep the process alive; one with work in flight must.
    worker.unref();
    worker.on('message', (a: VerifyAnswer) => {
      const p = slot.pending.get(a.id);
      if (!p) return;
      slot.pending.delete(a.id);
      if (slot.pending.size === 0) worker.unref();
      if ('signedAtMs' in a) p.resolve(new Date(a.signedAtMs));
      else if (a.error.code !== undefined)
        p.reject(new LogError(a.error.code as ErrorCode, a.error.message, a.error.details ?? {}));
      else p.reject(new Error(`signature verification failed in the worker: ${a.error.message}`));
    });
    const fail = (e: Error) => {
      if (this.slots[i] === slot) this.slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(e);
      slot.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`the verification worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`the verification worker exited (code ${code})`)));
    this.slots[i] = slot;
    return slot;
  }
}
