/**
 * Only the integrating process follows, and it hands over (server/peers/lock.ts): two server processes
 * share one Postgres database and one PEERS file; exactly one of them runs follower rounds (its
 * sig_peer_rounds_total grows, the other's stays 0). SIGKILL it: Postgres ends its session, the lock is
 * free, and the other process takes over and carries what the peer logs next. Postgres only (PGlite is
 * one process per database); skipped with a note when Postgres does not answer and PG_REQUIRED is unset.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { type ChildServer, spawnServer } from './helpers/child-server.js';
import { attest, getJson, makeSigner, postJson, waitFor } from './helpers/http.js';
import { pgliteBackend, postgresBackend, type StoreBackend } from './helpers/stores.js';
import { type PeerServer, startPeerServer, treeSize, waitPeer } from './peers-harness.js';

const backends: StoreBackend[] = [];
const children: ChildServer[] = [];
let peer: PeerServer | undefined;

test.after.always(async () => {
  await Promise.allSettled(children.map((c) => c.kill()));
  await peer?.close();
  await Promise.allSettled(backends.map((b) => b.cleanup()));
});

/** rounds returns sig_peer_rounds_total of the process at `url` for `peerUrl` (0 when absent). */
async function rounds(url: string, peerUrl: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^sig_peer_rounds_total\\{peer="${peerUrl}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('one process of a shared database follows; killed, another takes over', async (t) => {
  const pg = await postgresBackend('peers-handover');
  if (!pg) {
    t.log('Postgres not reachable: nothing to hand over on PGlite (one process per database)');
    t.pass();
    return;
  }
  const bp = await pgliteBackend('peers-handover-peer');
  backends.push(pg, bp);
  peer = await startPeerServer('handover-peer', bp);
  const alice = await makeSigner('Alice');
  const publish = async (id: string) => {
    const r = await postJson(`${peer!.url}/v1/attestations`, {
      attestations: [await attest(alice, id)],
      keys: [alice.armoredPublicKey],
    });
    t.is(r.status, 200);
  };
  await publish('sha256:before');

  const peersFile = join(pg.dataDir, 'peers.txt');
  writeFileSync(peersFile, `peer ${peer.url} ${peer.vkey}\n`);
  const env = {
    DATA_DIR: pg.dataDir,
    DATABASE_URL: pg.databaseUrl!,
    ORIGIN: 'handover.test/log',
    PEERS: peersFile,
    CHECKPOINT_INTERVAL_MS: '50',
    BATCH_MAX_AGE_MS: '5',
  };
  const one = await spawnServer({ env });
  children.push(one);
  const two = await spawnServer({ env });
  children.push(two);
  const leader = await waitFor('one process following', async () => {
    const [a, b] = [await rounds(one.url, peer!.url), await rounds(two.url, peer!.url)];
    if (a > 2 && b === 0) return one;
    if (b > 2 && a === 0) return two;
    return undefined;
  });
  const other = leader === one ? two : one;
  t.is(await rounds(other.url, peer.url), 0, 'the other process does not follow');
  await waitFor('before carried', async () =>
    (await getJson(`${other.url}/v1/attestations?id=sha256:before`)).body.attestations.length > 0
      ? true
      : undefined,
  );

  await leader.kill('SIGKILL');
  await publish('sha256:after');
  const size = await treeSize(peer.url);
  await waitFor(
    'the other process took over',
    async () => ((await rounds(other.url, peer!.url)) > 0 ? true : undefined),
    60_000,
  );
  const done = await waitPeer(
    other.url,
    peer.url,
    'carried after the takeover',
    (p) => p.carried >= size,
    60_000,
  );
  t.is(done.state, 'following');
  await waitFor('after carried', async () =>
    (await getJson(`${other.url}/v1/attestations?id=sha256:after`)).body.attestations.length > 0
      ? true
      : undefined,
  );
  t.is((await getJson(`${other.url}/v1/attestations?id=sha256:before`)).body.attestations.length, 1);
});
