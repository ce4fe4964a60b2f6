/**
 * The server's key intake under the attacks of issue 8, over real HTTP with the verify workers on:
 *   1. a copy of a stored key with a newer-dated invalid subkey binding, and copies bloated with user IDs
 *      whose certifications do not verify, change nothing stored (before the fix: 200, the stored key was
 *      broken, the signer could no longer publish and its logged `ok: false` stopped verifying);
 *   2. keys whose verification cost is chosen by their maker (DSA of 16384 bits) are refused by rule
 *      before any math, on both key paths, while /healthz keeps answering;
 *   4. the parsed-key cache is bounded in bytes.
 * Attack 3 (a server choosing the keys a client sees) is the CLI's: test/cli-hostile.test.ts.
 */
import test from 'ava';
import { readSignerKey } from '../log/keys.js';
import { type Attestation, signAttestation, verifyAttestation } from '../log/signet.js';
import { KeyCache, PARSED_BYTES_PER_ARMOR_BYTE } from '../server/key-cache.js';
import {
  expensiveDsaKey,
  manyUserIds,
  newerInvalidBinding,
  newSubkeySigner,
  type SubkeySigner,
} from './helpers/hostile-keys.js';
import { getJson, postJson, startTestServer, testConfig } from './helpers/http.js';
import { newSigningKey } from './helpers/keys.js';
import { backendTest } from './helpers/stores.js';

async function storedKey(url: string, fp: string): Promise<string> {
  const r = await fetch(`${url}/v1/keys/${fp}`);
  if (r.status !== 200) throw new Error(`GET /v1/keys/${fp}: ${r.status}`);
  return r.text();
}

async function publish(url: string, atts: Attestation[], keys: string[] = []) {
  return postJson(`${url}/v1/attestations`, { attestations: atts, ...(keys.length ? { keys } : {}) });
}

/** stillWhole checks the signer's logged attestations verify with the stored key and it can publish. */
async function stillWhole(
  t: import('ava').ExecutionContext,
  url: string,
  s: SubkeySigner,
  logged: Attestation[],
) {
  const key = await readSignerKey(await storedKey(url, s.fingerprint));
  for (const a of logged)
    await t.notThrowsAsync(verifyAttestation(a, key), `logged ${a.data.id} still verifies`);
  const fresh = await signAttestation(
    { id: `sha256:${'f'.repeat(64)}`, ok: true, n: Date.now() },
    s.privateKey,
  );
  const r = await publish(url, [fresh]);
  t.is(r.status, 200, `the signer can still publish: ${JSON.stringify(r.body)}`);
}

backendTest(
  test,
  'attack 1: a newer invalid subkey binding and bloated copies change nothing stored',
  async (t, b) => {
    const h = await startTestServer(testConfig(b, { 'verify-workers': 1 }));
    try {
      const s = await newSubkeySigner('victim');
      const bad = await signAttestation({ id: `sha256:${'b'.repeat(64)}`, ok: false }, s.privateKey);
      const first = await publish(h.url, [bad], [s.publicKey.armor()]);
      t.is(first.status, 200, JSON.stringify(first.body));
      const before = await storedKey(h.url, s.fingerprint);

      const hostile = await postJson(`${h.url}/v1/keys`, { keys: [await newerInvalidBinding(s)] });
      t.is(hostile.status, 200, 'what verifies in the copy is merged: nothing new');
      t.is(await storedKey(h.url, s.fingerprint), before);

      // Within the count limits: accepted, and the certifications that do not verify are dropped.
      for (let i = 0; i < 5; i++) {
        const r = await postJson(`${h.url}/v1/keys`, { keys: [await manyUserIds(s.publicKey, 20)] });
        t.is(r.status, 200, JSON.stringify(r.body));
      }
      // Past them: refused by rule before any verification, with a publish too.
      const big = await postJson(`${h.url}/v1/keys`, { keys: [await manyUserIds(s.publicKey, 40)] });
      t.is(big.status, 413);
      t.is(big.body.error.code, 'KEY_TOO_LARGE');
      t.is(big.body.error.details.rule, 'user-ids');
      t.is(big.body.error.details.key, 0);
      t.is(await storedKey(h.url, s.fingerprint), before, 'the stored key did not grow');
      await stillWhole(t, h.url, s, [bad]);
    } finally {
      await h.close();
    }
  },
);

backendTest(
  test,
  'attack 2: expensive keys are refused by rule on both paths; health answers',
  async (t, b) => {
    const h = await startTestServer(testConfig(b, { 'verify-workers': 1 }));
    try {
      const dsa = await expensiveDsaKey(16384);
      const s = await newSigningKey('bystander');
      const att = await signAttestation({ id: `sha256:${'c'.repeat(64)}`, ok: true }, s.privateKey);
      const [viaKeys, viaPublish, health] = await Promise.all([
        postJson(`${h.url}/v1/keys`, { keys: [dsa] }),
        publish(h.url, [att], [s.publicKey.armor(), dsa]),
        getJson(`${h.url}/healthz`),
      ]);
      t.is(viaKeys.status, 422);
      t.is(viaKeys.body.error.code, 'KEY_ALGORITHM_REFUSED');
      t.is(viaKeys.body.error.details.rule, 'algorithm');
      t.is(viaPublish.status, 422);
      t.is(viaPublish.body.error.code, 'KEY_ALGORITHM_REFUSED');
      t.is(viaPublish.body.error.details.key, 1, 'names the key that broke the rule');
      t.is(health.status, 200);
      // Nothing of the refused publish was stored; the bystander publishes alone.
      const alone = await publish(h.url, [att], [s.publicKey.armor()]);
      t.is(alone.status, 200, JSON.stringify(alone.body));
      t.is(alone.body.receipts[0].index, 0);
    } finally {
      await h.close();
    }
  },
);

test('attack 4: the key cache is bounded in bytes, and keeps what fits', async (t) => {
  const keys = await Promise.all(Array.from({ length: 6 }, (_, i) => newSigningKey(`k${i}`)));
  const armors = keys.map((k) => k.publicKey.armor());
  const each = armors[0]!.length * PARSED_BYTES_PER_ARMOR_BYTE;
  const cache = new KeyCache(each * 3.5);
  for (const a of armors) await cache.read(a);
  t.true(cache.bytes <= each * 3.5, `${cache.bytes} bytes kept`);
  t.true(cache.bytes >= each * 2.5, 'the newest keys are kept');
  // The most recent key is a hit: the same object comes back.
  t.is(await cache.read(armors[5]!), await cache.read(armors[5]!));
});
