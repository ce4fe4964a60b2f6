/**
 * The store: the server's SQL (fsck's own is in server/fsck/sql-reader.ts), over server/db.ts (pg, PGlite).
 * Schema in sql/ (numbered migrations, applied by `migrate` at start).
 *
 * SqlStore implements the narrow storage interfaces of the files that use them (see its comment).
 * Reads that serve proofs are one query each (readTiles takes every tile a proof
 * needs at once: plan, one batched read, compute; STYLE.md).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TileCoord } from '../log/tiles.js';
import type { AdmissionStore, NewPending } from './admission.js';
import { big, bytes, type Db, num, type Queryable } from './db.js';
import { ServiceError } from './errors.js';
import type { Identity, IdentityStore } from './identity.js';
import { KeyConflictError, type KeyRow, type KeyUpdate } from './key-intake.js';
import { MIGRATION_STEPS, type MigrationStep } from './migration-steps.js';
import type { RateLimitCounters } from './rate-limit.js';
import type { EntryRow, ReadStore } from './reader.js';
import type { IntegrationStore, IntegrationTx, StoredCheckpoint, TreeState } from './sequencer.js';

/** INTEGRATOR_LOCK is the advisory lock key held by the integrating process ("sig-intg"). */
export const INTEGRATOR_LOCK = 0x7369672d696e7467n;
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

function tileFetcher(q: Queryable) {
  return async (tiles: readonly TileCoord[]): Promise<Uint8Array[]> => {
    if (tiles.length === 0) return [];
    const rows = await q.query(
      `SELECT t.level, t.idx, t.width, t.data
         FROM tiles t JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
           ON t.level = w.level AND t.idx = w.idx`,
      [tiles.map((t) => t.level), tiles.map((t) => t.index.toString())],
    );
    const byKey = new Map<string, { width: number; data: Uint8Array }>();
    for (const r of rows)
      byKey.set(`${num(r.level)}/${big(r.idx)}`, { width: num(r.width), data: bytes(r.data) });
    return tiles.map((t) => {
      const got = byKey.get(`${t.level}/${t.index}`);
      if (!got || got.width < t.width) {
        // A tile the tree must have is missing: the store is inconsistent with log_state. Crash loudly.
        throw new Error(
          `tile ${t.level}/${t.index} width ${t.width} is not stored (found ${got ? `width ${got.width}` : 'nothing'})`,
        );
      }
      return got.data.subarray(0, t.width * 32);
    });
  };
}

function toCheckpoint(r: Record<string, unknown>): StoredCheckpoint {
  return {
    treeSize: big(r.tree_size),
    rootHash: bytes(r.root_hash),
    note: String(r.note),
    signedAt: new Date(r.signed_at as Date),
  };
}

const LATEST_CHECKPOINT =
  'SELECT tree_size, root_hash, note, signed_at FROM checkpoints ORDER BY id DESC LIMIT 1';

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

  constructor(db: Db) {
    this.db = db;
    this.kind = db.kind;
  }

  async identity(): Promise<Identity | undefined> {
    const [r] = await this.db.query(
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
    const [r] = await this.db.query(LATEST_CHECKPOINT);
    return r ? toCheckpoint(r) : undefined;
  }

  readTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[]> {
    return tileFetcher(this.db)(tiles);
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
    return rows.map((r) => ({ index: big(r.idx), entry: bytes(r.entry) }));
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
    return rows.map((r) => ({ index: big(r.idx), entry: bytes(r.entry) }));
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
      entry: bytes(r.entry),
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
    return this.db.transaction(async (q) => {
      // One integrator at a time across every process: the lock is released by COMMIT or ROLLBACK
      // (or by Postgres when the connection dies), so a crashed integrator never blocks the next.
      const [l] = await q.query('SELECT pg_try_advisory_xact_lock($1) AS ok', [INTEGRATOR_LOCK.toString()]);
      if (!l?.ok) return { ran: false as const };
      const value = await fn(integrationTx(q));
      beforeCommit?.();
      return { ran: true as const, value };
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
      `SELECT (SELECT count(*) FROM entries) AS entries, (SELECT count(*) FROM pending) AS pending,
              (SELECT count(*) FROM tiles) AS tiles, (SELECT count(*) FROM checkpoints) AS checkpoints,
              (SELECT count(*) FROM signer_keys) AS keys`,
    );
    return {
      entries: num(r?.entries),
      pending: num(r?.pending),
      tiles: num(r?.tiles),
      checkpoints: num(r?.checkpoints),
      keys: num(r?.keys),
    };
  }

  close(): Promise<void> {
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

function integrationTx(q: Queryable): IntegrationTx {
  return {
    async state() {
      const [r] = await q.query('SELECT tree_size, root_hash FROM log_state FOR UPDATE');
      if (!r) throw new Error('log_state has no row: the schema was not initialised');
      return { treeSize: big(r.tree_size), rootHash: bytes(r.root_hash) };
    },
    async takePending(limit: number) {
      const rows = await q.query(
        `SELECT seq, attestation_digest, entry, identifier, signer_fingerprint, accepted_at
           FROM pending ORDER BY seq LIMIT $1`,
        [limit],
      );
      if (rows.length === 0) return [];
      // A publish that checked "not logged" just before another process integrated the same
      // attestation can still insert it into pending afterwards; such rows are already answered
      // (their entry exists), so drop them instead of logging the attestation twice. Only this
      // batch's rows are checked (one index probe each).
      const dropped = await q.query(
        `DELETE FROM pending p USING entries e
          WHERE p.seq = ANY($1::bigint[]) AND e.attestation_digest = p.attestation_digest
         RETURNING p.seq`,
        [rows.map((r) => big(r.seq).toString())],
      );
      const gone = new Set(dropped.map((r) => big(r.seq)));
      return rows
        .map((r) => ({
          seq: big(r.seq),
          digest: bytes(r.attestation_digest),
          entry: bytes(r.entry),
          identifier: String(r.identifier),
          signer: String(r.signer_fingerprint),
          acceptedAt: new Date(r.accepted_at as Date),
        }))
        .filter((r) => !gone.has(r.seq));
    },
    readTiles: tileFetcher(q),
    async appendBatch(b) {
      if (b.rows.length > 0) {
        await q.query(
          `INSERT INTO entries (idx, leaf_hash, entry, attestation_digest, identifier, signer_fingerprint, logged_at)
           SELECT $1::bigint + o - 1, l, e, d, i, s, t
             FROM unnest($2::bytea[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[])
                  WITH ORDINALITY AS u(l, e, d, i, s, t, o)`,
          [
            b.start.toString(),
            b.leafHashes,
            b.rows.map((r) => r.entry),
            b.rows.map((r) => r.digest),
            b.rows.map((r) => r.identifier),
            b.rows.map((r) => r.signer),
            b.rows.map((r) => r.acceptedAt),
          ],
        );
        await q.query('DELETE FROM pending WHERE seq = ANY($1::bigint[])', [
          b.rows.map((r) => r.seq.toString()),
        ]);
      }
      if (b.tiles.length > 0) {
        await q.query(
          `INSERT INTO tiles (level, idx, width, data)
           SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])
           ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, data = EXCLUDED.data
           WHERE tiles.width <= EXCLUDED.width`,
          [
            b.tiles.map((t) => t.tile.level),
            b.tiles.map((t) => t.tile.index.toString()),
            b.tiles.map((t) => t.tile.width),
            b.tiles.map((t) => t.data),
          ],
        );
      }
      await q.query('UPDATE log_state SET tree_size = $1, root_hash = $2, updated_at = now()', [
        b.state.treeSize.toString(),
        b.state.rootHash,
      ]);
    },
    async latestCheckpoint() {
      const [r] = await q.query(LATEST_CHECKPOINT);
      return r ? toCheckpoint(r) : undefined;
    },
    async addCheckpoint(c) {
      await q.query(
        'INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4)',
        [c.treeSize.toString(), c.rootHash, c.note, c.signedAt],
      );
    },
  };
}
