/**
 * A peer that forks (SPEC.md "Gossip"): two server processes share one log's keys and origin but hold
 * different entries (a split view). A follower that kept the first one's checkpoint and then is shown
 * the second's (a proxy switches targets) stores verifiable evidence (both signed checkpoints, the
 * consistency proof from the second tree's own tiles and the root it gives at the kept size), stops
 * following, reports `forked` on /v1/peers and sig_peer_forked on /metrics, and carries nothing of the
 * forked tree. The evidence checks out with cli/fork-evidence.ts (what `sig audit --evidence` runs) and
 * with `sig audit --evidence <url>`; tampered evidence does not. A peer that rolls back (a smaller tree
 * after a larger one) is caught the same way, as a rollback.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { checkEvidence } from '../cli/fork-evidence.js';
import { checkBuilt, sigJson, tempDir } from './cli-harness.js';
import { attest, getJson, makeSigner, postJson } from './helpers/http.js';
import { pgliteBackend, type StoreBackend } from './helpers/stores.js';
import {
  follow,
  type PeerProxy,
  type PeerServer,
  startPeerServer,
  startProxy,
  treeSize,
  waitPeer,
} from './peers-harness.js';

const backends: StoreBackend[] = [];
const servers: PeerServer[] = [];
const proxies: PeerProxy[] = [];

test.after.always(async () => {
  await Promise.allSettled(proxies.map((p) => p.close()));
  await Promise.allSettled(servers.map((s) => s.close()));
  await Promise.allSettled(backends.map((b) => b.cleanup()));
});

test('a forked peer: evidence stored and served, following stops, sig audit --evidence proves it', async (t) => {
  checkBuilt();
  const [b1, b2, bf] = await Promise.all([
    pgliteBackend('peers-fork-1'),
    pgliteBackend('peers-fork-2'),
    pgliteBackend('peers-fork-f'),
  ]);
  backends.push(b1!, b2!, bf!);
  const one = await startPeerServer('split', b1!);
  servers.push(one);
  // The second process has the same keys and origin, and its own database: a split view.
  const two = await startPeerServer('split', b2!, {
    'note-key-file': join(b1!.dataDir, 'note.key'),
    'openpgp-key-file': join(b1!.dataDir, 'openpgp.key'),
  });
  servers.push(two);
  t.is(two.vkey, one.vkey);
  const f = await startPeerServer('follower', bf!);
  servers.push(f);

  const alice = await makeSigner('Alice');
  const publish = async (url: string, ids: string[]) => {
    const atts = await Promise.all(ids.map((id) => attest(alice, id)));
    const r = await postJson(`${url}/v1/attestations`, {
      attestations: atts,
      keys: [alice.armoredPublicKey],
    });
    t.is(r.status, 200, JSON.stringify(r.body));
  };
  await publish(one.url, ['sha256:one']);
  await publish(two.url, ['sha256:two-a', 'sha256:two-b', 'sha256:two-c']);
  const size1 = await treeSize(one.url);
  t.true((await treeSize(two.url)) > size1);

  const proxy = await startProxy(one.url);
  proxies.push(proxy);
  follow(f, [{ url: proxy.url, vkey: one.vkey }]);
  await waitPeer(f.url, proxy.url, 'the follower carried the first view', (p) => p.carried === size1);

  proxy.target = two.url;
  const forked = await waitPeer(f.url, proxy.url, 'the follower saw the fork', (p) => p.state === 'forked');
  t.is(forked.evidence.length, 1);
  const e = forked.evidence[0];
  t.is(e.kind, 'proof-invalid');
  t.is(e.vkey, one.vkey);
  t.truthy(e.prefixRoot);
  t.true(e.consistencyProof.length > 0);
  t.regex(forked.lastError.message, /^PEER_FORKED/);
  t.is(forked.verified.treeSize, size1, 'the forked tree was never kept');
  t.is(forked.carried, size1);
  const r = await getJson(`${f.url}/v1/attestations?id=sha256:two-a`);
  t.is(r.body.attestations.length, 0, 'nothing of the forked tree was carried');
  t.is((await getJson(`${f.url}/v1/attestations?id=sha256:one`)).body.attestations.length, 1);

  const metrics = await (await fetch(`${f.url}/metrics`)).text();
  t.regex(metrics, new RegExp(`sig_peer_forked\\{peer="${proxy.url}"\\} 1`));
  // Following stopped: no checkpoint is asked for during ten poll intervals.
  const asked = proxy.requests.filter((p) => p === '/log/checkpoint').length;
  await new Promise((res) => setTimeout(res, 1000));
  t.is(proxy.requests.filter((p) => p === '/log/checkpoint').length, asked);

  // The evidence proves the fork by itself, with the pinned key.
  const report = await checkEvidence(e, one.vkey);
  t.is(report.verdict, 'fork');
  t.true(report.pinned);
  // Tampered evidence proves nothing.
  const flipped = { ...e, consistencyProof: [...e.consistencyProof] };
  flipped.consistencyProof[0] = Buffer.from(
    Buffer.from(e.consistencyProof[0], 'base64').map((b, i) => (i === 0 ? b ^ 1 : b)),
  ).toString('base64');
  await t.throwsAsync(checkEvidence(flipped, one.vkey), { message: /does not lead from the prefix root/ });
  await t.throwsAsync(
    checkEvidence({ ...e, prefixRoot: Buffer.from(new Uint8Array(32)).toString('base64') }, one.vkey),
  );
  await t.throwsAsync(checkEvidence(e, f.vkey), { message: /not a checkpoint signed by/ });

  // sig audit --evidence: from a file and from the server's URL.
  const home = tempDir('peers-fork-audit');
  const file = join(home, 'peers.json');
  writeFileSync(file, JSON.stringify((await getJson(`${f.url}/v1/peers`)).body));
  const a1 = await sigJson(home, ['audit', '--evidence', file, '--vkey', one.vkey]);
  t.is(a1.code, 5, a1.stdout + a1.stderr);
  t.is(a1.json.evidence[0].verdict, 'fork');
  t.true(a1.json.evidence[0].pinned);
  const a2 = await sigJson(home, ['audit', '--evidence', `${f.url}/v1/peers`]);
  t.is(a2.code, 5, a2.stdout + a2.stderr);
  t.false(a2.json.evidence[0].pinned);
  const a3 = await sigJson(home, ['audit', '--evidence', file, '--vkey', f.vkey]);
  t.is(a3.code, 1, a3.stdout + a3.stderr);

  // A rollback: a follower that kept the larger tree is then shown the smaller one.
  const br = await pgliteBackend('peers-fork-r');
  backends.push(br);
  const fr = await startPeerServer('rollback-follower', br);
  servers.push(fr);
  const back = await startProxy(two.url);
  proxies.push(back);
  const size2 = await treeSize(two.url);
  follow(fr, [{ url: back.url, vkey: one.vkey }]);
  await waitPeer(
    fr.url,
    back.url,
    'the follower kept the larger tree',
    (p) => p.verified?.treeSize === size2,
  );
  back.target = one.url;
  const rolled = await waitPeer(
    fr.url,
    back.url,
    'the follower saw the rollback',
    (p) => p.state === 'forked',
  );
  t.is(rolled.evidence[0].kind, 'rollback');
  t.is(rolled.verified.treeSize, size2, 'the smaller tree was never kept');
  const rb = await checkEvidence(rolled.evidence[0], one.vkey);
  t.is(rb.verdict, 'rollback');
  const a4 = await sigJson(home, ['audit', '--evidence', `${fr.url}/v1/peers`, '--vkey', one.vkey]);
  t.is(a4.code, 4, a4.stdout + a4.stderr);
});
