/**
 * Hostile peers cost bounded memory and time, bad tiles are refused by name, and attestations over our
 * limits are skipped and counted (SPEC.md "Gossip";
 * server/peers/client.ts caps, tiles.ts authentication). One follower follows several peers at once:
 * - an honest server, one of whose attestations is over the follower's MAX_ATTESTATION_BYTES: the others
 *   are carried, that one is skipped and counted (/v1/peers, /metrics);
 * - a real server behind a proxy that flips a byte of an entry bundle: PEER_TILE_MISMATCH naming
 *   tile/entries/...; another that flips a byte of the level-0 tile: the right-edge tiles named;
 *   nothing carried from either;
 * - fake peers whose checkpoints are signed by their pinned keys (so only the bounds stop them): a tree
 *   of 2^63 entries (refused before any tile is asked for), an endless checkpoint body, a tile with a
 *   Content-Length of 1 GB, an endless tile body, a body that stalls, and 429 with Retry-After.
 * Each is refused with its code while the bytes the fake peers managed to send stay bounded.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { formatCheckpoint } from '../log/checkpoint.js';
import { ed25519Signer, generateEd25519Key, signNote } from '../log/note.js';
import { attest, makeSigner, postJson } from './helpers/http.js';
import { pgliteBackend, type StoreBackend } from './helpers/stores.js';
import {
  follow,
  type PeerProxy,
  type PeerServer,
  peersOf,
  startPeerServer,
  startProxy,
  treeSize,
  waitPeer,
} from './peers-harness.js';

const backends: StoreBackend[] = [];
const servers: PeerServer[] = [];
const proxies: PeerProxy[] = [];
const closers: (() => Promise<void>)[] = [];

test.after.always(async () => {
  await Promise.allSettled(closers.map((c) => c()));
  await Promise.allSettled(proxies.map((p) => p.close()));
  await Promise.allSettled(servers.map((s) => s.close()));
  await Promise.allSettled(backends.map((b) => b.cleanup()));
});

/** FakePeer is a raw HTTP server that signs checkpoints with its own key and answers as told. */
interface FakePeer {
  url: string;
  vkey: string;
  /** sent: body bytes written to the follower so far. */
  sent(): number;
  requests: string[];
}

async function fakePeer(
  name: string,
  treeSizeClaim: bigint,
  answer: (path: string, res: ServerResponse, count: (n: number) => void, checkpoint: string) => void,
): Promise<FakePeer> {
  const origin = `${name}.hostile.test/log`;
  const { skey, vkey } = generateEd25519Key(origin);
  const checkpoint = await signNote(
    formatCheckpoint({
      origin,
      treeSize: treeSizeClaim,
      rootHash: new Uint8Array(32).fill(7),
      extensions: [],
    }),
    [ed25519Signer(skey)],
  );
  let sent = 0;
  const requests: string[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    open.add(res);
    res.on('close', () => open.delete(res));
    answer(
      req.url ?? '',
      res,
      (n) => {
        sent += n;
      },
      checkpoint,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    vkey,
    sent: () => sent,
    requests,
  };
}

/** endless writes 16 KiB chunks until the client goes away (respecting backpressure). */
function endless(res: ServerResponse, count: (n: number) => void): void {
  const chunk = Buffer.alloc(16 * 1024, 0x41);
  const pump = () => {
    while (!res.destroyed) {
      count(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

test('bad tiles are refused by name; hostile peers cost bounded bytes and time', async (t) => {
  const [bp, bf] = await Promise.all([pgliteBackend('peers-hostile-p'), pgliteBackend('peers-hostile-f')]);
  backends.push(bp!, bf!);
  const real = await startPeerServer('honest', bp!);
  servers.push(real);
  const alice = await makeSigner('Alice');
  const atts = await Promise.all(['sha256:h1', 'sha256:h2', 'sha256:h3'].map((id) => attest(alice, id)));
  // Over the follower's limit (MAX_ATTESTATION_BYTES 1024 there), within the peer's (16384).
  atts.push(await attest(alice, 'sha256:large', { comment: 'x'.repeat(2000) }));
  t.is(
    (await postJson(`${real.url}/v1/attestations`, { attestations: atts, keys: [alice.armoredPublicKey] }))
      .status,
    200,
  );
  const size = await treeSize(real.url);

  const flip = (b: Buffer) => {
    const c = Buffer.from(b);
    c[c.length - 3]! ^= 1;
    return c;
  };
  const badBundle = await startProxy(real.url);
  badBundle.rewrite = (path, body) => (path.startsWith('/log/tile/entries/') ? flip(body) : body);
  const badTile = await startProxy(real.url);
  badTile.rewrite = (path, body) => (path.startsWith('/log/tile/0/') ? flip(body) : body);
  proxies.push(badBundle, badTile);

  const huge = await fakePeer('huge-tree', 1n << 63n, (path, res, _c, cp) => {
    res.end(path === '/log/checkpoint' ? cp : 'no');
  });
  const endlessCheckpoint = await fakePeer('endless-checkpoint', 10n, (_p, res, count) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    endless(res, count);
  });
  const declared = await fakePeer('declared-tile', 1000n, (path, res, count, cp) => {
    if (path === '/log/checkpoint') return void res.end(cp);
    res.writeHead(200, { 'content-length': String(1e9) });
    endless(res, count);
  });
  const endlessTile = await fakePeer('endless-tile', 1000n, (path, res, count, cp) => {
    if (path === '/log/checkpoint') return void res.end(cp);
    res.writeHead(200);
    endless(res, count);
  });
  const stall = await fakePeer('stall', 10n, (_p, res) => {
    res.writeHead(200);
    res.write('partial');
  });
  const busy = await fakePeer('busy', 10n, (_p, res) => {
    res.writeHead(429, { 'retry-after': '30' });
    res.end('slow down');
  });
  const fakes = [huge, endlessCheckpoint, declared, endlessTile, stall, busy];

  const f = await startPeerServer('hostile-follower', bf!, { 'max-attestation-bytes': 1024 });
  servers.push(f);
  const memBefore = process.memoryUsage();
  const started = Date.now();
  follow(
    f,
    [real, badBundle, badTile, ...fakes].map((p) => ({
      url: p.url,
      vkey: p === badBundle || p === badTile || p === real ? real.vkey : (p as { vkey: string }).vkey,
    })),
    { requestTimeoutMs: 1000 },
  );
  const failed = (p: { url: string }, re: RegExp) =>
    waitPeer(
      f.url,
      p.url,
      `${p.url} refused (${re})`,
      (v) => v.lastError !== null && re.test(v.lastError.message),
    );

  const b = await failed(
    badBundle,
    /^PEER_TILE_MISMATCH: tile\/entries\/000\.p\/\d+ entry \d+ does not hash/,
  );
  t.is(b.carried, 0);
  t.is(b.verified.treeSize, size, 'the checkpoint itself was fine and kept');
  const l0 = await failed(badTile, /^PEER_TILE_MISMATCH: tile\/0\/000\.p\/\d+.* fold to root/);
  t.is(l0.carried, 0);
  await failed(huge, /^PEER_RESPONSE_INVALID: .*9223372036854775808 entries/);
  t.deepEqual(
    huge.requests.filter((p) => p !== '/log/checkpoint'),
    [],
    'no tile asked of a 2^63 tree',
  );
  await failed(endlessCheckpoint, /^PEER_LIMIT_EXCEEDED: .*larger than 65536 bytes/);
  await failed(declared, /^PEER_LIMIT_EXCEEDED: .*tile\/2\/000\.p\/15|^PEER_LIMIT_EXCEEDED/);
  await failed(endlessTile, /^PEER_LIMIT_EXCEEDED/);
  await failed(stall, /^PEER_UNAVAILABLE: .*within 1s/);
  await failed(busy, /^PEER_BUSY/);
  const elapsed = Date.now() - started;
  t.true(elapsed < 60_000, `took ${elapsed} ms`);

  // Bounded bytes per request: whatever an endless peer pushes before the follower hangs up (the cap,
  // plus what the kernel's socket buffers took) stays far below what an unbounded reader would take.
  // Each failed round is retried after the backoff, so the total grows with time, not per request.
  for (const p of [endlessCheckpoint, declared, endlessTile]) {
    const perRequest = p.sent() / p.requests.length;
    t.log(
      `${p.url}: ${p.requests.length} requests, ${p.sent()} bytes sent, ${Math.round(perRequest)} a request`,
    );
    t.true(perRequest < 16 * 1024 * 1024, `${p.url} sent ${perRequest} bytes a request`);
  }
  // 429 with Retry-After 30: the follower waits (its backoff cap, 1 s in this test), it does not hammer.
  const busyAsked = busy.requests.length;
  t.true(busyAsked <= Math.ceil((Date.now() - started) / 1000) + 2, `asked the busy peer ${busyAsked} times`);
  const view = await peersOf(f.url);
  t.is(view.length, 9);
  t.true(view.every((p) => p.state !== 'forked' && (p.url === real.url || p.carried === 0)));
  const mem = process.memoryUsage();
  t.log(
    `rss ${memBefore.rss} -> ${mem.rss}, arrayBuffers ${memBefore.arrayBuffers} -> ${mem.arrayBuffers}, heap ${memBefore.heapUsed} -> ${mem.heapUsed}`,
  );
  t.true(
    mem.arrayBuffers - memBefore.arrayBuffers < 64 * 1024 * 1024,
    'array buffers grew by less than 64 MiB',
  );
  t.true(mem.rss - memBefore.rss < 256 * 1024 * 1024, 'the process grew by less than 256 MiB');
});
