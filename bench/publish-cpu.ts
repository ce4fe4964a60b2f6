/**
 * Where the CPU of a publish run goes, from Linux /proc (user + system time, 100 Hz ticks): the server's
 * main thread (HTTP, JSON, admission, SQL client, integration, proofs), its other threads (the verify
 * workers, the libuv pool their WebCrypto Ed25519 calls run on, V8's GC helpers), the Postgres backends
 * of the benchmark's own database (pg_stat_activity at the end of the phase), and the load generator
 * (this process). On 2 shared cores these compete for the same CPU, so the sum per attestation is the
 * ceiling on the rate: 2 cores / (CPU ms per attestation). Elsewhere than Linux every figure is NaN.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

/** TICK_MS: one clock tick of /proc/<pid>/stat (USER_HZ is 100 on Linux). */
const TICK_MS = 10;

/** msOf returns utime + stime of a /proc stat file in ms, or 0 when it is gone. */
function msOf(path: string): number {
  try {
    const s = readFileSync(path, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** postgresMs returns the CPU ms of every process named postgres, by pid. */
function postgresMs(): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
      } catch {
        continue;
      }
      out.set(Number(d), msOf(`/proc/${d}/stat`));
    }
  } catch {
    // not Linux
  }
  return out;
}

interface Snapshot {
  main: number;
  server: number;
  bench: number;
  pg: Map<number, number>;
}

function snapshot(serverPid: number): Snapshot {
  const u = process.cpuUsage();
  return {
    main: msOf(`/proc/${serverPid}/task/${serverPid}/stat`),
    server: msOf(`/proc/${serverPid}/stat`),
    bench: (u.user + u.system) / 1000,
    pg: postgresMs(),
  };
}

/** CpuSplit is the CPU time of one phase per attestation, in ms. */
export interface CpuSplit {
  main: number;
  workers: number;
  postgres: number;
  bench: number;
  total: number;
}

/**
 * cpuMeter starts counting; stop(n, dbUrl) returns the CPU per attestation (n attestations) since the
 * start, Postgres counted over the backends connected to dbUrl's database when stop runs.
 */
export function cpuMeter(serverPid: number): { stop(n: number, dbUrl: string): Promise<CpuSplit> } {
  const a = snapshot(serverPid);
  return {
    async stop(n, dbUrl) {
      const b = snapshot(serverPid);
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      let pids: number[];
      try {
        const r = await c.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
        const own = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        pids = r.rows.map((x) => Number(x.pid)).filter((p) => p !== own);
      } finally {
        await c.end();
      }
      let pgMs = 0;
      for (const p of pids) pgMs += (b.pg.get(p) ?? 0) - (a.pg.get(p) ?? 0);
      const main = (b.main - a.main) / n;
      const workers = (b.server - a.server) / n - main;
      const postgres = pgMs / n;
      const bench = (b.bench - a.bench) / n;
      return { main, workers, postgres, bench, total: main + workers + postgres + bench };
    },
  };
}

/** describeCpu prints a CpuSplit on one line. */
export function describeCpu(s: CpuSplit): string {
  const f = (x: number) => x.toFixed(3);
  return (
    `CPU per attestation: server main thread ${f(s.main)} ms, server other threads (verify workers, ` +
    `libuv, GC) ${f(s.workers)} ms, Postgres backends ${f(s.postgres)} ms, load generator ${f(s.bench)} ms; ` +
    `total ${f(s.total)} ms (2 cores: at most ${(2000 / s.total).toFixed(0)} attestations/s)`
  );
}
