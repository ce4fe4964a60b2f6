/**
 * The map build of a whole log (server/index-state.ts buildIndex: the schema-3 migration step and the
 * bulk loader's index) timed on its own, with its peak memory, on a bulk-loaded log in Postgres:
 *
 *   node --import tsx bench/build-index.ts load <size>
 *     bulk-loads <size> entries (bench/bulk-load.ts, which builds the map once) into a new database,
 *     keeps it, and prints its URL and the loader's map build time;
 *   node --import tsx bench/build-index.ts rebuild <url>
 *     builds the map of that log again in one transaction, checks that every bucket row of the version
 *     it writes is byte for byte the one already stored (the loader's build), prints the time, the CPU
 *     time and the process's peak RSS, and rolls back (the database is left as it was);
 *   node --import tsx bench/build-index.ts memory <size>
 *     builds the map of a made-up log of <size> entries (the bulk loader's ids, three signers) against a
 *     store in memory that drops the rows: the build's own time and peak RSS, without Postgres.
 *
 * BUILD_MODULE=<path of a module exporting buildIndex, relative to bench/> times another build (an
 * older one, to compare).
 *
 * Drop the database afterwards (psql ... -c 'DROP DATABASE <name>'). Not in bench/run.ts: a tool for
 * measuring one function, run by hand.
 */
import { rm } from 'node:fs/promises';
import { makeSigner } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { bulkId, bulkLoad } from './bulk-load.js';
import { fmt, loadNow } from './harness.js';

const [mode, arg] = process.argv.slice(2);

if (mode === 'load') {
  const size = Number(arg);
  if (!Number.isSafeInteger(size) || size <= 0) throw new Error('usage: build-index.ts load <size>');
  const db = await freshPostgres(`build_${size}`);
  if (!db) throw new Error('needs Postgres (127.0.0.1:5432)');
  const dataDir = await tempDir('bench-build');
  const signers = await Promise.all([makeSigner('Bench A'), makeSigner('Bench B'), makeSigner('Bench C')]);
  try {
    const r = await bulkLoad({ url: db.url, dataDir, origin: 'bench.test/build', size, signers });
    console.log(
      `loaded ${size} entries in ${fmt(r.seconds)} s, map build ${fmt(r.indexSeconds)} s (load ${loadNow()}): ${db.url}`,
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
} else if (mode === 'rebuild') {
  if (!arg) throw new Error('usage: build-index.ts rebuild <url>');
  const { openDb } = await import('../server/db.js');
  const { indexSql } = await import('../server/index-sql.js');
  const { buildIndex } = (await import(
    process.env.BUILD_MODULE ?? '../server/index-state.js'
  )) as typeof import('../server/index-state.js');
  await import('../server/native-hash.js'); // as in every server process
  const dataDir = await tempDir('bench-build');
  const db = await openDb({ databaseUrl: arg, dataDir });
  // One digest over every bucket row of a version: prefix, count, hash and records.
  const digest = async (q: { query: typeof db.query }, size: bigint) => {
    const [r] = await q.query(
      `SELECT count(*) AS n, md5(string_agg(md5(prefix::text || ':' || key_count::text || ':' || encode(hash, 'hex') || ':' || encode(records, 'hex')), '' ORDER BY prefix)) AS d
         FROM index_buckets WHERE from_size = $1`,
      [size.toString()],
    );
    return `${r?.n} rows, md5 ${r?.d}`;
  };
  class Rollback extends Error {}
  try {
    await db.transaction(async (q) => {
      const sql = indexSql(q);
      // The time spent in Postgres's statements (reads: until their rows are parsed; writes: whole).
      let readMs = 0;
      let writeMs = 0;
      const timed = async <T>(p: Promise<T>, add: (ms: number) => void) => {
        const t = performance.now();
        try {
          return await p;
        } finally {
          add(performance.now() - t);
        }
      };
      const store: typeof sql = {
        mapState: () => sql.mapState(),
        bucketHeads: (at, changed) => sql.bucketHeads(at, changed),
        bucketRecords: (prefixes, at) => sql.bucketRecords(prefixes, at),
        setMapState: (st) => sql.setMapState(st),
        servedSizeAgo: (w) => sql.servedSizeAgo(w),
        prune: (a, k) => sql.prune(a, k),
        attestationsIn: (a: bigint, b: bigint) =>
          timed(sql.attestationsIn(a, b), (ms) => {
            readMs += ms;
          }),
        writeBuckets: (v: bigint, rows: Parameters<typeof sql.writeBuckets>[1]) =>
          timed(sql.writeBuckets(v, rows), (ms) => {
            writeMs += ms;
          }),
      };
      const { mapSize } = await store.mapState();
      const before = await digest(q, mapSize);
      // As on a log without the map: the version's rows gone (rolled back below), so the build inserts.
      await q.query('DELETE FROM index_buckets WHERE from_size = $1', [mapSize.toString()]);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await buildIndex(store, mapSize);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      const after = await digest(q, mapSize);
      console.log(
        `buildIndex at ${mapSize}: ${fmt(ms / 1000, 2)} s (node CPU ${fmt((cpu.user + cpu.system) / 1e6, 2)} s; ` +
          `statements: reads ${fmt(readMs / 1000, 2)} s from issue to rows, overlapping, writes ${fmt(writeMs / 1000, 2)} s), ` +
          `peak RSS ${fmt(process.resourceUsage().maxRSS / 1024, 0)} MiB, load ${loadNow()}; ` +
          `rows ${before === after ? 'identical' : `DIFFER: before ${before}, after ${after}`} (${after})`,
      );
      throw new Rollback();
    });
  } catch (e) {
    if (!(e instanceof Rollback)) throw e;
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
} else if (mode === 'memory') {
  // No database: the entries are made up as the bulk loader makes them (its ids, three signers), the
  // rows written are counted and dropped. Node's own time and memory at sizes a database would take an
  // hour to load.
  const size = BigInt(arg ?? '');
  const { buildIndex } = (await import(
    process.env.BUILD_MODULE ?? '../server/index-state.js'
  )) as typeof import('../server/index-state.js');
  await import('../server/native-hash.js');
  const signers = ['A', 'B', 'C'].map((c) => c.repeat(40));
  let rows = 0;
  let bytes = 0;
  const none = () => Promise.reject(new Error('not in the memory store'));
  const store: import('../server/index-state.js').IndexStore = {
    mapState: none,
    bucketHeads: none,
    bucketRecords: none,
    servedSizeAgo: none,
    prune: none,
    setMapState: async () => undefined,
    attestationsIn: async (start, end) => {
      const out = [];
      for (let i = start; i < end; i++)
        out.push({ index: i, identifier: bulkId(Number(i)), signer: signers[Number(i % 3n)]! });
      return out;
    },
    writeBuckets: async (_at, w) => {
      rows += w.length;
      for (const r of w) bytes += r.records.length;
    },
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await buildIndex(store, size);
  const cpu = process.cpuUsage(c0);
  console.log(
    `buildIndex at ${size}, no database: ${fmt((performance.now() - t0) / 1000, 2)} s (CPU ${fmt((cpu.user + cpu.system) / 1e6, 2)} s), ` +
      `peak RSS ${fmt(process.resourceUsage().maxRSS / 1024, 0)} MiB, load ${loadNow()}; ${rows} bucket rows, ${bytes} bytes of records`,
  );
} else {
  throw new Error('usage: build-index.ts load <size> | rebuild <url> | memory <size>');
}
