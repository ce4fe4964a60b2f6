/**
 * The HTTP API end to end, on PGlite and on Postgres: publish through POST /v1/attestations with real
 * OpenPGP (ed25519) keys, verify the receipts offline with log/ and the keys from /v1/server; query by id,
 * by key, by both, with pagination; the Signet Node client's /sig round trip; /log/checkpoint; keys;
 * headers (security, CORS on reads only, caching); /healthz and /metrics.
 */
import test from 'ava';
import { base64Encode } from '../log/bytes.js';
import { parseEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import {
  chainOf,
  identifierMapKey,
  parseIndexLeaf,
  parseLookupProof,
  verifyLookup,
} from '../log/index-map.js';
import { verifyInclusion } from '../log/proof.js';
import { fromB64 } from './helpers/bytes.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  type ReceiptJson,
  serverKeys,
  startTestServer,
  testConfig,
  verifyCheckpointNote,
  verifyReceipt,
} from './helpers/http.js';
import { backendTest } from './helpers/stores.js';

backendTest(test, 'publish, verify receipts offline, query, /sig, checkpoint', async (t, b) => {
  const server = await startTestServer(testConfig(b, { 'query-page-limit': 2 }));
  try {
    const url = server.url;
    const keys = await serverKeys(url);
    t.regex(keys.vkey, /^sig\.test\/log\+[0-9a-f]{8}\+/);
    t.is(keys.openpgpFingerprint, keys.openpgpPublicKey.getFingerprint().toUpperCase());

    const alice = await makeSigner('Alice');
    const bob = await makeSigner('Bob');
    const atts = [
      await attest(alice, 'sha256:aaaa', { comment: 'first' }),
      await attest(alice, 'sha256:bbbb'),
      await attest(bob, 'sha256:aaaa', { comment: 'bob agrees' }),
      await attest(alice, 'sha256:aaaa', { comment: 'second look' }),
    ];
    const pub = await postJson(`${url}/v1/attestations`, {
      attestations: atts,
      keys: [alice.armoredPublicKey, bob.armoredPublicKey],
    });
    t.is(pub.status, 200, JSON.stringify(pub.body));
    const receipts = pub.body.receipts as ReceiptJson[];
    t.is(receipts.length, 4);
    t.deepEqual(
      receipts.map((r) => r.index),
      [0, 1, 2, 3],
    );
    for (const [i, r] of receipts.entries()) {
      const size = await verifyReceipt(r, keys);
      t.true(size > BigInt(r.index));
      t.deepEqual(parseEntry(fromB64(r.entry)).attestation, atts[i]);
    }
    t.is(pub.headers.get('access-control-allow-origin'), null, 'no CORS on POST');

    // Publishing the same attestation again returns its existing receipt (same index and entry).
    const again = await postJson(`${url}/v1/attestations`, { attestations: [atts[1]] });
    t.is(again.status, 200, JSON.stringify(again.body));
    t.is(again.body.receipts[0].index, 1);
    t.is(again.body.receipts[0].entry, receipts[1]!.entry);
    await verifyReceipt(again.body.receipts[0], keys);

    // The checkpoint verifies with both server keys and covers all four entries and the index leaf
    // after them (SPEC.md "The index": every checkpoint ends with one).
    const cpRes = await fetch(`${url}/log/checkpoint`);
    t.is(cpRes.status, 200);
    t.regex(cpRes.headers.get('content-type') ?? '', /^text\/plain/);
    t.regex(cpRes.headers.get('cache-control') ?? '', /no-cache|max-age=[0-9]\b/);
    t.is(cpRes.headers.get('access-control-allow-origin'), '*');
    const cp = await verifyCheckpointNote(await cpRes.text(), keys);
    t.is(cp.treeSize, 5n);

    // Query by id: alice's two and bob's one for sha256:aaaa, two per page (QUERY_PAGE_LIMIT 2).
    const byId: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    const pageCheckpoints = new Set<string>();
    let lookup: { count: number; chain: string } | undefined;
    do {
      const q: string = `${url}/v1/attestations?id=${encodeURIComponent('sha256:aaaa')}${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await getJson(q);
      t.is(res.status, 200, JSON.stringify(res.body));
      const qcp = await verifyCheckpointNote(res.body.checkpoint, keys);
      for (const it of res.body.attestations) {
        verifyInclusion(
          BigInt(it.index),
          qcp.treeSize,
          hashLeaf(fromB64(it.entry)),
          it.inclusionProof.map(fromB64),
          qcp.rootHash,
        );
        t.is(parseEntry(fromB64(it.entry)).attestation.data.id, 'sha256:aaaa');
        byId.push(it.index);
      }
      // Every page repeats the first page's checkpoint and index; the index leaf is at size-1, included,
      // and its lookup proves the count and chain of the identifier's key.
      pageCheckpoints.add(res.body.checkpoint);
      const ix = res.body.index;
      t.is(ix.leafIndex, Number(qcp.treeSize) - 1);
      const leaf = parseIndexLeaf(fromB64(ix.entry));
      t.is(leaf.size, qcp.treeSize - 1n);
      verifyInclusion(
        BigInt(ix.leafIndex),
        qcp.treeSize,
        hashLeaf(fromB64(ix.entry)),
        ix.inclusionProof.map(fromB64),
        qcp.rootHash,
      );
      t.is(ix.lookups.length, 1);
      const [l] = ix.lookups;
      t.like(l, { by: 'id', value: 'sha256:aaaa' });
      const proved = verifyLookup(identifierMapKey('sha256:aaaa'), parseLookupProof(l.proof), leaf.root);
      t.is(proved.count, BigInt(l.count));
      t.is(base64Encode(proved.chain), l.chain);
      lookup = { count: l.count, chain: l.chain };
      cursor = res.body.next;
      if (cursor !== null)
        t.regex(cursor, new RegExp(`^${qcp.treeSize}\\.[0-9]+$`), 'the cursor pins the size');
      pages++;
    } while (cursor !== null && pages < 10);
    t.deepEqual(byId, [0, 2, 3]);
    t.is(pageCheckpoints.size, 1, 'every page answers against the first page checkpoint');
    t.deepEqual(
      lookup,
      { count: 3, chain: base64Encode(chainOf([0n, 2n, 3n])) },
      'complete: count and chain match',
    );
    // GET /v1/index gives the same checkpoint and index without the entries; an absent key proves count 0.
    const onlyIndex = await getJson(`${url}/v1/index?id=sha256:aaaa`);
    t.is(onlyIndex.status, 200);
    t.is(onlyIndex.body.attestations, undefined);
    t.is(onlyIndex.body.index.lookups[0].count, 3);
    const absent = await getJson(`${url}/v1/index?key=${'AB'.repeat(20)}`);
    t.is(absent.body.index.lookups[0].count, 0);
    t.is(absent.body.index.lookups[0].chain, base64Encode(new Uint8Array(32)));
    t.true(pages >= 2, 'three answers over a page limit of 2 take two pages');

    // By key (lower-case hex accepted), and by both.
    const byKey = await getJson(`${url}/v1/attestations?key=${bob.fingerprint.toLowerCase()}`);
    t.is(byKey.status, 200);
    t.deepEqual(
      byKey.body.attestations.map((it: { index: number }) => it.index),
      [2],
    );
    t.is(byKey.body.next, null);
    const both = await getJson(`${url}/v1/attestations?id=sha256:bbbb&key=${alice.fingerprint}`);
    t.deepEqual(
      both.body.attestations.map((it: { index: number }) => it.index),
      [1],
    );
    const none = await getJson(`${url}/v1/attestations?id=sha256:bbbb&key=${bob.fingerprint}`);
    t.deepEqual(none.body.attestations, []);

    // Keys: stored by publish, served armored.
    const keyRes = await fetch(`${url}/v1/keys/${alice.fingerprint}`);
    t.is(keyRes.status, 200);
    t.regex(keyRes.headers.get('content-type') ?? '', /^application\/pgp-keys/);
    t.regex(await keyRes.text(), /BEGIN PGP PUBLIC KEY BLOCK/);

    // Proof endpoints agree with the checkpoint.
    const incl = await getJson(`${url}/v1/proof/inclusion?index=2&size=5`);
    t.is(incl.status, 200);
    verifyInclusion(
      2n,
      5n,
      hashLeaf(fromB64(receipts[2]!.entry)),
      incl.body.inclusionProof.map(fromB64),
      cp.rootHash,
    );
    const entries = await getJson(`${url}/v1/entries?start=1&limit=2`);
    t.deepEqual(
      entries.body.entries.map((e: { index: number; entry: string }) => [e.index, e.entry]),
      [
        [1, receipts[1]!.entry],
        [2, receipts[2]!.entry],
      ],
    );
  } finally {
    await server.close();
  }
});

backendTest(test, '/sig round trip, headers, /healthz, /metrics', async (t, b) => {
  const server = await startTestServer(testConfig(b));
  try {
    const url = server.url;
    const carol = await makeSigner('Carol');
    const id = 'https://example.org/releases/v1.0.tar.gz';
    const att = await attest(carol, id, { reviewed: true });

    // The Signet Node client needs the key known first.
    const unknown = await postJson(`${url}/sig`, { attestations: [att] });
    t.is(unknown.status, 422);
    t.is(unknown.body.ok, false);
    t.regex(unknown.body.error, /key/i);

    const put = await postJson(`${url}/v1/keys`, { keys: [carol.armoredPublicKey] });
    t.is(put.status, 200, JSON.stringify(put.body));
    t.deepEqual(put.body.fingerprints, [carol.fingerprint]);

    const posted = await postJson(`${url}/sig`, { attestations: [att] });
    t.is(posted.status, 200, JSON.stringify(posted.body));
    t.deepEqual(posted.body, { ok: true });

    const got = await getJson(`${url}/sig/${encodeURIComponent(id)}`);
    t.is(got.status, 200);
    t.deepEqual(got.body, { ok: true, attestations: [att] });
    const empty = await getJson(`${url}/sig/sha256:none`);
    t.deepEqual(empty.body, { ok: true, attestations: [] });

    // Security headers everywhere, CORS on reads, a request id echoed.
    const res = await fetch(`${url}/v1/server`, { headers: { 'x-request-id': 'test-req-1' } });
    t.is(res.status, 200);
    t.is(res.headers.get('x-request-id'), 'test-req-1');
    t.is(res.headers.get('x-content-type-options'), 'nosniff');
    t.is(res.headers.get('referrer-policy'), 'no-referrer');
    t.is(res.headers.get('x-frame-options'), 'DENY');
    t.regex(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    t.is(res.headers.get('x-powered-by'), null);
    t.is(res.headers.get('access-control-allow-origin'), '*');
    // biome-ignore lint/suspicious/noExplicitAny: wire JSON
    const info = (await res.json()) as Record<string, any>;
    t.is(info.version, '0.1.0');
    t.is(info.limits.maxAttestationsPerRequest, 100);
    t.deepEqual(info.intervals, { checkpointMs: 50, republishMs: 600000 });
    const generated = await fetch(`${url}/healthz`);
    t.regex(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    t.deepEqual(await generated.json(), { ok: true, treeSize: 2 }, 'one attestation and its index leaf');

    const pre = await fetch(`${url}/v1/attestations`, { method: 'OPTIONS' });
    t.is(pre.status, 204);
    t.is(pre.headers.get('access-control-allow-methods'), 'GET, HEAD');

    const metrics = await fetch(`${url}/metrics`);
    t.is(metrics.status, 200);
    const text = await metrics.text();
    t.regex(text, /^sig_publishes_accepted_total 1$/m);
    t.regex(text, /^sig_tree_size 2$/m);
    t.deepEqual(info.index, { version: 1 }, '/v1/server advertises the index');
    t.regex(text, /^sig_http_rejections_total\{code="KEY_UNKNOWN"\} 1$/m);
    t.regex(text, /^sig_backlog 0$/m);
  } finally {
    await server.close();
  }
});
