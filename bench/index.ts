/**
 * The index benchmark (issue 10; SPEC.md "The index"), at each size of the scale (BENCH_SCALE=full:
 * 10^4, 10^5, 10^6 entries, bulk-loaded with their map):
 * - added round time: what the index adds to a round of 256 new entries (fold them into the map, make
 *   the index leaf, write the bucket versions and the map's row, prune): rounds with the index leaf
 *   against rounds without it, alternating, both timed whole inside the integrator's transaction with a
 *   warm top (the steady state of one integrating process); p50 is the difference of the p50s, p99 the
 *   p99 with the leaf less the p50 without (pessimistic); target <= 10 ms at 10^6;
 * - takeover: the same step for a process that has never integrated (its top loaded from the bucket
 *   heads first), which is what a restart or a moved integrator lock costs; target <= 5 s at 10^6;
 * - storage: the index_buckets table (rows, indexes, TOAST) per entry, against the mean entry;
 *   target <= 0.5x the entry bytes;
 * - proof size: the JSON `index` object of a query answer (index leaf, its inclusion proof, one lookup);
 * - query p50/p99 with index proofs, one client, from a server process on the loaded log.
 */
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { encodeEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { openDb } from '../server/db.js';
import { IndexRound } from '../server/index-round.js';
import { openStore } from '../server/store.js';
import { makeSigner, spawnServer } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { bulkId, bulkLoad } from './bulk-load.js';
import { entryBytes } from './entry-bytes.js';
import { fmt, load, loadNow, machine, percentile, scale } from './harness.js';
import { get } from './query.js';

/** ROUND: entries per measured round; ROUNDS: rounds measured per size. */
const ROUND = 256;
const ROUNDS = 40;

/**
 * roundTimes appends rounds of ROUND new attestation entries to the log at `url` (by the signers of the
 * bulk load: new ids, the same signers) and times ROUNDS of each kind, inside the integrator's
 * transaction: rounds that end with their index leaf, as the sequencer's when a checkpoint is due, and
 * rounds without (the sequencer's rounds between checkpoints). The first round uses a fresh IndexRound
 * (takeover); the rest reuse it once its map worker keeps the buckets' records (warm: filled between
 * rounds after a takeover, server/index-folder.ts). The kinds alternate, so what else the machine does (Postgres
 * writing back the bulk load, say) falls on both alike: a timed round with the leaf, a timed round
 * without, then an untimed round with the leaf that folds the latter's entries with its own, so every
 * timed round with the leaf folds exactly its own ROUND entries.
 * What the index adds to a round is the difference, so work the round overlaps with Postgres counts
 * only where it makes the round longer.
 */
async function roundTimes(url: string, dataDir: string, fingerprints: string[]) {
  const db = await openDb({ databaseUrl: url, dataDir });
  const store = await openStore(db, { migrate: false });
  const index = new IndexRound();
  const withLeaf: number[] = [];
  const without: number[] = [];
  let warmMs = 0;
  try {
    for (let r = 0; r < 1 + 3 * ROUNDS; r++) {
      if (r === 1) {
        // The steady state: the map's worker keeps the buckets' records, filled after the takeover.
        const t = performance.now();
        while (!index.warm() && performance.now() - t < 60_000)
          await new Promise((res) => setTimeout(res, 20));
        warmMs = performance.now() - t;
      }
      // r = 0: takeover; then, by r % 3: 1 timed with the leaf, 2 timed without, 0 untimed with.
      const leaf = r % 3 !== 2;
      const out = await store.integrate(async (tx) => {
        const state = await tx.state();
        const rows = Array.from({ length: ROUND }, (_, i) => {
          const key = fingerprints[i % fingerprints.length]!;
          const id = bulkId(1_000_000_000 + r * ROUND + i);
          const entry = encodeEntry({
            attestation: { data: { id, ok: true }, key, sig: 'AAAA' },
            loggedAt: new Date().toISOString(),
          });
          return { entry, digest: hashLeaf(entry), identifier: id, signer: key, acceptedAt: new Date() };
        });
        const t0 = performance.now();
        await index.append(tx, state.treeSize, rows, leaf ? { now: new Date() } : undefined);
        return performance.now() - t0;
      });
      if (!out.ran) throw new Error('bench: the integrator lock is held');
      index.committed();
      if (r === 0 || r % 3 === 1) withLeaf.push(out.value);
      else if (r % 3 === 2) without.push(out.value);
    }
  } finally {
    await index.close();
    await store.close();
  }
  return { takeoverMs: withLeaf[0]!, warmMs, withLeaf: withLeaf.slice(1), without };
}

/** indexBytes returns the bytes of index_buckets (heap, indexes, TOAST) and the mean entry size. */
async function indexBytes(
  url: string,
): Promise<{ bytes: number; rows: number; meanEntry: number; n: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('VACUUM ANALYZE index_buckets');
    const [b] = (
      await c.query(`SELECT pg_total_relation_size('index_buckets') AS b, count(*) AS r FROM index_buckets`)
    ).rows;
    const [e] = (await c.query('SELECT count(identifier) AS n FROM entries')).rows;
    // The entry bytes, not their stored (packed, sql/009) size: bench/entry-bytes.ts unpacks every row.
    const { meanEntry } = await entryBytes(c);
    return { bytes: Number(b.b), rows: Number(b.r), meanEntry, n: Number(e.n) };
  } finally {
    await c.end();
  }
}

/** run is the benchmark (bench/run.ts calls it). */
export async function run(): Promise<void> {
  const s = scale();
  console.log(`scale ${s.name} (BENCH_SCALE=small|full); ${await machine()}`);
  const signers = await Promise.all([makeSigner('Bench A'), makeSigner('Bench B'), makeSigner('Bench C')]);
  const summary: string[] = [];
  for (const size of s.querySizes) {
    const db = await freshPostgres(`bench_ix_${size}`);
    if (!db) throw new Error('the index benchmark needs Postgres (127.0.0.1:5432)');
    const dataDir = await tempDir('bench-ix');
    try {
      const loaded = await bulkLoad({ url: db.url, dataDir, origin: 'bench.test/index', size, signers });
      const st = await indexBytes(db.url);
      const storage =
        `index storage at ${size}: ${fmt(st.bytes / st.n, 0)} bytes/entry (${st.rows} bucket rows) for a mean ` +
        `entry of ${fmt(st.meanEntry, 0)} bytes = ${fmt(st.bytes / st.n / st.meanEntry, 2)}x (target <= 0.5x); ` +
        `map of the whole log built in ${fmt(loaded.indexSeconds)} s`;
      console.log(storage);
      summary.push(storage);
      const rounds = await roundTimes(
        db.url,
        dataDir,
        signers.map((x) => x.fingerprint),
      );
      const p = (xs: number[], q: number) => percentile(xs, q);
      const round =
        `index round of ${ROUND} entries at ${size}: added p50 ${fmt(p(rounds.withLeaf, 50) - p(rounds.without, 50), 2)} ms, ` +
        `p99 ${fmt(p(rounds.withLeaf, 99) - p(rounds.without, 50), 2)} ms (target <= 10 ms): the round with its ` +
        `index leaf p50 ${fmt(p(rounds.withLeaf, 50), 2)} ms, p99 ${fmt(p(rounds.withLeaf, 99), 2)} ms, without ` +
        `the index p50 ${fmt(p(rounds.without, 50), 2)} ms, p99 ${fmt(p(rounds.without, 99), 2)} ms, ` +
        `${rounds.withLeaf.length} rounds each, alternating; takeover (top loaded, then the round) ` +
        `${fmt(rounds.takeoverMs, 0)} ms (target <= 5000 ms), the map's records kept ${fmt(rounds.warmMs, 0)} ms ` +
        `after (load ${loadNow()})`;
      console.log(round);
      summary.push(round);
      const server = await spawnServer({
        built: true,
        env: { DATABASE_URL: db.url, DATA_DIR: dataDir, ORIGIN: 'bench.test/index', LOG_LEVEL: 'error' },
      });
      try {
        const base = new URL(server.url);
        const pick = (i: number) => (i * 2654435761) % size;
        const sizes: number[] = [];
        const query = async (i: number) => {
          const r = await get(base, `/v1/attestations?id=${encodeURIComponent(bulkId(pick(i)))}`);
          if (r.status !== 200) throw new Error(`query: ${r.status} ${r.body.toString().slice(0, 200)}`);
          const body = JSON.parse(r.body.toString('utf8')) as { index: unknown };
          if (!body.index) throw new Error('query: no index in the answer');
          sizes.push(JSON.stringify(body.index).length);
        };
        await load({ concurrency: 4, one: (i) => query(i + 7_777_777), stopAfter: 200 });
        sizes.length = 0;
        const one = await load({ concurrency: 1, one: query, stopAfter: s.queries });
        const meanProof = sizes.reduce((a, b) => a + b, 0) / sizes.length;
        const q =
          `query with index at ${size}: one client p50 ${fmt(percentile(one.latenciesMs, 50), 2)} ms, ` +
          `p99 ${fmt(percentile(one.latenciesMs, 99), 2)} ms (target p99 < 20 ms at 10^6); index object ` +
          `${fmt(meanProof, 0)} bytes of JSON on average (load ${loadNow()})`;
        console.log(q);
        summary.push(q);
      } finally {
        await server.kill('SIGTERM');
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  }
  console.log(`\nindex summary:\n  ${summary.join('\n  ')}`);
}
