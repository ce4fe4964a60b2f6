/**
 * startWorker starts a worker thread on a module next to the caller: `name`.js when the caller runs
 * built (dist/server/), `name`.ts under tsx (the tests), through a bootstrap that registers tsx in the
 * worker first. Used by server/verify-pool.ts and server/index-folder.ts.
 */
import { Worker } from 'node:worker_threads';

export function startWorker(callerUrl: string, name: string): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const url = new URL(`./${name}${fromSource ? '.ts' : '.js'}`, callerUrl);
  if (!fromSource) return new Worker(url);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true });
}
