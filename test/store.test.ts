/**
 * The store on PGlite and real Postgres: migrations (versioned, commented, safe to run from two
 * processes at once), the schema version check and its message, the shared rate-limit counters.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { openDb } from '../server/db.js';
import { isServiceError } from '../server/errors.js';
import { loadMigrations, migrate } from '../server/migrate.js';
import { openService } from './helpers/service.js';
import { backendTest, pgliteBackend, postgresBackend } from './helpers/stores.js';

backendTest(test, 'every table and column of the schema has a comment', async (t, b) => {
  const db = await openDb(b);
  try {
    t.is(await migrate(db, { apply: true }), loadMigrations().length);
    const tables = await db.query<{ name: string; comment: string | null }>(
      `SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r'`,
    );
    t.true(tables.length >= 8, tables.map((x) => x.name).join(','));
    for (const x of tables) t.truthy(x.comment, `table ${x.name} has no comment`);
    const cols = await db.query<{ name: string; comment: string | null }>(
      `SELECT c.relname || '.' || a.attname AS name, col_description(c.oid, a.attnum) AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = current_schema() AND c.relkind = 'r'`,
    );
    t.true(cols.length > 30);
    for (const x of cols) t.truthy(x.comment, `column ${x.name} has no comment`);
    // Migrating again changes nothing.
    t.is(await migrate(db, { apply: true }), loadMigrations().length);
    const [v] = await db.query<{ n: unknown }>('SELECT count(*) AS n FROM schema_migrations');
    t.is(Number(v!.n), loadMigrations().length);
  } finally {
    await db.close();
  }
});

backendTest(
  test,
  'a schema version mismatch refuses to start with a message saying what to do',
  async (t, b) => {
    // Older database, migrations off: "run the migrations".
    const db0 = await openDb(b);
    const e0 = await t.throwsAsync(migrate(db0, { apply: false }));
    t.true(isServiceError(e0, 'SCHEMA_MISMATCH'));
    t.is(
      e0!.message,
      `this database has schema version 0; this server needs ${loadMigrations().length}: run the migrations ` +
        '(start the server once with migrations enabled, e.g. `sig server start`)',
    );
    await db0.close();
    // A database from a newer server: "upgrade the server", and LogService.open refuses.
    const svc = await openService(b);
    await svc.close();
    const db = await openDb(b);
    await db.query("INSERT INTO schema_migrations (version, name) VALUES (99, 'from_the_future')");
    await db.close();
    const e = await t.throwsAsync(openService(b));
    t.true(isServiceError(e, 'SCHEMA_MISMATCH'), e?.message);
    t.regex(
      e!.message,
      new RegExp(
        `^this database has schema version 99; this server needs ${loadMigrations().length}: upgrade the server`,
      ),
    );
    t.deepEqual((e as { details?: unknown }).details, { found: 99, expected: loadMigrations().length });
  },
);

test('two processes migrating one Postgres at once: applied exactly once', async (t) => {
  const b = await postgresBackend('migrate');
  if (!b) return t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
  const dbs = await Promise.all([openDb(b), openDb(b), openDb(b)]);
  try {
    const versions = await Promise.all(dbs.map((db) => migrate(db, { apply: true })));
    t.deepEqual(
      versions,
      versions.map(() => loadMigrations().length),
    );
    const rows = await dbs[0]!.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    t.deepEqual(
      rows.map((r) => r.version),
      loadMigrations().map((m) => m.version),
    );
  } finally {
    await Promise.all(dbs.map((db) => db.close()));
    await b.cleanup();
  }
});

backendTest(
  test,
  'rate-limit store: counters shared by stores, windows, decrement and reset',
  async (t, b) => {
    const svc = await openService(b);
    try {
      const s1 = svc.rateLimitStore('pub:');
      const s2 = svc.rateLimitStore('pub:');
      const other = svc.rateLimitStore('other:');
      for (const s of [s1, s2, other]) await s.init?.({ windowMs: 60_000 } as never);
      const a = await s1.increment('1.2.3.4');
      const c = await s2.increment('1.2.3.4');
      t.is(a.totalHits, 1);
      t.is(c.totalHits, 2, "the second store sees the first one's hit (shared through the database)");
      t.true(c.resetTime! > new Date(Date.now() + 30_000));
      t.deepEqual(c.resetTime, a.resetTime, 'one window per key');
      t.is((await other.increment('1.2.3.4')).totalHits, 1, 'prefixes keep limiters apart');
      await s1.decrement('1.2.3.4');
      t.is((await s2.get!('1.2.3.4'))?.totalHits, 1);
      await s2.resetKey('1.2.3.4');
      t.is(await s1.get!('1.2.3.4'), undefined);
      t.is((await s1.increment('1.2.3.4')).totalHits, 1);
      // A short window ends: the count starts again (polled with a deadline, not slept on).
      const short = svc.rateLimitStore('short:');
      await short.init?.({ windowMs: 300 } as never);
      const first = await short.increment('k');
      const second = await short.increment('k');
      // Same window (same reset time) means 2 hits; on a loaded machine the window may have ended.
      t.is(second.totalHits, second.resetTime!.getTime() === first.resetTime!.getTime() ? 2 : 1);
      const deadline = Date.now() + 10_000;
      let hits = 2;
      while (Date.now() < deadline && hits !== 1) {
        await new Promise((r) => setTimeout(r, 25));
        if (Date.now() > first.resetTime!.getTime()) hits = (await short.increment('k')).totalHits;
      }
      t.is(hits, 1);
      t.is(s1.localKeys, false);
    } finally {
      await svc.close();
    }
  },
);

test('PGlite: a second open of the same data directory is refused while the first is open', async (t) => {
  const b = await pgliteBackend('lock');
  try {
    const db = await openDb(b);
    const e = await t.throwsAsync(openDb(b));
    t.true(isServiceError(e, 'CONFIG_INVALID'), e?.message);
    t.regex(e!.message, /in use by another process .* DATABASE_URL/);
    await db.close();
    // Closed: the lock is gone; a lock left by a process that no longer runs is taken over.
    writeFileSync(join(b.dataDir, 'pglite.lock'), '2147483646\n');
    const again = await openDb(b);
    t.is((await again.query<{ x: number }>('SELECT 1 AS x'))[0]!.x, 1);
    await again.close();
  } finally {
    await b.cleanup();
  }
});
