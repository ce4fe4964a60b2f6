/**
 * A real Postgres primary and a hot standby streaming from it, on this machine, for the read-replica
 * tests and bench/query.ts: Debian's PostgreSQL binaries (/usr/lib/postgresql/<newest>/bin, or PG_BIN),
 * initdb with trust auth, pg_basebackup -R for the standby, ports picked free at run time, data
 * directories under one temporary directory. Postgres refuses to run as root: as root every command
 * runs as the `postgres` user through runuser.
 *
 * When the tools are missing: with PG_REQUIRED=1 (as in .ci/run) that is a failure; otherwise
 * startReplicaPair returns undefined after saying why, and the caller skips.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './child-server.js';

const run = promisify(execFile);

/** ReplicaPair is a running primary and hot standby. */
export interface ReplicaPair {
  /** primaryUrl / standbyUrl: the database `sig` on each (the standby's is read-only). */
  primaryUrl: string;
  standbyUrl: string;
  /** query runs one statement on the primary or the standby (as postgres, database sig). */
  query(on: 'primary' | 'standby', sql: string, params?: unknown[]): Promise<pg.QueryResultRow[]>;
  /** pauseReplay / resumeReplay: pg_wal_replay_pause() / pg_wal_replay_resume() on the standby. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** caughtUp resolves once the standby has replayed everything the primary had written when called. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** stopStandby stops the standby (fast shutdown); stop() still cleans up. */
  stopStandby(): Promise<void>;
  /** stop stops both servers (immediate) and removes their directories; idempotent. */
  stop(): Promise<void>;
}

/** pgBinDir returns PG_BIN, or the bin directory of the newest /usr/lib/postgresql/<ver>, if it has the tools. */
export function pgBinDir(): string | undefined {
  const tools = ['initdb', 'pg_ctl', 'pg_basebackup'];
  const has = (d: string) => tools.every((t) => existsSync(join(d, t)));
  if (process.env.PG_BIN) return has(process.env.PG_BIN) ? process.env.PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find(has);
}

function postgresIds(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const f = line?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

/**
 * startReplicaPair initialises a primary, creates the database `sig`, takes a base backup for a
 * standby (pg_basebackup -R: it streams from the primary) and starts it; resolves once the standby
 * answers read-only queries and has the database. Undefined (with a warning) when the tools are
 * missing and PG_REQUIRED is not 1.
 */
export async function startReplicaPair(label: string): Promise<ReplicaPair | undefined> {
  const bin = pgBinDir();
  if (!bin) {
    const msg =
      'PostgreSQL server tools (initdb, pg_ctl, pg_basebackup) not found under /usr/lib/postgresql or PG_BIN';
    if (process.env.PG_REQUIRED === '1') throw new Error(`${msg} (PG_REQUIRED=1)`);
    console.warn(`skipping replica tests: ${msg}`);
    return undefined;
  }
  const root = mkdtempSync(join(tmpdir(), `sig-replica-${label}-`));
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? postgresIds() : undefined;
  if (asRoot && !ids) throw new Error('running as root, and there is no postgres user to run Postgres as');
  if (ids) chownSync(root, ids.uid, ids.gid);
  const exec = async (tool: string, args: string[]) => {
    const cmd = asRoot
      ? ['runuser', '-u', 'postgres', '--', join(bin, tool), ...args]
      : [join(bin, tool), ...args];
    try {
      return await run(cmd[0]!, cmd.slice(1), { cwd: root, timeout: 120_000 });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new Error(
        `${tool} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
    }
  };
  const [p1, p2] = [await freePort(), await freePort()];
  const dirs = { primary: join(root, 'primary'), standby: join(root, 'standby') };
  const started: string[] = [];
  const pools = new Map<string, pg.Pool>();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.allSettled([...pools.values()].map((p) => p.end()));
    for (const d of started.reverse())
      await exec('pg_ctl', ['stop', '-D', d, '-m', 'immediate', '-w']).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  const opts = (port: number) =>
    `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root} -c fsync=off`;
  const start = async (dir: string, port: number, log: string) => {
    try {
      await exec('pg_ctl', ['start', '-D', dir, '-l', join(root, log), '-w', '-t', '60', '-o', opts(port)]);
    } catch (e) {
      const tail = existsSync(join(root, log)) ? readFileSync(join(root, log), 'utf8').slice(-2000) : '';
      throw new Error(`${(e as Error).message}\n${log}:\n${tail}`);
    }
    started.push(dir);
  };
  const url = (port: number, db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  try {
    await exec('initdb', ['-D', dirs.primary, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await start(dirs.primary, p1, 'primary.log');
    const admin = new pg.Client({ connectionString: url(p1, 'postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE sig').finally(() => admin.end());
    await exec('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(p1),
      '-U',
      'postgres',
      '-D',
      dirs.standby,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
    ]);
    await start(dirs.standby, p2, 'standby.log');
  } catch (e) {
    await stop();
    throw e;
  }
  const pool = (on: 'primary' | 'standby') => {
    let p = pools.get(on);
    if (!p) {
      p = new pg.Pool({ connectionString: url(on === 'primary' ? p1 : p2, 'sig'), max: 2 });
      p.on('error', () => {});
      pools.set(on, p);
    }
    return p;
  };
  const query = async (on: 'primary' | 'standby', sql: string, params: unknown[] = []) =>
    (await pool(on).query(sql, params)).rows;
  const pair: ReplicaPair = {
    primaryUrl: url(p1, 'sig'),
    standbyUrl: url(p2, 'sig'),
    query,
    async pauseReplay() {
      await query('standby', 'SELECT pg_wal_replay_pause()');
    },
    async resumeReplay() {
      await query('standby', 'SELECT pg_wal_replay_resume()');
    },
    async caughtUp(timeoutMs = 30_000) {
      const [w] = await query('primary', 'SELECT pg_current_wal_lsn()::text AS lsn');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [r] = await query('standby', 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [w!.lsn]);
        if (r?.ok) return;
        if (Date.now() > deadline)
          throw new Error(`the standby did not replay up to ${w!.lsn} in ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    async stopStandby() {
      await pools.get('standby')?.end();
      pools.delete('standby');
      await exec('pg_ctl', ['stop', '-D', dirs.standby, '-m', 'fast', '-w']);
    },
    stop,
  };
  try {
    const [r] = await query('standby', 'SELECT pg_is_in_recovery() AS standby');
    if (!r?.standby) throw new Error('the standby is not in recovery');
    await pair.caughtUp();
  } catch (e) {
    await stop();
    throw e;
  }
  return pair;
}
