/**
 * The sequencer under load, faults and concurrency, on PGlite and real Postgres: every served tile
 * agrees with a tree recomputed by the naive reference (test/reference.ts), proofs verify, a batch
 * that fails before or after COMMIT loses nothing acknowledged and never reuses an index, and two
 * processes on one Postgres make one log.
 */
import test from 'ava';
import { attestationDigest } from '../log/entry.js';
import { verifyConsistency, verifyInclusion } from '../log/proof.js';
import { tileWidthAt } from '../log/tiles.js';
import { openDb } from '../server/db.js';
import { isServiceError } from '../server/errors.js';
import type { LogService, Receipt } from '../server/log-service.js';
import {
  makeSigner,
  openService,
  reverifyLog,
  sha256Id,
  type TestSigner,
  verifyReceipt,
} from './helpers/service.js';
import { backendTest, postgresBackend } from './helpers/stores.js';
import { refMth } from './reference.js';

/** signMany signs n distinct attestations (ids prefix/0..n-1) with one key. */
async function signMany(s: TestSigner, n: number, prefix: string) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await s.attest(sha256Id(`${prefix}/${i}`)));
  return out;
}

/** publishAll publishes `atts` in requests of `per`, `parallel` requests at a time; returns receipts in order. */
async function publishAll(svc: LogService, atts: unknown[], keys: string[], per: number, parallel: number) {
  const chunks: unknown[][] = [];
  for (let i = 0; i < atts.length; i += per) chunks.push(atts.slice(i, i + per));
  const out: Receipt[][] = new Array(chunks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < chunks.length) {
        const i = next++;
        out[i] = await svc.publish(chunks[i]!, keys);
      }
    }),
  );
  return out.flat();
}

/** checkReceiptsAgainst verifies each receipt and its checkpoint's consistency with the final one. */
async function checkReceiptsAgainst(svc: LogService, receipts: Receipt[]) {
  const info = svc.info();
  const final = await svc.latestCheckpoint();
  const checked = new Set<string>();
  for (const r of receipts) {
    const cp = await verifyReceipt(info, r);
    const key = `${cp.treeSize}`;
    if (checked.has(key)) continue;
    checked.add(key);
    verifyConsistency(
      cp.treeSize,
      final.checkpoint.treeSize,
      await svc.proveConsistency(cp.treeSize, final.checkpoint.treeSize),
      cp.rootHash,
      final.checkpoint.rootHash,
    );
  }
  return checked.size;
}

backendTest(test, '1,300 publishes: every tile matches a recomputed tree; proofs verify', async (t, b) => {
  const svc = await openService(b);
  try {
    const alice = await makeSigner('alice');
    const N = 1300; // 5 full level-0 tiles and a partial one; batches of various sizes
    const atts = await signMany(alice, N, 'load');
    const receipts = await publishAll(svc, atts, [alice.publicArmored], 50, 4);
    t.is(receipts.length, N);
    t.deepEqual(new Set(receipts.map((r) => r.index)).size, N, 'no index given twice');
    t.true((await checkReceiptsAgainst(svc, receipts)) >= 1);
    const { checkpoint, leaves, attestations } = await reverifyLog(svc);
    const n = checkpoint.checkpoint.treeSize;
    t.is(attestations, N);
    // The index leaves (one per checkpoint) are leaves too; the tree still ends in partial tiles.
    const width = Number(n) - 5 * 256;
    t.true(n > BigInt(N) && width < 256, `tree size ${n}`);
    t.is(tileWidthAt(0, 5n, n), width, 'a partial level-0 tile exists');
    // A narrower partial tile is the prefix of the stored one; a wider one than the tree has is absent.
    const full = (await svc.readTile({ level: 0, index: 5n, width }))!;
    t.deepEqual(await svc.readTile({ level: 0, index: 5n, width: 3 }), full.subarray(0, 96));
    t.is(await svc.readTile({ level: 0, index: 5n, width: width + 1 }), undefined);
    t.is(await svc.readTile({ level: 0, index: 6n, width: 1 }), undefined);
    t.is(await svc.readTile({ level: -1, index: 6n, width: 1 }), undefined);
    // Consistency between a sample of sizes, inclusion for a sample of (index, size).
    const sizes = [1, 2, 255, 256, 257, 511, 512, 700, 1024, 1025, N - 1, N];
    for (const m of sizes) {
      for (const k of [sizes[sizes.length - 1]!, 513, 1300]) {
        if (m > k) continue;
        const proof = await svc.proveConsistency(BigInt(m), BigInt(k));
        verifyConsistency(
          BigInt(m),
          BigInt(k),
          proof,
          refMth(leaves.slice(0, m)),
          refMth(leaves.slice(0, k)),
        );
      }
    }
    for (const [i, size] of [
      [0, 1],
      [0, N],
      [255, 256],
      [256, 257],
      [700, 1024],
      [1299, N],
      [513, 1000],
    ] as const) {
      const proof = await svc.proveInclusion(BigInt(i), BigInt(size));
      verifyInclusion(BigInt(i), BigInt(size), leaves[i]!, proof, refMth(leaves.slice(0, size)));
    }
    t.pass('every sampled proof verified');
    const m = svc.metrics();
    t.is(m.publishesAccepted, N);
    t.true(m.batches >= 2);
    t.is(m.batchSize.sum, N, 'every entry counted in exactly one batch');
    const le256 = m.batchSize.le.indexOf(256);
    t.is(m.batchSize.counts[le256], m.batches, 'no batch larger than batchMaxSize');
  } finally {
    await svc.close();
  }
});

backendTest(
  test,
  'a batch failing before or after COMMIT loses nothing acknowledged; reopen integrates the rest',
  async (t, b) => {
    const state = { before: false, after: false, beforeHits: 0, afterHits: 0 };
    const faults = {
      beforeCommit: () => {
        if (!state.before) return;
        state.beforeHits++;
        throw new Error('injected fault before COMMIT');
      },
      afterCommit: () => {
        if (!state.after) return;
        state.afterHits++;
        throw new Error('injected fault after COMMIT');
      },
    };
    const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
    const alice = await makeSigner('alice');
    const atts = await signMany(alice, 60, 'fault');
    let svc = await openService(b, { faults, logger: quiet });
    const acknowledged: Receipt[] = [];
    let lost: unknown[] = [];
    try {
      acknowledged.push(...(await svc.publish(atts.slice(0, 20), [alice.publicArmored])));
      const sizeBefore = (await svc.latestCheckpoint()).checkpoint.treeSize;
      // Before COMMIT: every round rolls back. The publish is durably pending but never acknowledged.
      state.before = true;
      const p = svc.publish(atts.slice(20, 40), []);
      const deadline = Date.now() + 20_000;
      while ((state.beforeHits < 3 || (await svc.backlog()) < 20) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      t.true(state.beforeHits >= 3, 'rounds failed before COMMIT');
      t.is(await svc.backlog(), 20, 'the failed batches left their rows pending');
      t.is((await svc.latestCheckpoint()).checkpoint.treeSize, sizeBefore, 'nothing of them reached the log');
      // After COMMIT: the batch is durable; the publish learns it by polling and is acknowledged.
      state.before = false;
      state.after = true;
      acknowledged.push(...(await svc.publish(atts.slice(40, 50), [])));
      t.true(state.afterHits >= 1);
      // The pending publish from before got through too once the faults moved after COMMIT.
      acknowledged.push(...(await p));
      // Now die before COMMIT again with rows pending, and "crash" (close without integrating them).
      state.after = false;
      state.before = true;
      lost = atts.slice(50, 60);
      const q = svc.publish(lost, []).catch((e) => e);
      while ((await svc.backlog()) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await svc.close();
      const e = await q;
      t.true(isServiceError(e, 'INTEGRATION_TIMEOUT'), String(e));
    } finally {
      await svc.close();
    }
    // Restart without faults: the pending rows are integrated; every acknowledged receipt still holds.
    svc = await openService(b);
    try {
      const again = await svc.publish(lost, []);
      const ackIndexes = new Set(acknowledged.map((r) => r.index));
      t.is(new Set(again.map((r) => r.index)).size, 10);
      t.true(
        again.every((r) => !ackIndexes.has(r.index)),
        'the lost ten got indexes of their own',
      );
      const { attestations } = await reverifyLog(svc);
      t.is(attestations, 60);
      t.is(new Set(acknowledged.map((r) => r.index)).size, 50);
      await checkReceiptsAgainst(svc, [...acknowledged, ...again]);
      t.is(await svc.backlog(), 0);
    } finally {
      await svc.close();
    }
  },
);

test('two services on one Postgres (same key files) make one log', async (t) => {
  const b = await postgresBackend('two');
  if (!b) return t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
  const first = await openService(b, { origin: 'two.example/log' });
  const second = await openService(b);
  try {
    t.deepEqual(second.info(), first.info());
    const [alice, bob] = [await makeSigner('alice'), await makeSigner('bob')];
    await first.putKeys([alice.publicArmored, bob.publicArmored]);
    const [aa, bb] = [await signMany(alice, 150, 'two-a'), await signMany(bob, 150, 'two-b')];
    const [ra, rb, rdup] = await Promise.all([
      publishAll(first, aa, [], 10, 3),
      publishAll(second, bb, [], 10, 3),
      publishAll(second, aa.slice(0, 30), [], 10, 1), // duplicates through the other process
    ]);
    const all = [...ra, ...rb];
    t.is(new Set(all.map((r) => r.index)).size, 300, 'no index used twice');
    t.deepEqual(
      rdup.map((r) => r.index),
      ra.slice(0, 30).map((r) => r.index),
      'a duplicate gets the existing index from either process',
    );
    const final = await first.latestCheckpoint();
    await new Promise((r) => setTimeout(r, 0));
    t.true(final.checkpoint.treeSize >= 300n);
    const { checkpoint, attestations } = await reverifyLog(second);
    t.is(attestations, 300, 'no gap and no repeat: 300 attestations, and an index leaf per checkpoint');
    t.is((await second.storageCounts()).entries, Number(checkpoint.checkpoint.treeSize));
    await checkReceiptsAgainst(second, all);
    t.pass('every receipt verifies and is consistent with the final checkpoint');
  } finally {
    await first.close();
    await second.close();
    await b.cleanup();
  }
});

test('a pending row whose attestation got logged meanwhile is dropped, not logged twice', async (t) => {
  // The race: publish checks "not logged", another process integrates the same attestation, then
  // the publish inserts its pending row. Simulated by inserting that row by hand.
  const b = await postgresBackend('race');
  if (!b) return t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
  const svc = await openService(b);
  const db = await openDb(b);
  try {
    const alice = await makeSigner('alice');
    const a = await alice.attest(sha256Id('race'));
    const [r] = await svc.publish([a], [alice.publicArmored]);
    await db.query(
      `INSERT INTO pending (attestation_digest, entry, identifier, signer_fingerprint, accepted_at)
       VALUES ($1, $2, $3, $4, now())`,
      [attestationDigest(a), r!.entry, a.data.id, a.key],
    );
    const deadline = Date.now() + 20_000;
    while ((await svc.backlog()) > 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    t.is(await svc.backlog(), 0);
    const [again] = await svc.publish([a], []);
    t.is(again!.index, r!.index);
    t.is((await reverifyLog(svc)).attestations, 1);
  } finally {
    await db.close();
    await svc.close();
    await b.cleanup();
  }
});
