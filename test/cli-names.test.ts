/**
 * Server names are folder names under $SIG_DIR (checkpoints/<name>, receipts/<name>, evidence/<name>-…):
 * a name such as `..` once made `sig server add` delete $SIG_DIR recursively, secret keys included.
 * Names are checked where they are made (`sig server add --name`, USAGE) and where they are read back
 * (servers.json, LOCAL_DATA_INVALID), never used as a path unchecked. Runs the BUILT CLI against a
 * real server on 127.0.0.1 port 0.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import type { ServerHandle } from '../server/main.js';
import { checkBuilt, defaultFingerprint, sig, sigJson, startTestServer, tempDir } from './cli-harness.js';

let a: ServerHandle;
let fpA: string;

test.before(async () => {
  checkBuilt();
  a = await startTestServer(tempDir('names-srv'));
  fpA = a.service.info().openpgpFingerprint;
});

test.after.always(async () => {
  await a?.close();
});

/** home makes a SIG_DIR with a secret key and one pinned server named `first`. */
async function home(label: string): Promise<{ dir: string; secret: string }> {
  const dir = tempDir(label);
  t0(await sig(dir, ['key', 'generate', '--name', label]));
  t0(await sig(dir, ['server', 'add', a.url, '--fingerprint', fpA, '--name', 'first']));
  const fp = await defaultFingerprint(dir);
  return { dir, secret: join(dir, 'keys', `${fp}.secret.asc`) };
}

function t0(r: { code: number; stderr: string }): void {
  if (r.code !== 0) throw new Error(r.stderr);
}

test('server add --name .. is refused and deletes nothing (it once wiped $SIG_DIR, secret keys included)', async (t) => {
  const h = await home('dotdot');
  const r = await sigJson(h.dir, ['server', 'add', a.url, '--fingerprint', fpA, '--name', '..']);
  t.is(r.code, EXIT.USAGE, r.stdout + r.stderr);
  t.is(r.json.error.code, 'USAGE');
  t.regex(r.json.error.message, /--name/);
  t.true(existsSync(h.secret), 'the secret key is still there');
  t.true(existsSync(join(h.dir, 'checkpoints', 'first', 'latest')));
  t.deepEqual(
    (await sigJson(h.dir, ['server', 'list'])).json.servers.map((s: { name: string }) => s.name),
    ['first'],
  );
});

test("server add --name . is refused and keeps every other server's checkpoints", async (t) => {
  const h = await home('dot');
  const r = await sig(h.dir, ['server', 'add', a.url, '--fingerprint', fpA, '--name', '.']);
  t.is(r.code, EXIT.USAGE, r.stderr);
  t.true(existsSync(join(h.dir, 'checkpoints', 'first', 'latest')));
});

test('server add refuses names with separators, control characters, a leading dot or dash, or nothing', async (t) => {
  const h = await home('bad-names');
  for (const name of ['a/b', '..\\x', 'a\u0001b', '.hidden', '-x', '', 'x'.repeat(101), 'tab\tname', 'é']) {
    const r = await sig(h.dir, ['server', 'add', a.url, '--fingerprint', fpA, `--name=${name}`]);
    t.is(r.code, EXIT.USAGE, `${JSON.stringify(name)}: ${r.stderr}`);
  }
  t.deepEqual(readdirSync(join(h.dir, 'checkpoints')), ['first']);
  // A name of the documented pattern works.
  t.is((await sig(h.dir, ['server', 'add', a.url, '--fingerprint', fpA, '--name', 'Log_2.b-c'])).code, 0);
});

test('a bad name read back from servers.json is LOCAL_DATA_INVALID, never a path (remove, verify, audit, list)', async (t) => {
  for (const bad of ['..', '.', '../keys', 'a/../../b', '']) {
    const h = await home(`json-${bad.length}`);
    const file = join(h.dir, 'servers.json');
    const cfg = JSON.parse(readFileSync(file, 'utf8'));
    cfg.servers[0].name = bad;
    writeFileSync(file, JSON.stringify(cfg));
    const before = readdirSync(h.dir).sort();
    for (const args of [
      ['server', 'remove', bad === '' ? a.url : bad],
      ['verify', `sha256:${'0'.repeat(64)}`, '--remote'],
      ['audit'],
      ['server', 'list'],
      ['log', 'checkpoint'],
    ]) {
      const r = await sigJson(h.dir, args);
      t.is(r.code, EXIT.USAGE, `${JSON.stringify(bad)} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      t.is(r.json.error.code, 'LOCAL_DATA_INVALID', `${JSON.stringify(bad)} ${args.join(' ')}`);
      t.regex(r.json.error.message, /servers\.json/);
    }
    t.true(existsSync(h.secret), `${JSON.stringify(bad)}: the secret key is still there`);
    t.deepEqual(readdirSync(h.dir).sort(), before, `${JSON.stringify(bad)}: nothing new in $SIG_DIR`);
    t.true(existsSync(join(h.dir, 'checkpoints', 'first', 'latest')));
  }
});
