/**
 * sqlFsckReader: FsckReader over the server's database (sql/), on pg and PGlite alike. It only runs
 * SELECTs; fsck runs them inside one READ ONLY, REPEATABLE READ transaction, so every method sees
 * the same snapshot even while a live integrator keeps appending.
 */
import { big, bytes, num, type Queryable } from '../db.js';
import { StoredEntryError, unpackEntry } from '../entry-codec.js';
import { readIdentity } from '../store.js';
import type { FsckEntryRow, FsckReader, FsckTileRow } from './reader.js';

/** FsckSource is what fsck reads through: a database (or one transaction of it) and its kind. */
export interface FsckSource {
  kind: 'pg' | 'pglite';
  query: Queryable['query'];
}

const toTile = (r: Record<string, unknown>): FsckTileRow => ({
  level: num(r.level),
  index: big(r.idx),
  width: num(r.width),
  data: r.data === undefined ? new Uint8Array() : bytes(r.data),
});

/**
 * storedEntry returns the entry bytes of a stored entries.entry value (server/entry-codec.ts). A value
 * that does not unpack is a problem of the log, not of reading it: its stored bytes are returned with
 * storedError, which the ENTRIES class reports.
 */
function storedEntry(stored: Uint8Array): Pick<FsckEntryRow, 'entry' | 'storedError'> {
  try {
    return { entry: unpackEntry(stored) };
  } catch (e) {
    if (e instanceof StoredEntryError) return { entry: stored, storedError: e };
    throw e;
  }
}

/** sqlFsckReader returns the FsckReader over `db`; it reads nothing until a method is called. */
export function sqlFsckReader(db: FsckSource): FsckReader {
  return new SqlFsckReader(db);
}

class SqlFsckReader implements FsckReader {
  readonly kind: 'pg' | 'pglite';
  private readonly db: FsckSource;
  private leafHashColumn: Promise<boolean> | undefined;

  constructor(db: FsckSource) {
    this.db = db;
    this.kind = db.kind;
  }

  /** hasLeafHash: entries.leaf_hash exists in some schema versions (a copy of the level-0 tile hash). */
  private hasLeafHash(): Promise<boolean> {
    this.leafHashColumn ??= this.db
      .query(
        `SELECT count(*) AS n FROM information_schema.columns
          WHERE table_name = 'entries' AND column_name = 'leaf_hash'`,
      )
      .then(([r]) => num(r?.n) > 0);
    return this.leafHashColumn;
  }

  async schemaVersion() {
    const [t] = await this.db.query(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'schema_migrations'`,
    );
    if (num(t?.n) === 0) return undefined;
    const [v] = await this.db.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
    return num(v?.v);
  }

  identity() {
    return readIdentity(this.db);
  }

  async state() {
    const [r] = await this.db.query('SELECT tree_size, root_hash, canonical_dedup_from FROM log_state');
    if (!r) return undefined;
    return {
      treeSize: big(r.tree_size),
      rootHash: bytes(r.root_hash),
      canonicalDedupFrom: big(r.canonical_dedup_from),
    };
  }

  async entries(from: bigint, limit: number) {
    const leaf = await this.hasLeafHash();
    const rows = await this.db.query(
      `SELECT idx, entry, attestation_digest${leaf ? ', leaf_hash' : ''}, identifier, signer_fingerprint, logged_at
         FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2`,
      [from.toString(), limit],
    );
    return rows.map(
      (r): FsckEntryRow => ({
        index: big(r.idx),
        ...storedEntry(bytes(r.entry)),
        leafHash: leaf ? bytes(r.leaf_hash) : undefined,
        digest: r.attestation_digest === null ? null : bytes(r.attestation_digest),
        identifier: r.identifier === null ? null : String(r.identifier),
        signer: r.signer_fingerprint === null ? null : String(r.signer_fingerprint),
        loggedAt: new Date(r.logged_at as Date),
      }),
    );
  }

  async tileWidths() {
    return (await this.db.query('SELECT level, idx, width FROM tiles')).map(toTile);
  }

  async tiles(coords: readonly { level: number; index: bigint }[]) {
    if (coords.length === 0) return [];
    const rows = await this.db.query(
      `SELECT t.level, t.idx, t.width, t.data FROM tiles t
         JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON t.level = w.level AND t.idx = w.idx`,
      [coords.map((c) => c.level), coords.map((c) => c.index.toString())],
    );
    return rows.map(toTile);
  }

  async checkpointSizes() {
    const rows = await this.db.query('SELECT DISTINCT tree_size FROM checkpoints ORDER BY tree_size');
    return rows.map((r) => big(r.tree_size));
  }

  async checkpoints(afterId: bigint, limit: number) {
    const rows = await this.db.query(
      'SELECT id, tree_size, root_hash, note FROM checkpoints WHERE id > $1 ORDER BY id LIMIT $2',
      [afterId.toString(), limit],
    );
    return rows.map((r) => ({
      id: big(r.id),
      treeSize: big(r.tree_size),
      rootHash: bytes(r.root_hash),
      note: String(r.note),
    }));
  }

  async pendingCounts() {
    const [r] = await this.db.query(
      `SELECT (SELECT count(*) FROM pending) AS n,
              (SELECT count(*) FROM pending p
                WHERE EXISTS (SELECT 1 FROM entries e WHERE e.attestation_digest = p.attestation_digest)) AS dup`,
    );
    return { rows: num(r?.n), alreadyLogged: num(r?.dup) };
  }

  async pending(afterSeq: bigint, limit: number) {
    const rows = await this.db.query(
      `SELECT seq, entry, attestation_digest, identifier, signer_fingerprint FROM pending
        WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq.toString(), limit],
    );
    return rows.map((r) => ({
      seq: big(r.seq),
      entry: bytes(r.entry),
      digest: bytes(r.attestation_digest),
      identifier: String(r.identifier),
      signer: String(r.signer_fingerprint),
    }));
  }

  async keys(fingerprints: readonly string[]) {
    if (fingerprints.length === 0) return [];
    const rows = await this.db.query(
      'SELECT fingerprint, armored FROM signer_keys WHERE fingerprint = ANY($1::text[])',
      [fingerprints],
    );
    return rows.map((r) => ({ fingerprint: String(r.fingerprint), armored: String(r.armored) }));
  }
}
