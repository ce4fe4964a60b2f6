/**
 * The log role (issue 11 item 3, SPEC.md "Witnesses"): a Sig Server with WITNESS_POLICY submits each
 * committed checkpoint to its witnesses (c2sp.org/tlog-witness), stores the cosignatures, and serves
 * only checkpoints that reached the quorum, with the cosignature lines appended; receipts wait for
 * such a checkpoint. Fail closed by default (503 WITNESS_QUORUM_TIMEOUT), fail-open on request; a
 * witness that lost its state is resynced from its 409. The witnesses here are test/cosigning-helpers.ts
 * (log/witness.ts alone); test/cli-witness.test.ts runs Sig Servers witnessing each other.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cosignatureTimestamp, cosignatureVerifier } from '../log/cosignature.js';
import { openNote, parseNote } from '../log/note.js';
import {
  makeLogKey,
  policyText,
  startTestWitness,
  startWitnessedLog,
  type TestWitness,
} from './cosigning-helpers.js';
import { attest, getJson, makeSigner, postJson, type Signer } from './helpers/http.js';

function tmp(label: string): string {
  return mkdtempSync(join(tmpdir(), `sig-cosign-${label}-`));
}

/** cosigners returns the names of the witnesses whose cosignature on note verifies. */
async function cosigners(note: string, witnesses: readonly TestWitness[]): Promise<string[]> {
  const verifiers = witnesses.map((w) => cosignatureVerifier(w.vkey));
  const opened = await openNote(note, verifiers);
  return opened.verified.map((s) => s.name).sort();
}

async function checkpointText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${url}/log/checkpoint`);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function publish(url: string, signer: Signer, id: string) {
  return postJson(`${url}/v1/attestations`, {
    attestations: [await attest(signer, id)],
    keys: [signer.armoredPublicKey],
  });
}

let signer: Signer;
test.before(async () => {
  signer = await makeSigner('Cosign Tester');
});

test('every served checkpoint and receipt carries the quorum of cosignatures (2 of 2)', async (t) => {
  const dir = tmp('ok');
  const key = makeLogKey(dir, 'cosign.test/ok');
  const a = await startTestWitness('witness.test/a');
  const b = await startTestWitness('witness.test/b');
  for (const w of [a, b]) w.addLog(key.vkey);
  const policy = `witness a ${a.vkey} ${a.url}\nwitness b ${b.vkey} ${b.url}\ngroup both all a b\nquorum both\n`;
  const server = await startWitnessedLog(dir, key, policy);
  t.teardown(async () => {
    await server.close();
    await a.close();
    await b.close();
  });
  for (let i = 0; i < 3; i++) {
    const r = await publish(server.url, signer, `sha256:cosign-ok-${i}`);
    t.is(r.status, 200, JSON.stringify(r.body));
    const note: string = r.body.receipts[0].checkpoint;
    t.deepEqual(await cosigners(note, [a, b]), ['witness.test/a', 'witness.test/b']);
    const size = BigInt(parseNote(note).text.split('\n')[1]!);
    t.true(size > BigInt(r.body.receipts[0].index));
    // Each witness recorded at least this size (it cosigned it).
    for (const w of [a, b]) t.true(w.cosigned.get(key.origin)!.treeSize >= size);
  }
  const cp = await checkpointText(server.url);
  t.is(cp.status, 200);
  t.deepEqual(await cosigners(cp.text, [a, b]), ['witness.test/a', 'witness.test/b']);
  // The cosignature times are the witness's clock, now.
  for (const s of (await openNote(cp.text, [cosignatureVerifier(a.vkey)])).verified) {
    t.true(Math.abs(Number(cosignatureTimestamp(s.signature)) - Date.now() / 1000) < 60);
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.regex(metrics, /sig_witness_cosigned_tree_size\{witness="a"\} [1-9]/);
  t.regex(metrics, /sig_witness_last_success_timestamp_seconds\{witness="b"\} \d+/);
  t.regex(metrics, /sig_witness_fail_open 0/);
});

test('fail closed: with the quorum unreachable a publish waits, then 503 WITNESS_QUORUM_TIMEOUT; nothing unwitnessed is served', async (t) => {
  const dir = tmp('closed');
  const key = makeLogKey(dir, 'cosign.test/closed');
  const w = await startTestWitness('witness.test/c');
  w.addLog(key.vkey);
  const server = await startWitnessedLog(dir, key, policyText([{ ...w, name: 'c' }], 'c'), {
    'publish-wait-ms': 1500,
  });
  t.teardown(async () => {
    await server.close();
    await w.close();
  });
  // PUBLISH_WAIT_MS is short here; on a loaded machine the first receipt may need a retry.
  let first = await publish(server.url, signer, 'sha256:closed-0');
  for (let i = 0; i < 20 && first.status !== 200; i++)
    first = await publish(server.url, signer, 'sha256:closed-0');
  t.is(first.status, 200, JSON.stringify(first.body));
  const before = await checkpointText(server.url);

  w.mode = 'down';
  const started = Date.now();
  const late = await publish(server.url, signer, 'sha256:closed-1');
  t.is(late.status, 503, JSON.stringify(late.body));
  t.is(late.body.error.code, 'WITNESS_QUORUM_TIMEOUT');
  t.truthy(late.headers.get('retry-after'));
  t.true(Date.now() - started >= 1400);
  // The log grew, but the served checkpoint is still the last one the witness cosigned.
  t.is((await checkpointText(server.url)).text, before.text);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.regex(metrics, /sig_witness_failures_total\{witness="c",reason="(network|timeout)"\} [1-9]/);

  // The witness comes back: the stored attestation gets its receipt, cosigned.
  w.mode = 'ok';
  let again = await publish(server.url, signer, 'sha256:closed-1');
  for (let i = 0; i < 20 && again.status !== 200; i++)
    again = await publish(server.url, signer, 'sha256:closed-1');
  t.is(again.status, 200, JSON.stringify(again.body));
  t.deepEqual(await cosigners(again.body.receipts[0].checkpoint, [w]), ['witness.test/c']);
});

test('fail open: with the witness down, checkpoints are served without cosignatures once it was tried', async (t) => {
  const dir = tmp('open');
  const key = makeLogKey(dir, 'cosign.test/open');
  const w = await startTestWitness('witness.test/d');
  w.addLog(key.vkey);
  const server = await startWitnessedLog(dir, key, policyText([{ ...w, name: 'd' }], 'd'), {
    'witness-fail-open': 'true',
    'publish-wait-ms': 20000,
  });
  t.teardown(async () => {
    await server.close();
    await w.close();
  });
  w.mode = 'refuse';
  const r = await publish(server.url, signer, 'sha256:open-0');
  t.is(r.status, 200, JSON.stringify(r.body));
  const note: string = r.body.receipts[0].checkpoint;
  t.is(parseNote(note).signatures.length, 2, 'the log lines only: no cosignature');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.regex(metrics, /sig_witness_fail_open 1/);
  t.regex(metrics, /sig_witness_failures_total\{witness="d",reason="server-error"\} [1-9]/);
});

test('a witness that lost its state answers 409 and is resynced from the size it names', async (t) => {
  const dir = tmp('resync');
  const key = makeLogKey(dir, 'cosign.test/resync');
  const w = await startTestWitness('witness.test/e');
  w.addLog(key.vkey);
  const server = await startWitnessedLog(dir, key, policyText([{ ...w, name: 'e' }], 'e'));
  t.teardown(async () => {
    await server.close();
    await w.close();
  });
  t.is((await publish(server.url, signer, 'sha256:resync-0')).status, 200);
  t.is((await publish(server.url, signer, 'sha256:resync-1')).status, 200);
  // The witness restarts from an old backup: it knows nothing of the log.
  w.cosigned.delete(key.origin);
  const conflicts = w.statuses.get(409) ?? 0;
  const r = await publish(server.url, signer, 'sha256:resync-2');
  t.is(r.status, 200, JSON.stringify(r.body));
  t.deepEqual(await cosigners(r.body.receipts[0].checkpoint, [w]), ['witness.test/e']);
  t.true((w.statuses.get(409) ?? 0) > conflicts, 'a 409 was answered');
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.regex(metrics, /sig_witness_resyncs_total\{witness="e"\} [1-9]/);
});

test('no checkpoint is served before the first quorum: 503 WITNESS_QUORUM_PENDING with Retry-After', async (t) => {
  const dir = tmp('pending');
  const key = makeLogKey(dir, 'cosign.test/pending');
  const w = await startTestWitness('witness.test/f');
  // The witness does not know this log: 404 to every submission.
  const server = await startWitnessedLog(dir, key, policyText([{ ...w, name: 'f' }], 'f'));
  t.teardown(async () => {
    await server.close();
    await w.close();
  });
  const cp = await checkpointText(server.url);
  t.is(cp.status, 503);
  t.is(JSON.parse(cp.text).error.code, 'WITNESS_QUORUM_PENDING');
  t.truthy(cp.headers.get('retry-after'));
  const info = await getJson(`${server.url}/v1/server`);
  t.is(info.status, 200);
});

test("a policy without witnesses (quorum none) is today's behaviour", async (t) => {
  const dir = tmp('none');
  const key = makeLogKey(dir, 'cosign.test/none');
  const server = await startWitnessedLog(dir, key, 'quorum none\n');
  t.teardown(() => server.close());
  const r = await publish(server.url, signer, 'sha256:none-0');
  t.is(r.status, 200);
  t.is(parseNote(r.body.receipts[0].checkpoint).signatures.length, 2);
  t.notRegex(await (await fetch(`${server.url}/metrics`)).text(), /sig_witness_/);
});

test('a cosignature that does not verify, or is an hour ahead, is not stored and does not count', async (t) => {
  const dir = tmp('lies');
  const key = makeLogKey(dir, 'cosign.test/lies');
  const w = await startTestWitness('witness.test/g');
  w.addLog(key.vkey);
  const server = await startWitnessedLog(dir, key, policyText([{ ...w, name: 'g' }], 'g'), {
    'publish-wait-ms': 1500,
  });
  t.teardown(async () => {
    await server.close();
    await w.close();
  });
  let first = await publish(server.url, signer, 'sha256:lies-0');
  for (let i = 0; i < 20 && first.status !== 200; i++)
    first = await publish(server.url, signer, 'sha256:lies-0');
  t.is(first.status, 200, JSON.stringify(first.body));
  const before = await checkpointText(server.url);
  for (const [lie, reason] of [
    ['flip', 'cosignature-invalid'],
    ['future', 'cosignature-future'],
  ] as const) {
    w.lie = lie;
    const r = await publish(server.url, signer, `sha256:lies-${lie}`);
    t.is(r.status, 503, `${lie}: ${JSON.stringify(r.body)}`);
    t.is(r.body.error.code, 'WITNESS_QUORUM_TIMEOUT');
    // The loop backs off after each failure (up to 30 s): wait until it has tried this lie, so the check
    // below is about an answer the log got and refused, not one it has not asked for yet.
    const counted = new RegExp(`sig_witness_failures_total\\{witness="g",reason="${reason}"\\} [1-9]`);
    let metrics = '';
    for (let i = 0; i < 150 && !counted.test(metrics); i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 200));
      metrics = await (await fetch(`${server.url}/metrics`)).text();
    }
    t.regex(metrics, counted, `${lie}: the witness's answer was refused`);
    t.is((await checkpointText(server.url)).text, before.text, `${lie}: nothing new served`);
  }
});
