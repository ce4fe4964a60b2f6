/**
 * The log role across processes sharing one Postgres database (SPEC.md "Storage and processes"): the
 * integrating process runs the cosigning loop and records served checkpoints in the database; a
 * serve-only process (INTEGRATE=false) with the same WITNESS_POLICY serves what the database says is
 * served. A publish to the serve-only process waits until a checkpoint covering it has the quorum,
 * and its receipt carries the cosignature; both processes serve the same cosigned note. Skipped with
 * a message when Postgres does not answer (PG_REQUIRED=1 makes that a failure).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { cosignatureVerifier } from '../log/cosignature.js';
import { openNote } from '../log/note.js';
import { makeLogKey, policyText, startTestWitness, startWitnessedLog } from './cosigning-helpers.js';
import { attest, makeSigner, postJson } from './helpers/http.js';
import { freshPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/stores.js';

test('a serve-only process serves the checkpoints the integrator had cosigned; its receipts wait for the quorum', async (t) => {
  const db = await freshPostgres('cosigning_processes');
  if (!db) {
    t.pass('Postgres not reachable: skipped (PG_REQUIRED=1 makes this a failure)');
    return;
  }
  const dirA = await tempDir('cosign-proc-a');
  const dirB = await tempDir('cosign-proc-b');
  const key = makeLogKey(dirA, 'cosign-processes.test/log');
  const w = await startTestWitness('witness.test/proc');
  w.addLog(key.vkey);
  const policy = policyText([{ ...w, name: 'w' }], 'w');
  const integrator = await startWitnessedLog(dirA, key, policy, { 'database-url': db.url });
  const serving = await startWitnessedLog(dirB, key, policy, {
    'database-url': db.url,
    integrate: 'false',
    'openpgp-key-file': join(dirA, 'openpgp.key'),
  });
  t.teardown(async () => {
    await serving.close();
    await integrator.close();
    await w.close();
    await db.drop();
  });
  t.truthy(readFileSync(join(dirA, 'openpgp.key'), 'utf8'));
  const signer = await makeSigner('Process Tester');
  const r = await postJson(`${serving.url}/v1/attestations`, {
    attestations: [await attest(signer, 'sha256:cosign-processes-0')],
    keys: [signer.armoredPublicKey],
  });
  t.is(r.status, 200, JSON.stringify(r.body));
  const note: string = r.body.receipts[0].checkpoint;
  const opened = await openNote(note, [cosignatureVerifier(w.vkey)]);
  t.is(opened.verified.length, 1);
  const fromA = await (await fetch(`${integrator.url}/log/checkpoint`)).text();
  const fromB = await (await fetch(`${serving.url}/log/checkpoint`)).text();
  t.is(fromB, fromA);
  // Only the integrating process asks the witness: the serve-only one has no witness metrics rows.
  const mB = await (await fetch(`${serving.url}/metrics`)).text();
  t.notRegex(mB, /sig_witness_cosignatures_total\{/);
  t.regex(
    await (await fetch(`${integrator.url}/metrics`)).text(),
    /sig_witness_cosignatures_total\{witness="w"\} [1-9]/,
  );
});
