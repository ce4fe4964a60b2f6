/**
 * PeerSqlStore: the follower's tables (sql/006_peers.sql) on pg and PGlite, over server/db.ts. Every
 * write that moves a peer forward is compare-and-set on what the follower read (the kept tree, the
 * position), so a follower that lost the peers lock, or a stale round, can never move a peer back or
 * carry a batch twice past another follower's progress.
 */
import { base64Encode } from '../../log/bytes.js';
import { big, bytes, type Db } from '../db.js';

/** PeerRow is one followed peer as stored (peer_state). */
export interface PeerRow {
  url: string;
  vkey: string;
  origin: string;
  state: 'following' | 'forked';
  /** checkpoint: the last verified signed checkpoint; undefined before the first. */
  checkpoint: string | undefined;
  treeSize: bigint;
  rootHash: Uint8Array | undefined;
  verifiedAt: Date | undefined;
  carried: bigint;
  attestations: bigint;
  indexLeaves: bigint;
  invalid: bigint;
  lastInvalid: string | undefined;
  lastError: string | undefined;
  lastErrorAt: Date | undefined;
}

/** Evidence is a fork or rollback caught, with what proves it (peer_evidence). */
export interface Evidence {
  kind: 'root-mismatch' | 'proof-invalid' | 'rollback';
  keptCheckpoint: string;
  nextCheckpoint: string;
  consistencyProof: Uint8Array[];
  prefixRoot: Uint8Array | undefined;
  message: string;
  detectedAt?: Date;
}

/** Carried is what one batch did: entries read up to `to`, and how they were counted. */
export interface Carried {
  to: bigint;
  attestations: number;
  indexLeaves: number;
  invalid: number;
  lastInvalid: string | undefined;
}

const COLUMNS = `peer_url, vkey, origin, state, checkpoint, tree_size, root_hash, verified_at, carried,
  attestations, index_leaves, invalid, last_invalid, last_error, last_error_at`;

/** PeerSqlStore implements follower.ts PeerStore and the reads of GET /v1/peers. */
export class PeerSqlStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /** load returns the peer's row, making an empty one (following, nothing kept) the first time. */
  async load(url: string, vkey: string, origin: string): Promise<PeerRow> {
    await this.db.query(
      'INSERT INTO peer_state (peer_url, vkey, origin) VALUES ($1, $2, $3) ON CONFLICT (peer_url, vkey) DO NOTHING',
      [url, vkey, origin],
    );
    const [r] = await this.db.query(`SELECT ${COLUMNS} FROM peer_state WHERE peer_url = $1 AND vkey = $2`, [
      url,
      vkey,
    ]);
    if (!r) throw new Error(`peer_state has no row for ${url} right after inserting it`);
    return toRow(r);
  }

  /** list returns every stored peer row (GET /v1/peers joins them with the PEERS file). */
  async list(): Promise<PeerRow[]> {
    const rows = await this.db.query(`SELECT ${COLUMNS} FROM peer_state ORDER BY peer_url, vkey`);
    return rows.map(toRow);
  }

  /** evidence returns the evidence kept for a peer, oldest first. */
  async evidence(url: string, vkey: string): Promise<Evidence[]> {
    const rows = await this.db.query(
      `SELECT kind, kept_checkpoint, next_checkpoint, consistency_proof, prefix_root, message, detected_at
       FROM peer_evidence WHERE peer_url = $1 AND vkey = $2 ORDER BY id LIMIT 16`,
      [url, vkey],
    );
    return rows.map((r) => ({
      kind: r.kind as Evidence['kind'],
      keptCheckpoint: String(r.kept_checkpoint),
      nextCheckpoint: String(r.next_checkpoint),
      consistencyProof: String(r.consistency_proof)
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => new Uint8Array(Buffer.from(l, 'base64'))),
      prefixRoot: r.prefix_root == null ? undefined : bytes(r.prefix_root),
      message: String(r.message),
      detectedAt: new Date(r.detected_at as string | Date),
    }));
  }

  /**
   * keep records a newly verified checkpoint, if the kept one is still (oldSize, oldRoot) and the peer
   * is still followed; with the same tree it only marks the time. Returns false when another follower
   * moved the row first (the caller abandons its round).
   */
  async keep(row: PeerRow, next: { note: string; treeSize: bigint; rootHash: Uint8Array }): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE peer_state SET checkpoint = $3, tree_size = $4, root_hash = $5, verified_at = now(),
         last_error = NULL, last_error_at = NULL, updated_at = now()
       WHERE peer_url = $1 AND vkey = $2 AND state = 'following' AND tree_size = $6
         AND root_hash IS NOT DISTINCT FROM $7 AND $4 >= tree_size
       RETURNING 1 AS ok`,
      [
        row.url,
        row.vkey,
        next.note,
        next.treeSize.toString(),
        next.rootHash,
        row.treeSize.toString(),
        row.rootHash ?? null,
      ],
    );
    return r.length === 1;
  }

  /**
   * advance moves the position from `from` to c.to and adds the batch's counts, if the position is still
   * `from`. Returns false when it was not (another follower carried the batch; nothing changed).
   */
  async advance(row: PeerRow, from: bigint, c: Carried): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE peer_state SET carried = $4, attestations = attestations + $5, index_leaves = index_leaves + $6,
         invalid = invalid + $7, last_invalid = coalesce($8, last_invalid), updated_at = now()
       WHERE peer_url = $1 AND vkey = $2 AND carried = $3 AND state = 'following' AND $4 <= tree_size
       RETURNING 1 AS ok`,
      [
        row.url,
        row.vkey,
        from.toString(),
        c.to.toString(),
        c.attestations,
        c.indexLeaves,
        c.invalid,
        c.lastInvalid ?? null,
      ],
    );
    return r.length === 1;
  }

  /** failed records a round's error (the row's state is unchanged). */
  async failed(row: PeerRow, code: string, message: string): Promise<void> {
    await this.db.query(
      `UPDATE peer_state SET last_error = $3, last_error_at = now(), updated_at = now()
       WHERE peer_url = $1 AND vkey = $2`,
      [row.url, row.vkey, `${code}: ${message}`.slice(0, 2000)],
    );
  }

  /**
   * forked stores the evidence and marks the peer forked, in one transaction: after COMMIT the evidence
   * is served and no follower follows the peer again; dying before it stores neither, and the next
   * round catches the same fork again from the same kept checkpoint.
   */
  async forked(row: PeerRow, e: Evidence): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO peer_evidence (peer_url, vkey, kind, kept_checkpoint, next_checkpoint, consistency_proof, prefix_root, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          row.url,
          row.vkey,
          e.kind,
          e.keptCheckpoint,
          e.nextCheckpoint,
          e.consistencyProof.map((h) => `${base64Encode(h)}\n`).join(''),
          e.prefixRoot ?? null,
          e.message,
        ],
      );
      await tx.query(
        `UPDATE peer_state SET state = 'forked', last_error = $3, last_error_at = now(), updated_at = now()
         WHERE peer_url = $1 AND vkey = $2`,
        [row.url, row.vkey, `PEER_FORKED: ${e.message}`.slice(0, 2000)],
      );
    });
  }
}

function toRow(r: Record<string, unknown>): PeerRow {
  const opt = (v: unknown) => (v == null ? undefined : String(v));
  const date = (v: unknown) => (v == null ? undefined : new Date(v as string | Date));
  return {
    url: String(r.peer_url),
    vkey: String(r.vkey),
    origin: String(r.origin),
    state: r.state === 'forked' ? 'forked' : 'following',
    checkpoint: opt(r.checkpoint),
    treeSize: big(r.tree_size),
    rootHash: r.root_hash == null ? undefined : bytes(r.root_hash),
    verifiedAt: date(r.verified_at),
    carried: big(r.carried),
    attestations: big(r.attestations),
    indexLeaves: big(r.index_leaves),
    invalid: big(r.invalid),
    lastInvalid: opt(r.last_invalid),
    lastError: opt(r.last_error),
    lastErrorAt: date(r.last_error_at),
  };
}
