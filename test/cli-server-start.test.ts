/**
 * `sig server start` as operators run it: the BUILT CLI as a child process (dist/ must be fresh: `npm
 * test` builds first; when iterating run `npx tsc -p .`), flags from server/config.ts SETTINGS, a
 * real server on 127.0.0.1 port 0 with PGlite in a temp dir, stopped gracefully by SIGTERM.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { checkBuilt, root, sig, tempDir } from './cli-harness.js';

test.before(() => checkBuilt());

test('sig server start serves until SIGTERM, then drains and exits 0', async (t) => {
  const data = tempDir('start');
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin', 'sig.js'),
      'server',
      'start',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      data,
      '--origin',
      'start.test/log',
      '--log-level',
      'info',
    ],
    { cwd: root, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // Wait for the "listening" line (the event), bounded by ava's timeout.
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /sig server listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; treeSize: number };
  t.deepEqual(health, { ok: true, treeSize: 0 });
  // The CLI can pin it.
  const home = tempDir('start-home');
  const add = await sig(home, ['server', 'add', url, '--yes']);
  t.is(add.code, 0, add.stderr);
  child.kill('SIGTERM');
  t.is(await exited, 0);
  t.regex(stderr, /"msg":"stopped"/);
});

test('sig server start with a bad setting names it and exits 1', async (t) => {
  const r = await sig(tempDir('start-bad'), ['server', 'start', '--port', 'eighty']);
  t.is(r.code, EXIT.USAGE);
  t.regex(r.stderr, /PORT \(--port\) must be a whole number/);
});
