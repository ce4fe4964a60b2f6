/**
 * Three Sig Server PROCESSES witnessing each other (issue 11, tests): A, B and C each run on their
 * own PGlite database, each witnesses all three logs (WITNESS_LOGS; cosigning its own log included)
 * and asks all three witnesses with a quorum of 2 (WITNESS_POLICY, fail closed). Keys and ports are
 * made before the start so every file can name the others. Then, with the BUILT CLI:
 * - every served checkpoint carries the cosignatures (at least the quorum, each verified here);
 * - a client pinning the three witnesses with quorum 2 verifies (exit 0), and one with quorum 3 too
 *   while all run;
 * - C stopped, a new publish to A: A still serves (2 of 3), the quorum-2 client passes, the quorum-3
 *   client fails with exit 10 WITNESS_QUORUM_NOT_MET, naming C's missing cosignature.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { cosignatureVerifier, generateCosignatureKey } from '../log/cosignature.js';
import { openNote } from '../log/note.js';
import { checkBuilt, sig, sigJson, tempDir } from './cli-harness.js';
import { makeLogKey } from './cosigning-helpers.js';
import { type ChildServer, freePort, spawnServer, waitFor } from './helpers/child-server.js';

interface Node {
  name: string;
  dir: string;
  port: number;
  origin: string;
  logVkey: string;
  noteKeyFile: string;
  witnessVkey: string;
  witnessKeyFile: string;
  url: string;
  proc?: ChildServer;
}

const nodes: Node[] = [];
const ID = `sha256:${'3'.repeat(64)}`;

async function cosignersOf(url: string): Promise<string[]> {
  const res = await fetch(`${url}/log/checkpoint`);
  if (res.status !== 200) return [];
  const opened = await openNote(
    await res.text(),
    nodes.map((n) => cosignatureVerifier(n.witnessVkey)),
  ).catch(() => undefined);
  return (opened?.verified ?? []).map((s) => s.name).sort();
}

test.before(async () => {
  checkBuilt();
  for (const name of ['a', 'b', 'c']) {
    const dir = tempDir(`three-${name}`);
    const origin = `three.test/${name}`;
    const key = makeLogKey(dir, origin);
    const w = generateCosignatureKey(`three.test/${name}-witness`);
    const witnessKeyFile = join(dir, 'witness.skey');
    writeFileSync(witnessKeyFile, `${w.skey}\n`, { mode: 0o600 });
    const port = await freePort();
    nodes.push({
      name,
      dir,
      port,
      origin,
      logVkey: key.vkey,
      noteKeyFile: key.file,
      witnessVkey: w.vkey,
      witnessKeyFile,
      url: `http://127.0.0.1:${port}`,
    });
  }
  const logs = nodes.map((n) => `log ${n.logVkey} ${n.url}`).join('\n');
  const policy = `${nodes.map((n) => `witness ${n.name} ${n.witnessVkey} ${n.url}/witness`).join('\n')}\ngroup two 2 a b c\nquorum two\n`;
  for (const n of nodes) {
    writeFileSync(join(n.dir, 'logs'), `${logs}\n`);
    writeFileSync(join(n.dir, 'policy'), policy);
  }
  // Started one after the other: on a shared machine three PGlite starts at once take long.
  for (const n of nodes) {
    n.proc = await spawnServer({
      built: true,
      readyTimeoutMs: 120_000,
      env: {
        DATA_DIR: n.dir,
        PORT: String(n.port),
        ORIGIN: n.origin,
        NOTE_KEY_FILE: n.noteKeyFile,
        WITNESS_LOGS: join(n.dir, 'logs'),
        WITNESS_KEY_FILE: n.witnessKeyFile,
        WITNESS_POLICY: join(n.dir, 'policy'),
        CHECKPOINT_INTERVAL_MS: '100',
        BATCH_MAX_AGE_MS: '5',
        PUBLISH_WAIT_MS: '60000',
        VERIFY_WORKERS: '0',
        LOG_LEVEL: 'error',
      },
    });
  }
  // Each log's first checkpoint is served once two witnesses have cosigned it.
  for (const n of nodes) {
    await waitFor(
      `${n.name} serves a cosigned checkpoint`,
      async () => (await cosignersOf(n.url)).length >= 2,
      120_000,
      200,
    );
  }
});

test.after.always(async () => {
  for (const n of nodes) await n.proc?.kill('SIGTERM');
});

test.serial(
  'three servers witness each other: every checkpoint cosigned; quorum 2 passes, quorum 3 fails with one witness stopped',
  async (t) => {
    const a = nodes[0]!;
    const witnessFlags = nodes.flatMap((n) => ['--witness', n.witnessVkey]);
    const two = tempDir('three-q2');
    const three = tempDir('three-q3');
    for (const [home, q] of [
      [two, '2'],
      [three, '3'],
    ] as const) {
      const add = await sig(home, [
        'server',
        'add',
        a.url,
        '--yes',
        '--name',
        'a',
        ...witnessFlags,
        '--quorum',
        q,
      ]);
      t.is(add.code, EXIT.OK, add.stderr);
    }
    await sig(two, ['key', 'generate', '--name', 'Three Tester', '--trust']);
    await sig(two, ['attest', '--id', ID, '--ok']);
    const pub = await sig(two, ['publish', '--all']);
    t.is(pub.code, EXIT.OK, pub.stderr);
    // Every server's served checkpoint carries at least the quorum of valid cosignatures.
    for (const n of nodes) t.true((await cosignersOf(n.url)).length >= 2, n.name);

    const v2 = await sigJson(two, ['verify', ID, '--remote']);
    t.is(v2.json.servers[0].status, 'fresh', v2.stderr);
    t.is(v2.json.servers[0].witnesses.met, true);
    // The third cosignature is appended to the served checkpoint once it arrives.
    await waitFor('all three cosign A', async () => (await cosignersOf(a.url)).length === 3, 60_000, 200);
    const v3 = await sigJson(three, ['verify', ID, '--remote']);
    t.is(v3.json.servers[0].witnesses?.met, true, v3.stderr);

    // C stops; A grows: its new checkpoint reaches A's quorum (a and b) without C.
    await nodes[2]!.proc!.kill('SIGTERM');
    nodes[2]!.proc = undefined;
    await sig(two, ['attest', '--id', ID, '--not-ok']);
    const pub2 = await sig(two, ['publish', '--all']);
    t.is(pub2.code, EXIT.OK, pub2.stderr);
    t.deepEqual(await cosignersOf(a.url), ['three.test/a-witness', 'three.test/b-witness']);

    const again2 = await sigJson(two, ['verify', ID, '--remote']);
    t.is(again2.json.servers[0].status, 'fresh', again2.stderr);
    t.is(again2.code, EXIT.NOT_TRUSTED, 'quorum 2 met; the newest attestation says not ok');
    const again3 = await sigJson(three, ['verify', ID, '--remote']);
    t.is(again3.code, EXIT.QUORUM_NOT_MET, again3.stderr);
    const s = again3.json.servers[0];
    t.is(s.status, 'unwitnessed');
    const missing = s.error.details.witnesses.filter((w: { status: string }) => w.status === 'missing');
    t.deepEqual(
      missing.map((w: { witness: string }) => w.witness),
      ['three.test/c-witness'],
    );
    const audit = await sig(three, ['audit']);
    t.is(audit.code, EXIT.QUORUM_NOT_MET);
    t.regex(audit.stderr, /three\.test\/c-witness: no cosignature/);
  },
);
