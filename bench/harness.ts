/**
 * What the server benchmarks share: the scale (BENCH_SCALE), percentiles, a closed-loop HTTP load
 * generator, the server's RSS from /proc, and a one-line description of the machine and its load.
 * Timings are printed, never asserted (tests hold no timings).
 */
import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import pg from 'pg';
import { ADMIN_URL } from '../test/helpers/postgres.js';

/** Scale is the size of a benchmark run. */
export interface Scale {
  name: 'small' | 'full' | 'huge';
  /** querySizes: the log sizes the query benchmark loads and measures. */
  querySizes: number[];
  /** publishAttestations: distinct attestations the publish benchmark sends. */
  publishAttestations: number;
  /** queries: requests per latency measurement. */
  queries: number;
  /** seconds: length of each throughput measurement. */
  seconds: number;
}

/**
 * scale returns the scale chosen by BENCH_SCALE (small | full | huge; default full). huge is the full
 * scale with one log of 10^7 entries for the size-dependent benchmarks (query, index, storage): about
 * 10 GB of Postgres and half an hour of loading, so it is run by hand, never in CI.
 */
export function scale(): Scale {
  const s = process.env.BENCH_SCALE ?? 'full';
  if (s === 'small')
    return { name: 'small', querySizes: [1_000, 10_000], publishAttestations: 600, queries: 500, seconds: 2 };
  if (s === 'huge')
    return { name: 'huge', querySizes: [10_000_000], publishAttestations: 16_000, queries: 3000, seconds: 5 };
  if (s !== 'full') throw new Error(`BENCH_SCALE must be small, full or huge, found ${s}`);
  return {
    name: 'full',
    querySizes: [10_000, 100_000, 1_000_000],
    publishAttestations: 16_000,
    queries: 3000,
    seconds: 5,
  };
}

/** percentile returns the p-th percentile (0..100) of `ms` (nearest rank). */
export function percentile(ms: number[], p: number): number {
  if (ms.length === 0) return Number.NaN;
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** fmt prints a number with `digits` decimals. */
export const fmt = (n: number, digits = 1) => n.toFixed(digits);

/** LoadResult is what a closed-loop run measured. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  latenciesMs: number[];
}

/**
 * load runs `concurrency` loops calling `one(i)` (i counts up across loops) until `stopAfter` calls or
 * `seconds` have passed, and returns the rate and every call's latency. `one` throws on a bad answer.
 */
export async function load(opts: {
  concurrency: number;
  one: (i: number) => Promise<void>;
  stopAfter?: number;
  seconds?: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const deadline = opts.seconds === undefined ? Number.POSITIVE_INFINITY : start + opts.seconds * 1000;
  const limit = opts.stopAfter ?? Number.POSITIVE_INFINITY;
  const loop = async () => {
    while (next < limit && performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      try {
        await opts.one(i);
        latencies.push(performance.now() - t0);
      } catch (e) {
        errors++;
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const seconds = (performance.now() - start) / 1000;
  if (errors > 0)
    console.log(`  (${errors} failed requests; first: ${(firstError as Error)?.message ?? firstError})`);
  return {
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    latenciesMs: latencies,
  };
}

/** rssMb returns the resident set size of process `pid` in MiB (Linux /proc), or NaN elsewhere. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** sampleRss samples the RSS of `pid` every 100 ms until stop() and returns the peak (MiB). */
export function sampleRss(pid: number): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    const r = rssMb(pid);
    if (r > peak) peak = r;
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb(pid));
    },
  };
}

/** machine returns one line: cores, memory, node, Postgres version, load average now. */
export async function machine(): Promise<string> {
  let pgVersion = 'Postgres not reachable';
  try {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    pgVersion = String((await c.query('SHOW server_version')).rows[0]?.server_version);
    await c.end();
  } catch {
    // reported as not reachable
  }
  const gib = (b: number) => (b / 2 ** 30).toFixed(1);
  return (
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${gib(totalmem())} GiB RAM (${gib(freemem())} free), ` +
    `node ${process.version}, Postgres ${pgVersion}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
}

/** loadNow returns the 1-minute load average (to say under what load a figure was taken). */
export function loadNow(): string {
  return loadavg()[0]!.toFixed(2);
}
