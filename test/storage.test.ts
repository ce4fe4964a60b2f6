/**
 * Lean storage (sql/007, server/integration-tx.ts addCheckpoint, server/store.ts vacuumPending), on
 * PGlite and Postgres:
 * - re-signings of an unchanged tree replace each other: an idle log keeps the first checkpoint of its
 *   size and the newest, which is the one served; once a witness has cosigned, nothing is replaced;
 * - the schema has no leaf hash copy and a hash index on the dedup key, and publishing, dedup and
 *   receipts still work on it;
 * - the integrating process vacuums pending after PENDING_VACUUM_ROWS deleted rows (Postgres: seen in
 *   pg_stat_user_tables).
 */
import test from 'ava';
import { PENDING_VACUUM_ROWS } from '../server/store.js';
import { waitFor } from './helpers/child-server.js';
import { makeSigner, openService, sha256Id, verifyReceipt } from './helpers/service.js';
import { backendTest } from './helpers/stores.js';

backendTest(
  test,
  're-signings of an unchanged tree replace each other, until a witness cosigns',
  async (t, b) => {
    const svc = await openService(b, { republishIntervalMs: 30 });
    try {
      const alice = await makeSigner('Alice');
      await svc.publish([await alice.attest(sha256Id('resign'))], [alice.publicArmored]);
      const size = (await svc.latestCheckpoint()).checkpoint.treeSize;
      const signed0 = svc.metrics().checkpointsSigned;
      await waitFor(
        'four re-signings',
        async () => svc.metrics().checkpointsSigned >= signed0 + 4,
        20_000,
        10,
      );
      const rows = await svc.db.query('SELECT id, note FROM checkpoints WHERE tree_size = $1 ORDER BY id', [
        size.toString(),
      ]);
      t.true(rows.length <= 3, `${rows.length} rows of size ${size} after ${signed0 + 4} signings`);
      const [first] = await svc.db.query('SELECT min(id) AS id FROM checkpoints WHERE tree_size = $1', [
        size.toString(),
      ]);
      t.is(String(rows[0]!.id), String(first!.id), 'the first checkpoint of the size stays');
      const [newest] = await svc.db.query('SELECT tree_size FROM checkpoints ORDER BY id DESC LIMIT 1');
      t.is(String(newest!.tree_size), size.toString(), 'the newest row is a re-signing of the same tree');

      // A cosignature (any row) stops the replacing: a witnessed log keeps what its witnesses signed.
      const [top] = await svc.db.query('SELECT id FROM checkpoints ORDER BY id DESC LIMIT 1');
      await svc.db.query(
        `INSERT INTO cosignatures (checkpoint_id, witness_vkey, line, cosigned_at) VALUES ($1, 'w', 'line', now())`,
        [String(top!.id)],
      );
      const count = async () => Number((await svc.db.query('SELECT count(*) AS n FROM checkpoints'))[0]!.n);
      const before = await count();
      await waitFor('two rows added', async () => (await count()) >= before + 2, 20_000, 10);
      t.pass();
    } finally {
      await svc.close();
    }
  },
);

backendTest(
  test,
  'schema 7: no leaf hash copy, a hash index on the dedup key; dedup and receipts',
  async (t, b) => {
    const svc = await openService(b);
    try {
      const cols = await svc.db.query(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'entries' ORDER BY 1`,
      );
      t.false(
        cols.some((c) => c.column_name === 'leaf_hash'),
        'entries.leaf_hash is gone',
      );
      const [am] = await svc.db.query(
        `SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'entries_attestation_digest_idx'`,
      );
      t.is(am?.amname, 'hash');
      const alice = await makeSigner('Alice');
      const atts = await Promise.all([1, 2, 3].map((i) => alice.attest(sha256Id(`lean-${i}`))));
      const first = await svc.publish(atts, [alice.publicArmored]);
      const again = await svc.publish([atts[1]!, atts[0]!], []);
      t.is(again[0]!.index, first[1]!.index);
      t.is(again[1]!.index, first[0]!.index);
      for (const r of [...first, ...again]) await verifyReceipt(svc.info(), r);
    } finally {
      await svc.close();
    }
  },
);

backendTest(test, 'the integrator vacuums pending after deleting enough rows', async (t, b) => {
  const svc = await openService(b);
  try {
    const alice = await makeSigner('Alice');
    const n = PENDING_VACUUM_ROWS + 50;
    const atts = [];
    for (let i = 0; i < n; i++) atts.push(await alice.attest(sha256Id(`vacuum-${i}`)));
    for (let i = 0; i < n; i += 100) await svc.publish(atts.slice(i, i + 100), [alice.publicArmored]);
    t.is((await svc.storageCounts()).attestations, n);
    if (svc.db.kind === 'pg') {
      await waitFor(
        'a vacuum of pending',
        async () => {
          const [r] = await svc.db.query(
            `SELECT vacuum_count + autovacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'pending'`,
          );
          return Number(r?.n) > 0;
        },
        20_000,
        100,
      );
    }
    t.pass();
  } finally {
    await svc.close();
  }
});
