/**
 * The publish benchmark's witnessed mode (issue 11): the same publishes to a log with WITNESS_POLICY
 * naming one local witness at quorum 1 (fail closed), so every receipt waits for a checkpoint that the
 * witness has cosigned (one add-checkpoint round trip after each commit, outside the integration
 * transaction). The witness is a second Sig Server process with the witness role (WITNESS_LOGS) on its
 * own PGlite database; the log is on a fresh Postgres database like the unwitnessed run. Reported:
 * receipt latency at light load, the heavy-load rate and its ratio to the same run's verification
 * reference, and the change against the unwitnessed ratio of the same run.
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cosignatureVerifier, generateCosignatureKey } from '../log/cosignature.js';
import { generateEd25519Key, openNote } from '../log/note.js';
import type { Attestation } from '../log/signet.js';
import { type ReceiptJson, spawnServer } from '../test/helpers/child-server.js';
import { freshPostgres } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/stores.js';
import { fmt, load, loadNow, percentile } from './harness.js';

/** Post sends a JSON body and returns status and parsed JSON (bench/publish.ts post). */
type Post = (base: URL, path: string, body: unknown) => Promise<{ status: number; json: unknown }>;

/**
 * witnessedPhase runs the witnessed mode with the attestations of the main run (a new database, so
 * they are new again) and reports through `say`. `plainRatio` is the unwitnessed heavy ratio.
 */
export async function witnessedPhase(opts: {
  atts: Attestation[];
  armoredKeys: string[];
  referencePerSecond: number;
  plainRatio: number;
  lightN: number;
  post: Post;
  say: (l: string) => void;
}): Promise<void> {
  const { atts, post, say } = opts;
  const db = await freshPostgres('bench_publish_witnessed');
  if (!db) throw new Error('the publish benchmark needs Postgres (127.0.0.1:5432)');
  const logDir = await tempDir('bench-publish-log');
  const witnessDir = await tempDir('bench-publish-witness');
  const origin = 'bench.test/witnessed';
  const note = generateEd25519Key(origin);
  writeFileSync(join(logDir, 'note.key'), `${note.skey}\n`, { mode: 0o600 });
  const w = generateCosignatureKey('bench.test/witness');
  writeFileSync(join(witnessDir, 'witness.key'), `${w.skey}\n`, { mode: 0o600 });
  writeFileSync(join(witnessDir, 'logs'), `log ${note.vkey}\n`);
  const witness = await spawnServer({
    built: true,
    env: {
      DATA_DIR: witnessDir,
      ORIGIN: 'bench.test/witness-log',
      WITNESS_LOGS: join(witnessDir, 'logs'),
      WITNESS_KEY_FILE: join(witnessDir, 'witness.key'),
      LOG_LEVEL: 'error',
    },
  });
  writeFileSync(join(logDir, 'policy'), `witness w ${w.vkey} ${witness.url}/witness\nquorum w\n`);
  const server = await spawnServer({
    built: true,
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: logDir,
      ORIGIN: origin,
      NOTE_KEY_FILE: join(logDir, 'note.key'),
      WITNESS_POLICY: join(logDir, 'policy'),
      LOG_LEVEL: 'error',
      RATE_LIMIT_PUBLISHES: '0',
    },
  });
  try {
    const base = new URL(server.url);
    const k = await post(base, '/v1/keys', { keys: opts.armoredKeys });
    if (k.status !== 200) throw new Error(`POST /v1/keys: ${k.status}`);
    let next = 0;
    let sample: ReceiptJson | undefined;
    const publish = async (n: number) => {
      const mine = atts.slice(next, next + n);
      next += n;
      if (mine.length === 0) throw new Error('out of attestations');
      const r = await post(base, '/v1/attestations', { attestations: mine });
      if (r.status !== 200) throw new Error(`publish: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
      sample ??= (r.json as { receipts: ReceiptJson[] }).receipts[0];
    };
    const light = await load({ concurrency: 1, one: () => publish(1), stopAfter: opts.lightN });
    say(
      `witnessed (1 local witness, quorum 1): receipt latency, light load (1 client, 1 attestation/request, ${light.requests} requests): p50 ${fmt(percentile(light.latenciesMs, 50), 0)} ms, p99 ${fmt(percentile(light.latenciesMs, 99), 0)} ms`,
    );
    const perRequest = 100;
    const clients = 48;
    const heavyReqs = Math.floor((atts.length * 0.75) / perRequest);
    const heavy = await load({ concurrency: clients, one: () => publish(perRequest), stopAfter: heavyReqs });
    const rate = (heavy.requests * perRequest) / heavy.seconds;
    const ratio = rate / opts.referencePerSecond;
    say(
      `witnessed, ${clients} clients x ${perRequest} attestations/request: ${fmt(rate, 0)} attestations/s; receipt latency p50 ${fmt(percentile(heavy.latenciesMs, 50), 0)} ms, p99 ${fmt(percentile(heavy.latenciesMs, 99), 0)} ms; ratio ${fmt(ratio, 2)} vs ${fmt(opts.plainRatio, 2)} unwitnessed (${fmt(((ratio - opts.plainRatio) / opts.plainRatio) * 100, 0)}%; goal: no more than -10%) (load ${loadNow()})`,
    );
    // Every receipt carries the witness's cosignature: check one.
    if (!sample) throw new Error('no receipt');
    const opened = await openNote(sample.checkpoint, [cosignatureVerifier(w.vkey)]);
    say(`a witnessed receipt's checkpoint carries ${opened.verified.length} verified cosignature(s)`);
  } finally {
    await server.kill('SIGTERM');
    await witness.kill('SIGTERM');
    await db.drop();
    await rm(logDir, { recursive: true, force: true });
    await rm(witnessDir, { recursive: true, force: true });
  }
}
