/**
 * A log that forks, seen by a witness (issue 11, tests). A and A' share the log's keys (A's note.key and
 * openpgp.key, given to A' by file) and origin, on different databases with different entries: two
 * branches, both validly signed. Both ask the same witness W, a Sig Server whose witness role follows
 * the origin (WITNESS_LOGS). W cosigns A's branch first; A' (WITNESS_FAIL_OPEN, so it serves anyway)
 * submits its own branch and W refuses it (422: its consistency proof does not lead from W's tree),
 * while W keeps cosigning A. A client that pinned W (quorum 1) and asks A' gets exit 10: the forked
 * side cannot show the witness's cosignature. Servers run in-process; the BUILT CLI runs.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { cosignatureVerifier, generateCosignatureKey } from '../log/cosignature.js';
import { openNote } from '../log/note.js';
import type { ServerHandle } from '../server/main.js';
import { checkBuilt, sig, sigJson, tempDir } from './cli-harness.js';
import { makeLogKey, startWitnessedLog } from './cosigning-helpers.js';
import { waitFor } from './helpers/child-server.js';
import { attest, makeSigner, postJson } from './helpers/http.js';

const handles: ServerHandle[] = [];
test.after.always(async () => {
  for (const h of handles.reverse()) await h.close();
});

function tmp(label: string): string {
  return mkdtempSync(join(tmpdir(), `sig-wfork-${label}-`));
}

async function cosignedBy(url: string, vkey: string): Promise<boolean> {
  const res = await fetch(`${url}/log/checkpoint`);
  if (res.status !== 200) return false;
  const opened = await openNote(await res.text(), [cosignatureVerifier(vkey)]).catch(() => undefined);
  return (opened?.verified.length ?? 0) > 0;
}

test('the witness refuses the second branch of a forked log; verify against the forked side fails (exit 10)', async (t) => {
  checkBuilt();
  const dirW = tmp('w');
  const dirA = tmp('a');
  const dirB = tmp('b');
  const keyA = makeLogKey(dirA, 'fork-witness.test/log');
  const w = generateCosignatureKey('fork-witness.test/w');
  writeFileSync(join(dirW, 'witness.skey'), `${w.skey}\n`, { mode: 0o600 });
  writeFileSync(join(dirW, 'logs'), `log ${keyA.vkey}\n`);
  const witness = await startWitnessedLog(dirW, makeLogKey(dirW, 'fork-witness.test/w-log'), undefined, {
    'witness-logs': join(dirW, 'logs'),
    'witness-key-file': join(dirW, 'witness.skey'),
  });
  handles.push(witness);
  const policy = `witness w ${w.vkey} ${witness.url}/witness\nquorum w\n`;
  const a = await startWitnessedLog(dirA, keyA, policy);
  handles.push(a);
  // A' signs with A's keys (both files), on its own database: a fork waiting to happen.
  const forked = await startWitnessedLog(dirB, { ...keyA, file: keyA.file }, policy, {
    'openpgp-key-file': join(dirA, 'openpgp.key'),
    'witness-fail-open': 'true',
    // W's refusals are logged as errors by design: keep the test output clean.
    'log-level': 'silent',
  });
  handles.push(forked);
  t.is(forked.service.info().openpgpFingerprint, a.service.info().openpgpFingerprint);

  const signer = await makeSigner('Fork Tester');
  const publish = async (url: string, ids: string[]) =>
    postJson(`${url}/v1/attestations`, {
      attestations: await Promise.all(ids.map((id) => attest(signer, id))),
      keys: [signer.armoredPublicKey],
    });
  // A's branch first: W cosigns it.
  const ra = await publish(a.url, [`sha256:${'a'.repeat(64)}`]);
  t.is(ra.status, 200, JSON.stringify(ra.body));
  t.true(await cosignedBy(a.url, w.vkey));
  // A' grows past A with other entries: W is sent a consistency proof from its tree that cannot verify.
  const rb = await publish(
    forked.url,
    ['b', 'c', 'd'].map((c) => `sha256:${c.repeat(64)}`),
  );
  t.is(rb.status, 200, JSON.stringify(rb.body));
  await waitFor(
    "W refuses A' (422)",
    async () =>
      /sig_witness_failures_total\{witness="w",reason="refused"\} [1-9]/.test(
        await (await fetch(`${forked.url}/metrics`)).text(),
      ),
    60_000,
    200,
  );
  t.false(await cosignedBy(forked.url, w.vkey), "A' serves no cosignature by W (fail-open)");
  // W's state is still A's branch: it goes on cosigning A.
  const ra2 = await publish(a.url, [`sha256:${'e'.repeat(64)}`]);
  t.is(ra2.status, 200, JSON.stringify(ra2.body));
  t.true(await cosignedBy(a.url, w.vkey));

  // A victim who only ever talks to A', pinning W with quorum 1.
  const home = tempDir('wfork');
  const add = await sig(home, ['server', 'add', forked.url, '--yes', '--witness', w.vkey, '--quorum', '1']);
  t.is(add.code, EXIT.OK, add.stderr);
  t.regex(add.stderr, /does not carry the witness quorum/);
  const v = await sigJson(home, ['verify', `sha256:${'b'.repeat(64)}`, '--remote']);
  t.is(v.code, EXIT.QUORUM_NOT_MET, v.stderr);
  t.is(v.json.servers[0].status, 'unwitnessed');
  t.is(v.json.servers[0].error.details.witnesses[0].status, 'missing');
});
