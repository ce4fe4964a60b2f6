/**
 * A follower killed mid-round (SIGKILL of its server process, server/main.ts with a PEERS file, while a
 * request for the peer's second entry bundle is held by a proxy) resumes from its stored position on
 * restart: every attestation of the peer ends up in the follower's log exactly once, nothing is lost,
 * and the first bundle, carried before the kill, is not read again. The follower's database is Postgres
 * when it answers (the peers lock is then a session advisory lock: the killed process's session ends
 * and the restarted one takes it), else PGlite.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { classifyEntry } from '../log/index-map.js';
import { type ChildServer, presign, spawnServer } from './helpers/child-server.js';
import { getJson, makeSigner, postJson } from './helpers/http.js';
import { pgliteBackend, postgresBackend, type StoreBackend } from './helpers/stores.js';
import {
  type PeerProxy,
  type PeerServer,
  startPeerServer,
  startProxy,
  treeSize,
  waitPeer,
} from './peers-harness.js';

const backends: StoreBackend[] = [];
const children: ChildServer[] = [];
let peer: PeerServer | undefined;
let proxy: PeerProxy | undefined;

test.after.always(async () => {
  await Promise.allSettled(children.map((c) => c.kill()));
  await proxy?.close();
  await peer?.close();
  await Promise.allSettled(backends.map((b) => b.cleanup()));
});

/** attestationIds returns the data.id of every attestation entry of the log at `url`, in log order. */
async function attestationIds(url: string): Promise<string[]> {
  const ids: string[] = [];
  const size = await treeSize(url);
  for (let start = 0; start < size; ) {
    const r = await getJson(`${url}/v1/entries?start=${start}&limit=100`);
    if (r.body.entries.length === 0) break;
    for (const e of r.body.entries as { entry: string }[]) {
      const k = classifyEntry(new Uint8Array(Buffer.from(e.entry, 'base64')));
      if (k.kind === 'attestation') ids.push(k.attestation.data.id);
    }
    start += r.body.entries.length;
  }
  return ids;
}

test('killed mid-round, the follower resumes where it stopped: nothing lost, nothing twice, no re-read', async (t) => {
  const bp = await pgliteBackend('peers-restart-peer');
  const bf = (await postgresBackend('peers-restart-f')) ?? (await pgliteBackend('peers-restart-f'));
  backends.push(bp, bf);
  peer = await startPeerServer('restart-peer', bp);
  const signers = await Promise.all([makeSigner('Alice'), makeSigner('Bob')]);
  const atts = await presign(signers, 600, 'sha256:restart');
  for (let i = 0; i < atts.length; i += 100) {
    const r = await postJson(`${peer.url}/v1/attestations`, {
      attestations: atts.slice(i, i + 100),
      keys: signers.map((s) => s.armoredPublicKey),
    });
    t.is(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  }
  const size = await treeSize(peer.url);
  t.true(size > 512, 'three entry bundles');

  proxy = await startProxy(peer.url);
  const held = new Promise<void>((resolve) => {
    proxy!.onHold = () => resolve();
  });
  proxy.hold = /^\/log\/tile\/entries\/001/;
  const peersFile = join(bf.dataDir, 'peers.txt');
  writeFileSync(peersFile, `# the peer, through a proxy\npeer ${proxy.url} ${peer.vkey}\n`);
  const env = {
    DATA_DIR: bf.dataDir,
    ...(bf.databaseUrl ? { DATABASE_URL: bf.databaseUrl } : {}),
    ORIGIN: 'restart-follower.test/log',
    PEERS: peersFile,
    CHECKPOINT_INTERVAL_MS: '50',
    BATCH_MAX_AGE_MS: '5',
  };
  const first = await spawnServer({ env });
  children.push(first);
  await held;
  // The first bundle was carried (its position stored) before the second was asked for.
  const before = await waitPeer(first.url, proxy.url, 'the first bundle carried', (p) => p.carried === 256);
  t.is(before.state, 'following');
  await first.kill('SIGKILL');

  proxy.hold = undefined;
  const asked = proxy.requests.length;
  const second = await spawnServer({ env });
  children.push(second);
  const done = await waitPeer(
    second.url,
    proxy.url,
    'the whole peer log carried',
    (p) => p.carried === size,
    120_000,
  );
  t.is(done.lag.entries, 0);
  t.is(done.counts.attestations, 600);
  t.is(done.counts.invalid, 0);
  const after = proxy.requests.slice(asked);
  t.false(
    after.some((p) => p.startsWith('/log/tile/entries/000')),
    `re-read the first bundle: ${after.join(' ')}`,
  );
  t.true(after.some((p) => p.startsWith('/log/tile/entries/001')));

  // Every attestation of the peer is in the follower's log exactly once (dedup absorbed the re-read batch).
  const ids = await waitForIds(second.url, 600);
  t.is(ids.length, 600);
  t.is(new Set(ids).size, 600);
  t.deepEqual(new Set(ids), new Set(atts.map((a) => a.data.id)));
});

/** waitForIds waits until the log at `url` holds `n` attestations (the last batch may still integrate). */
async function waitForIds(url: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ids = await attestationIds(url);
    if (ids.length >= n || Date.now() > deadline) return ids;
    await new Promise((r) => setTimeout(r, 100));
  }
}
