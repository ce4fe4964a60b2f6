/**
 * The migration runner: applies the numbered files of sql/ (and the JavaScript step of a version that
 * has one, server/migration-steps.ts) at start, in one transaction under an advisory lock.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Db, num } from './db.js';
import { ServiceError } from './errors.js';
import { MIGRATION_STEPS, type MigrationStep } from './migration-steps.js';

/** MIGRATION_LOCK is the advisory lock key held while migrating ("sig-migr"). */
export const MIGRATION_LOCK = 0x7369672d6d696772n;

/** Migration is one numbered file of sql/. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** step: work in JavaScript run after `sql` in the same transaction (server/migration-steps.ts). */
  step?: MigrationStep | undefined;
}

/** sqlDir returns the sql/ folder (beside server/ in the source tree, two levels up from dist/server). */
export function sqlDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'sql');
    if (existsSync(join(candidate, '001_init.sql'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`sql/001_init.sql not found above ${dirname(fileURLToPath(import.meta.url))}`);
}

/** loadMigrations returns sql/NNN_name.sql in version order; it throws on a gap or a duplicate. */
export function loadMigrations(dir = sqlDir()): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(f);
    if (!m) continue;
    const version = Number(m[1]);
    out.push({
      version,
      name: m[2]!,
      sql: readFileSync(join(dir, f), 'utf8'),
      step: MIGRATION_STEPS[version],
    });
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`sql/: expected migration ${i + 1}, found ${m.version} (${m.name})`);
  });
  return out;
}

/**
 * migrate brings the schema to the newest version this server knows, in one transaction under an
 * advisory lock (a second process starting at the same time waits, then finds nothing to do).
 * Returns the version. Throws SCHEMA_MISMATCH when the database is newer than this server, or older
 * and `apply` is false.
 *
 * Crash safety: the migrations, their steps (data rewritten in JavaScript, server/migration-steps.ts)
 * and the version rows commit together; dying before COMMIT leaves the old schema, data and version,
 * so the next start applies them again from the same point.
 */
export async function migrate(db: Db, opts: { apply: boolean; migrations?: Migration[] }): Promise<number> {
  const migrations = opts.migrations ?? loadMigrations();
  const latest = migrations.length;
  // An up-to-date schema (every start but the first after an upgrade) needs no transaction, lock or
  // catalog write: two reads. Anything else goes through the locked transaction below, which reads the
  // version again under the lock, so what is applied and its crash safety are as before.
  if ((await appliedVersion(db)) === latest) return latest;
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
      COMMENT ON TABLE schema_migrations IS 'Applied migrations (sql/NNN_name.sql); the highest version is the schema version.';
      COMMENT ON COLUMN schema_migrations.version IS 'Migration number NNN.';
      COMMENT ON COLUMN schema_migrations.name IS 'Migration file name without number and .sql.';
      COMMENT ON COLUMN schema_migrations.applied_at IS 'When it was applied.';
    `);
    const [row] = await tx.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
    const current = num(row?.v);
    if (current > latest) {
      throw new ServiceError(
        'SCHEMA_MISMATCH',
        `this database has schema version ${current}; this server needs ${latest}: upgrade the server ` +
          `(every process sharing the database must run a version that knows schema ${current})`,
        { found: current, expected: latest },
      );
    }
    if (current < latest && !opts.apply) {
      throw new ServiceError(
        'SCHEMA_MISMATCH',
        `this database has schema version ${current}; this server needs ${latest}: run the migrations ` +
          '(start the server once with migrations enabled, e.g. `sig server start`)',
        { found: current, expected: latest },
      );
    }
    for (const m of migrations.slice(current)) {
      await tx.exec(m.sql);
      await m.step?.(tx);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    return latest;
  });
}

/** appliedVersion returns the schema version recorded, or undefined before the first migration. */
async function appliedVersion(db: Db): Promise<number | undefined> {
  const [t] = await db.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (t?.present !== true) return undefined;
  const [row] = await db.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
  return num(row?.v);
}
