/**
 * Cold start on the embedded store (issue 13, target 5): the time from spawning `node bin/sig.js server
 * start` (the build in dist/, no DATABASE_URL: PGlite) to the first 200 of GET /log/checkpoint, polled
 * every 10 ms on a free port picked beforehand. Until the server listens the poll gets "connection
 * refused"; a log must sign its first checkpoint before it listens, so the first answer is a 200.
 *
 * Three cases, COLDSTART_RUNS runs each (default 5), median and every run:
 * - fresh data directory, template cached: what every new log on a machine that started one before gets
 *   (server/pglite-template.ts; the cache is made once, untimed, before the runs); target <= 3 s;
 * - fresh data directory, empty cache (XDG_CACHE_HOME a new empty folder each run): the first start of a
 *   PGlite build on a machine, which runs initdb and keeps the template; reported beside the target;
 * - restart of an existing 10^5-entry log (bulk-loaded once, bench/bulk-load.ts, PGlite); target <= 1.5 s.
 * Each run also shows where the time went, from the server's own log lines (LOG_LEVEL=info): spawn to
 * "log opened" (node, modules, database open and migrations, keys), to "listening" (first round and
 * checkpoint, the app, listen), to the first 200.
 *
 * COLDSTART_COMPARE=<folder of another built checkout> (e.g. the commit before a change, built with tsc)
 * times that checkout's bin/sig.js too, run for run alternating with this one, on the same kind of data
 * directory (the log is loaded once by this checkout: both must know its schema), so that both figures
 * share the machine's load. Its fresh starts get an empty template cache of their own each run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, makeSigner, ROOT } from '../test/helpers/child-server.js';
import { bulkLoad } from './bulk-load.js';
import { fmt, loadNow, machine, percentile } from './harness.js';

/** FRESH_TARGET_MS and RESTART_TARGET_MS: issue 13 target 5. */
const FRESH_TARGET_MS = 3000;
const RESTART_TARGET_MS = 1500;
/** RESTART_SIZE: entries of the existing log. */
const RESTART_SIZE = 100_000;

/** One timed start: ms from spawn to the first 200, and to the server's "log opened" and "listening". */
interface Start {
  ms: number;
  openedMs: number;
  listeningMs: number;
}

/** logTime returns the `time` of the first JSON log line with `msg`, as ms since the epoch. */
function logTime(out: string, msg: string): number {
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; time?: string };
      if (j.msg === msg && j.time) return Date.parse(j.time);
    } catch {
      // a partial line
    }
  }
  return Number.NaN;
}

/**
 * timeStart spawns the server on `dataDir` (environment `env` added), polls /log/checkpoint until a 200,
 * stops the server with SIGTERM and waits for it to exit. Throws when it exits first or takes over 120 s.
 */
async function timeStart(dataDir: string, env: Record<string, string> = {}, root = ROOT): Promise<Start> {
  const port = await freePort();
  const t0 = Date.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [join(root, 'bin', 'sig.js'), 'server', 'start', '--port', String(port), '--data-dir', dataDir],
    { cwd: root, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${out}`);
      if (Date.now() - t0 > 120_000) throw new Error(`no 200 within 120 s:\n${out}`);
      const status = await fetch(`http://127.0.0.1:${port}/log/checkpoint`).then(
        (r) => r.arrayBuffer().then(() => r.status),
        () => 0, // connection refused: not listening yet
      );
      if (status === 200) break;
      if (status !== 0) throw new Error(`GET /log/checkpoint answered ${status} before 200:\n${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = Date.now() - t0;
    return { ms, openedMs: logTime(out, 'log opened') - t0, listeningMs: logTime(out, 'listening') - t0 };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** report prints one case: the median next to its target, then each run with its phases. */
function report(label: string, starts: Start[], targetMs: number | undefined): void {
  const median = percentile(
    starts.map((s) => s.ms),
    50,
  );
  const verdict =
    targetMs === undefined
      ? `(once per PGlite build and machine; the fresh target <= ${FRESH_TARGET_MS} ms is the case above)`
      : `(target <= ${targetMs} ms: ${median <= targetMs ? 'met' : 'missed'})`;
  console.log(
    `${label}: median ${fmt(median, 0)} ms over ${starts.length} runs ${verdict}; load ${loadNow()}`,
  );
  for (const s of starts) {
    console.log(
      `  ${fmt(s.ms, 0)} ms  (log opened at ${fmt(s.openedMs, 0)}, listening at ${fmt(s.listeningMs, 0)}, first 200 at ${fmt(s.ms, 0)})`,
    );
  }
}

/**
 * cases times `runs` starts of each checkout in `roots` (alternating), each on the data directory and
 * environment `setup(i, root)` returns, and prints each checkout's figures with `label` and `targetMs`.
 */
async function cases(
  roots: string[],
  runs: number,
  label: string,
  targetMs: number | undefined,
  setup: (i: number, root: string) => { dataDir: string; env: Record<string, string> },
): Promise<void> {
  const starts = roots.map(() => [] as Start[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, root] of roots.entries()) {
      const { dataDir, env } = setup(i, root);
      starts[k]!.push(await timeStart(dataDir, env, root));
    }
  }
  for (const [k, root] of roots.entries()) {
    report(root === ROOT ? label : `${label} [COLDSTART_COMPARE ${root}]`, starts[k]!, targetMs);
  }
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  const runs = Number(process.env.COLDSTART_RUNS ?? 5);
  const roots = [ROOT, ...(process.env.COLDSTART_COMPARE ? [process.env.COLDSTART_COMPARE] : [])];
  console.log(`${await machine()}; ${runs} runs per case; node bin/sig.js server start (dist/), PGlite`);
  const work = await mkdtemp(join(tmpdir(), 'bench-coldstart-'));
  let n = 0;
  const dir = (name: string) => join(work, `${name}-${n++}`);
  try {
    // The template cache of this checkout, made once (untimed) by a first start.
    const cacheEnv = { XDG_CACHE_HOME: join(work, 'cache') };
    await timeStart(dir('warmup'), cacheEnv);
    const empty = () => ({ XDG_CACHE_HOME: dir('empty-cache') });
    await cases(
      roots,
      runs,
      'fresh data dir (template cached) -> first 200',
      FRESH_TARGET_MS,
      (_i, root) => ({
        dataDir: dir('fresh'),
        env: root === ROOT ? cacheEnv : empty(),
      }),
    );
    await cases(
      roots,
      runs,
      'fresh data dir, empty template cache (first start on a machine: initdb) -> first 200',
      undefined,
      () => ({ dataDir: dir('first'), env: empty() }),
    );
    const logDir = join(work, 'log');
    const signers = await Promise.all([makeSigner('Bench A'), makeSigner('Bench B'), makeSigner('Bench C')]);
    const loaded = await bulkLoad({
      url: '',
      dataDir: logDir,
      origin: 'bench.test/coldstart',
      size: RESTART_SIZE,
      signers,
    });
    console.log(`existing log: ${RESTART_SIZE} entries bulk-loaded in ${fmt(loaded.seconds)} s (PGlite)`);
    await cases(
      roots,
      runs,
      `restart of a ${RESTART_SIZE}-entry log -> first 200`,
      RESTART_TARGET_MS,
      () => ({
        dataDir: logDir,
        env: cacheEnv,
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
