/**
 * A stored revocation holds on every path a key reaches the server by (issue 9, seams): a publish with
 * "keys", POST /v1/keys, and POST /sig (which checks with the stored copy). Each path is given the
 * signer's old, unrevoked copy of the key after the revocation was stored; each time the signer's new
 * attestations are refused, nothing of them is logged, and GET /v1/keys still serves the revoked key.
 * All three paths take keys through server/key-intake.ts admitKeys -> log/keys.ts mergeSignerKeys, the
 * one merge rule (a union of verified parts: it never drops a revocation).
 *
 * Real keys and a real revocation: openpgp.generateKey (test/helpers/keys.ts) and openpgp.revokeKey.
 * Over HTTP on 127.0.0.1 port 0, on PGlite and on Postgres.
 */
import test, { type ExecutionContext } from 'ava';
import * as openpgp from 'openpgp';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  type Signer,
  startTestServer,
  testConfig,
} from './helpers/http.js';
import { backendTest } from './helpers/stores.js';

/**
 * assertRevocationHolds checks, after `path` was given an old copy of the key: GET /v1/keys still serves
 * a revoked key, and only the attestation made before the revocation is logged for the signer.
 */
async function assertRevocationHolds(t: ExecutionContext, url: string, signer: Signer, path: string) {
  const res = await fetch(`${url}/v1/keys/${signer.fingerprint}`);
  t.is(res.status, 200, path);
  const stored = await openpgp.readKey({ armoredKey: await res.text() });
  t.true(await stored.isRevoked(), `${path}: GET /v1/keys serves the revoked key`);
  const logged = await getJson(`${url}/v1/attestations?key=${signer.fingerprint}`);
  t.is(logged.status, 200, path);
  t.deepEqual(
    logged.body.attestations.map((a: { index: number }) => a.index),
    [0],
    `${path}: only the attestation made before the revocation is logged`,
  );
}

backendTest(test, 'an old copy of a key cannot undo a stored revocation on any key path', async (t, b) => {
  const server = await startTestServer(testConfig(b));
  try {
    const url = server.url;
    const carol = await makeSigner('Carol');
    const oldCopy = carol.armoredPublicKey;
    const first = await postJson(`${url}/v1/attestations`, {
      attestations: [await attest(carol, 'sha256:before-revocation')],
      keys: [oldCopy],
    });
    t.is(first.status, 200, JSON.stringify(first.body));

    const { publicKey: revoked } = await openpgp.revokeKey({ key: carol.privateKey, format: 'armored' });
    const put = await postJson(`${url}/v1/keys`, { keys: [revoked] });
    t.is(put.status, 200, JSON.stringify(put.body));
    await assertRevocationHolds(t, url, carol, 'revocation stored');

    // 1. A publish that sends the old copy along: checked with the merged (still revoked) key.
    const keyed = await postJson(`${url}/v1/attestations`, {
      attestations: [await attest(carol, 'sha256:keyed-publish')],
      keys: [oldCopy],
    });
    t.is(keyed.status, 422, JSON.stringify(keyed.body));
    t.is(keyed.body.error.code, 'SIGNATURE_INVALID');
    t.regex(keyed.body.error.message, /revoked/i);
    await assertRevocationHolds(t, url, carol, 'keyed publish');

    // 2. POST /v1/keys with the old copy: accepted (it is a valid key), merged into the stored one.
    const again = await postJson(`${url}/v1/keys`, { keys: [oldCopy] });
    t.is(again.status, 200, JSON.stringify(again.body));
    t.deepEqual(again.body.fingerprints, [carol.fingerprint]);
    await assertRevocationHolds(t, url, carol, 'POST /v1/keys');

    // 3. POST /sig, which takes no keys: checked with the stored copy, which is still revoked.
    const sig = await postJson(`${url}/sig`, { attestations: [await attest(carol, 'sha256:signet-client')] });
    t.is(sig.status, 422, JSON.stringify(sig.body));
    t.false(sig.body.ok);
    t.is(sig.body.code, 'SIGNATURE_INVALID');
    t.regex(sig.body.error, /revoked/i);
    await assertRevocationHolds(t, url, carol, 'POST /sig');
  } finally {
    await server.close();
  }
});
