/**
 * Storage benchmark (issue 13, target 4): what each table and index of the database costs per entry,
 * and the whole database with the index divided by the entry bytes, next to its target.
 *
 * - Bulk-loaded logs (bench/bulk-load.ts: the server's migrations, entries, tiles, the index map and its
 *   leaf, one checkpoint) of 10^4 and 10^5 entries (BENCH_SCALE=full adds 10^6; small: 10^3, 10^4).
 *   Target: <= 1.8x at 10^6.
 * - A served log: 16,000 real attestations published over HTTP to a server process (the build) on a
 *   fresh database, 16 clients x 100 attestations per request. Target: <= 2.5x. Then the server idles
 *   with a short republish interval: checkpoint rows added per second of idle time, and the pending
 *   table's dead rows (pg_stat_user_tables) right after publishing and after the idle time.
 *
 * BENCH_STORAGE_SIZES=1000000 BENCH_STORAGE_SERVED=0 measures the 10^6 log alone (a few minutes).
 *
 * The mean entry is that of the entry bytes (bench/entry-bytes.ts: every row unpacked, since schema 9
 * stores them packed, server/entry-codec.ts); the stored mean is printed beside it.
 *
 * Storage is pg_total_relation_size summed over the tables of schema public (heap, indexes, TOAST,
 * free-space and visibility maps), as bench/query.ts and bench/publish.ts compute it.
 */
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { makeSigner, presign, spawnServer } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { bulkLoad } from './bulk-load.js';
import { entryBytes } from './entry-bytes.js';
import { fmt, load, loadNow, machine } from './harness.js';

/** SERVED_ENTRIES is the size of the served log (the 16,000-entry log). */
const SERVED_ENTRIES = 16_000;
/** IDLE_SECONDS is how long the served log idles, with REPUBLISH_MS between re-signings. */
const IDLE_SECONDS = 20;
const REPUBLISH_MS = 2_000;

/**
 * sizes returns the bulk-loaded log sizes: 10^4, 10^5 by default; BENCH_SCALE=full adds 10^6;
 * BENCH_STORAGE_SIZES (comma-separated, e.g. 1000000) names them instead.
 */
function sizes(): number[] {
  const only = process.env.BENCH_STORAGE_SIZES;
  if (only) return only.split(',').map((x) => Number(x));
  const s = process.env.BENCH_SCALE;
  if (s === 'full') return [10_000, 100_000, 1_000_000];
  if (s === 'small') return [1_000, 10_000];
  return [10_000, 100_000];
}

/** Breakdown is the size of every relation of schema public, per entry, and the ratio to the entries. */
interface Breakdown {
  entries: number;
  meanEntry: number;
  /** meanStored: the mean stored value of entries.entry (packed, server/entry-codec.ts). */
  meanStored: number;
  total: number;
  lines: string[];
}

/**
 * breakdown reads every table of schema public with its parts: heap (main fork), TOAST (with its
 * index), each index, and the free-space and visibility maps; one line per table of at least 8 KiB.
 */
async function breakdown(c: pg.Client): Promise<Breakdown> {
  const e = await entryBytes(c);
  const n = e.n;
  const tables = (
    await c.query(
      `SELECT c.relname AS t, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap,
              pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm') AS maps,
              coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast,
              (SELECT coalesce(string_agg(i.relname || ' ' || pg_relation_size(i.oid), ',' ORDER BY i.relname), '')
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS indexes
         FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE s.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC`,
    )
  ).rows as { t: string; total: string; heap: string; maps: string; toast: string; indexes: string }[];
  const per = (b: number | string) => fmt(Number(b) / n, 1);
  const total = tables.reduce((s, r) => s + Number(r.total), 0);
  const lines: string[] = [];
  for (const r of tables) {
    if (Number(r.total) < 8192) continue;
    const idx = r.indexes
      .split(',')
      .filter((x) => x !== '')
      .map((x) => {
        const [name, b] = x.split(' ');
        return `${name} ${per(b!)}`;
      });
    const parts = [`heap ${per(r.heap)}`, ...idx];
    if (Number(r.toast) > 0) parts.push(`toast ${per(r.toast)}`);
    if (Number(r.maps) > 0) parts.push(`fsm+vm ${per(r.maps)}`);
    lines.push(`  ${r.t.padEnd(18)} ${per(r.total).padStart(7)} B/entry: ${parts.join(', ')}`);
  }
  return { entries: n, meanEntry: e.meanEntry, meanStored: e.meanStored, total, lines };
}

/** report prints a breakdown with its ratio against `target` and returns the summary line. */
function report(what: string, b: Breakdown, target: number, extra = ''): string {
  const ratio = b.total / b.entries / b.meanEntry;
  console.log(`${what}: by relation (bytes per entry; heap, each index, TOAST, maps):`);
  for (const l of b.lines) console.log(l);
  const line =
    `storage ${what}: ${fmt(b.total / b.entries, 0)} bytes/entry for a mean entry of ${fmt(b.meanEntry, 0)} bytes ` +
    `(stored as ${fmt(b.meanStored, 0)}) ` +
    `= ${fmt(ratio, 2)}x (target <= ${target}x: ${ratio <= target ? 'met' : 'missed'})${extra}`;
  console.log(line);
  return line;
}

/** bulk measures a bulk-loaded log of `size` entries. */
async function bulk(size: number, signers: Awaited<ReturnType<typeof makeSigner>>[]): Promise<string> {
  const db = await freshPostgres(`bench_storage_${size}`);
  if (!db) throw new Error('the storage benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-storage');
  try {
    const r = await bulkLoad({ url: db.url, dataDir, origin: 'bench.test/storage', size, signers });
    console.log(`log of ${size} entries: bulk-loaded in ${fmt(r.seconds)} s (load ${loadNow()})`);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return report(`at ${size}`, await breakdown(c), 1.8);
    } finally {
      await c.end();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

/** pendingStats reads the pending table's live and dead rows and when it was last vacuumed. */
async function pendingStats(c: pg.Client): Promise<string> {
  await c.query('SELECT pg_stat_clear_snapshot()');
  const [p] = (
    await c.query(
      `SELECT n_live_tup, n_dead_tup, autovacuum_count + vacuum_count AS vacuums, pg_total_relation_size(relid) AS bytes
         FROM pg_stat_user_tables WHERE relname = 'pending'`,
    )
  ).rows;
  return `pending: ${p.n_live_tup} live, ${p.n_dead_tup} dead rows, ${p.vacuums} vacuums so far, ${fmt(Number(p.bytes) / 1024, 0)} KiB`;
}

/** served publishes SERVED_ENTRIES real attestations to a server process and measures its database. */
async function served(signers: Awaited<ReturnType<typeof makeSigner>>[]): Promise<string> {
  const t0 = performance.now();
  const atts = await presign(signers, SERVED_ENTRIES, `sha256:bench-storage-${Date.now()}`);
  console.log(
    `signed ${atts.length} attestations in ${fmt((performance.now() - t0) / 1000)} s (before the run)`,
  );
  const db = await freshPostgres('bench_storage_served');
  if (!db) throw new Error('the storage benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-storage-served');
  const server = await spawnServer({
    built: true,
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      ORIGIN: 'bench.test/storage',
      LOG_LEVEL: 'error',
      RATE_LIMIT_PUBLISHES: '0',
      REPUBLISH_INTERVAL_MS: String(REPUBLISH_MS),
    },
  });
  const c = new pg.Client({ connectionString: db.url });
  try {
    const post = async (path: string, body: unknown) => {
      const r = await fetch(new URL(path, server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${(await r.text()).slice(0, 200)}`);
      await r.arrayBuffer();
    };
    await post('/v1/keys', { keys: signers.map((s) => s.armoredPublicKey) });
    const per = 100;
    const pub = await load({
      concurrency: 16,
      stopAfter: SERVED_ENTRIES / per,
      one: (i) => post('/v1/attestations', { attestations: atts.slice(i * per, (i + 1) * per) }),
    });
    if (pub.errors > 0) throw new Error(`${pub.errors} publish requests failed`);
    console.log(
      `published ${SERVED_ENTRIES} attestations in ${fmt(pub.seconds)} s (16 clients x ${per}/request; load ${loadNow()})`,
    );
    await c.connect();
    const cps = async () => {
      const [r] = (await c.query('SELECT count(*) AS n, max(id) AS top FROM checkpoints')).rows;
      return { rows: Number(r.n), signed: Number(r.top) };
    };
    const before = await cps();
    console.log(`right after publishing: ${before.rows} checkpoint rows; ${await pendingStats(c)}`);
    const line = report(
      `of the served log (${SERVED_ENTRIES} entries, ${before.rows} checkpoints)`,
      await breakdown(c),
      2.5,
    );
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const after = await cps();
    console.log(
      `idle ${IDLE_SECONDS} s with REPUBLISH_INTERVAL_MS=${REPUBLISH_MS}: ${after.signed - before.signed} re-signings, ` +
        `${after.rows - before.rows} checkpoint rows added = ${fmt((after.rows - before.rows) / IDLE_SECONDS, 2)} rows/s; ` +
        `${await pendingStats(c)}`,
    );
    const b = await breakdown(c);
    console.log(
      `after idling: ${fmt(b.total / b.entries, 0)} bytes/entry = ${fmt(b.total / b.entries / b.meanEntry, 2)}x`,
    );
    return line;
  } finally {
    await c.end().catch(() => undefined);
    await server.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
    await db.drop();
  }
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  console.log(`sizes ${sizes().join(', ')} (BENCH_SCALE=small|full); ${await machine()}`);
  const signers = await Promise.all([makeSigner('Store A'), makeSigner('Store B'), makeSigner('Store C')]);
  const summary: string[] = [];
  for (const size of sizes()) summary.push(await bulk(size, signers));
  // BENCH_STORAGE_SERVED=0: the bulk-loaded logs only.
  if (process.env.BENCH_STORAGE_SERVED !== '0') summary.push(await served(signers));
  console.log('\nsummary:');
  for (const l of summary) console.log(l);
}
