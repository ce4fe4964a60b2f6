/**
 * Receipt latency on an idle log (issue 13, target 2): an isolated publish, made when nothing has been
 * published for longer than the checkpoint interval, waits for no batch and no interval
 * (server/sequencer.ts grewAt); its receipt should come back within 300 ms at p99. Each publish is one
 * real attestation sent to a real server process (built dist/, default settings: CHECKPOINT_INTERVAL_MS
 * 1000, BATCH_MAX_AGE_MS 200) after a pause of 1.2 s, on Postgres and on the embedded store, and every
 * receipt is verified offline (checkpoint signatures and inclusion proof). The latency under heavy load
 * is bench/publish.ts's.
 */
import { rm } from 'node:fs/promises';
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
import { fmt, loadNow, machine, percentile, scale } from './harness.js';

const PAUSE_MS = 1200;

/** idleReceipts publishes `atts` one at a time, each after PAUSE_MS, and returns each receipt's latency. */
async function idleReceipts(store: 'postgres' | 'pglite', n: number): Promise<number[]> {
  const signer = await makeSigner('Idle publisher');
  const atts = await presign([signer], n, `sha256:bench-idle-${store}-${Date.now()}`);
  const db = store === 'postgres' ? await freshPostgres('bench_receipt') : undefined;
  if (store === 'postgres' && !db) throw new Error('the receipt benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir(`bench-receipt-${store}`);
  const server = await spawnServer({
    built: true,
    env: {
      ...(db ? { DATABASE_URL: db.url } : {}),
      DATA_DIR: dataDir,
      ORIGIN: `bench.test/receipt-${store}`,
      LOG_LEVEL: 'error',
      RATE_LIMIT_PUBLISHES: '0',
    },
  });
  try {
    const keys = await fetchLogKeys(server.url);
    const put = await fetch(`${server.url}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: [signer.armoredPublicKey] }),
    });
    if (put.status !== 200) throw new Error(`POST /v1/keys answered ${put.status}`);
    const ms: number[] = [];
    for (const a of atts) {
      await new Promise((r) => setTimeout(r, PAUSE_MS));
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v1/attestations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ attestations: [a] }),
      });
      const body = (await res.json()) as { receipts?: ReceiptJson[] };
      ms.push(performance.now() - t0);
      if (res.status !== 200 || !body.receipts?.[0]) throw new Error(`publish answered ${res.status}`);
      await verifyReceiptOffline(body.receipts[0], keys);
    }
    return ms;
  } finally {
    await server.kill('SIGTERM');
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  const s = scale();
  const n = s.name === 'full' ? 60 : 15;
  console.log(`scale ${s.name}; ${await machine()}`);
  for (const store of ['postgres', 'pglite'] as const) {
    const ms = await idleReceipts(store, n);
    console.log(
      `idle receipt latency (${store}, ${n} isolated publishes, ${PAUSE_MS} ms apart, every receipt verified): ` +
        `p50 ${fmt(percentile(ms, 50), 0)} ms, p99 ${fmt(percentile(ms, 99), 0)} ms, max ${fmt(Math.max(...ms), 0)} ms ` +
        `(target p99 < 300 ms: ${percentile(ms, 99) < 300 ? 'met' : 'missed'}; load ${loadNow()})`,
    );
  }
}
