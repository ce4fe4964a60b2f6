/**
 * Peering (SPEC.md "Gossip: servers that follow each other"), three real servers in a ring: A follows B,
 * B follows C, C follows A, each on its own database (A on Postgres when it answers, B and C on PGlite).
 * An attestation published to A is answered by B and C, each with an inclusion proof in its own tree
 * under its own signed checkpoint; loops are harmless (A holds it once). /v1/peers and /metrics report
 * what each follower carried.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { hashLeaf } from '../log/hash.js';
import { verifyInclusion } from '../log/proof.js';
import { checkBuilt, defaultFingerprint, sig, sigJson, tempDir } from './cli-harness.js';
import { fromB64 } from './helpers/bytes.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  serverKeys,
  verifyCheckpointNote,
  waitFor,
} from './helpers/http.js';
import { pgliteBackend, postgresBackend, type StoreBackend } from './helpers/stores.js';
import { follow, type PeerServer, peersOf, startPeerServer, waitPeer } from './peers-harness.js';

const backends: StoreBackend[] = [];
const servers: PeerServer[] = [];

test.after.always(async () => {
  await Promise.allSettled(servers.map((s) => s.close()));
  await Promise.allSettled(backends.map((b) => b.cleanup()));
});

/** answer returns the verified items of GET /v1/attestations?id= on `url` (proofs checked by its keys). */
async function answer(url: string, id: string): Promise<{ index: bigint; entry: string }[]> {
  const keys = await serverKeys(url);
  const r = await getJson(`${url}/v1/attestations?id=${encodeURIComponent(id)}`);
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  const cp = await verifyCheckpointNote(r.body.checkpoint, keys);
  return r.body.attestations.map((a: { index: number; entry: string; inclusionProof: string[] }) => {
    verifyInclusion(
      BigInt(a.index),
      cp.treeSize,
      hashLeaf(fromB64(a.entry)),
      a.inclusionProof.map(fromB64),
      cp.rootHash,
    );
    return { index: BigInt(a.index), entry: a.entry };
  });
}

test('a ring of three: publish to A, B and C answer it with their own proofs, loops store it once, sig verify --remote against B sees a revocation published to A', async (t) => {
  const pg = await postgresBackend('peers-ring-a');
  const bA = pg ?? (await pgliteBackend('peers-ring-a'));
  const bB = await pgliteBackend('peers-ring-b');
  const bC = await pgliteBackend('peers-ring-c');
  backends.push(bA, bB, bC);
  const [a, b, c] = await Promise.all([
    startPeerServer('a', bA),
    startPeerServer('b', bB),
    startPeerServer('c', bC),
  ]);
  servers.push(a!, b!, c!);
  follow(a!, [{ url: b!.url, vkey: b!.vkey }]);
  follow(b!, [{ url: c!.url, vkey: c!.vkey }]);
  follow(c!, [{ url: a!.url, vkey: a!.vkey }]);

  const alice = await makeSigner('Alice');
  const id = `sha256:${'a1'.repeat(32)}`;
  const att = await attest(alice, id, { comment: 'published to A only' });
  const pub = await postJson(`${a!.url}/v1/attestations`, {
    attestations: [att],
    keys: [alice.armoredPublicKey],
  });
  t.is(pub.status, 200, JSON.stringify(pub.body));

  for (const s of [c!, b!]) {
    const got = await waitFor(`${s.url} answers ${id}`, async () => {
      const items = await answer(s.url, id);
      return items.length > 0 ? items : undefined;
    });
    t.is(got.length, 1);
    const entry = JSON.parse(Buffer.from(got[0]!.entry, 'base64').toString('utf8'));
    t.deepEqual(entry.attestation, JSON.parse(JSON.stringify(att)));
    // Each server's own key is there too (merged from the peer under the verified rule).
    const key = await fetch(`${s.url}/v1/keys/${alice.fingerprint}`);
    t.is(key.status, 200);
  }

  // The loop closes: A carries B's copy back, and dedup keeps one entry in A.
  const bSize = (await getJson(`${b!.url}/healthz`)).body.treeSize as number;
  const viaB = await waitPeer(
    a!.url,
    b!.url,
    'A carried all of B',
    (p) => p.carried >= bSize && p.state === 'following',
  );
  t.true(viaB.counts.attestations >= 1);
  t.is((await answer(a!.url, id)).length, 1);
  t.is((await answer(b!.url, id)).length, 1);

  const [onB] = await peersOf(b!.url);
  t.is(onB.url, c!.url);
  t.is(onB.vkey, c!.vkey);
  t.is(onB.origin, 'c.test/log');
  t.is(onB.state, 'following');
  t.true(onB.verified.treeSize >= 1);
  t.truthy(onB.verified.checkpoint);
  t.is(onB.lag.entries, onB.verified.treeSize - onB.carried);
  t.deepEqual(onB.evidence, []);
  const metrics = await (await fetch(`${b!.url}/metrics`)).text();
  t.regex(metrics, new RegExp(`sig_peer_attestations_total\\{peer="${c!.url}"\\} [1-9]`));

  // sig verify --remote against B alone sees what is published to A: first ok, then a revocation.
  checkBuilt();
  const home = tempDir('peers-pub');
  t.is((await sig(home, ['key', 'generate', '--name', 'Publisher'])).code, 0);
  const fpA = a!.service.info().openpgpFingerprint;
  t.is((await sig(home, ['server', 'add', a!.url, '--fingerprint', fpA])).code, 0);
  const signer = await defaultFingerprint(home);
  const file = join(tempDir('peers-resource'), 'resource.bin');
  writeFileSync(file, `resource published to A only ${Math.random()}\n`);
  t.is((await sig(home, ['attest', file, '--ok'])).code, 0);
  const p1 = await sig(home, ['publish', file]);
  t.is(p1.code, 0, p1.stderr);
  const verifier = tempDir('peers-verifier');
  const fpB = b!.service.info().openpgpFingerprint;
  t.is((await sig(verifier, ['server', 'add', b!.url, '--fingerprint', fpB])).code, 0);
  t.is((await sig(verifier, ['trust', 'add', signer])).code, 0);
  const ok = await waitFor('B answers the ok', async () => {
    const v = await sigJson(verifier, ['verify', file, '--remote']);
    return v.code === EXIT.OK ? v : undefined;
  });
  t.is(ok.json.verdict, 'trusted');
  t.deepEqual(
    ok.json.servers.map((x: { url: string }) => x.url),
    [b!.url],
  );
  // The revocation (signature times have one-second resolution: let the clock pass the first).
  const first = Date.parse(ok.json.attestations[0].signedAt);
  while (Date.now() < first + 1100) await new Promise((r) => setTimeout(r, 50));
  t.is((await sig(home, ['attest', file, '--not-ok', '--comment', 'revoked'])).code, 0);
  t.is((await sig(home, ['publish', file])).code, 0);
  const bad = await waitFor('B answers the revocation', async () => {
    const v = await sig(verifier, ['verify', file, '--remote']);
    return v.code === EXIT.NOT_TRUSTED ? v : undefined;
  });
  t.regex(bad.stdout, /MARKED BAD/);
});
