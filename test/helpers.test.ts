import test from 'ava';
import pg from 'pg';
import { freshPostgres } from './helpers/postgres.js';

test('freshPostgres gives each caller an empty database of its own', async (t) => {
  const a = await freshPostgres('helpers');
  if (!a) return t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
  const b = await freshPostgres('helpers');
  t.truthy(b);
  t.not(a.url, b!.url);
  const c = new pg.Client({ connectionString: a.url });
  await c.connect();
  await c.query('CREATE TABLE t (x int)');
  const r = await c.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 't'");
  t.is(r.rows[0].n, 1);
  await c.end();
  await a.drop();
  await b!.drop();
});
