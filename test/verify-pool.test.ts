/**
 * server/verify-pool.ts against log/signet.ts verifyAttestation on the same thread: the same signature
 * times, the same error codes, messages and details, many verifications at once, and a closed pool.
 */
import test from 'ava';
import { isLogError } from '../log/errors.js';
import { readPublicKey, verifyAttestation } from '../log/signet.js';
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
