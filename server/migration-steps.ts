/**
 * Migration steps: the work a schema migration needs that SQL alone cannot do, run by server/migrate.ts
 * migrate right after the SQL of its version, in the same transaction (so a crash at any point rolls
 * back the SQL, the step and the version row together, and the next start runs them all again).
 *
 * Version 2 (sql/002_canonical_dedup.sql): the dedup key (log/entry.ts attestationDigest) became canonical
 * in the signature packet (log/signature-canonical.ts), which only JavaScript computes; recomputeDigests
 * rewrites it from the entry bytes.
 *
 * Version 3 (sql/003_index.sql): the index map of the entries already logged (buildMap).
 */
import { hexEncode } from '../log/bytes.js';
import { attestationDigest, parseEntry } from '../log/entry.js';
import { LogError } from '../log/errors.js';
import { big, bytes, type Queryable } from './db.js';
import { StoredEntryError, unpackEntry } from './entry-codec.js';
import { indexSql } from './index-sql.js';
import { buildIndex } from './index-state.js';

/** MigrationStep runs inside the migration transaction, after its version's SQL. */
export type MigrationStep = (tx: Queryable) => Promise<void>;

/** MIGRATION_STEPS: the step of each schema version that has one. */
export const MIGRATION_STEPS: Readonly<Record<number, MigrationStep>> = {
  2: recomputeDigests,
  3: buildMap,
};

/**
 * buildMap (version 3, sql/003_index.sql) builds the index map of every entry already logged and stores
 * it as the version tree_size (server/index-state.ts buildIndex). The log has no index leaf yet: the
 * integrator appends one, covering all of them, before its next checkpoint. Checkpoints signed before
 * have none, and clients treat them as index-less.
 */
async function buildMap(tx: Queryable): Promise<void> {
  const [r] = await tx.query('SELECT tree_size FROM log_state');
  await buildIndex(indexSql(tx), r ? big(r.tree_size) : 0n);
}

/** DIGEST_BATCH: rows read and rewritten per statement (a few MB of entry bytes). */
const DIGEST_BATCH = 5000;

/**
 * recomputeDigests sets attestation_digest of every entry and pending row to attestationDigest of the
 * attestation in its entry bytes, reading and writing DIGEST_BATCH rows at a time (memory stays flat;
 * on a large log every entries row is rewritten once, which costs about one more copy of the table until
 * Postgres vacuums). Pending rows that now repeat an earlier row's digest are deleted, keeping the lowest
 * seq: they are the same attestation, not yet acknowledged, and the kept row answers both publishers.
 * Pending rows whose attestation is already logged stay: the integrator drops them, as it always has.
 * A row whose entry does not parse keeps its digest (fsck reports the row).
 */
export async function recomputeDigests(tx: Queryable): Promise<void> {
  for (let from = 0n; ; ) {
    const rows = await tx.query('SELECT idx, entry FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2', [
      from.toString(),
      DIGEST_BATCH,
    ]);
    await rewrite(
      tx,
      'entries',
      'idx',
      rows.map((r) => ({ key: big(r.idx), digest: digestOf(bytes(r.entry), true) })),
    );
    if (rows.length < DIGEST_BATCH) break;
    from = big(rows[rows.length - 1]!.idx) + 1n;
  }
  await recomputePending(tx);
}

/**
 * recomputePending does it for pending (small: at most the backlog bound). Duplicates are deleted first,
 * so the UNIQUE constraint holds at every row of the update: if a kept row's new digest were another
 * kept row's old one, that row's signature would be the canonical form of this one's, and canonicalising
 * is idempotent, so both would have the same new digest and one would have been deleted.
 */
async function recomputePending(tx: Queryable): Promise<void> {
  const firstSeq = new Map<string, bigint>();
  const updates: { key: bigint; digest: Uint8Array | undefined }[] = [];
  const duplicates: string[] = [];
  for (let after = -1n; ; ) {
    const rows = await tx.query('SELECT seq, entry FROM pending WHERE seq > $1 ORDER BY seq LIMIT $2', [
      after.toString(),
      DIGEST_BATCH,
    ]);
    for (const r of rows) {
      const seq = big(r.seq);
      const digest = digestOf(bytes(r.entry));
      const k = digest && hexEncode(digest);
      if (k !== undefined && firstSeq.has(k)) duplicates.push(seq.toString());
      else {
        if (k !== undefined) firstSeq.set(k, seq);
        updates.push({ key: seq, digest });
      }
    }
    if (rows.length < DIGEST_BATCH) break;
    after = big(rows[rows.length - 1]!.seq);
  }
  if (duplicates.length > 0)
    await tx.query('DELETE FROM pending WHERE seq = ANY($1::bigint[])', [duplicates]);
  for (let i = 0; i < updates.length; i += DIGEST_BATCH) {
    await rewrite(tx, 'pending', 'seq', updates.slice(i, i + DIGEST_BATCH));
  }
}

/** rewrite sets attestation_digest of the rows of `table` whose `keyColumn` is given, where it changed. */
async function rewrite(
  tx: Queryable,
  table: 'entries' | 'pending',
  keyColumn: 'idx' | 'seq',
  rows: readonly { key: bigint; digest: Uint8Array | undefined }[],
): Promise<void> {
  const known = rows.filter((r) => r.digest !== undefined);
  if (known.length === 0) return;
  await tx.query(
    `UPDATE ${table} t SET attestation_digest = u.d
       FROM unnest($1::bigint[], $2::bytea[]) AS u(k, d)
      WHERE t.${keyColumn} = u.k AND t.attestation_digest <> u.d`,
    [known.map((r) => r.key.toString()), known.map((r) => r.digest)],
  );
}

/**
 * digestOf returns attestationDigest (the canonical dedup key) of the attestation in entry bytes, or
 * undefined when they do not parse. `stored`: the bytes are an entries.entry value (server/entry-codec.ts;
 * rows older than schema 9, as every row this step sees, are raw and pass through unpackEntry as they are).
 */
function digestOf(entry: Uint8Array, stored = false): Uint8Array | undefined {
  try {
    return attestationDigest(parseEntry(stored ? unpackEntry(entry) : entry).attestation);
  } catch (e) {
    if (e instanceof LogError || e instanceof StoredEntryError) return undefined;
    throw e;
  }
}
