/**
 * The index over HTTP (SPEC.md "Query answers"), on a real server: a query paged while the log grows
 * answers every page against the first page's checkpoint (the cursor `<size>.<after>` pins it) and
 * repeats the same index object, whose lookup proves the count and chain of every entry returned across
 * the pages; the next query without a cursor sees the new checkpoint and a larger count. Bad cursors and
 * queries get 4xx naming the field. /v1/index matches the answer's index; /sig never returns index
 * leaves; the entries feed does.
 */
import test from 'ava';
import { base64Encode } from '../log/bytes.js';
import {
  chainOf,
  classifyEntry,
  identifierMapKey,
  parseIndexLeaf,
  parseLookupProof,
  verifyLookup,
} from '../log/index-map.js';
import { fromB64 } from './helpers/bytes.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  serverKeys,
  startTestServer,
  testConfig,
  verifyCheckpointNote,
} from './helpers/http.js';
import { backendTest } from './helpers/stores.js';

const ID = `sha256:${'c0'.repeat(32)}`;

backendTest(
  test,
  'pages pin the first checkpoint while the log grows; the lookup proves them complete',
  async (t, b) => {
    const server = await startTestServer(testConfig(b, { 'checkpoint-interval-ms': 20 }));
    try {
      const url = server.url;
      const keys = await serverKeys(url);
      const alice = await makeSigner('Alice');
      const first = [0, 1, 2].map((i) => attest(alice, ID, { n: i }));
      const pub = await postJson(`${url}/v1/attestations`, {
        attestations: await Promise.all(first),
        keys: [alice.armoredPublicKey],
      });
      t.is(pub.status, 200, JSON.stringify(pub.body));

      const page1 = await getJson(`${url}/v1/attestations?id=${ID}&limit=1`);
      t.is(page1.status, 200, JSON.stringify(page1.body));
      const cp = await verifyCheckpointNote(page1.body.checkpoint, keys);
      t.regex(page1.body.next, new RegExp(`^${cp.treeSize}\\.\\d+$`));

      // The log grows between pages.
      const more = await postJson(`${url}/v1/attestations`, {
        attestations: [await attest(alice, ID, { n: 3 })],
      });
      t.is(more.status, 200, JSON.stringify(more.body));
      const newer = await getJson(`${url}/v1/index?id=${ID}`);
      t.true((await verifyCheckpointNote(newer.body.checkpoint, keys)).treeSize > cp.treeSize);
      t.is(newer.body.index.lookups[0].count, 4, 'a new query sees the new checkpoint');

      const indexes: bigint[] = [];
      let cursor: string | null = null;
      let body = page1.body;
      for (let pages = 0; ; pages++) {
        t.is(body.checkpoint, page1.body.checkpoint, 'every page answers against the first page checkpoint');
        t.deepEqual(body.index, page1.body.index, 'and repeats its index');
        for (const it of body.attestations) indexes.push(BigInt(it.index));
        cursor = body.next;
        if (cursor === null || pages > 5) break;
        const res = await getJson(`${url}/v1/attestations?id=${ID}&limit=1&cursor=${cursor}`);
        t.is(res.status, 200, JSON.stringify(res.body));
        body = res.body;
      }
      t.is(indexes.length, 3, 'the three entries of that checkpoint, not the fourth');
      const leaf = parseIndexLeaf(fromB64(page1.body.index.entry));
      t.is(leaf.size, cp.treeSize - 1n);
      const l = page1.body.index.lookups[0];
      const proved = verifyLookup(identifierMapKey(ID), parseLookupProof(l.proof), leaf.root);
      t.is(proved.count, 3n);
      t.is(base64Encode(proved.chain), base64Encode(chainOf(indexes)), 'the chain over every page');

      // Bad cursors and queries: 4xx naming the field; a size this log never signed is 404.
      for (const [q, status] of [
        [`id=${ID}&cursor=abc`, 400],
        [`id=${ID}&cursor=3.3`, 400],
        [`id=${ID}&cursor=1.x`, 400],
        [`id=${ID}&cursor=${cp.treeSize + 1000n}.0`, 404],
      ] as const) {
        const res = await getJson(`${url}/v1/attestations?${q}`);
        t.is(res.status, status, `${q}: ${JSON.stringify(res.body)}`);
        t.is(res.body.error.details.field, 'cursor', q);
      }
      const noParam = await getJson(`${url}/v1/index`);
      t.is(noParam.status, 400);
      t.is(noParam.body.error.details.field, 'id');

      // Index leaves: in the feed, never in /sig.
      const sig = await getJson(`${url}/sig/${encodeURIComponent(ID)}`);
      t.is(sig.body.attestations.length, 4);
      const feed = await getJson(`${url}/v1/entries?start=0&limit=100`);
      const kinds = feed.body.entries.map((e: { entry: string }) => classifyEntry(fromB64(e.entry)).kind);
      t.true(kinds.includes('index'));
      t.is(kinds.filter((k: string) => k === 'attestation').length, 4);
    } finally {
      await server.close();
    }
  },
);
