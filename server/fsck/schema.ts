/** fsck class 1, SCHEMA: the database has the schema version this build knows (sql/). */
import { loadMigrations } from '../migrate.js';
import type { FsckCheck, FsckScan } from './scan.js';

/**
 * checkSchema returns the SCHEMA check: before the pass, it stops fsck with SCHEMA_MISSING when the
 * database has no schema_migrations table, or SCHEMA_MISMATCH when its version is not the newest in
 * sql/ (every later class reads tables of that version).
 */
export function checkSchema(s: FsckScan): FsckCheck {
  return {
    async before() {
      const expected = loadMigrations().length;
      const version = await s.reader.schemaVersion();
      if (version === undefined) {
        s.problems.add(
          'SCHEMA',
          'SCHEMA_MISSING',
          'the database has no Sig Server schema (no schema_migrations table): is this the right database?',
        );
        return 'stop';
      }
      if (version !== expected) {
        s.problems.add(
          'SCHEMA',
          'SCHEMA_MISMATCH',
          `the database has schema version ${version}; this fsck knows version ${expected}: use the matching sig version`,
          { found: version, expected },
        );
        return 'stop';
      }
      return undefined;
    },
  };
}
