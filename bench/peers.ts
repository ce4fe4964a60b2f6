/**
 * Peering benchmark (issue 14): how fast a follower carries a peer's log, and how far it lags behind a
 * peer under the publish benchmark's load. Real server processes (the built dist/server/main.js), each
 * on its own fresh Postgres database, the follower configured by a PEERS file as an operator would.
 *
 * 1. Throughput: the peer's log is 10^5 real, distinct attestations at full scale (5,000 at
 *    BENCH_SCALE=small), signed before the run on every core (bench/presign-parallel.ts) and published
 *    to the peer over HTTP in requests of 100 (the publish path; that publish rate is printed too). A
 *    follower started on an empty database carries them all: checkpoint, consistency, every tile and
 *    entry bundle authenticated against the root, every attestation checked by the same admission as a
 *    publish, stored in pending and integrated into the follower's own log. The figure is attestations
 *    carried per second, from the follower's start to the first of its own checkpoints that holds all
 *    of them (counted by reading its entries feed back after the clock stops).
 * 2. Lag under load: the follower follows a second peer while the publish benchmark's heavy load
 *    (48 clients, 100 real attestations a request) is sent to the peer. For one request in ten, the time
 *    from the peer's receipt to the follower answering GET /v1/attestations?id= for it (its own proof,
 *    in its own tree) is the lag; the carried rate is the follower's new entries per second. Both
 *    processes share the machine's cores, as two servers on one host would.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { classifyEntry } from '../log/index-map.js';
import type { Attestation } from '../log/signet.js';
import { makeSigner, spawnServer } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { fmt, load, loadNow, machine, percentile, scale } from './harness.js';
import { presignParallel } from './presign-parallel.js';

/** Wire is parsed wire JSON (checked by use: a bench, not a client). */
// biome-ignore lint/suspicious/noExplicitAny: wire JSON
type Wire = any;

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** call sends a request and returns status and parsed JSON (throws on a socket error or non-JSON). */
function call(base: URL, path: string, body?: unknown): Promise<{ status: number; json: Wire }> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: data ? 'POST' : 'GET',
        agent,
        headers: data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
            });
          } catch (e) {
            reject(e);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** peerView returns the follower's view of its one peer (GET /v1/peers). */
async function peerView(follower: URL): Promise<Wire> {
  return (await call(follower, '/v1/peers')).json.peers[0];
}

/** startFollower starts a server on a fresh database that follows `peer` (its URL and vkey). */
async function startFollower(label: string, peer: { url: string; vkey: string }) {
  const db = await freshPostgres(`bench_peers_${label}`);
  if (!db) throw new Error('the peers benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir(`bench-peers-${label}`);
  const peersFile = join(dataDir, 'peers.txt');
  writeFileSync(peersFile, `peer ${peer.url} ${peer.vkey}\n`);
  const server = await spawnServer({
    built: true,
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      ORIGIN: `bench.test/follower-${label}`,
      LOG_LEVEL: 'error',
      PEERS: peersFile,
    },
  });
  return { server, base: new URL(server.url), drop: () => db.drop() };
}

/** publishAll publishes `atts` to `base` in requests of 100 from `clients` concurrent clients, retrying a 503 (backlog full). */
async function publishAll(base: URL, atts: readonly Attestation[], clients: number) {
  return load({
    concurrency: clients,
    stopAfter: Math.ceil(atts.length / 100),
    one: async (i) => {
      const mine = atts.slice(i * 100, (i + 1) * 100);
      for (;;) {
        const r = await call(base, '/v1/attestations', { attestations: mine });
        if (r.status === 200) return;
        if (r.status !== 503) throw new Error(`publish: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
  });
}

/**
 * loggedIds reads the follower's entries feed (entries covered by its latest checkpoint) from
 * `scan.next` up to `size`, adding the ids of attestations with `prefix` to `scan.ids` and counting
 * index leaves and anything else.
 */
async function loggedIds(
  base: URL,
  size: number,
  prefix: string,
  scan: { next: number; ids: Set<string>; indexLeaves: number; other: number },
): Promise<void> {
  while (scan.next < size) {
    const r = await call(base, `/v1/entries?start=${scan.next}&limit=100`);
    if (r.status !== 200) throw new Error(`follower entries from ${scan.next}: ${r.status}`);
    const entries = r.json.entries as { index: number; entry: string }[];
    if (entries.length === 0) throw new Error(`follower entries feed ended at ${scan.next} < ${size}`);
    for (const e of entries) {
      const k = classifyEntry(Buffer.from(e.entry, 'base64'));
      if (k.kind === 'index') scan.indexLeaves++;
      else if (k.attestation.data.id.startsWith(`${prefix}:`)) scan.ids.add(k.attestation.data.id);
      else scan.other++;
    }
    scan.next += entries.length;
  }
}

/**
 * throughput: the peer's log is `size` real attestations (presigned, published to the peer in requests
 * of 100); a follower started on an empty database carries them all. The clock runs from the
 * follower's start to the first checkpoint of the follower's own log that holds all `size` (read back
 * from its entries feed: every one of them logged there, under its own signed checkpoint).
 */
async function throughput(size: number): Promise<void> {
  const signers = await Promise.all([makeSigner('Carry A'), makeSigner('Carry B'), makeSigner('Carry C')]);
  const prefix = `sha256:bench-peers-carry-${Date.now()}`;
  let t = performance.now();
  const atts = await presignParallel(signers, size, prefix);
  console.log(
    `signed ${atts.length} attestations in ${fmt((performance.now() - t) / 1000)} s (${cpus().length} threads, before the run)`,
  );
  const db = await freshPostgres('bench_peers_carry');
  if (!db) throw new Error('the peers benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-peers-carry');
  const peer = await spawnServer({
    built: true,
    env: { DATABASE_URL: db.url, DATA_DIR: dataDir, ORIGIN: 'bench.test/peer-carry', LOG_LEVEL: 'error' },
  });
  const peerBase = new URL(peer.url);
  let f: Awaited<ReturnType<typeof startFollower>> | undefined;
  try {
    const vkey = (await call(peerBase, '/v1/server')).json.vkey as string;
    await call(peerBase, '/v1/keys', { keys: signers.map((s) => s.armoredPublicKey) });
    t = performance.now();
    const pub = await publishAll(peerBase, atts, 48);
    if (pub.errors > 0) throw new Error(`${pub.errors} publish requests to the peer failed`);
    const last = atts[atts.length - 1]!.data.id;
    for (;;) {
      const r = await call(peerBase, `/v1/attestations?id=${encodeURIComponent(last)}`);
      if (r.status === 200 && r.json.attestations.length > 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const peerSize = (await call(peerBase, '/healthz')).json.treeSize as number;
    console.log(
      `peer log: ${size} attestations published in ${fmt(pub.seconds)} s (48 clients x 100): ${fmt(pub.perSecond * 100, 0)} publishes/s; all logged after ${fmt((performance.now() - t) / 1000)} s, tree size ${peerSize} (${peerSize - size} index leaves); load ${loadNow()}`,
    );
    const t0 = performance.now();
    f = await startFollower('carry', { url: peer.url, vkey });
    const scan = { next: 0, ids: new Set<string>(), indexLeaves: 0, other: 0 };
    let view: Wire;
    let t1: number;
    let logged: number;
    for (;;) {
      view = await peerView(f.base);
      if (view.carried >= peerSize) {
        const r = await call(f.base, `/v1/attestations?id=${encodeURIComponent(last)}`);
        if (r.status === 200 && r.json.attestations.length > 0) {
          const at = performance.now();
          const fSize = (await call(f.base, '/healthz')).json.treeSize as number;
          await loggedIds(f.base, fSize, prefix, scan);
          if (scan.ids.size >= size) {
            t1 = at;
            logged = fSize;
            break;
          }
        }
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    const seconds = (t1 - t0) / 1000;
    console.log(
      `throughput: ${scan.ids.size} attestations carried (logged by the follower under its own checkpoint, tree size ${logged}: ${scan.indexLeaves} index leaves of its own) in ${fmt(seconds)} s (follower start included): ${fmt(scan.ids.size / seconds, 0)} entries/s; ${view.counts.invalid} refused, ${view.counts.indexLeaves} index leaves of the peer skipped; load ${loadNow()}`,
    );
  } finally {
    await f?.server.kill('SIGTERM');
    await peer.kill('SIGTERM');
    await f?.drop();
    await db.drop();
  }
}

/** lagUnderLoad: the publish benchmark's heavy load on a peer, a follower carrying it. */
async function lagUnderLoad(n: number): Promise<void> {
  const signers = await Promise.all([makeSigner('Pub A'), makeSigner('Pub B'), makeSigner('Pub C')]);
  const atts = await presignParallel(signers, n, `sha256:bench-peers-${Date.now()}`);
  const db = await freshPostgres('bench_peers_live');
  if (!db) throw new Error('the peers benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-peers-live');
  const peer = await spawnServer({
    built: true,
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      ORIGIN: 'bench.test/peer-live',
      LOG_LEVEL: 'error',
      RATE_LIMIT_PUBLISHES: '0',
    },
  });
  const peerBase = new URL(peer.url);
  const vkey = (await call(peerBase, '/v1/server')).json.vkey as string;
  await call(peerBase, '/v1/keys', { keys: signers.map((s) => s.armoredPublicKey) });
  const f = await startFollower('live', { url: peer.url, vkey });
  try {
    const samples: { id: string; at: number }[] = [];
    const lags: number[] = [];
    let publishing = true;
    const watch = (async () => {
      while (publishing || samples.length > 0) {
        const head = samples[0];
        if (!head) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        const r = await call(f.base, `/v1/attestations?id=${encodeURIComponent(head.id)}`);
        if (r.status === 200 && r.json.attestations.length > 0) {
          lags.push(performance.now() - head.at);
          samples.shift();
        } else {
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    })();
    let next = 0;
    const startCarried = (await peerView(f.base))?.counts?.attestations ?? 0;
    const t0 = performance.now();
    const heavy = await load({
      concurrency: 48,
      stopAfter: Math.floor(n / 100),
      one: async (i) => {
        const mine = atts.slice(next, next + 100);
        next += 100;
        const r = await call(peerBase, '/v1/attestations', { attestations: mine });
        if (r.status !== 200) throw new Error(`publish: ${r.status}`);
        if (i % 10 === 0) samples.push({ id: mine[0]!.data.id, at: performance.now() });
      },
    });
    publishing = false;
    const publishSeconds = (performance.now() - t0) / 1000;
    await watch;
    let view: Wire;
    for (;;) {
      view = await peerView(f.base);
      if (view.counts.attestations - startCarried >= heavy.requests * 100) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const carrySeconds = (performance.now() - t0) / 1000;
    console.log(
      `under load: ${heavy.requests * 100} attestations published to the peer at ${fmt(heavy.perSecond * 100, 0)}/s (${fmt(publishSeconds)} s, 48 clients x 100); the follower carried them all ${fmt(carrySeconds - publishSeconds)} s after the last receipt (${fmt((heavy.requests * 100) / carrySeconds, 0)} entries/s over the run)`,
    );
    console.log(
      `replication lag (peer receipt -> follower answers with its own proof), ${lags.length} samples: p50 ${fmt(percentile(lags, 50) / 1000, 2)} s, p99 ${fmt(percentile(lags, 99) / 1000, 2)} s, max ${fmt(Math.max(...lags) / 1000, 2)} s; load ${loadNow()}`,
    );
  } finally {
    await f.server.kill('SIGTERM');
    await peer.kill('SIGTERM');
    await f.drop();
    await db.drop();
  }
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  const s = scale();
  console.log(`scale ${s.name} (BENCH_SCALE=small|full); ${await machine()}`);
  await throughput(s.name === 'small' ? 5_000 : 100_000);
  await lagUnderLoad(s.publishAttestations);
}
