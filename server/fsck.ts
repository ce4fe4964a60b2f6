/**
 * fsck: offline re-verification of a whole stored log from its database (`sig server fsck`), with
 * nothing but the entries, the stored keys and log/: the same code a client verifies with.
 *
 * What it checks, in the order problems are reported (the first class with a problem decides the
 * exit status and message). Each class is one function in server/fsck/, listed in CLASS_CHECKS below:
 *   1. SCHEMA (schema.ts): the database has the schema version this build knows (sql/).
 *   2. IDENTITY (identity.ts): log_identity holds the log's origin and keys (Ed25519 vkey, OpenPGP key).
 *   3. ENTRIES (entries.ts): entries.idx runs 0..tree_size-1 with no gap and nothing past
 *      log_state.tree_size; every entry parses (log/entry.ts parseEntry: canonical JSON); its stored
 *      digest (attestationDigest), identifier, signer and logged_at agree with the entry bytes; no
 *      attestation digest appears twice from log_state.canonical_dedup_from on (repeats below it were
 *      logged before canonical dedup took effect: counted in the report). The RFC 6962 leaf hash
 *      SHA-256(0x00 || entry) equals entries.leaf_hash when the schema has that column (it is checked
 *      again, through the level-0 tiles, under TILES).
 *   4. SIGNATURES (signatures.ts): every attestation verifies (log/signet.ts verifyAttestation) with the
 *      signer's stored key, as of its loggedAt (the server's acceptance rule); the key is read as the
 *      server reads it (server/key-cache.ts), and a key the signer-key rules refuse is a problem.
 *   5. TILES (tiles.ts): every hash tile recomputed from the entries (log/tiles.ts appendLeaves) equals
 *      the stored one, at the width the tree has; no tile is missing or extra (c2sp.org/tlog-tiles).
 *   6. ROOT (root.ts): log_state has its row; its root equals the root recomputed from the entries.
 *   7. CHECKPOINTS (checkpoints.ts): there is one; every stored checkpoint carries valid Ed25519 and
 *      OpenPGP lines by the log's keys (c2sp.org/signed-note), its body matches its row, its size is
 *      within the tree and never goes down in signing order, its root equals the root recomputed at its
 *      size, and it is consistent with the latest checkpoint by an RFC 9162 §2.1.4 proof built from the
 *      stored tiles (log/proof.ts proveConsistency + verifyConsistency).
 *   8. INDEX (index.ts): the index replayed from the entries (log/index-map.ts IndexReplayer): every index
 *      leaf names its own position and holds the map root recomputed from the entries before it, and
 *      from the first index leaf on every stored checkpoint ends with one (SPEC.md "The index").
 *   9. PENDING (pending.ts): every pending row (a future entry) parses and agrees with its columns; rows
 *      for attestations already logged are counted, not problems (the integrator drops them).
 * A class is an FsckCheck (server/fsck/scan.ts): hooks before, during and after the one pass over the
 * entries, sharing one problems list and one scan state. Adding a class is adding its function here.
 *
 * It only reads, through FsckReader (server/fsck/reader.ts): over a database, plain SELECTs in one
 * READ ONLY, REPEATABLE READ transaction (one consistent snapshot; no migration, no lock), so it can run
 * against a live Postgres while the log grows; for PGlite the server must be stopped (PGlite is one
 * process). Memory: the entries are streamed in batches; what is kept is one digest per entry
 * (duplicate check) and the right edge of the tree.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { base64Encode } from '../log/bytes.js';
import { openDb } from './db.js';
import { checkCheckpoints } from './fsck/checkpoints.js';
import { checkEntries } from './fsck/entries.js';
import { checkIdentity } from './fsck/identity.js';
import { checkIndex } from './fsck/index.js';
import { checkPending } from './fsck/pending.js';
import type { FsckReader } from './fsck/reader.js';
import { emptyReport, FSCK_CLASSES, type FsckClass, type FsckReport, Problems } from './fsck/report.js';
import { checkRoot } from './fsck/root.js';
import { type FsckCheck, type FsckScan, newScan, scanEntries } from './fsck/scan.js';
import { checkSchema } from './fsck/schema.js';
import { checkSignatures } from './fsck/signatures.js';
import { type FsckSource, sqlFsckReader } from './fsck/sql-reader.js';
import { checkTiles } from './fsck/tiles.js';

export type { FsckReader } from './fsck/reader.js';
export {
  FSCK_CLASSES,
  type FsckClass,
  type FsckProblem,
  type FsckReport,
  formatFsckReport,
  MAX_PROBLEMS_PER_CLASS,
} from './fsck/report.js';
export { type FsckSource, sqlFsckReader } from './fsck/sql-reader.js';

/** CLASS_CHECKS: the function of each class, run in FSCK_CLASSES order. */
const CLASS_CHECKS: Record<FsckClass, (s: FsckScan) => FsckCheck> = {
  SCHEMA: checkSchema,
  IDENTITY: checkIdentity,
  ENTRIES: checkEntries,
  SIGNATURES: checkSignatures,
  TILES: checkTiles,
  ROOT: checkRoot,
  CHECKPOINTS: checkCheckpoints,
  INDEX: checkIndex,
  PENDING: checkPending,
};

/** FsckOptions say which database to check and how. */
export interface FsckOptions {
  /** databaseUrl: Postgres; else PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** signatures: verify every attestation's OpenPGP signature (default true; the slow part). */
  signatures?: boolean;
  /** batchSize: entries per read (default 5000). */
  batchSize?: number;
  /** onProgress is called after each batch with entries done and the tree size. */
  onProgress?: (done: number, total: bigint) => void;
}

/**
 * fsck opens the database named by `opts` (read only: it runs SELECTs only), re-verifies the whole log
 * as the file comment says, closes the database and returns the report. It throws only when the
 * database cannot be opened or read (or, without databaseUrl, when dataDir holds no PGlite database);
 * everything wrong with the stored log is a problem in the report.
 */
export async function fsck(opts: FsckOptions): Promise<FsckReport> {
  if (!opts.databaseUrl && !existsSync(join(opts.dataDir, 'pglite'))) {
    // Opening would create an empty database: say what is wrong instead.
    throw new Error(
      `no embedded database in ${join(opts.dataDir, 'pglite')}: give the server's --data-dir (DATA_DIR), or --database-url (DATABASE_URL) for Postgres`,
    );
  }
  const db = await openDb({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir });
  try {
    // One REPEATABLE READ snapshot for every read: on a live Postgres the integrator keeps appending,
    // and entries, tiles, state and checkpoints must all be seen as of one moment.
    return await db.transaction(async (q) => {
      await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return fsckDb({ kind: db.kind, query: q.query.bind(q) }, opts);
    });
  } finally {
    await db.close();
  }
}

/** fsckDb is fsck over an open database or transaction (the caller closes it); throws like fsck. */
export function fsckDb(
  db: FsckSource,
  opts: Omit<FsckOptions, 'databaseUrl' | 'dataDir'> = {},
): Promise<FsckReport> {
  return fsckLog(sqlFsckReader(db), opts);
}

/**
 * fsckLog re-verifies the log that `reader` reads, class by class (the file comment), and returns the
 * report. It throws only when the reader throws.
 */
export async function fsckLog(
  reader: FsckReader,
  opts: Omit<FsckOptions, 'databaseUrl' | 'dataDir'> = {},
): Promise<FsckReport> {
  const started = Date.now();
  const problems = new Problems();
  const s = newScan(reader, problems, emptyReport(reader.kind, ''), {
    signatures: opts.signatures !== false,
    batchSize: opts.batchSize ?? 5000,
    onProgress: opts.onProgress,
  });
  const checks = FSCK_CLASSES.map((c) => CLASS_CHECKS[c](s));
  if (await runBefore(checks)) {
    await scanEntries(s, checks);
    for (const c of checks) await c.after?.();
  }
  const report = s.report;
  report.rootHash = base64Encode(s.tree.root);
  report.problems = problems.sorted();
  report.firstClass = report.problems[0]?.class;
  report.ok = report.problems.length === 0;
  report.elapsedMs = Date.now() - started;
  return report;
}

/** runBefore runs the `before` hooks in class order; false when one stopped fsck. */
async function runBefore(checks: readonly FsckCheck[]): Promise<boolean> {
  for (const c of checks) if ((await c.before?.()) === 'stop') return false;
  return true;
}
