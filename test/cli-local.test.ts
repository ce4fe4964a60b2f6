/**
 * The `sig` CLI without a server: keys, attest, trust, verify (local), --help, exit codes. Runs the
 * BUILT CLI as a child process (dist/ must be fresh: `npm test` builds first; when iterating run
 * `npx tsc -p .`). Signet vectors come from ../shared/vectors/signet (chromakode/signet fixtures signed
 * by GnuPG 2.2, see its README).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { COMMANDS } from '../cli/commands.js';
import { EXIT } from '../cli/exit-codes.js';
import { readPublicKey, verifyAttestation } from '../log/signet.js';
import { checkBuilt, defaultFingerprint, sig, sigJson, tempDir } from './cli-harness.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';

interface VectorCase {
  name: string;
  attestation: { data: { id: string; ok: boolean }; key: string; sig: string };
  valid: boolean;
}

test.before(() => checkBuilt());

function writeFile(dir: string, name: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** fileInRepo puts an attestation into $SIG_DIR/attestations/<id>/ as the CLI lays it out. */
function fileInRepo(sigDir: string, att: VectorCase['attestation'], name: string): void {
  writeFile(join(sigDir, 'attestations', encodeURIComponent(att.data.id)), name, JSON.stringify(att));
}

test('key generate, list, export and import into another SIG_DIR', async (t) => {
  const a = tempDir('keys-a');
  const b = tempDir('keys-b');
  const gen = await sigJson(a, ['key', 'generate', '--name', 'Ada', '--email', 'ada@example.org']);
  t.is(gen.code, 0, gen.stderr);
  t.regex(gen.json.fingerprint, /^[0-9A-F]{40}$/);
  t.true(gen.json.default);
  const list = await sigJson(a, ['key', 'list']);
  t.is(list.json.keys.length, 1);
  t.deepEqual(list.json.keys[0].userIds, ['Ada <ada@example.org>']);
  t.regex(list.json.keys[0].algorithm, /ed25519/i);
  const exp = await sig(a, ['key', 'export']);
  t.is(exp.code, 0);
  t.true(exp.stdout.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'));
  const pub = writeFile(tempDir('keys-file'), 'ada.asc', exp.stdout);
  const imp = await sigJson(b, ['key', 'import', pub]);
  t.is(imp.code, 0, imp.stderr);
  t.deepEqual(imp.json.imported, [{ fingerprint: gen.json.fingerprint, secret: false }]);
  // A public key alone cannot sign.
  const noKey = await sig(b, ['attest', '--id', 'sha256:00', '--ok']);
  t.is(noKey.code, EXIT.USAGE);
  t.regex(noKey.stderr, /no secret key/);
});

test('the Signet test key exported by gpg imports, and `sig attest` with it verifies under the vector rules', async (t) => {
  const dir = vectorPath('signet');
  if (!dir) return t.pass('vectors missing (skipped)');
  const home = tempDir('fixture-key');
  const imp = await sigJson(home, ['key', 'import', join(dir, 'key-fixture.secret.asc')]);
  t.is(imp.code, 0, imp.stderr);
  t.deepEqual(imp.json.imported, [{ fingerprint: '9C75CB915794A44DD7697E21571D8816D9886717', secret: true }]);
  const att = await sigJson(home, [
    'attest',
    join(dir, 'test.txt'),
    '--ok',
    '--reviewed',
    '--comment',
    'test',
  ]);
  t.is(att.code, 0, att.stderr);
  // Same identifier as the vectors' fixture/ok cases (sha256 of test.txt).
  const vectors = readVectorJson<{ cases: VectorCase[] }>(join(dir, 'attestations.json'));
  const okCase = vectors.cases.find((c) => c.name === 'fixture/ok/python')!;
  t.is(att.json.attestation.data.id, okCase.attestation.data.id);
  t.is(att.json.attestation.key, '9C75CB915794A44DD7697E21571D8816D9886717');
  // Verified by log/signet.ts with the PUBLIC fixture key, as the vectors are.
  const key = await readPublicKey(readFileSync(join(dir, 'key-fixture.asc'), 'utf8'));
  const { signedAt } = await verifyAttestation(att.json.attestation, key);
  t.is(signedAt.toISOString(), att.json.signedAt);
  // A flipped data field must not verify.
  await t.throwsAsync(
    verifyAttestation({ ...att.json.attestation, data: { ...att.json.attestation.data, ok: false } }, key),
    {
      message: /does not verify/,
    },
  );
  // And `sig verify` applies the policy once the key is trusted.
  t.is((await sig(home, ['verify', join(dir, 'test.txt')])).code, EXIT.NOT_TRUSTED);
  t.is((await sig(home, ['trust', 'add', '9C75 CB91 5794 A44D D769 7E21 571D 8816 D988 6717'])).code, 0);
  const v = await sigJson(home, ['verify', join(dir, 'test.txt')]);
  t.is(v.code, 0, v.stdout);
  t.is(v.json.verdict, 'trusted');
});

test('vector attestations copied into the local repo verify with `sig verify` (ok, not-ok, tampered)', async (t) => {
  const dir = vectorPath('signet');
  if (!dir) return t.pass('vectors missing (skipped)');
  const home = tempDir('vectors');
  const vectors = readVectorJson<{ cases: VectorCase[] }>(join(dir, 'attestations.json'));
  const byName = (n: string) => vectors.cases.find((c) => c.name === n)!.attestation;
  t.is((await sig(home, ['key', 'import', join(dir, 'key-fixture.asc')])).code, 0);
  t.is((await sig(home, ['trust', 'add', '9C75CB915794A44DD7697E21571D8816D9886717'])).code, 0);

  // fixture/ok/node (signed over the Node serialisation) for test.txt: trusted.
  fileInRepo(home, byName('fixture/ok/node'), 'ok-node.json');
  const ok = await sigJson(home, ['verify', join(dir, 'test.txt')]);
  t.is(ok.code, EXIT.OK, ok.stdout);
  t.is(ok.json.attestations[0].status, 'trusted ok');
  t.is(ok.json.attestations[0].signedAt, '2016-03-12T00:00:00.000Z');

  // fixture/not-ok/python for test2.txt: marked bad.
  fileInRepo(home, byName('fixture/not-ok/python'), 'not-ok.json');
  const bad = await sigJson(home, ['verify', join(dir, 'test2.txt')]);
  t.is(bad.code, EXIT.NOT_TRUSTED);
  t.is(bad.json.verdict, 'marked bad');

  // fixture/tampered-data (ok flipped to false after signing), filed under test.txt: invalid, not counted.
  fileInRepo(home, byName('fixture/tampered-data'), 'tampered.json');
  const tampered = await sigJson(home, ['verify', join(dir, 'test.txt')]);
  t.is(tampered.code, EXIT.OK, 'the tampered not-ok must not count');
  const inv = tampered.json.attestations.find((a: { status: string }) => a.status === 'invalid');
  t.truthy(inv);
  t.regex(inv.reason, /SIGNATURE_INVALID/);

  // The human output says it plainly.
  const human = await sig(home, ['verify', join(dir, 'test.txt')]);
  t.regex(human.stdout, /TRUSTED/);
  t.regex(human.stdout, /invalid\s+9C75CB915794A44DD7697E21571D8816D9886717/);
});

test('attest ok then a newer not-ok by the same trusted key: marked bad; untrusted keys do not count', async (t) => {
  const home = tempDir('revoke');
  const other = tempDir('revoke-other');
  const file = writeFile(tempDir('revoke-file'), 'release.tar.gz', 'release bytes\n');
  t.is((await sig(home, ['key', 'generate', '--name', 'Me'])).code, 0);
  const me = await defaultFingerprint(home);
  const a1 = await sigJson(home, ['attest', file, '--ok', '--comment', 'reviewed']);
  t.is(a1.code, 0, a1.stderr);
  t.regex(a1.json.attestation.data.id, /^sha256:[0-9a-f]{64}$/);

  // Untrusted: not trusted (exit 2), reported as untrusted.
  const u = await sigJson(home, ['verify', file]);
  t.is(u.code, EXIT.NOT_TRUSTED);
  t.is(u.json.verdict, 'not trusted');
  t.is(u.json.attestations[0].status, 'untrusted');

  t.is((await sig(home, ['trust', 'add', me])).code, 0);
  t.is((await sig(home, ['verify', file])).code, EXIT.OK);

  // A not-ok from an UNTRUSTED key (another SIG_DIR's key, its attestation copied in) changes nothing.
  t.is((await sig(other, ['key', 'generate', '--name', 'Mallory'])).code, 0);
  const m = await sigJson(other, ['attest', file, '--not-ok']);
  const otherKey = await sig(other, ['key', 'export']);
  t.is((await sig(home, ['key', 'import', '-'], { input: otherKey.stdout })).code, 0);
  copyFileSync(
    m.json.file,
    join(home, 'attestations', encodeURIComponent(m.json.attestation.data.id), 'mallory.json'),
  );
  const still = await sigJson(home, ['verify', file]);
  t.is(still.code, EXIT.OK);
  t.truthy(
    still.json.attestations.find((a: { status: string; ok: boolean }) => a.status === 'untrusted' && !a.ok),
  );

  // Our own newer not-ok revokes our ok. Signature times have one-second resolution: wait until the
  // clock has moved past the first signature's second (a bounded poll on the clock, not a sleep for
  // another process).
  const first = Date.parse(a1.json.signedAt);
  while (Date.now() < first + 1100) await new Promise((r) => setTimeout(r, 50));
  const a2 = await sigJson(home, ['attest', file, '--not-ok', '--comment', 'CVE']);
  t.is(a2.code, 0);
  const v = await sigJson(home, ['verify', file]);
  t.is(v.code, EXIT.NOT_TRUSTED);
  t.is(v.json.verdict, 'marked bad');
  const statuses = v.json.attestations
    .map((a: { key: string; status: string }) => `${a.key === me ? 'me' : 'other'}:${a.status}`)
    .sort();
  t.deepEqual(statuses, ['me:marked bad', 'me:superseded', 'other:untrusted']);

  // With --max-not-ok 1 one trusted not-ok is tolerated, but then no trusted ok is left: not trusted.
  t.is((await sig(home, ['trust', 'policy', '--max-not-ok', '1'])).code, 0);
  const p = await sigJson(home, ['verify', file]);
  t.is(p.json.verdict, 'not trusted');
  t.is(p.code, EXIT.NOT_TRUSTED);
});

test('trust policy: --min-ok 2 needs two trusted keys', async (t) => {
  const home = tempDir('policy');
  const id = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
  t.is((await sig(home, ['key', 'generate', '--name', 'One'])).code, 0);
  const one = await defaultFingerprint(home);
  t.is((await sig(home, ['key', 'generate', '--name', 'Two'])).code, 0);
  const keys = (await sigJson(home, ['key', 'list'])).json.keys as { fingerprint: string }[];
  const two = keys.find((k) => k.fingerprint !== one)!.fingerprint;
  t.is((await sig(home, ['trust', 'add', one])).code, 0);
  t.is((await sig(home, ['trust', 'add', two])).code, 0);
  t.is((await sig(home, ['trust', 'policy', '--min-ok', '2'])).code, 0);
  t.deepEqual((await sigJson(home, ['trust', 'list'])).json.policy, { minOk: 2, maxNotOk: 0 });
  t.is((await sig(home, ['attest', '--id', id, '--ok', '--key', one])).code, 0);
  t.is((await sig(home, ['verify', id])).code, EXIT.NOT_TRUSTED);
  t.is((await sig(home, ['attest', '--id', id, '--ok', '--key', two])).code, 0);
  t.is((await sig(home, ['verify', id])).code, EXIT.OK);
  t.is((await sig(home, ['trust', 'remove', two])).code, 0);
  t.is((await sig(home, ['verify', id])).code, EXIT.NOT_TRUSTED);
});

test('verify --remote with no server configured: warns, prints the command, exits stale; --allow-stale goes on', async (t) => {
  const home = tempDir('noserver');
  const id = 'sha256:2222222222222222222222222222222222222222222222222222222222222222';
  t.is((await sig(home, ['key', 'generate', '--name', 'Me'])).code, 0);
  t.is((await sig(home, ['trust', 'add', await defaultFingerprint(home)])).code, 0);
  t.is((await sig(home, ['attest', '--id', id])).code, 0);
  const r = await sig(home, ['verify', id, '--remote']);
  t.is(r.code, EXIT.STALE);
  t.regex(r.stderr, /no server configured: add one with `sig server add <url>`/);
  t.regex(r.stdout, /STALE/);
  const s = await sigJson(home, ['verify', id, '--remote', '--allow-stale']);
  t.is(s.code, EXIT.OK);
  t.is(s.json.verdict, 'trusted');
  t.regex(s.stderr, /warning: no server configured/);
});

test('usage errors exit 1 with a message naming the problem; --json errors are JSON', async (t) => {
  const home = tempDir('usage');
  const r = await sig(home, ['trust', 'add', 'not-a-fingerprint']);
  t.is(r.code, EXIT.USAGE);
  t.regex(r.stderr, /expected a 40-hex-digit OpenPGP v4 fingerprint/);
  const j = await sigJson(home, ['verify', 'no-such-file-or-id']);
  t.is(j.code, EXIT.USAGE);
  t.is(j.json.error.code, 'USAGE');
  t.regex(j.json.error.message, /neither a file nor an identifier/);
  const f = await sig(home, ['attest', '--id', 'sha256:00', '--ok', '--not-ok']);
  t.is(f.code, EXIT.USAGE);
});

test('every command has --help with examples and its exit codes', async (t) => {
  const home = tempDir('help');
  const ids = Object.keys(COMMANDS);
  t.true(ids.length >= 20);
  // Four at a time: each is a process start.
  for (let i = 0; i < ids.length; i += 4) {
    const batch = ids.slice(i, i + 4);
    const runs = await Promise.all(batch.map((id) => sig(home, [...id.split(':'), '--help'])));
    runs.forEach((r, j) => {
      const id = batch[j]!;
      t.is(r.code, 0, `${id} --help: ${r.stderr}`);
      t.regex(r.stdout, /EXAMPLES/, `${id} has examples`);
      t.regex(r.stdout, /Exit codes:\n\s+0 /, `${id} lists exit codes`);
      if (id !== 'server:start' && id !== 'key:export') t.regex(r.stdout, /--json/, `${id} has --json`);
    });
  }
  t.deepEqual(readdirSync(join(home)).length, 0, 'help writes nothing to SIG_DIR');
});
