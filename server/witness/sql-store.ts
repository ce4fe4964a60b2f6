/**
 * The witness's SQL (sql/004_witness.sql) over server/db.ts, on Postgres and PGlite alike: the
 * WitnessStore of server/witness/witness.ts.
 *
 * The one write, update(), is the check-and-store of c2sp.org/tlog-witness in one transaction:
 *   1. SELECT the origin's row FOR UPDATE: a concurrent add-checkpoint for the same origin waits here
 *      until this transaction ends, then reads what it stored (Postgres row lock; PGlite has one
 *      connection, so its transactions run one at a time anyway);
 *   2. decide on that state (verify the log's signature, the sizes, the consistency proof) and cosign;
 *   3. UPDATE the row when the decision is to cosign; COMMIT.
 * A crash (SIGKILL, power loss) before COMMIT rolls all of it back: the old row, no cosignature sent.
 * After COMMIT the new row is durable before the answer is written, as the spec requires ("MUST
 * persist the new checkpoint before responding"); if the process dies before answering, the client
 * retries, gets 409 with the new size and resubmits from there. There is no state between the two.
 */
import { big, bytes, type Db } from '../db.js';
import type { CosignerIdentity, StoredCosignedTree, WitnessStore } from './witness.js';

/** SqlWitnessStore implements WitnessStore on a Db whose schema includes sql/004_witness.sql. */
export class SqlWitnessStore implements WitnessStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async recordIdentity(id: CosignerIdentity): Promise<CosignerIdentity> {
    await this.db.query(
      'INSERT INTO witness_identity (name, vkey) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
      [id.name, id.vkey],
    );
    const [r] = await this.db.query('SELECT name, vkey FROM witness_identity');
    if (!r) throw new Error('witness_identity is empty right after inserting it');
    return { name: String(r.name), vkey: String(r.vkey) };
  }

  async addLogs(origins: readonly string[]): Promise<void> {
    if (origins.length === 0) return;
    // ON CONFLICT DO NOTHING: a row, once made, is the log's state for good (never reset to 0 here).
    await this.db.query(
      `INSERT INTO witness_logs (origin, tree_size, root_hash)
       SELECT o, 0, sha256(''::bytea) FROM unnest($1::text[]) AS o
       ON CONFLICT (origin) DO NOTHING`,
      [origins],
    );
  }

  async update<T>(
    origin: string,
    fn: (tree: StoredCosignedTree) => Promise<{ next?: { tree: StoredCosignedTree }; value: T }>,
  ): Promise<T> {
    return this.db.transaction(async (tx) => {
      const [r] = await tx.query(
        `SELECT tree_size, root_hash, checkpoint, cosigned_at FROM witness_logs
          WHERE origin = $1 FOR UPDATE`,
        [origin],
      );
      // addLogs made a row for every configured origin before the first request was taken.
      if (!r) throw new Error(`witness_logs has no row for the configured log ${JSON.stringify(origin)}`);
      const { next, value } = await fn(rowToTree(r));
      if (next !== undefined) {
        const t = next.tree;
        if (t.checkpoint === undefined)
          throw new Error('witness update: a cosigned tree without its checkpoint');
        await tx.query(
          `UPDATE witness_logs SET tree_size = $2::numeric, root_hash = $3, checkpoint = $4, cosigned_at = $5
            WHERE origin = $1`,
          [origin, t.treeSize.toString(), t.rootHash, t.checkpoint, t.cosignedAt ?? new Date()],
        );
      }
      return value;
    });
  }
}

function rowToTree(r: Record<string, unknown>): StoredCosignedTree {
  return {
    treeSize: big(r.tree_size),
    rootHash: bytes(r.root_hash),
    checkpoint: r.checkpoint === null ? undefined : String(r.checkpoint),
    cosignedAt: r.cosigned_at === null ? undefined : new Date(r.cosigned_at as Date),
  };
}
