/**
 * Publish benchmark: valid distinct attestations (real Ed25519 OpenPGP signatures, made before the run)
 * published over HTTP by concurrent clients to a real server process (the built dist/server/main.js,
 * default settings except the rate limit) on a fresh Postgres database. Printed next to the reference
 * measured in the same run: the raw OpenPGP verification rate of one core (log/signet.ts
 * verifyAttestation in a loop, best of three runs). The ratio publish rate / verification rate, with
 * 48 clients sending 100 attestations per request, is the figure (target >= 0.5).
 *
 * Also: receipt latency p50/p99 at light load (one client, one attestation per request) and under load,
 * the server's peak RSS under load, a sample of receipts verified offline, and storage bytes per entry
 * of the log the server itself wrote (next to the mean entry size), and where the CPU of the heavy phase
 * went (bench/publish-cpu.ts).
 *
 * PUBLISH_PHASES=heavy runs only the heavy phase (for profiles: CHILD_CPU_PROF=<dir> writes the server's
 * V8 CPU profiles there, one per thread).
 */
import { rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import pg from 'pg';
import { readPublicKey, verifyAttestation } from '../log/signet.js';
import {
  fetchLogKeys,
  makeSigner,
  presign,
  type ReceiptJson,
  spawnServer,
  verifyReceiptOffline,
} from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { entryBytes } from './entry-bytes.js';
import { fmt, load, loadNow, machine, percentile, sampleRss, scale } from './harness.js';
import { cpuMeter, describeCpu } from './publish-cpu.js';
import { witnessedPhase } from './publish-witnessed.js';

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/** post sends a JSON body and returns status and parsed JSON (throws on a socket error). */
function post(base: URL, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': String(data.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
          } catch {
            reject(new Error(`${path}: ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  const s = scale();
  const heavyOnly = process.env.PUBLISH_PHASES === 'heavy';
  console.log(`scale ${s.name} (BENCH_SCALE=small|full); ${await machine()}`);
  const signers = await Promise.all([makeSigner('Pub A'), makeSigner('Pub B'), makeSigner('Pub C')]);
  const t0 = performance.now();
  const atts = await presign(signers, s.publishAttestations, `sha256:bench-publish-${Date.now()}`);
  console.log(
    `signed ${atts.length} attestations in ${fmt((performance.now() - t0) / 1000)} s (before the run)`,
  );

  // Reference: raw verification on one core, nothing else running.
  const keys = new Map(
    await Promise.all(
      signers.map(async (x) => [x.fingerprint, await readPublicKey(x.armoredPublicKey)] as const),
    ),
  );
  // Best of three runs: a neighbour's burst of CPU can only make a run slower, so the fastest is the
  // closest to the core's real rate (and makes the ratio below the conservative one).
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const one = await load({
      concurrency: 1,
      one: async (i) => {
        const a = atts[i % atts.length]!;
        await verifyAttestation(a, keys.get(a.key)!);
      },
      seconds: s.seconds,
    });
    runs.push(one.perSecond);
  }
  const ref = { perSecond: Math.max(...runs) };
  console.log(
    `reference: verifyAttestation on one core ${fmt(ref.perSecond, 0)} /s (best of ${runs.map((r) => fmt(r, 0)).join(', ')}; load ${loadNow()})`,
  );

  const db = await freshPostgres('bench_publish');
  if (!db) throw new Error('the publish benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-publish');
  const server = await spawnServer({
    built: true,
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      ORIGIN: 'bench.test/publish',
      LOG_LEVEL: 'error',
      RATE_LIMIT_PUBLISHES: '0',
      // VERIFY_WORKERS=<n> in the benchmark's environment compares worker counts (default: auto).
      ...(process.env.VERIFY_WORKERS ? { VERIFY_WORKERS: process.env.VERIFY_WORKERS } : {}),
      // CHECKPOINT_INTERVAL_MS=<ms> likewise compares checkpoint intervals (default: the server's).
      ...(process.env.CHECKPOINT_INTERVAL_MS
        ? { CHECKPOINT_INTERVAL_MS: process.env.CHECKPOINT_INTERVAL_MS }
        : {}),
    },
  });
  const lines: string[] = [];
  let plainRatio = 0;
  const say = (l: string) => {
    console.log(l);
    lines.push(l);
  };
  try {
    const base = new URL(server.url);
    const k = await post(base, '/v1/keys', { keys: signers.map((x) => x.armoredPublicKey) });
    if (k.status !== 200) throw new Error(`POST /v1/keys: ${k.status}`);
    let next = 0;
    const receipts: ReceiptJson[] = [];
    const publish = async (n: number) => {
      const mine = atts.slice(next, next + n);
      next += n;
      if (mine.length === 0) throw new Error('out of attestations');
      const r = await post(base, '/v1/attestations', { attestations: mine });
      if (r.status !== 200) throw new Error(`publish: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
      const got = (r.json as { receipts: ReceiptJson[] }).receipts;
      if (receipts.length < 64) receipts.push(got[0]!);
    };

    // Light load: one client, one attestation per request.
    const lightN = s.name === 'small' ? 20 : 40;
    if (!heavyOnly) {
      const light = await load({ concurrency: 1, one: () => publish(1), stopAfter: lightN });
      say(
        `receipt latency, light load (1 client, 1 attestation/request, ${light.requests} requests): p50 ${fmt(percentile(light.latenciesMs, 50), 0)} ms, p99 ${fmt(percentile(light.latenciesMs, 99), 0)} ms`,
      );
    }

    // Heavy load: many attestations in flight, in requests of 100 (the server's default
    // MAX_ATTESTATIONS_PER_REQUEST, the chunk `sig publish` sends). Receipts wait for a checkpoint
    // (at most one per CHECKPOINT_INTERVAL_MS, 1 s), so throughput is in-flight / latency: smaller
    // requests need proportionally more clients to keep the server busy.
    const perRequest = 100;
    const clients = 48;
    const heavyReqs = Math.floor((atts.length * 0.75) / perRequest);
    const rss = sampleRss(server.proc.pid!);
    const cpu = cpuMeter(server.proc.pid!);
    const heavy = await load({ concurrency: clients, one: () => publish(perRequest), stopAfter: heavyReqs });
    const peak = rss.stop();
    const split = await cpu.stop(heavy.requests * perRequest, db.url);
    const heavyRate = (heavy.requests * perRequest) / heavy.seconds;
    say(
      `publish, ${clients} clients x ${perRequest} attestations/request: ${fmt(heavyRate, 0)} attestations/s ` +
        `(${heavy.requests * perRequest} in ${fmt(heavy.seconds)} s); receipt latency p50 ${fmt(percentile(heavy.latenciesMs, 50), 0)} ms, ` +
        `p99 ${fmt(percentile(heavy.latenciesMs, 99), 0)} ms; server RSS peak ${fmt(peak, 0)} MiB (load ${loadNow()})`,
    );
    say(`  ${describeCpu(split)}`);
    plainRatio = heavyRate / ref.perSecond;
    say(
      `publish / verification ratio: ${fmt(heavyRate, 0)} / ${fmt(ref.perSecond, 0)} = ${fmt(heavyRate / ref.perSecond, 2)} (target >= 0.8)`,
    );
    // Many small requests: one attestation each (not in a heavy-only run, which then drops its database
    // below rather than returning from here and leaving it).
    if (!heavyOnly) {
      const smallClients = 256;
      const smallReqs = atts.length - next;
      const rss2 = sampleRss(server.proc.pid!);
      const small = await load({ concurrency: smallClients, one: () => publish(1), stopAfter: smallReqs });
      const peak2 = rss2.stop();
      say(
        `publish, ${smallClients} clients x 1 attestation/request: ${fmt(small.perSecond, 0)} attestations/s (${small.requests} in ${fmt(small.seconds)} s), ` +
          `ratio ${fmt(small.perSecond / ref.perSecond, 2)}; receipt latency p50 ${fmt(percentile(small.latenciesMs, 50), 0)} ms, p99 ${fmt(percentile(small.latenciesMs, 99), 0)} ms; ` +
          `server RSS peak ${fmt(peak2, 0)} MiB (load ${loadNow()})`,
      );
    }

    const logKeys = await fetchLogKeys(server.url);
    for (const r of receipts) await verifyReceiptOffline(r, logKeys);
    say(`${receipts.length} sampled receipts verified offline (signatures and inclusion)`);
  } finally {
    await server.kill('SIGTERM');
  }
  if (heavyOnly) {
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
    agent.destroy();
    console.log(`\npublish summary:\n  ${lines.join('\n  ')}`);
    return;
  }
  try {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const [r] = (
      await c.query(
        `SELECT (SELECT count(*) FROM checkpoints) AS cps,
                (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                  WHERE s.nspname = 'public' AND c.relkind = 'r') AS bytes`,
      )
    ).rows;
    const e = await entryBytes(c);
    await c.end();
    const per = Number(r.bytes) / e.n;
    say(
      `storage of the published log (${e.n} entries, ${r.cps} checkpoints): ${fmt(per, 0)} bytes/entry for a mean entry of ${fmt(e.meanEntry, 0)} bytes = ${fmt(per / e.meanEntry, 2)}x (small logs carry fixed per-table overhead)`,
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  }
  // The witnessed mode: the same attestations on a new database, one local witness at quorum 1.
  try {
    await witnessedPhase({
      atts,
      armoredKeys: signers.map((x) => x.armoredPublicKey),
      referencePerSecond: ref.perSecond,
      plainRatio,
      lightN: s.name === 'small' ? 20 : 40,
      post,
      say,
    });
  } finally {
    agent.destroy();
  }
  console.log(`\npublish summary:\n  ${lines.join('\n  ')}`);
}
