/**
 * server/verify-pool.ts against log/signet.ts verifyAttestation on the same thread: the same signature
 * times, the same error codes, messages and details, many verifications at once, and a closed pool.
 */
import test from 'ava';
import * as openpgp from 'openpgp';
import { isLogError } from '../log/errors.js';
import { readPublicKey, verifyAttestation } from '../log/signet.js';
import { isServiceError } from '../server/errors.js';
import { VerifyPool } from '../server/verify-pool.js';
import { makeSigner, sha256Id } from './helpers/service.js';

test('the verify workers answer exactly as verifyAttestation does', async (t) => {
  const alice = await makeSigner('alice');
  const mallory = await makeSigner('mallory');
  const aliceKey = await readPublicKey(alice.publicArmored);
  const good = await alice.attest(sha256Id('pool-good'));
  const now = new Date();
  const pool = new VerifyPool(2);
  try {
    const inThread = await verifyAttestation(good, aliceKey, { now });
    t.is((await pool.verify(good, alice.publicArmored, now)).getTime(), inThread.signedAt.getTime());

    const bad = [
      { name: 'data changed after signing', att: { ...good, data: { ...good.data, ok: false } }, key: alice },
      { name: 'checked with another key', att: good, key: mallory },
      { name: 'key names another signer', att: { ...good, key: mallory.fingerprint }, key: alice },
    ];
    for (const c of bad) {
      const want = await t.throwsAsync(
        verifyAttestation(c.att, await readPublicKey(c.key.publicArmored), { now }),
      );
      const got = await t.throwsAsync(pool.verify(c.att, c.key.publicArmored, now));
      t.true(isLogError(got), `${c.name}: a LogError`);
      t.true(isLogError(want));
      if (isLogError(got) && isLogError(want)) {
        t.is(got.code, want.code, c.name);
        t.is(got.message, want.message, c.name);
        t.deepEqual(got.details, want.details, c.name);
      }
    }

    // Many at once over two workers: every answer reaches its own caller.
    const atts = await Promise.all(Array.from({ length: 40 }, (_, i) => alice.attest(sha256Id(`pool-${i}`))));
    const mixed = atts.map((a, i) => (i % 5 === 0 ? { ...a, data: { ...a.data, n: i } } : a));
    const results = await Promise.allSettled(mixed.map((a) => pool.verify(a, alice.publicArmored, now)));
    results.forEach((r, i) => {
      if (i % 5 === 0)
        t.true(r.status === 'rejected' && isLogError(r.reason, 'SIGNATURE_INVALID'), `item ${i}`);
      else t.is(r.status, 'fulfilled', `item ${i}`);
    });
  } finally {
    await pool.close();
  }
  await t.throwsAsync(pool.verify(good, alice.publicArmored, now), { message: /closed/ });
  t.throws(() => new VerifyPool(0), { instanceOf: RangeError });
});

test('a task over the time budget fails with WORK_BUDGET_EXCEEDED; the task queued behind it is not harmed', async (t) => {
  const alice = await makeSigner('alice');
  const good = await alice.attest(sha256Id('budget'));
  // A keys task that verifies 31 self-certifications, 12 times over (each copy is read afresh): far more
  // than 200 ms of work. A single signature check is a few ms: far less.
  const { publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: Array.from({ length: 31 }, (_, i) => ({ name: `uid ${i}` })),
    format: 'object',
  });
  const heavy = Array.from({ length: 12 }, () => ({ incoming: publicKey.armor() }));
  const pool = new VerifyPool(1, 200);
  try {
    // Warm the worker up first: its start-up is not counted, but keep the test about the budget.
    await pool.verify(good, alice.publicArmored, new Date());
    const [slow, bystander] = await Promise.allSettled([
      pool.mergeKeys(heavy),
      pool.verify(good, alice.publicArmored, new Date()),
    ]);
    t.is(slow.status, 'rejected');
    t.true(isServiceError(slow.status === 'rejected' ? slow.reason : undefined, 'WORK_BUDGET_EXCEEDED'));
    t.is(bystander.status, 'fulfilled', 'the queued task ran on the fresh worker');
    // The pool goes on working after replacing the worker.
    t.is((await pool.mergeKeys([{ incoming: alice.publicArmored }]))[0]!.fingerprint, alice.fingerprint);
  } finally {
    await pool.close();
  }
});
