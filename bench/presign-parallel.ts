/**
 * presignParallel: test/helpers/child-server.ts `presign` spread over worker threads (one per core by
 * default), for benchmarks that need 10^5 real signed attestations before their run. The result is the
 * same list `presign` makes (same ids, data and signer for each index; real, distinct Ed25519 OpenPGP
 * signatures), in order. Each worker gets a contiguous range of indices and the signers' armored
 * private keys.
 */
import { cpus } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import * as openpgp from 'openpgp';
import { type Attestation, signAttestation } from '../log/signet.js';
import type { Signer } from '../test/helpers/child-server.js';

/** Task is what one worker signs: indices from..to-1 of the list. */
interface Task {
  presignParallel: true;
  armoredKeys: string[];
  from: number;
  to: number;
  prefix: string;
}

/** signRange signs indices from..to-1 exactly as `presign` does. */
async function signRange(
  keys: readonly openpgp.PrivateKey[],
  from: number,
  to: number,
  prefix: string,
): Promise<Attestation[]> {
  const out: Attestation[] = [];
  for (let i = from; i < to; i++) {
    const key = keys[i % keys.length]!;
    out.push(await signAttestation({ id: `${prefix}:${i}`, ok: i % 7 !== 0, n: i }, key));
  }
  return out;
}

/**
 * presignParallel returns `n` distinct attestations signed by `signers` in turn (ids `<prefix>:<i>`),
 * signed by `threads` worker threads (default: one per core).
 */
export async function presignParallel(
  signers: readonly Signer[],
  n: number,
  prefix: string,
  threads = cpus().length,
): Promise<Attestation[]> {
  const armoredKeys = signers.map((s) => s.privateKey.armor());
  const per = Math.ceil(n / Math.max(1, threads));
  const parts: Promise<Attestation[]>[] = [];
  for (let from = 0; from < n; from += per) {
    const task: Task = { presignParallel: true, armoredKeys, from, to: Math.min(n, from + per), prefix };
    parts.push(runWorker(task));
  }
  return (await Promise.all(parts)).flat();
}

// Under tsx (bench/run.ts) this module is a .ts file, which the worker loads with tsx as well.
const SELF = new URL(import.meta.url);

/** runWorker starts a worker on this module with `task` and resolves with what it signed. */
function runWorker(task: Task): Promise<Attestation[]> {
  const worker = SELF.pathname.endsWith('.ts')
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(SELF.href)}); });`,
        { eval: true, workerData: task },
      )
    : new Worker(SELF, { workerData: task });
  return new Promise((resolve, reject) => {
    let result: Attestation[] | undefined;
    worker.once('message', (m: Attestation[]) => {
      result = m;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`presign worker exited with code ${code} and no result`));
    });
  });
}

if (!isMainThread && (workerData as Task | undefined)?.presignParallel) {
  const task = workerData as Task;
  const keys = await Promise.all(
    task.armoredKeys.map((armoredKey) => openpgp.readPrivateKey({ armoredKey })),
  );
  parentPort!.postMessage(await signRange(keys, task.from, task.to, task.prefix));
}
