/**
 * The CLI side of witnessing (issue 11 item 5): `sig server add --witness ... --quorum`, then
 * `sig verify --remote` and `sig audit` require the pinned quorum of valid, fresh cosignatures (exit 10
 * WITNESS_QUORUM_NOT_MET when it is missing; a broken cosignature in a pinned witness's name is invalid
 * data, exit 4), and `sig log checkpoint` shows each cosignature and its time. The log is a real Sig
 * Server in-process with WITNESS_POLICY; its witnesses are test/cosigning-helpers.ts (log/witness.ts);
 * test/cli-witness-servers.test.ts has Sig Servers witnessing each other. The BUILT CLI runs
 * (`npm run build` first).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import type { ServerHandle } from '../server/main.js';
import { checkBuilt, sig, sigJson, startProxy, type TamperProxy, tempDir } from './cli-harness.js';
import { makeLogKey, startTestWitness, startWitnessedLog, type TestWitness } from './cosigning-helpers.js';

let a: TestWitness;
let b: TestWitness;
let server: ServerHandle;
let proxy: TamperProxy;
let home: string;
const ID = `sha256:${'c'.repeat(64)}`;

test.before(async () => {
  checkBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'sig-cliw-'));
  const key = makeLogKey(dir, 'cli-witness.test/log');
  a = await startTestWitness('witness.test/cli-a');
  b = await startTestWitness('witness.test/cli-b');
  a.addLog(key.vkey);
  b.addLog(key.vkey);
  // The log asks both and serves a checkpoint once either has cosigned (fail closed at 1 of 2).
  const policy = `witness a ${a.vkey} ${a.url}\nwitness b ${b.vkey} ${b.url}\ngroup one 1 a b\nquorum one\n`;
  server = await startWitnessedLog(dir, key, policy);
  proxy = await startProxy(server.url);
  home = tempDir('cli-witness');
  const add = await sigJson(home, [
    'server',
    'add',
    proxy.url,
    '--yes',
    '--name',
    'w',
    '--witness',
    a.vkey,
    '--witness',
    b.vkey,
    '--quorum',
    '2',
  ]);
  if (add.code !== 0) throw new Error(`server add: ${add.stdout}${add.stderr}`);
  await sig(home, ['key', 'generate', '--name', 'Witness Tester', '--trust']);
  await sig(home, ['attest', '--id', ID, '--ok']);
  const p = await sig(home, ['publish', '--all']);
  if (p.code !== 0) throw new Error(`publish: ${p.stderr}`);
});

test.after.always(async () => {
  await proxy?.close();
  await server?.close();
  await a?.close();
  await b?.close();
});

test.serial('quorum 2 of 2 met: verify, audit and log checkpoint report each witness', async (t) => {
  const v = await sigJson(home, ['verify', ID, '--remote']);
  t.is(v.code, EXIT.OK, v.stderr);
  const w = v.json.servers[0].witnesses;
  t.is(w.met, true);
  t.deepEqual(
    w.witnesses.map((x: { witness: string; status: string }) => [x.witness, x.status]),
    [
      ['witness.test/cli-a', 'cosigned'],
      ['witness.test/cli-b', 'cosigned'],
    ],
  );
  const audit = await sigJson(home, ['audit']);
  t.is(audit.code, EXIT.OK, audit.stderr);
  t.is(audit.json.reports[0].witnesses.met, true);
  const cp = await sig(home, ['log', 'checkpoint']);
  t.is(cp.code, EXIT.OK, cp.stderr);
  t.regex(cp.stdout, /— witness\.test\/cli-a /);
  t.regex(cp.stderr, /witness\.test\/cli-b: cosigned at \d{4}-\d\d-\d\dT/);
  const human = await sig(home, ['verify', ID, '--remote']);
  t.regex(human.stdout, /witness quorum pinned-quorum: met/);
});

test.serial(
  'server add --witness-policy: a tlog-policy file with a group (URLs and log lines ignored)',
  async (t) => {
    const other = tempDir('cli-witness-policy');
    const file = join(other, 'policy');
    writeFileSync(
      file,
      `# pinned by file\nlog ${server.service.info().vkey}\nwitness a ${a.vkey} ${a.url}\nwitness b ${b.vkey}\ngroup any-one any a b\nquorum any-one\n`,
    );
    const add = await sigJson(other, ['server', 'add', proxy.url, '--yes', '--witness-policy', file]);
    t.is(add.code, EXIT.OK, add.stderr);
    t.is(add.json.witnesses.quorum, 'any-one');
    t.is(add.json.witnesses.met, true);
    const v = await sigJson(other, ['verify', ID, '--remote']);
    t.is(v.json.servers[0].witnesses.met, true, v.stderr);
    const bad = await sig(other, [
      'server',
      'add',
      proxy.url,
      '--yes',
      '--name',
      'x',
      '--witness-policy',
      file,
      '--quorum',
      '1',
    ]);
    t.is(bad.code, EXIT.USAGE);
  },
);

test.serial('a broken cosignature in a pinned witness name is invalid data (exit 4)', async (t) => {
  proxy.mutate = (path, body) => {
    if (!path.startsWith('/log/checkpoint')) return undefined;
    // Flip one base64 character inside witness a's signature (after its key ID and timestamp).
    const text = body.toString('utf8');
    const at = text.indexOf('— witness.test/cli-a ');
    if (at < 0) return undefined;
    const i = at + '— witness.test/cli-a '.length + 40;
    const c = text[i] === 'A' ? 'B' : 'A';
    return { body: Buffer.from(text.slice(0, i) + c + text.slice(i + 1)) };
  };
  try {
    const r = await sigJson(home, ['audit']);
    t.is(r.code, EXIT.INVALID, r.stderr);
    t.is(r.json.reports[0].error.code, 'NOTE_SIGNATURE_INVALID');
    t.regex(r.json.reports[0].error.message, /pinned witness/);
  } finally {
    proxy.mutate = undefined;
  }
});

test.serial(
  'one witness down: the server still serves (its quorum is 1), the client pinned 2: exit 10',
  async (t) => {
    b.mode = 'down';
    await sig(home, ['attest', '--id', ID, '--not-ok']);
    const p = await sig(home, ['publish', '--all']);
    t.is(p.code, EXIT.OK, `${p.stdout}${p.stderr}`);
    const v = await sigJson(home, ['verify', ID, '--remote']);
    t.is(v.code, EXIT.QUORUM_NOT_MET, v.stderr);
    const s = v.json.servers[0];
    t.is(s.status, 'unwitnessed');
    t.is(s.error.code, 'WITNESS_QUORUM_NOT_MET');
    const byName = Object.fromEntries(
      s.error.details.witnesses.map((x: { witness: string; status: string }) => [x.witness, x.status]),
    );
    t.deepEqual(byName, { 'witness.test/cli-a': 'cosigned', 'witness.test/cli-b': 'missing' });
    const audit = await sig(home, ['audit']);
    t.is(audit.code, EXIT.QUORUM_NOT_MET);
    t.regex(audit.stderr, /witness\.test\/cli-b: no cosignature/);
    // Shown, not required: log checkpoint prints the one cosignature and exits 0.
    const cp = await sigJson(home, ['log', 'checkpoint']);
    t.is(cp.code, EXIT.OK);
    t.is(cp.json.witnesses.met, false);
    b.mode = 'ok';
  },
);
