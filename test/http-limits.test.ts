/**
 * Every limit and every kind of bad publish gets its documented 4xx with a JSON error naming the item
 * or field, and stores nothing (tree size and /v1/entries unchanged); the rate limit answers 429 with
 * Retry-After; GET endpoints with junk parameters answer 400 JSON; unknown routes 404 JSON. On PGlite and
 * on Postgres. The documented statuses are the README's "Errors" table (server/http/errors.ts).
 */
import test from 'ava';
import type { Attestation } from '../log/signet.js';
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

/** A bad request: what we send and the status and code we expect. */
interface Case {
  name: string;
  path?: string;
  body: unknown;
  status: number;
  code: string;
  item?: number;
}

function badPublishes(alice: Signer, bob: Signer, good: Attestation, other: Attestation): Case[] {
  const tampered = { ...other, data: { ...other.data, ok: false } };
  const wrongKey = { ...other, key: bob.fingerprint }; // signed by alice, claims bob
  const badB64 = { ...good, sig: 'not base64!!' };
  const big = { ...good, data: { ...good.data, comment: 'x'.repeat(1200) } };
  return [
    { name: 'malformed JSON', body: '{"attestations": [', status: 400, code: 'JSON_INVALID' },
    { name: 'JSON scalar', body: '42', status: 400, code: 'JSON_INVALID' },
    { name: 'array body', body: [good], status: 400, code: 'REQUEST_INVALID' },
    { name: 'no attestations', body: { keys: [] }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'attestations not array', body: { attestations: good }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'empty attestations', body: { attestations: [] }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'null item', body: { attestations: [null] }, status: 400, code: 'ATTESTATION_INVALID', item: 0 },
    {
      name: 'nesting deeper than canonical JSON allows',
      body: `{"attestations": [${'['.repeat(2000)}${']'.repeat(2000)}]}`,
      status: 400,
      code: 'ATTESTATION_INVALID',
      item: 0,
    },
    {
      name: 'keys not strings',
      body: { attestations: [good], keys: [1] },
      status: 400,
      code: 'REQUEST_INVALID',
    },
    {
      name: 'wrong shape (no sig)',
      body: { attestations: [{ data: good.data, key: good.key }] },
      status: 400,
      code: 'ATTESTATION_INVALID',
      item: 0,
    },
    {
      name: 'wrong shape (id not string), second item',
      body: { attestations: [other, { ...good, data: { id: 5, ok: true } }] },
      status: 400,
      code: 'ATTESTATION_INVALID',
      item: 1,
    },
    {
      name: 'bad base64',
      body: { attestations: [badB64] },
      status: 400,
      code: 'SIGNATURE_MALFORMED',
      item: 0,
    },
    {
      name: 'invalid signature (data changed)',
      body: { attestations: [other, tampered] },
      status: 422,
      code: 'SIGNATURE_INVALID',
      item: 1,
    },
    {
      name: 'key is not the signer',
      body: { attestations: [wrongKey], keys: [alice.armoredPublicKey, bob.armoredPublicKey] },
      status: 422,
      code: 'KEY_MISMATCH',
      item: 0,
    },
    { name: 'unknown key', body: { attestations: [good] }, status: 422, code: 'KEY_UNKNOWN', item: 0 },
    {
      name: 'bad armored key',
      body: { attestations: [good], keys: ['-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n'] },
      status: 400,
      code: 'KEY_INVALID',
    },
    {
      name: 'oversize attestation',
      body: { attestations: [other, big], keys: [alice.armoredPublicKey] },
      status: 413,
      code: 'ATTESTATION_TOO_LARGE',
      item: 1,
    },
    {
      name: 'too many attestations',
      body: { attestations: [good, good, good, good], keys: [alice.armoredPublicKey] },
      status: 413,
      code: 'TOO_MANY_ATTESTATIONS',
    },
    {
      name: 'oversize body',
      body: { attestations: [good], keys: [alice.armoredPublicKey], pad: 'p'.repeat(9000) },
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    {
      name: 'POST /v1/keys junk key',
      path: '/v1/keys',
      body: { keys: ['nope'] },
      status: 400,
      code: 'KEY_INVALID',
    },
    {
      name: 'POST /v1/keys no keys',
      path: '/v1/keys',
      body: { keys: [] },
      status: 400,
      code: 'REQUEST_INVALID',
    },
  ];
}

const JUNK_GETS: [string, number, string, string?][] = [
  ['/v1/proof/inclusion?index=-1&size=3', 400, 'PARAM_INVALID', 'index'],
  ['/v1/proof/inclusion?index=01&size=3', 400, 'PARAM_INVALID', 'index'],
  ['/v1/proof/inclusion?index=1e0&size=3', 400, 'PARAM_INVALID', 'index'],
  ['/v1/proof/inclusion?index=%200&size=3', 400, 'PARAM_INVALID', 'index'],
  ['/v1/proof/inclusion?index=0&index=1&size=3', 400, 'PARAM_INVALID', 'index'],
  ['/v1/proof/inclusion?index=0', 400, 'PARAM_INVALID', 'size'],
  ['/v1/proof/inclusion?index=0&size=9007199254740992', 400, 'PARAM_INVALID', 'size'],
  ['/v1/proof/inclusion?index=5&size=2', 400, 'INDEX_OUT_OF_RANGE', 'index'],
  ['/v1/proof/inclusion?index=0&size=99', 400, 'INDEX_OUT_OF_RANGE', 'size'],
  ['/v1/proof/consistency?from=2&to=1', 400, 'INDEX_OUT_OF_RANGE', 'from'],
  ['/v1/proof/consistency?from=1&to=abc', 400, 'PARAM_INVALID', 'to'],
  ['/v1/proof/consistency?from=1&to=99', 400, 'INDEX_OUT_OF_RANGE', 'to'],
  ['/v1/entries?start=x', 400, 'PARAM_INVALID', 'start'],
  ['/v1/entries?start=0&limit=0', 400, 'PARAM_INVALID', 'limit'],
  ['/v1/attestations', 400, 'PARAM_INVALID', 'id'],
  ['/v1/attestations?key=zz', 400, 'PARAM_INVALID', 'key'],
  ['/v1/attestations?id=a&cursor=-1', 400, 'PARAM_INVALID', 'cursor'],
  ['/v1/attestations?id=', 400, 'PARAM_INVALID', 'id'],
  ['/v1/keys/not-hex', 400, 'PARAM_INVALID', 'fingerprint'],
  ['/v1/keys/0000000000000000000000000000000000000000', 404, 'NOT_FOUND', 'fingerprint'],
  ['/log/tile/0/junk', 400, 'TILE_PATH_INVALID'],
  ['/log/tile/0/001.p/0', 400, 'TILE_PATH_INVALID'],
  ['/log/tile/entries/x001', 400, 'TILE_PATH_INVALID'],
  ['/log/tile/0/999', 404, 'NOT_FOUND', 'path'],
  ['/log/tile/0/000', 404, 'NOT_FOUND', 'path'],
  ['/nope', 404, 'NOT_FOUND', 'path'],
  ['/v1/keys', 404, 'NOT_FOUND', 'path'],
];

backendTest(test, 'bad publishes and junk parameters: documented 4xx, nothing stored', async (t, b) => {
  const server = await startTestServer(
    testConfig(b, {
      'max-body-bytes': 8192,
      'max-attestation-bytes': 1024,
      'max-attestations-per-request': 3,
    }),
  );
  try {
    const url = server.url;
    const alice = await makeSigner('Alice');
    const bob = await makeSigner('Bob');
    // One good entry first, with alice's key stored; bob's key stays unknown to the server.
    const first = await attest(alice, 'sha256:0001');
    const ok = await postJson(`${url}/v1/attestations`, {
      attestations: [first],
      keys: [alice.armoredPublicKey],
    });
    t.is(ok.status, 200, JSON.stringify(ok.body));
    const before = await getJson(`${url}/v1/entries?start=0`);
    t.is(before.body.entries.length, 2, 'the entry and the index leaf after it');

    const good = await attest(bob, 'sha256:0002'); // bob is unknown: only valid with keys
    const other = await attest(alice, 'sha256:0003'); // valid, but must not be stored with a bad sibling
    for (const c of badPublishes(alice, bob, good, other)) {
      const res = await postJson(`${url}${c.path ?? '/v1/attestations'}`, c.body);
      t.is(res.status, c.status, `${c.name}: ${JSON.stringify(res.body)}`);
      t.is(res.body.error?.code, c.code, c.name);
      t.is(typeof res.body.error?.message, 'string', c.name);
      t.true(res.body.error.message.length > 10, c.name);
      if (c.item !== undefined) t.is(res.body.error.details?.item, c.item, `${c.name}: details.item`);
    }
    // /sig speaks the Signet client's error shape.
    const sigBad = await postJson(`${url}/sig`, '{nope');
    t.is(sigBad.status, 400);
    t.is(sigBad.body.ok, false);
    t.is(typeof sigBad.body.error, 'string');
    const sigTampered = await postJson(`${url}/sig`, {
      attestations: [{ ...other, data: { ...other.data, ok: false } }],
    });
    t.is(sigTampered.status, 422);
    t.is(sigTampered.body.ok, false);

    // Nothing of any of those was stored.
    const after = await getJson(`${url}/v1/entries?start=0`);
    t.deepEqual(after.body, before.body);
    const health = await getJson(`${url}/healthz`);
    t.is(health.body.treeSize, 2);
    const none = await getJson(`${url}/v1/attestations?id=sha256:0003`);
    t.deepEqual(none.body.attestations, []);
    const noKey = await fetch(`${url}/v1/keys/${bob.fingerprint}`);
    t.is(noKey.status, 404, 'the key of a rejected request is not stored either');

    for (const [path, status, code, field] of JUNK_GETS) {
      const res = await getJson(`${url}${path}`);
      t.is(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
      t.is(res.body.error?.code, code, path);
      if (field !== undefined) t.is(res.body.error.details?.field, field, path);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    t.regex(metrics, /^sig_http_rejections_total\{code="BODY_TOO_LARGE"\} 1$/m);
  } finally {
    await server.close();
  }
});

backendTest(test, 'rate limit: 429 with Retry-After, counted in the database', async (t, b) => {
  const config = testConfig(b, { 'rate-limit-publishes': 2, 'rate-limit-window-ms': 60_000 });
  const server = await startTestServer(config);
  const alice = await makeSigner('Alice');
  let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
  try {
    const url = server.url;
    const body = { keys: [alice.armoredPublicKey] };
    t.is((await postJson(`${url}/v1/keys`, body)).status, 200);
    t.is((await postJson(`${url}/v1/keys`, body)).status, 200);
    const limited = await postJson(`${url}/v1/keys`, body);
    t.is(limited.status, 429);
    t.is(limited.body.error.code, 'RATE_LIMITED');
    const retry = Number(limited.headers.get('retry-after'));
    t.true(Number.isInteger(retry) && retry > 0 && retry <= 60, `Retry-After ${retry}`);
    const sig = await postJson(`${url}/sig`, { attestations: [await attest(alice, 'sha256:0004')] });
    t.is(sig.status, 429);
    t.is(sig.body.ok, false);
    // Reads are not limited.
    t.is((await fetch(`${url}/v1/server`)).status, 200);
    if (b.databaseUrl !== undefined) {
      // A second process on the same database sees the same counter.
      await server.close();
      second = await startTestServer(config);
      const again = await postJson(`${second.url}/v1/keys`, body);
      t.is(again.status, 429, 'the counter lives in the database, not in the process');
    }
  } finally {
    await server.close();
    await second?.close();
  }
});

backendTest(
  test,
  'backlog full: 503 with Retry-After, then integrated by an integrating process',
  async (t, b) => {
    // An integrating process makes the log (first checkpoint) and stops; then a serve-only process
    // (INTEGRATE=false) accepts into the backlog but never integrates, so the backlog fills
    // deterministically.
    const maker = await startTestServer(testConfig(b));
    await maker.close();
    const serveOnly = await startTestServer(
      testConfig(b, { integrate: false, 'max-backlog': 1, 'publish-wait-ms': 100 }),
    );
    let integrator: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      const url = serveOnly.url;
      const heidi = await makeSigner('Heidi');
      const one = await attest(heidi, 'sha256:backlog-1');
      const two = await attest(heidi, 'sha256:backlog-2');
      const waited = await postJson(`${url}/v1/attestations`, {
        attestations: [one],
        keys: [heidi.armoredPublicKey],
      });
      t.is(waited.status, 503, JSON.stringify(waited.body));
      t.is(waited.body.error.code, 'INTEGRATION_TIMEOUT');
      t.true(Number(waited.headers.get('retry-after')) >= 1);
      const full = await postJson(`${url}/v1/attestations`, { attestations: [two] });
      t.is(full.status, 503, JSON.stringify(full.body));
      t.is(full.body.error.code, 'BACKLOG_FULL');
      t.true(Number(full.headers.get('retry-after')) >= 1);
      if (b.databaseUrl !== undefined) {
        // An integrating process on the same database integrates the accepted one; the retry gets a receipt.
        integrator = await startTestServer(testConfig(b));
        const retry = await postJson(`${integrator.url}/v1/attestations`, { attestations: [one] });
        t.is(retry.status, 200, JSON.stringify(retry.body));
        t.is(retry.body.receipts[0].index, 0);
      }
    } finally {
      await serveOnly.close();
      await integrator?.close();
    }
  },
);
