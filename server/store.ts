/**
 * The store: the server's SQL (fsck's own is in server/fsck/sql-reader.ts), over server/db.ts (pg, PGlite).
 * Schema in sql/ (numbered migrations, applied at start by server/migrate.ts `migrate`); the sequencer's
 * transaction is server/integration-tx.ts.
 *
 * SqlStore implements the narrow storage interfaces of the files that use them (see its comment).
 * Reads that serve proofs are one query each (readTiles takes every tile a proof
 * needs at once: plan, one batched read, compute; STYLE.md).
 */
import type { TileCoord } from '../log/tiles.js';
import type { AdmissionStore, NewPending } from './admission.js';
import { big, bytes, type Db, num, type Queryable } from './db.js';
import { unpackEntry } from './entry-codec.js';
import { ServiceError } from './errors.js';
import type { Identity, IdentityStore } from './identity.js';
import { indexSql } from './index-sql.js';
import type { BucketHead, MapState } from './index-state.js';
import { checkpointFromRow, integrationTx, readLatestCheckpoint, tileFetcher } from './integration-tx.js';
import { KeyConflictError, type KeyRow, type KeyUpdate } from './key-intake.js';
import { migrate } from './migrate.js';
import './native-hash.js';
import type { RateLimitCounters } from './rate-limit.js';
import type { CheckpointSample, EntryRow, ReadStore } from './reader.js';
import type { IntegrationStore, IntegrationTx, StoredCheckpoint, TreeState } from './sequencer.js';

/** INTEGRATOR_LOCK is the advisory lock key held by the integrating process ("sig-intg"). */
export const INTEGRATOR_LOCK = 0x7369672d696e7467n;

/**
 * PENDING_VACUUM_ROWS: the integrating process runs VACUUM on pending after deleting this many of its
 * rows (or after VACUUM_IDLE_MS with fewer), and on tiles every TILES_VACUUM_EVERY of those. pending is a
 * queue: every accepted attestation is written there, then deleted a round later, and its pages stay
 * dead rows until a VACUUM, which autovacuum runs at most once a minute (autovacuum_naptime; PGlite has
 * no autovacuum). 256 is one full batch: a vacuum of pending then reads a few hundred KB (a few ms), and
 * the dead rows never take more than that; BENCHMARKS.md "Storage".
 */
export const PENDING_VACUUM_ROWS = 256;
const VACUUM_IDLE_MS = 5_000;
const TILES_VACUUM_EVERY = 2;

/** openStore migrates (or checks) the schema of `db` and returns the SqlStore over it. */
export async function openStore(db: Db, opts: { migrate: boolean }): Promise<SqlStore> {
  await migrate(db, { apply: opts.migrate });
  return new SqlStore(db);
}

/**
 * SqlStore implements the storage interfaces, each defined where it is used (ReadStore in reader.ts,
 * AdmissionStore in admission.ts, IntegrationStore in sequencer.ts, RateLimitCounters in rate-limit.ts,
 * IdentityStore in identity.ts; their union, for opening and closing, is log-service.ts Store), with the
 * SQL of sql/ on pg and PGlite alike.
 */
export class SqlStore
  implements ReadStore, AdmissionStore, IntegrationStore, RateLimitCounters, IdentityStore
{
  readonly kind: 'pg' | 'pglite';
  private readonly db: Db;
  /** Pending rows this process deleted since its last VACUUM, and that VACUUM's time and count. */
  private readonly vacuum = {
    deleted: 0,
    again: false,
    at: Date.now(),
    runs: 0,
    running: undefined as Promise<void> | undefined,
  };

  constructor(db: Db) {
    this.db = db;
    this.kind = db.kind;
  }

  async identity(): Promise<Identity | undefined> {
    return readIdentity(this.db);
  }

  async recordIdentity(id: Identity): Promise<Identity> {
    await this.db.query(
      `INSERT INTO log_identity (origin, note_vkey, openpgp_fingerprint, openpgp_public_key)
       VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
      [id.origin, id.vkey, id.openpgpFingerprint, id.openpgpPublicKey],
    );
    const got = await this.identity();
    if (!got) throw new Error('log_identity is empty right after inserting it');
    return got;
  }

  async state(): Promise<TreeState> {
    const [r] = await this.db.query('SELECT tree_size, root_hash FROM log_state');
    if (!r) throw new Error('log_state has no row: the schema was not initialised');
    return { treeSize: big(r.tree_size), rootHash: bytes(r.root_hash) };
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return readLatestCheckpoint(this.db);
  }

  async checkpointAt(size: bigint): Promise<StoredCheckpoint | undefined> {
    const [r] = await this.db.query(
      'SELECT tree_size, root_hash, note, signed_at FROM checkpoints WHERE tree_size = $1 ORDER BY id DESC LIMIT 1',
      [size.toString()],
    );
    return r ? checkpointFromRow(r) : undefined;
  }

  // The index map (server/index-sql.ts), read outside any transaction: its rows are versioned.
  mapState(): Promise<MapState> {
    return indexSql(this.db).mapState();
  }

  bucketHeads(at: bigint, changed?: { after: bigint; upTo: bigint }): Promise<BucketHead[]> {
    return indexSql(this.db).bucketHeads(at, changed);
  }

  bucketRecords(prefixes: readonly number[], at: bigint): Promise<Map<number, Uint8Array>> {
    return indexSql(this.db).bucketRecords(prefixes, at);
  }

  readTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[]> {
    return tileFetcher(this.db)(tiles);
  }

  async checkpointHistory(points: number): Promise<CheckpointSample[]> {
    // `points` lookups on the primary key, whatever the number of checkpoints: the i-th takes the first
    // checkpoint at or after the i-th of `points` evenly spaced ids (ids may have gaps).
    const rows = await this.db.query(
      `SELECT DISTINCT c.id, c.tree_size, c.signed_at
         FROM (SELECT min(id) AS lo, max(id) AS hi FROM checkpoints) b,
              generate_series(0, $1::int - 1) AS g(i),
              LATERAL (SELECT id, tree_size, signed_at FROM checkpoints
                        WHERE id >= b.lo + ((b.hi - b.lo) * g.i) / ($1::int - 1) ORDER BY id LIMIT 1) c
        ORDER BY c.id`,
      [points],
    );
    return rows.map((r) => ({ treeSize: big(r.tree_size), signedAt: new Date(r.signed_at as Date) }));
  }

  async readStoredTile(level: number, index: bigint): Promise<Uint8Array | undefined> {
    const [r] = await this.db.query('SELECT data FROM tiles WHERE level = $1 AND idx = $2', [
      level,
      index.toString(),
    ]);
    return r ? bytes(r.data) : undefined;
  }

  async readEntries(start: bigint, end: bigint): Promise<EntryRow[]> {
    const rows = await this.db.query(
      'SELECT idx, entry FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
      [start.toString(), end.toString()],
    );
    return rows.map((r) => ({ index: big(r.idx), entry: unpackEntry(bytes(r.entry)) }));
  }

  async findEntries(q: { id?: string; key?: string; after?: bigint; below: bigint; limit: number }) {
    const where = ['idx < $1', 'idx > $2'];
    const params: unknown[] = [q.below.toString(), (q.after ?? -1n).toString()];
    if (q.id !== undefined) {
      params.push(q.id);
      const n = params.length;
      where.push(`hashtextextended(identifier, 0) = hashtextextended($${n}, 0) AND identifier = $${n}`);
    }
    if (q.key !== undefined) {
      params.push(q.key);
      const n = params.length;
      where.push(
        `hashtextextended(signer_fingerprint, 0) = hashtextextended($${n}, 0) AND signer_fingerprint = $${n}`,
      );
    }
    params.push(q.limit);
    const rows = await this.db.query(
      `SELECT idx, entry FROM entries WHERE ${where.join(' AND ')} ORDER BY idx LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({ index: big(r.idx), entry: unpackEntry(bytes(r.entry)) }));
  }

  async entriesByDigest(digests: readonly Uint8Array[]) {
    if (digests.length === 0) return [];
    const rows = await this.db.query(
      // A log older than canonical dedup may hold one attestation at several indexes (sql/002): the
      // receipt names the lowest, the same one every time.
      `SELECT DISTINCT ON (attestation_digest) idx, entry, attestation_digest FROM entries
        WHERE attestation_digest = ANY($1::bytea[]) ORDER BY attestation_digest, idx`,
      [digests],
    );
    return rows.map((r) => ({
      index: big(r.idx),
      entry: unpackEntry(bytes(r.entry)),
      digest: bytes(r.attestation_digest),
    }));
  }

  async addPending(
    rows: readonly NewPending[],
    keys: readonly KeyUpdate[],
    maxBacklog: number,
  ): Promise<number> {
    // Without keys, one statement is one transaction: no BEGIN/COMMIT round trips on the hot path.
    if (keys.length === 0) return insertPending(this.db, rows, maxBacklog);
    return this.db.transaction(async (tx) => {
      await upsertKeys(tx, keys);
      return insertPending(tx, rows, maxBacklog);
    });
  }

  async backlog(): Promise<number> {
    const [r] = await this.db.query('SELECT count(*) AS n FROM pending');
    return num(r?.n);
  }

  async getKeys(fingerprints: readonly string[]): Promise<KeyRow[]> {
    if (fingerprints.length === 0) return [];
    const rows = await this.db.query(
      'SELECT fingerprint, armored FROM signer_keys WHERE fingerprint = ANY($1::text[])',
      [fingerprints],
    );
    return rows.map((r) => ({ fingerprint: String(r.fingerprint), armored: String(r.armored) }));
  }

  async putKeys(keys: readonly KeyUpdate[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.transaction((tx) => upsertKeys(tx, keys));
  }

  async integrate<T>(
    fn: (tx: IntegrationTx) => Promise<T>,
    beforeCommit?: () => void,
  ): Promise<{ ran: true; value: T } | { ran: false }> {
    let deleted = 0;
    const r = await this.db.transaction(async (q) => {
      // One integrator at a time across every process: the lock is released by COMMIT or ROLLBACK
      // (or by Postgres when the connection dies), so a crashed integrator never blocks the next.
      const [l] = await q.query('SELECT pg_try_advisory_xact_lock($1) AS ok', [INTEGRATOR_LOCK.toString()]);
      if (!l?.ok) return { ran: false as const };
      // The map's committed versions are read beside the transaction where there is another
      // connection (server/index-round.ts LeafTx.versions).
      const beside = this.db.kind === 'pg' ? this.db : undefined;
      const value = await fn(integrationTx(q, (n) => (deleted += n), beside));
      beforeCommit?.();
      return { ran: true as const, value };
    });
    if (r.ran) this.vacuumPending(deleted);
    return r;
  }

  /**
   * vacuumPending counts the pending rows a committed round deleted and, past PENDING_VACUUM_ROWS (or
   * VACUUM_IDLE_MS after the last run with any: then tiles too), starts a VACUUM in the background, one
   * at a time. It
   * never blocks a round: VACUUM takes no lock that inserts or the integrator wait for (SKIP_LOCKED skips
   * a table someone locked exclusively), and its truncation of empty trailing pages stops as soon as
   * another session waits for the table. A failure (not the table's owner: a warning) is ignored; autovacuum
   * still runs with the settings of sql/007.
   */
  private vacuumPending(deleted: number): void {
    const v = this.vacuum;
    v.deleted += deleted;
    if (v.running || (v.deleted === 0 && !v.again)) return;
    if (v.deleted < PENDING_VACUUM_ROWS && Date.now() - v.at < VACUUM_IDLE_MS) return;
    // A vacuum right after a busy round may find rows deleted by it still visible to another session's
    // snapshot (a publish in flight): one more runs once the log is quiet.
    const busy = v.deleted >= PENDING_VACUUM_ROWS;
    v.again = busy;
    v.deleted = 0;
    v.runs++;
    const tables = !busy || v.runs % TILES_VACUUM_EVERY === 0 ? 'pending, tiles' : 'pending';
    v.running = this.db
      .exec(`VACUUM (SKIP_LOCKED) ${tables}`)
      .catch(() => undefined)
      .finally(() => {
        v.at = Date.now();
        v.running = undefined;
      });
  }

  async rateLimitIncrement(key: string, windowMs: number) {
    const [r] = await this.db.query(
      `INSERT INTO rate_limits AS r (key, hits, reset_at)
       VALUES ($1, 1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN r.reset_at <= now() THEN 1 ELSE r.hits + 1 END,
         reset_at = CASE WHEN r.reset_at <= now() THEN EXCLUDED.reset_at ELSE r.reset_at END
       RETURNING hits, reset_at`,
      [key, windowMs],
    );
    if (!r) throw new Error('rate_limits upsert returned no row');
    return { hits: num(r.hits), resetAt: new Date(r.reset_at as Date) };
  }

  async rateLimitGet(key: string) {
    const [r] = await this.db.query(
      'SELECT hits, reset_at FROM rate_limits WHERE key = $1 AND reset_at > now()',
      [key],
    );
    return r ? { hits: num(r.hits), resetAt: new Date(r.reset_at as Date) } : undefined;
  }

  async rateLimitDecrement(key: string): Promise<void> {
    await this.db.query('UPDATE rate_limits SET hits = hits - 1 WHERE key = $1 AND hits > 0', [key]);
  }

  async rateLimitReset(key: string | undefined): Promise<void> {
    if (key === undefined) await this.db.query('DELETE FROM rate_limits WHERE reset_at <= now()');
    else await this.db.query('DELETE FROM rate_limits WHERE key = $1', [key]);
  }

  async counts() {
    const [r] = await this.db.query(
      `SELECT (SELECT count(*) FROM entries) AS entries, (SELECT count(identifier) FROM entries) AS attestations,
              (SELECT count(*) FROM pending) AS pending,
              (SELECT count(*) FROM tiles) AS tiles, (SELECT count(*) FROM checkpoints) AS checkpoints,
              (SELECT count(*) FROM signer_keys) AS keys`,
    );
    return {
      entries: num(r?.entries),
      attestations: num(r?.attestations),
      pending: num(r?.pending),
      tiles: num(r?.tiles),
      checkpoints: num(r?.checkpoints),
      keys: num(r?.keys),
    };
  }

  async close(): Promise<void> {
    await this.vacuum.running;
    return this.db.close();
  }
}

/**
 * insertPending inserts, in ONE statement, every row whose digest is neither logged nor pending (the
 * first of repeated digests), unless that would take the backlog past maxBacklog: then it inserts
 * nothing and throws BACKLOG_FULL (inside a transaction, which the caller rolls back). Returns the
 * number of rows inserted. ON CONFLICT covers a concurrent publish of the same attestation that
 * commits between this statement's snapshot and its insert. Rows keep their order (seq order is
 * acceptance order, which the integrator follows).
 */
async function insertPending(q: Queryable, rows: readonly NewPending[], maxBacklog: number): Promise<number> {
  if (rows.length === 0) return 0;
  const [r] = await q.query(
    `WITH input AS (
       SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::text[], $5::timestamptz[])
         WITH ORDINALITY AS u(digest, entry, identifier, signer, accepted_at, ord)
     ), fresh AS (
       SELECT DISTINCT ON (digest) * FROM input u
        WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.attestation_digest = u.digest)
          AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.attestation_digest = u.digest)
        ORDER BY digest, ord
     ), backlog AS (
       SELECT count(*) AS n FROM pending
     ), ins AS (
       INSERT INTO pending (attestation_digest, entry, identifier, signer_fingerprint, accepted_at)
       SELECT digest, entry, identifier, signer, accepted_at FROM fresh
        WHERE (SELECT n FROM backlog) + (SELECT count(*) FROM fresh) <= $6
        ORDER BY ord
       ON CONFLICT (attestation_digest) DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT n FROM backlog) AS backlog, (SELECT count(*) FROM fresh) AS fresh,
            (SELECT count(*) FROM ins) AS added`,
    [
      rows.map((r) => r.digest),
      rows.map((r) => r.entry),
      rows.map((r) => r.identifier),
      rows.map((r) => r.signer),
      rows.map((r) => r.loggedAt),
      maxBacklog,
    ],
  );
  const backlog = num(r?.backlog);
  const fresh = num(r?.fresh);
  if (fresh > 0 && backlog + fresh > maxBacklog) {
    throw new ServiceError(
      'BACKLOG_FULL',
      `the integration backlog is full: ${backlog} attestations wait and this request adds ${fresh}, ` +
        `over the limit of ${maxBacklog}; retry later`,
      { backlog, adding: fresh, maxBacklog },
      1,
    );
  }
  return num(r?.added);
}

/**
 * upsertKeys stores each key compare-and-set (KeyUpdate): an UPDATE only where the stored armor is still
 * `previous` (under READ COMMITTED the WHERE is re-checked on the row a concurrent writer committed, so
 * a lost update is seen), an INSERT only where no row exists. A key that did not take throws
 * KeyConflictError, which rolls back the caller's transaction: nothing of the request is stored.
 */
async function upsertKeys(q: Queryable, keys: readonly KeyUpdate[]): Promise<void> {
  const changed = keys.filter((k) => k.armored !== k.previous);
  const updates = changed.filter((k) => k.previous !== undefined);
  const inserts = changed.filter((k) => k.previous === undefined);
  const took = new Set<string>();
  if (updates.length > 0) {
    const rows = await q.query(
      `UPDATE signer_keys s SET armored = u.armored, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(fingerprint, armored, previous)
        WHERE s.fingerprint = u.fingerprint AND s.armored = u.previous
       RETURNING s.fingerprint`,
      [updates.map((k) => k.fingerprint), updates.map((k) => k.armored), updates.map((k) => k.previous!)],
    );
    for (const r of rows) took.add(String(r.fingerprint));
  }
  if (inserts.length > 0) {
    const rows = await q.query(
      `INSERT INTO signer_keys (fingerprint, armored) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint`,
      [inserts.map((k) => k.fingerprint), inserts.map((k) => k.armored)],
    );
    for (const r of rows) took.add(String(r.fingerprint));
  }
  const lost = changed.find((k) => !took.has(k.fingerprint));
  if (lost) throw new KeyConflictError(lost.fingerprint);
}

/** readIdentity returns the log_identity row read on `q` (fsck reads it in its snapshot), or undefined. */
export async function readIdentity(q: Pick<Queryable, 'query'>): Promise<Identity | undefined> {
  const [r] = await q.query(
    'SELECT origin, note_vkey, openpgp_fingerprint, openpgp_public_key FROM log_identity',
  );
  if (!r) return undefined;
  return {
    origin: String(r.origin),
    vkey: String(r.note_vkey),
    openpgpFingerprint: String(r.openpgp_fingerprint),
    openpgpPublicKey: String(r.openpgp_public_key),
  };
}
