/**
 * log/keys.ts: the intake of signer keys from outside (issue 8). Each hostile key is made from real keys
 * and packets by test/helpers/hostile-keys.ts; each test names the attack it stands for.
 */
import test from 'ava';
import * as openpgp from 'openpgp';
import { isLogError } from '../log/errors.js';
import { KEY_LIMITS, mergeSignerKeys, readSignerKey } from '../log/keys.js';
import { signAttestation, verifyAttestation } from '../log/signet.js';
import {
  expensiveDsaKey,
  manyUserIds,
  newerInvalidBinding,
  newSubkeySigner,
  rsaKeyWithExponent,
  stripped,
  withThirdPartyCertification,
} from './helpers/hostile-keys.js';
import { newSigningKey } from './helpers/keys.js';

async function refusal(p: Promise<unknown>): Promise<{ code: string; rule: unknown; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!isLogError(e)) throw e;
    return { code: e.code, rule: e.details.rule, message: e.message };
  }
  throw new Error('expected a refusal, the key was accepted');
}

test('an honest key comes through unchanged (same armor)', async (t) => {
  const s = await newSubkeySigner('honest');
  const read = await readSignerKey(s.publicKey.armor());
  t.is(read.armor(), s.publicKey.armor());
  const plain = await newSigningKey('plain');
  t.is((await readSignerKey(plain.publicKey.armor())).armor(), plain.publicKey.armor());
});

test('attack 1: a newer-dated invalid subkey binding is dropped, the merge keeps the valid one', async (t) => {
  const s = await newSubkeySigner('victim');
  const att = await signAttestation({ id: 'sha256:aa', ok: false }, s.privateKey);
  const stored = await readSignerKey(s.publicKey.armor());
  const hostile = await readSignerKey(await newerInvalidBinding(s));
  t.is(hostile.getSubkeys().length, 0, 'the subkey whose only binding is invalid is dropped');
  const merged = mergeSignerKeys(stored, hostile);
  t.is(merged.armor(), stored.armor(), 'nothing of the hostile copy is merged');
  await t.notThrowsAsync(verifyAttestation(att, merged));
});

test('attack 1: user IDs beyond the limit are refused before any verification', async (t) => {
  const s = await newSubkeySigner('victim');
  const r = await refusal(readSignerKey(await manyUserIds(s.publicKey, KEY_LIMITS.maxUserIds + 1)));
  t.is(r.code, 'KEY_TOO_LARGE');
  t.is(r.rule, 'user-ids');
  const big = await refusal(readSignerKey('x'.repeat(KEY_LIMITS.maxBytes + 1)));
  t.is(big.code, 'KEY_TOO_LARGE');
  t.is(big.rule, 'size');
});

test('attack 1: extra user IDs whose certifications do not verify are dropped', async (t) => {
  const s = await newSubkeySigner('victim');
  const read = await readSignerKey(await manyUserIds(s.publicKey, 3));
  t.deepEqual(
    read.users.map((u) => u.userID?.userID),
    ['victim'],
  );
});

test('attack 2: DSA, and RSA of a size or exponent chosen to be expensive, are refused by rule', async (t) => {
  const dsa = await refusal(readSignerKey(await expensiveDsaKey(8192)));
  t.is(dsa.code, 'KEY_ALGORITHM_REFUSED');
  t.is(dsa.rule, 'algorithm');
  t.regex(dsa.message, /dsa/i);
  const bigRsa = await refusal(readSignerKey(await rsaKeyWithExponent(8192, 17)));
  t.is(bigRsa.rule, 'rsa-bits');
  const smallRsa = await refusal(readSignerKey(await rsaKeyWithExponent(1024, 17)));
  t.is(smallRsa.rule, 'rsa-bits');
  const bigE = await refusal(readSignerKey(await rsaKeyWithExponent(4096, 4096)));
  t.is(bigE.code, 'KEY_ALGORITHM_REFUSED');
  t.is(bigE.rule, 'rsa-exponent');
});

test('a real RSA 2048 key is accepted', async (t) => {
  const { publicKey } = await openpgp.generateKey({
    type: 'rsa',
    rsaBits: 2048,
    userIDs: [{ name: 'rsa' }],
    format: 'object',
  });
  t.is((await readSignerKey(publicKey.armor())).armor(), publicKey.armor());
});

test('attack 3: a stripped copy is refused, and merging it could change nothing', async (t) => {
  const s = await newSubkeySigner('victim');
  const r = await refusal(readSignerKey(await stripped(s.publicKey)));
  t.is(r.code, 'KEY_INVALID');
  t.is(r.rule, 'no-valid-user-id');
});

test('a revocation is kept by every merge, whichever copy is older', async (t) => {
  const s = await newSubkeySigner('victim');
  const { publicKey: revoked } = await openpgp.revokeKey({ key: s.privateKey, format: 'object' });
  const old = await readSignerKey(s.publicKey.armor());
  const rev = await readSignerKey(revoked.armor());
  t.true(await rev.isRevoked());
  t.true(await mergeSignerKeys(rev, old).isRevoked(), 'an old copy does not undo the revocation');
  t.true(await mergeSignerKeys(old, rev).isRevoked(), 'a revocation is added to the old copy');
});

test('third-party certifications are dropped', async (t) => {
  const s = await newSubkeySigner('victim');
  const other = await newSigningKey('other');
  const certified = await withThirdPartyCertification(s.publicKey, other.privateKey);
  t.is(certified.users[0]!.otherCertifications.length, 1);
  const read = await readSignerKey(certified.armor());
  t.is(read.users[0]!.otherCertifications.length, 0);
  t.is(read.armor(), s.publicKey.armor());
});

test('merging two different keys is refused', async (t) => {
  const a = await readSignerKey((await newSigningKey('a')).publicKey.armor());
  const b = await readSignerKey((await newSigningKey('b')).publicKey.armor());
  const e = t.throws(() => mergeSignerKeys(a, b));
  t.true(isLogError(e, 'KEY_INVALID'));
  t.is((e as unknown as { details: { rule: string } }).details.rule, 'fingerprint');
});

test('a merge adds a new valid user ID and subkey', async (t) => {
  const s = await newSubkeySigner('victim');
  const more = await openpgp.reformatKey({
    privateKey: s.privateKey,
    userIDs: [{ name: 'victim' }, { name: 'victim at work' }],
    format: 'object',
  });
  const merged = mergeSignerKeys(
    await readSignerKey(s.publicKey.armor()),
    await readSignerKey(more.publicKey.armor()),
  );
  t.deepEqual(
    merged.users.map((u) => u.userID?.userID),
    ['victim', 'victim at work'],
  );
  // Idempotent: merging the result again changes nothing.
  t.is(mergeSignerKeys(merged, await readSignerKey(more.publicKey.armor())).armor(), merged.armor());
});
