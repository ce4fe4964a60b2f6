/**
 * VerifyPool runs the OpenPGP work of requests (server/crypto-tasks.ts: attestation signatures, key
 * intake) in worker threads (server/verify-worker.ts), round robin. That work is most of a publish's
 * CPU; on the main thread it would cap a server at one core and stall HTTP, the database and the
 * integrator. Results are the same as runTask on the calling thread: a LogError with the same code,
 * message and details, or the same value.
 *
 * Time budget: each task may run at most `budgetMs` (a worker runs its tasks one at a time, so the one
 * running is the oldest unanswered, started when the previous answer came). A task over budget fails
 * with WORK_BUDGET_EXCEEDED (HTTP 422: this request's own work was too expensive); its worker is
 * terminated, since a long computation cannot be interrupted any other way, and the tasks that were
 * queued behind it are sent, in order, to a fresh worker: a bystander is delayed, never failed. Inputs
 * are bounded before any math (log/keys.ts), so an honest task never comes near the budget: the largest
 * is an admit task of 25 attestations (server/admission.ts), a few milliseconds of verification.
 *
 * A worker that dies (a bug, out of memory) fails the tasks it had with a plain Error (a 500: nothing
 * is stored, since publish stores only after every item verified) and is replaced on the next call.
 */
import type { Worker } from 'node:worker_threads';
import type { ErrorCode } from '../log/errors.js';
import { LogError } from '../log/errors.js';
import type { Attestation } from '../log/signet.js';
import type { CryptoResult, CryptoTask, KeyIntake, MergedKey } from './crypto-tasks.js';
import { ServiceError } from './errors.js';
import type { WorkerAnswer, WorkerRequest } from './verify-worker.js';
import { startWorker } from './worker-start.js';

interface Pending {
  task: CryptoTask;
  resolve: (r: CryptoResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** pending: tasks sent and not answered, in the order sent (the first is running). */
  pending: Map<number, Pending>;
  /** startedAt: when the running task started (ms). */
  startedAt: number;
  /** ready: the worker has loaded (its start-up, seconds under load, is not a task's time). */
  ready: boolean;
}

/** DEFAULT_BUDGET_MS is the default time budget of one task. */
export const DEFAULT_BUDGET_MS = 3000;

/** newWorker starts a verify worker (server/verify-worker.ts). */
function newWorker(): Worker {
  return startWorker(import.meta.url, 'verify-worker');
}

export class VerifyPool {
  private readonly slots: (Slot | undefined)[];
  private readonly budgetMs: number;
  private next = 0;
  private seq = 0;
  private closed = false;
  private watchdog: NodeJS.Timeout | undefined;

  /** size: worker threads (>= 1); budgetMs: the time budget of one task (default DEFAULT_BUDGET_MS). */
  constructor(size: number, budgetMs = DEFAULT_BUDGET_MS) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError(`VerifyPool size must be >= 1, found ${size}`);
    if (!Number.isSafeInteger(budgetMs) || budgetMs < 1)
      throw new RangeError(`VerifyPool budget must be >= 1 ms, found ${budgetMs}`);
    this.slots = new Array(size).fill(undefined);
    this.budgetMs = budgetMs;
  }

  /** verify resolves to the signature time, or rejects as verifyAttestation(att, key, {now}) would. */
  async verify(att: Attestation, armoredKey: string, now: Date): Promise<Date> {
    const r = await this.run({ kind: 'verify', att, armoredKey, nowMs: now.getTime() });
    return new Date((r as { signedAtMs: number }).signedAtMs);
  }

  /** mergeKeys resolves to the checked and merged keys, or rejects as runTask's keys task would. */
  async mergeKeys(keys: KeyIntake[]): Promise<MergedKey[]> {
    return ((await this.run({ kind: 'keys', keys })) as { keys: MergedKey[] }).keys;
  }

  /** close stops the workers; tasks in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  /** run does one task in a worker (round robin): what runTask would return or throw, or a budget or
   *  worker failure (see the file comment). */
  run(task: CryptoTask): Promise<CryptoResult> {
    if (this.closed) return Promise.reject(new Error('the verification pool is closed'));
    const i = this.next;
    this.next = (this.next + 1) % this.slots.length;
    return new Promise<CryptoResult>((resolve, reject) => {
      this.send(this.slots[i] ?? this.spawn(i), ++this.seq, { task, resolve, reject });
    });
  }

  private send(slot: Slot, id: number, p: Pending): void {
    if (slot.pending.size === 0) {
      slot.startedAt = Date.now();
      slot.worker.ref();
    }
    slot.pending.set(id, p);
    const req: WorkerRequest = { id, task: p.task };
    slot.worker.postMessage(req);
    this.watch();
  }

  /** watch runs the budget check while any task is pending. */
  private watch(): void {
    if (this.watchdog) return;
    const every = Math.max(10, Math.min(250, Math.floor(this.budgetMs / 4)));
    this.watchdog = setInterval(() => this.enforceBudget(), every);
    this.watchdog.unref();
  }

  private enforceBudget(): void {
    let busy = false;
    const now = Date.now();
    this.slots.forEach((slot, i) => {
      if (!slot || slot.pending.size === 0) return;
      busy = true;
      if (!slot.ready || now - slot.startedAt <= this.budgetMs) return;
      const [id, running] = slot.pending.entries().next().value as [number, Pending];
      slot.pending.delete(id);
      running.reject(
        new ServiceError(
          'WORK_BUDGET_EXCEEDED',
          `the OpenPGP work of this request took more than ${this.budgetMs} ms and was stopped: send smaller keys ` +
            'with fewer signatures (see the Limits in the README)',
          { budgetMs: this.budgetMs, task: running.task.kind },
        ),
      );
      // The queued tasks go to a fresh worker, in order; the stuck one is terminated.
      const queued = [...slot.pending.entries()];
      slot.pending.clear();
      this.slots[i] = undefined;
      void slot.worker.terminate();
      const fresh = this.spawn(i);
      for (const [qid, p] of queued) this.send(fresh, qid, p);
    });
    if (!busy && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  private spawn(i: number): Slot {
    const worker = newWorker();
    const slot: Slot = { worker, pending: new Map(), startedAt: Date.now(), ready: false };
    // An idle worker must not keep the process alive; one with work in flight must.
    worker.unref();
    worker.on('message', (a: WorkerAnswer | 'ready') => {
      if (a === 'ready') {
        slot.ready = true;
        slot.startedAt = Date.now();
        return;
      }
      const p = slot.pending.get(a.id);
      if (!p) return;
      slot.pending.delete(a.id);
      slot.startedAt = Date.now();
      if (slot.pending.size === 0) worker.unref();
      if ('result' in a) p.resolve(a.result);
      else if (a.error.code !== undefined)
        p.reject(new LogError(a.error.code as ErrorCode, a.error.message, a.error.details ?? {}));
      else p.reject(new Error(`OpenPGP work failed in the worker: ${a.error.message}`));
    });
    const fail = (e: Error) => {
      if (this.slots[i] !== slot) return;
      this.slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(e);
      slot.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`the verification worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`the verification worker exited (code ${code})`)));
    this.slots[i] = slot;
    return slot;
  }
}
