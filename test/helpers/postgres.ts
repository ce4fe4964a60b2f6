/**
 * A fresh Postgres database per test file, on the real server at 127.0.0.1:5432 (trust auth, user
 * postgres, database test). ava runs files in parallel, so every caller gets its own database.
 *
 * When Postgres does not answer: with PG_REQUIRED=1 (as in .ci/run) that is a failure; otherwise the
 * caller gets undefined and skips its Postgres tests with a message.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** ADMIN_URL is where test databases are created from; PG_TEST_URL overrides it. */
export const ADMIN_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface FreshDatabase {
  /** url is a connection string for the new database. */
  url: string;
  /** drop removes the database (terminating any connection still open to it). */
  drop(): Promise<void>;
}

/**
 * freshPostgres creates a new empty database named after `label` and returns its URL, or undefined
 * (after printing why) when Postgres is not reachable and PG_REQUIRED is not set.
 */
export async function freshPostgres(label: string): Promise<FreshDatabase | undefined> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    const msg = `Postgres not reachable at ${ADMIN_URL}: ${(err as Error).message}`;
    if (process.env.PG_REQUIRED === '1') throw new Error(`${msg} (PG_REQUIRED=1)`);
    console.warn(`skipping Postgres tests: ${msg}`);
    return undefined;
  }
  const name = `sig_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
