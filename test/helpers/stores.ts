/**
 * Storage backends for tests: every storage test runs its body once on embedded PGlite (in a temp
 * data directory) and once on a real Postgres (a fresh database from freshPostgres).
 *
 * Usage:
 *   for (const b of await storeBackends('mytest')) { ...open LogService with b.databaseUrl, b.dataDir... }
 * or, one ava test per backend:
 *   backendTest(test, 'publish works', async (t, b) => { ... });
 *
 * Each call makes new, empty databases and data directories; call `cleanup()` when done (backendTest
 * does it). When Postgres is not reachable and PG_REQUIRED is not 1, the postgres backend is left out
 * (freshPostgres prints why).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext, TestFn } from 'ava';
import { freshPostgres } from './postgres.js';

export interface StoreBackend {
  /** name is 'pglite' or 'postgres' (use it in test titles). */
  name: 'pglite' | 'postgres';
  /** databaseUrl is set for postgres, undefined for pglite (the database lives in dataDir). */
  databaseUrl: string | undefined;
  /** url is databaseUrl under the name the brief uses. */
  url: string | undefined;
  /** dataDir is an empty temp directory (key files; the PGlite database when databaseUrl is unset). */
  dataDir: string;
  /** cleanup removes the temp directory and drops the Postgres database. */
  cleanup(): Promise<void>;
}

/** tempDir returns a new empty directory under the OS temp dir. */
export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `sig-${label.replace(/[^a-z0-9]/gi, '_')}-`));
}

/**
 * storeBackends returns a fresh PGlite backend and (when Postgres answers) a fresh Postgres backend.
 * It throws when PG_REQUIRED=1 and Postgres does not answer.
 */
export async function storeBackends(label: string): Promise<StoreBackend[]> {
  const pg = await postgresBackend(label);
  return pg ? [await pgliteBackend(label), pg] : [await pgliteBackend(label)];
}

/** pgliteBackend returns a fresh PGlite backend in a temp directory. */
export async function pgliteBackend(label: string): Promise<StoreBackend> {
  const dataDir = await tempDir(label);
  return {
    name: 'pglite',
    databaseUrl: undefined,
    url: undefined,
    dataDir,
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/** postgresBackend returns a fresh Postgres backend, or undefined when Postgres is not reachable. */
export async function postgresBackend(label: string): Promise<StoreBackend | undefined> {
  const db = await freshPostgres(label);
  if (!db) return undefined;
  const dataDir = await tempDir(label);
  return {
    name: 'postgres',
    databaseUrl: db.url,
    url: db.url,
    dataDir,
    async cleanup() {
      await rm(dataDir, { recursive: true, force: true });
      await db.drop();
    },
  };
}

/**
 * backendTest declares one ava test per backend, titled `<title> [pglite]` and `<title> [postgres]`;
 * each gets fresh storage, cleaned up afterwards whether the body passed or failed. When Postgres is
 * not reachable (and not required) the postgres test passes with a note saying it was skipped.
 */
export function backendTest(
  test: TestFn,
  title: string,
  body: (t: ExecutionContext, b: StoreBackend) => Promise<void>,
): void {
  for (const name of ['pglite', 'postgres'] as const) {
    test(`${title} [${name}]`, async (t) => {
      const label = title.slice(0, 20);
      const b = name === 'pglite' ? await pgliteBackend(label) : await postgresBackend(label);
      if (!b) {
        t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
        return;
      }
      try {
        await body(t, b);
      } finally {
        await b.cleanup();
      }
    });
  }
}
