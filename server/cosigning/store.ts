/**
 * The cosigning role's storage (sql/005_cosignatures.sql): the checkpoints to submit, the cosignatures
 * witnesses returned, each witness's progress, and the served checkpoints. CosignStore is the interface
 * the cosigner uses; SqlCosignStore implements it on pg and PGlite (server/db.ts), like the other stores.
 *
 * Crash safety: every write is one statement, or one short transaction (a cosignature and its
 * witness's progress together). Dying between a witness's answer and the write loses that cosignature:
 * the witness has recorded the new size, so the next request (old size from witness_progress, now
 * behind) gets a 409 and resyncs. A served row is written after the cosignatures it holds, so a crash
 * in between only delays serving until the next cosignature or checkpoint settles it again.
 */
import { big, bytes, type Db } from '../db.js';
import type { StoredCheckpoint } from '../sequencer.js';

/** SignedRow is a checkpoint of this log as stored by the sequencer, with its row id (newer = larger). */
export interface SignedRow {
  id: bigint;
  treeSize: bigint;
  rootHash: Uint8Array;
  note: string;
}

/** WitnessProgress is the latest checkpoint of this log a witness cosigned. */
export interface WitnessProgress {
  treeSize: bigint;
  rootHash: Uint8Array;
  lastSuccessAt: Date;
}

/** StoredCosignature is a verified cosignature line (with its newline) of a witness, by vkey. */
export interface StoredCosignature {
  vkey: string;
  line: string;
}

/** CosignStore is what the cosigner reads and writes. Every method throws on database errors. */
export interface CosignStore {
  /** latestSigned returns the newest stored checkpoint, if any. */
  latestSigned(): Promise<SignedRow | undefined>;
  /** progress returns each witness's progress, by vkey. */
  progress(): Promise<Map<string, WitnessProgress>>;
  /** addCosignature stores a verified cosignature of checkpoint `checkpointId` and the witness's progress. */
  addCosignature(c: {
    checkpointId: bigint;
    vkey: string;
    line: string;
    cosignedAt: Date;
    treeSize: bigint;
    rootHash: Uint8Array;
  }): Promise<void>;
  /** cosignatures returns the cosignatures stored for a checkpoint. */
  cosignatures(checkpointId: bigint): Promise<StoredCosignature[]>;
  /**
   * serve records that checkpoint `checkpointId` may be served with `note`; a later call for the same
   * checkpoint replaces the note only with a longer one (cosignature lines are only ever added).
   */
  serve(s: { checkpointId: bigint; treeSize: bigint; note: string; quorum: boolean }): Promise<void>;
  /** latestServed returns the served checkpoint with the highest id (its note with cosignatures), if any. */
  latestServed(): Promise<StoredCheckpoint | undefined>;
}

/** SqlCosignStore is CosignStore on the server's database. */
export class SqlCosignStore implements CosignStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async latestSigned(): Promise<SignedRow | undefined> {
    const [r] = await this.db.query(
      'SELECT id, tree_size, root_hash, note FROM checkpoints ORDER BY id DESC LIMIT 1',
    );
    if (!r) return undefined;
    return { id: big(r.id), treeSize: big(r.tree_size), rootHash: bytes(r.root_hash), note: String(r.note) };
  }

  async progress(): Promise<Map<string, WitnessProgress>> {
    const rows = await this.db.query(
      'SELECT witness_vkey, tree_size, root_hash, last_success_at FROM witness_progress',
    );
    return new Map(
      rows.map((r) => [
        String(r.witness_vkey),
        {
          treeSize: big(r.tree_size),
          rootHash: bytes(r.root_hash),
          lastSuccessAt: new Date(r.last_success_at as Date),
        },
      ]),
    );
  }

  async addCosignature(c: {
    checkpointId: bigint;
    vkey: string;
    line: string;
    cosignedAt: Date;
    treeSize: bigint;
    rootHash: Uint8Array;
  }): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO cosignatures (checkpoint_id, witness_vkey, line, cosigned_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (checkpoint_id, witness_vkey) DO UPDATE SET line = EXCLUDED.line,
           cosigned_at = EXCLUDED.cosigned_at, received_at = now()`,
        [c.checkpointId.toString(), c.vkey, c.line, c.cosignedAt],
      );
      // Progress only moves forward: a slower process's older answer must not send the next request
      // back to a size the witness has left (that would only cost a 409, but it is wrong).
      await tx.query(
        `INSERT INTO witness_progress AS p (witness_vkey, tree_size, root_hash, last_success_at)
         VALUES ($1, $2, $3, now())
         ON CONFLICT (witness_vkey) DO UPDATE SET
           tree_size = GREATEST(p.tree_size, EXCLUDED.tree_size),
           root_hash = CASE WHEN EXCLUDED.tree_size >= p.tree_size THEN EXCLUDED.root_hash ELSE p.root_hash END,
           last_success_at = now()`,
        [c.vkey, c.treeSize.toString(), c.rootHash],
      );
    });
  }

  async cosignatures(checkpointId: bigint): Promise<StoredCosignature[]> {
    const rows = await this.db.query('SELECT witness_vkey, line FROM cosignatures WHERE checkpoint_id = $1', [
      checkpointId.toString(),
    ]);
    return rows.map((r) => ({ vkey: String(r.witness_vkey), line: String(r.line) }));
  }

  async serve(s: { checkpointId: bigint; treeSize: bigint; note: string; quorum: boolean }): Promise<void> {
    await this.db.query(
      `INSERT INTO served_checkpoints AS s (checkpoint_id, tree_size, note, quorum) VALUES ($1, $2, $3, $4)
       ON CONFLICT (checkpoint_id) DO UPDATE SET note = EXCLUDED.note, quorum = EXCLUDED.quorum, served_at = now()
        WHERE length(EXCLUDED.note) > length(s.note)`,
      [s.checkpointId.toString(), s.treeSize.toString(), s.note, s.quorum],
    );
  }

  async latestServed(): Promise<StoredCheckpoint | undefined> {
    const [r] = await this.db.query(
      `SELECT s.tree_size, c.root_hash, s.note, c.signed_at
         FROM served_checkpoints s JOIN checkpoints c ON c.id = s.checkpoint_id
        ORDER BY s.checkpoint_id DESC LIMIT 1`,
    );
    if (!r) return undefined;
    return {
      treeSize: big(r.tree_size),
      rootHash: bytes(r.root_hash),
      note: String(r.note),
      signedAt: new Date(r.signed_at as Date),
    };
  }
}
