/**
 * The tlog-tiles read path over HTTP after more than 256 publishes (so level-0 has a full tile and a
 * partial one): every tile the checkpoint's tree has (log/tiles.ts tilesForSize, entryBundlesForSize)
 * agrees with a tree recomputed here from the entry bundles with the naive RFC 6962 reference
 * (test/reference.ts, node:crypto SHA-256), with the right cache headers; consistency proofs from /v1/proof/consistency
 * between a sample of sizes verify against roots recomputed from the entries. On PGlite and Postgres.
 */
import test from 'ava';
import { hashLeaf } from '../log/hash.js';
import { verifyConsistency } from '../log/proof.js';
import {
  decodeEntryBundle,
  decodeHashTile,
  entryBundlesForSize,
  tilePath,
  tilesForSize,
} from '../log/tiles.js';
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
import { replayIndex } from './helpers/index-replay.js';
import { backendTest } from './helpers/stores.js';
import { refLeafHash, refMth, refTiles } from './reference.js';

const N = 300;
const PER_REQUEST = 50;

backendTest(test, 'tiles over HTTP agree with a recomputed tree; consistency proofs verify', async (t, b) => {
  const server = await startTestServer(testConfig(b, { 'max-attestations-per-request': PER_REQUEST }));
  try {
    const url = server.url;
    const keys = await serverKeys(url);
    const dave = await makeSigner('Dave');
    const atts = [];
    for (let i = 0; i < N; i++) atts.push(await attest(dave, `sha256:${i.toString(16).padStart(64, '0')}`));
    for (let i = 0; i < N; i += PER_REQUEST) {
      const res = await postJson(`${url}/v1/attestations`, {
        attestations: atts.slice(i, i + PER_REQUEST),
        keys: [dave.armoredPublicKey],
      });
      t.is(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    }
    const cp = await verifyCheckpointNote(await (await fetch(`${url}/log/checkpoint`)).text(), keys);
    t.true(cp.treeSize > BigInt(N), 'the attestations and the index leaves after them');

    // Entries from the bundles; leaf hashes from the entries.
    const entries: Uint8Array[] = [];
    for (const bundle of entryBundlesForSize(cp.treeSize)) {
      const res = await fetch(`${url}/log/${tilePath(bundle)}`);
      t.is(res.status, 200, tilePath(bundle));
      t.is(res.headers.get('content-type'), 'application/octet-stream');
      t.is(
        res.headers.get('cache-control'),
        bundle.width === 256 ? 'public, max-age=31536000, immutable' : 'public, max-age=5',
      );
      entries.push(...decodeEntryBundle(new Uint8Array(await res.arrayBuffer()), bundle.width));
    }
    t.is(entries.length, Number(cp.treeSize));
    t.is(replayIndex(entries).attestations.length, N);
    const leafHashes = entries.map(refLeafHash);
    t.deepEqual(hashLeaf(entries[0]!), leafHashes[0]);
    t.deepEqual(refMth(leafHashes), cp.rootHash);

    // The feed agrees with the bundles.
    const feed = await getJson(`${url}/v1/entries?start=250&limit=20`);
    t.deepEqual(
      feed.body.entries.map((e: { entry: string }) => Buffer.from(e.entry, 'base64')),
      entries.slice(250, 270).map((e) => Buffer.from(e)),
    );

    // Every hash tile, byte for byte against the reference tiles (c2sp.org/tlog-tiles from MTH).
    const tiles = tilesForSize(cp.treeSize);
    const want = refTiles(leafHashes);
    t.deepEqual(tiles.map(tilePath).sort(), [...want.keys()].sort());
    t.true(tiles.some((x) => x.level === 0 && x.width === 256));
    t.true(tiles.some((x) => x.level === 1));
    for (const tile of tiles) {
      const res = await fetch(`${url}/log/${tilePath(tile)}`);
      t.is(res.status, 200, tilePath(tile));
      t.is(
        res.headers.get('cache-control'),
        tile.width === 256 ? 'public, max-age=31536000, immutable' : 'public, max-age=5',
      );
      const data = new Uint8Array(await res.arrayBuffer());
      t.deepEqual(data, want.get(tilePath(tile)), tilePath(tile));
      t.is(decodeHashTile(data, tile.width).length, tile.width);
    }
    // A partial tile wider than the tree is not there.
    t.true(cp.treeSize < 512n);
    t.is((await fetch(`${url}/log/tile/0/001.p/${Number(cp.treeSize) - 256 + 1}`)).status, 404);

    // Consistency proofs between a sample of sizes, against recomputed roots.
    const sizes = [1, 2, 3, 7, 8, 100, 255, 256, 257, 299, 300];
    for (const from of sizes) {
      for (const to of sizes) {
        if (from > to) continue;
        const res = await getJson(`${url}/v1/proof/consistency?from=${from}&to=${to}`);
        t.is(res.status, 200, `${from}->${to}`);
        t.deepEqual([res.body.from, res.body.to], [from, to]);
        verifyConsistency(
          BigInt(from),
          BigInt(to),
          res.body.consistencyProof.map(fromB64),
          refMth(leafHashes.slice(0, from)),
          refMth(leafHashes.slice(0, to)),
        );
      }
    }
    // A flipped bit in a served proof must fail (the check above is not vacuous).
    const res = await getJson(`${url}/v1/proof/consistency?from=7&to=300`);
    const proof = res.body.consistencyProof.map(fromB64);
    proof[0][0] ^= 1;
    t.throws(() =>
      verifyConsistency(7n, 300n, proof, refMth(leafHashes.slice(0, 7)), refMth(leafHashes.slice(0, 300))),
    );
  } finally {
    await server.close();
  }
});
