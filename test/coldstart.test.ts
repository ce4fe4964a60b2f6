/**
 * What the cold-start work (issue 13 target 5; timings in bench/coldstart.ts, never here) must not change:
 * - `sig server start` run by bin/sig.js without oclif (cli/serve.ts) honours its flags and serves a
 *   valid signed checkpoint on a fresh data directory, both when PGlite runs initdb (empty template
 *   cache, which keeps the template) and when the directory is a copy of the cached template; two logs
 *   made from one template have their own keys and their own data;
 * - `--help` and flags oclif must judge still go through oclif;
 * - server/pglite-template.ts leaves existing databases alone, falls back to initdb when the cache
 *   cannot be used, and removes the temp folders of a process that died.
 * The CLI is the built one (dist/: `npm run build` first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { plainServerFlags } from '../cli/serve.js';
import { preparePgliteDir, templateKey } from '../server/pglite-template.js';
import { checkBuilt, root, sig, tempDir } from './cli-harness.js';
import { fetchLogKeys, openCheckpoint } from './helpers/child-server.js';

test.before(() => checkBuilt());

interface Started {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** start runs `node bin/sig.js server start --port 0 <args>` and resolves at its "listening" line. */
function start(args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'sig.js'), 'server', 'start', '--port', '0', '--host=127.0.0.1', ...args],
    { cwd: root, env: { ...process.env, LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /sig server listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve({ url: m[1]!, child, exited });
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
}

/** signedCheckpoint fetches /log/checkpoint and verifies both signature lines by the keys of /v1/server. */
async function signedCheckpoint(url: string) {
  const res = await fetch(`${url}/log/checkpoint`);
  if (res.status !== 200) throw new Error(`/log/checkpoint answered ${res.status}`);
  const keys = await fetchLogKeys(url);
  return { keys, checkpoint: await openCheckpoint(await res.text(), keys) };
}

test('server start without oclif: fresh data dirs by initdb, then by the template, each a log of its own', async (t) => {
  const cache = tempDir('cs-cache');
  const env = { XDG_CACHE_HOME: cache };
  const dirA = join(tempDir('cs-a'), 'data');
  const a = await start(['--data-dir', dirA, '--origin=coldstart.test/a'], env);
  const got = await signedCheckpoint(a.url);
  t.is(got.checkpoint.origin, 'coldstart.test/a');
  t.is(got.checkpoint.treeSize, 0n);
  // The first start kept the template (PGlite ran initdb for it).
  t.true(existsSync(join(cache, 'sig-server', templateKey(), 'complete')));
  for (const f of ['note.key', 'openpgp.key']) t.is(statSync(join(dirA, f)).mode & 0o777, 0o600, f);
  t.is(statSync(join(dirA, 'pglite')).mode & 0o777, 0o700);
  a.child.kill('SIGTERM');
  t.is(await a.exited, 0);

  const dirB = join(tempDir('cs-b'), 'data');
  const b = await start(['--data-dir', dirB, '--origin', 'coldstart.test/b'], env);
  const gotB = await signedCheckpoint(b.url);
  t.is(gotB.checkpoint.origin, 'coldstart.test/b');
  t.is(gotB.checkpoint.treeSize, 0n);
  // Its own identity: had B's database been A's, the recorded origin would refuse to start (IDENTITY_MISMATCH).
  t.not(gotB.keys.vkey, got.keys.vkey);
  t.is(statSync(join(dirB, 'pglite')).mode & 0o777, 0o700);
  t.deepEqual(
    readdirSync(join(dirB)).filter((n) => n.includes('.new-')),
    [],
  );
  b.child.kill('SIGTERM');
  t.is(await b.exited, 0);

  // Log A restarts on its own database and identity (origin and keys recorded at its first start).
  const a2 = await start(['--data-dir', dirA], env);
  const again = await signedCheckpoint(a2.url);
  t.is(again.checkpoint.origin, 'coldstart.test/a');
  t.is(again.keys.vkey, got.keys.vkey);
  a2.child.kill('SIGTERM');
  t.is(await a2.exited, 0);
});

test('server start --help and flags oclif must judge still go through oclif', async (t) => {
  const home = tempDir('cs-help');
  const help = await sig(home, ['server', 'start', '--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /--data-dir/);
  t.regex(help.stdout, /Run a Sig Server/);
  const unknown = await sig(home, ['server', 'start', '--port', '0', '--no-such-flag', 'x']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /Nonexistent flag: --no-such-flag/);
  const twice = await sig(home, ['server', 'start', '--port', 'eighty', '--port', 'ninety']);
  t.is(twice.code, 1);
});

test('plainServerFlags takes only SETTINGS flags, each once, with a value', (t) => {
  t.deepEqual(plainServerFlags([]), {});
  t.deepEqual(plainServerFlags(['--port', '0', '--data-dir=./d', '--origin=a=b']), {
    port: '0',
    'data-dir': './d',
    origin: 'a=b',
  });
  t.is(plainServerFlags(['--help']), undefined);
  t.is(plainServerFlags(['-h']), undefined);
  t.is(plainServerFlags(['--port']), undefined);
  t.is(plainServerFlags(['--port', '--host']), undefined);
  t.is(plainServerFlags(['--port', '1', '--port', '2']), undefined);
  t.is(plainServerFlags(['--nope', '1']), undefined);
  t.is(plainServerFlags(['stray']), undefined);
});

test('preparePgliteDir: existing databases untouched, no usable cache means initdb, dead temp folders go', async (t) => {
  const data = tempDir('cs-prep');
  // An existing database (PG_VERSION) is left as it is, whatever the cache.
  mkdirSync(join(data, 'pglite'));
  writeFileSync(join(data, 'pglite', 'PG_VERSION'), '18\n');
  t.is(await preparePgliteDir(join(data, 'pglite'), join(data, 'no-cache')), 'existing');
  t.false(existsSync(join(data, 'no-cache')));
  // No cache, or one that cannot be made (a file in the way): PGlite runs initdb as before.
  const fresh = tempDir('cs-prep2');
  t.is(await preparePgliteDir(join(fresh, 'pglite'), undefined), 'initdb');
  writeFileSync(join(fresh, 'file'), 'x');
  t.is(await preparePgliteDir(join(fresh, 'pglite'), join(fresh, 'file', 'cache')), 'initdb');
  // A folder with files but no database is left to PGlite (as before).
  mkdirSync(join(fresh, 'pglite'));
  writeFileSync(join(fresh, 'pglite', 'stray'), 'x');
  t.is(await preparePgliteDir(join(fresh, 'pglite'), join(fresh, 'cache')), 'initdb');
  // The copy of a process that died (pid 2^22 + 1 is above the largest pid_max Linux allows) is removed.
  const dead = join(data, `pglite.new-${2 ** 22 + 1}-0123abcd`);
  mkdirSync(dead);
  await preparePgliteDir(join(data, 'pglite'), undefined);
  t.false(existsSync(dead));
});
