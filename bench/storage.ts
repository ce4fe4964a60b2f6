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

import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { encodeEntry } from '../log/entry.js';
import { signAttestation } from '../log/signet.js';
import { ENTRIES_LEVEL, encodeEntryBundle, tilePath } from '../log/tiles.js';
import { openDb } from '../server/db.js';
import { packEntry, unpackEntry } from '../server/entry-codec.js';
import { openStore } from '../server/store.js';
import { makeSigner, presign, type Signer, spawnServer } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { bulkLoad } from './bulk-load.js';
import { entryBytes } from './entry-bytes.js';
import { fmt, load, loadNow, machine, percentile } from './harness.js';

/** ORIGIN: the bulk-loaded logs' origin (a server process on their keys must be started with it). */
const ORIGIN = 'bench.test/storage';
/** HTTP_SECONDS: the length of each entry-bundle load of codecCost. */
const HTTP_SECONDS = 6;

/** SERVED_ENTRIES is the size of the served log (the issue's 16,000-entry log). */
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

/**
 * codecCost measures server/entry-codec.ts on 256 real entries (fresh signatures, ids sha256:<hex>):
 * packEntry and unpackEntry per entry, then an entry bundle read as the server makes one (SqlStore
 * readEntries of 256 rows and encodeEntryBundle, in process: HTTP adds the same to both) on the
 * bulk-loaded log at `url`, alternately with its rows packed and rewritten raw (as before schema 9).
 */
async function codecCost(url: string, dataDir: string, signers: Signer[]): Promise<string[]> {
  const entries: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) {
    const id = `sha256:${createHash('sha256').update(`codec ${i}`).digest('hex')}`;
    const attestation = await signAttestation(
      { id, ok: i % 10 !== 0 },
      signers[i % signers.length]!.privateKey,
    );
    entries.push(encodeEntry({ attestation, loggedAt: new Date().toISOString() }));
  }
  const packed = entries.map(packEntry);
  const mean = (xs: Uint8Array[]) => xs.reduce((n, x) => n + x.length, 0) / xs.length;
  const perEntryUs = (f: () => void, rounds: number) => {
    f();
    const t0 = performance.now();
    for (let i = 0; i < rounds; i++) f();
    return ((performance.now() - t0) * 1000) / (rounds * entries.length);
  };
  const packUs = perEntryUs(() => entries.forEach(packEntry), 40);
  const unpackUs = perEntryUs(() => packed.forEach(unpackEntry), 40);
  const out = [
    `entry codec on ${entries.length} real entries: ${fmt(mean(entries), 0)} bytes -> ${fmt(mean(packed), 0)} stored ` +
      `(${fmt((100 * mean(packed)) / mean(entries), 0)} %); packEntry ${fmt(packUs, 1)} us, unpackEntry ${fmt(unpackUs, 1)} us per entry`,
  ];
  const db = await openDb({ databaseUrl: url, dataDir });
  const store = await openStore(db, { migrate: false });
  const server = await spawnServer({
    built: true,
    env: { DATABASE_URL: url, DATA_DIR: dataDir, ORIGIN: ORIGIN, LOG_LEVEL: 'error' },
  });
  try {
    const [r] = await db.query('SELECT tree_size FROM log_state');
    const bundles = Math.floor(Number(r!.tree_size) / 256);
    const rewrite = async (f: (b: Uint8Array) => Uint8Array) => {
      for (let from = 0; ; from += 5000) {
        const rows = await db.query('SELECT idx, entry FROM entries WHERE idx >= $1 AND idx < $2', [
          from,
          from + 5000,
        ]);
        if (rows.length === 0) break;
        await db.query(
          'UPDATE entries e SET entry = u.v FROM unnest($1::bigint[], $2::bytea[]) AS u(i, v) WHERE e.idx = u.i',
          [rows.map((x) => String(x.idx)), rows.map((x) => f(unpackEntry(x.entry as Uint8Array)))],
        );
      }
      await db.exec('VACUUM FULL entries');
      await db.exec('ANALYZE entries');
    };
    const reads = async () => {
      const ms: number[] = [];
      for (let i = 0; i < 300; i++) {
        const start = BigInt((i * 7919) % bundles) * 256n;
        const t0 = performance.now();
        encodeEntryBundle((await store.readEntries(start, start + 256n)).map((e) => e.entry));
        ms.push(performance.now() - t0);
      }
      return ms;
    };
    // Over HTTP: 8 clients on full entry bundles of the server process, for HTTP_SECONDS.
    const http = async () => {
      const r = await load({
        concurrency: 8,
        seconds: HTTP_SECONDS,
        one: async (i) => {
          const path = tilePath({ level: ENTRIES_LEVEL, index: BigInt((i * 7919) % bundles), width: 256 });
          const res = await fetch(new URL(`/log/${path}`, server.url));
          if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
          await res.arrayBuffer();
        },
      });
      return r;
    };
    const times = { packed: [] as number[], raw: [] as number[] };
    const rates = {
      packed: [] as number[],
      raw: [] as number[],
      packedMs: [] as number[],
      rawMs: [] as number[],
    };
    for (let round = 0; round < 2; round++) {
      await reads(); // warm the cache
      times.packed.push(...(await reads()));
      const hp = await http();
      rates.packed.push(hp.perSecond);
      rates.packedMs.push(percentile(hp.latenciesMs, 50));
      await rewrite((b) => b);
      await reads();
      times.raw.push(...(await reads()));
      const hr = await http();
      rates.raw.push(hr.perSecond);
      rates.rawMs.push(percentile(hr.latenciesMs, 50));
      await rewrite(packEntry);
    }
    const p = (ms: number[], q: number) => fmt(percentile(ms, q), 2);
    const each = (xs: number[], d = 0) => xs.map((x) => fmt(x, d)).join(' and ');
    out.push(
      `entry bundle read (256 entries, readEntries + encodeEntryBundle, ${times.packed.length} reads each, ${bundles} bundles): ` +
        `packed p50 ${p(times.packed, 50)} ms, p99 ${p(times.packed, 99)} ms; raw (before schema 9) p50 ${p(times.raw, 50)} ms, p99 ${p(times.raw, 99)} ms (load ${loadNow()})`,
      `GET /log/tile/entries/N (full, 8 clients, ${HTTP_SECONDS} s, two rounds each): packed ${each(rates.packed)} req/s ` +
        `(p50 ${each(rates.packedMs, 2)} ms); raw ${each(rates.raw)} req/s (p50 ${each(rates.rawMs, 2)} ms) (load ${loadNow()})`,
    );
  } finally {
    await server.kill('SIGTERM');
    await store.close();
  }
  for (const l of out) console.log(l);
  return out;
}

/** bulk measures a bulk-loaded log of `size` entries. */
async function bulk(size: number, signers: Signer[], codec = false): Promise<string[]> {
  const db = await freshPostgres(`bench_storage_${size}`);
  if (!db) throw new Error('the storage benchmark needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-storage');
  try {
    const r = await bulkLoad({ url: db.url, dataDir, origin: ORIGIN, size, signers });
    console.log(`log of ${size} entries: bulk-loaded in ${fmt(r.seconds)} s (load ${loadNow()})`);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    let line: string;
    try {
      line = report(`at ${size}`, await breakdown(c), 1.8);
    } finally {
      await c.end();
    }
    return codec ? [line, ...(await codecCost(db.url, dataDir, signers))] : [line];
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
async function served(signers: Signer[]): Promise<string> {
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
  // The codec's cost is measured once, on the first log (BENCH_STORAGE_CODEC=0: not at all).
  for (const [i, size] of sizes().entries())
    summary.push(...(await bulk(size, signers, i === 0 && process.env.BENCH_STORAGE_CODEC !== '0')));
  // BENCH_STORAGE_SERVED=0: the bulk-loaded logs only.
  if (process.env.BENCH_STORAGE_SERVED !== '0') summary.push(await served(signers));
  console.log('\nsummary:');
  for (const l of summary) console.log(l);
}
