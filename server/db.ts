/**
 * A tiny adapter over the two databases the server runs on, with the same SQL (SPEC.md "Storage and
 * processes"): Postgres through `pg` (a Pool) when DATABASE_URL is set, embedded PGlite in the data
 * directory otherwise. Three operations: query, transaction, close. Nothing else is abstracted.
 *
 * Values come back as the drivers give them; callers convert with the helpers below (`big`, `bytes`),
 * because `pg` returns int8 as strings and bytea as Buffer, PGlite int8 as number or bigint and bytea
 * as Uint8Array. Parameters: pass bigints as strings, bytes as Uint8Array, arrays for `$n::type[]`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ServiceError } from './errors.js';
import { alive, defaultTemplateCache, preparePgliteDir } from './pglite-template.js';

/** Row is one result row, column name to driver value. */
export type Row = Record<string, unknown>;

/** Queryable runs one SQL statement with `$1..$n` parameters and returns its rows. */
export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** exec runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** Db is a database: queries, transactions (all or nothing), close. */
export interface Db extends Queryable {
  /** kind says which driver runs underneath. */
  readonly kind: 'pg' | 'pglite';
  /**
   * transaction runs `fn` in one transaction on one connection: COMMIT when it returns, ROLLBACK when
   * it throws (and the error is rethrown). Nothing `fn` wrote is visible to others before COMMIT.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** close ends every connection; the Db is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * openDb returns a Db on Postgres when `databaseUrl` is set, else on PGlite in `<dataDir>/pglite`
 * (created if missing, as a copy of the cached template when there is one: server/pglite-template.ts;
 * `<dataDir>/pglite.lock` keeps a second process out). `templateCache` is the template cache folder
 * (default: defaultTemplateCache(); undefined: none, PGlite runs initdb). It throws when the database
 * cannot be reached or opened, and CONFIG_INVALID when another live process has the PGlite database open.
 */
export async function openDb(opts: {
  databaseUrl?: string | undefined;
  dataDir: string;
  templateCache?: string | undefined;
}): Promise<Db> {
  if (opts.databaseUrl) return openPg(opts.databaseUrl);
  const dir = join(opts.dataDir, 'pglite');
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(join(opts.dataDir, 'pglite.lock'));
  try {
    const cache = 'templateCache' in opts ? opts.templateCache : defaultTemplateCache();
    if ((await preparePgliteDir(dir, cache)) === 'initdb') mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = openPglite(await PGlite.create(dir));
    return {
      ...db,
      async close() {
        try {
          await db.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}

/**
 * lockDataDir makes sure one process at a time opens the PGlite database in a data directory (PGlite
 * is embedded: a second process would write the same files and corrupt them). The lock file holds
 * the owner's pid; a lock left by a process that no longer runs is taken over. Returns the unlock
 * function; throws CONFIG_INVALID when a live process holds the lock.
 */
function lockDataDir(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) break;
    if (pid === process.pid) break;
    rmSync(path, { force: true }); // stale: its process is gone
  }
  throw new ServiceError(
    'CONFIG_INVALID',
    `the embedded database in ${dirname(path)} is in use by another process (see ${path}): run one server per ` +
      'data directory, or set DATABASE_URL to share a Postgres database between processes',
    { lockFile: path },
  );
}

async function openPg(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that
  // crashes the process. The next query gets a new connection, so logging nothing here is fine.
  pool.on('error', () => {});
  // Fail now (not at the first request) when the database does not answer.
  const c = await pool.connect();
  c.release();
  const asQueryable = (q: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
      const r = await q.query(sql, params as unknown[]);
      return r.rows as R[];
    },
    async exec(script: string) {
      await q.query(script);
    },
  });
  return {
    kind: 'pg',
    ...asQueryable(pool),
    async transaction(fn) {
      const client = await pool.connect();
      const q = inOrder(client);
      let broken = false;
      try {
        await q.exec('BEGIN');
        const out = await fn(q);
        await q.exec('COMMIT');
        return out;
      } catch (e) {
        try {
          await q.exec('ROLLBACK');
        } catch {
          broken = true; // the connection is gone; do not return it to the pool
        }
        throw e;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/**
 * inOrder is a Queryable on one connection that sends each statement once the one before it has
 * answered, in the order they were asked for. A caller may ask for a statement without waiting for the
 * previous answer (server/index-round.ts does, to hash while Postgres writes); the driver would queue it
 * too, but that use of its queue is deprecated (pg 8 warns, pg 9 removes it).
 */
function inOrder(client: pg.PoolClient): Queryable {
  let last: Promise<unknown> = Promise.resolve();
  const next = <T>(run: () => Promise<T>): Promise<T> => {
    const p = last.then(run);
    last = p.catch(() => undefined);
    return p;
  };
  return {
    query: <R extends Row>(sql: string, params: readonly unknown[] = []) =>
      next(async () => (await client.query(sql, params as unknown[])).rows as R[]),
    exec: (script: string) =>
      next(async () => {
        await client.query(script);
      }),
  };
}

function openPglite(db: PGlite): Db {
  return {
    kind: 'pglite',
    async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
      const r = await db.query<R>(sql, params as unknown[]);
      return r.rows;
    },
    transaction(fn) {
      // PGlite is one connection: its transaction() holds it for the whole callback, so other
      // queries wait until COMMIT/ROLLBACK, as they would on their own Postgres connections.
      return db.transaction((tx) =>
        fn({
          async query<R extends Row>(sql: string, params: readonly unknown[] = []) {
            const r = await tx.query<R>(sql, params as unknown[]);
            return r.rows;
          },
          async exec(script: string) {
            await tx.exec(script);
          },
        }),
      );
    },
    async exec(script: string) {
      await db.exec(script);
    },
    close: () => db.close(),
  };
}

/** big converts an int8 (or int) column value to bigint; it throws on anything else. */
export function big(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return BigInt(v);
  throw new Error(`expected an integer column value, found ${typeof v} ${String(v)}`);
}

/** num converts an integer column value to a safe number; it throws past 2^53. */
export function num(v: unknown): number {
  const b = big(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`integer column value ${b} is not a safe integer`);
  }
  return Number(b);
}

/** bytes converts a bytea column value to a plain Uint8Array (a Buffer from pg becomes a view). */
export function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Error(`expected a bytea column value, found ${typeof v}`);
  if (v.constructor === Uint8Array) return v;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
