/**
 * The witness role over HTTP (SPEC.md "Witnesses", c2sp.org/tlog-witness): real servers (startServer on
 * 127.0.0.1 port 0) with WITNESS_LOGS, on PGlite and on Postgres (PG_REQUIRED=1 makes a missing Postgres
 * a failure); logs run by the test (test/witness-server-harness.ts: real Ed25519 keys, RFC 6962 trees of
 * test/reference.ts). Every answer is checked with log/ as a log would check it.
 *   - 200: the cosignature verifies by the witness vkey that /v1/server advertises; the stored row is
 *     the checkpoint, whole;
 *   - every refusal (400 malformed or old > size, 403, 404, 409, 422 bad proof, same size other root,
 *     proof where none can be) leaves the row byte for byte as it was;
 *   - 409 resync: the witness restarts with an older state (a restored backup): the log's old size is
 *     refused with the stored size, and the log resubmits from it;
 *   - concurrency: many parallel add-checkpoints for one origin, exactly one winner per size;
 *   - a server that witnesses its own log cosigns its own checkpoints as they grow.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { base64Encode } from '../log/bytes.js';
import { cosignatureVerifier, generateCosignatureKey } from '../log/cosignature.js';
import { generateEd25519Key } from '../log/note.js';
import {
  formatAddCheckpointRequest,
  MAX_ADD_CHECKPOINT_BYTES,
  TREE_SIZE_CONTENT_TYPE,
} from '../log/witness.js';
import { openDb } from '../server/db.js';
import type { ServerHandle } from '../server/main.js';
import { fromB64 } from './helpers/bytes.js';
import { attest, getJson, makeSigner, postJson, startTestServer, testConfig } from './helpers/http.js';
import { backendTest, type StoreBackend } from './helpers/stores.js';
import {
  addCheckpoint,
  checkRowWhole,
  readRow,
  TestLog,
  verifyCosigned,
  writeLogsFile,
} from './witness-server-harness.js';

/** startWitness starts a server over `b` that witnesses the logs of `vkeys`. */
async function startWitness(
  b: StoreBackend,
  vkeys: readonly string[],
  flags: Record<string, string | number | boolean> = {},
): Promise<{ server: ServerHandle; witnessVkey: string }> {
  const logsFile = await writeLogsFile(b.dataDir, vkeys);
  const server = await startTestServer(testConfig(b, { 'witness-logs': logsFile, ...flags }));
  const info = await getJson(`${server.url}/v1/server`);
  return { server, witnessVkey: info.body.witness.vkey };
}

const row = (s: ServerHandle, origin: string) => readRow(s.service.db, origin);

/** expectRefused posts body and checks the status, the JSON error code and that the row did not change. */
async function expectRefused(
  t: ExecutionContext,
  s: ServerHandle,
  origin: string,
  body: string | Uint8Array,
  status: number,
  code: string,
  what: string,
): Promise<void> {
  const before = await row(s, origin);
  const a = await addCheckpoint(s.url, body);
  t.is(a.status, status, `${what}: ${a.body.slice(0, 300)}`);
  t.true(a.contentType.startsWith('application/json'), `${what}: ${a.contentType}`);
  t.is(JSON.parse(a.body).error.code, code, what);
  t.deepEqual(await row(s, origin), before, `${what}: the stored state is unchanged`);
}

backendTest(
  test,
  'witness: 200 with a cosignature by the advertised vkey, growing and again',
  async (t, b) => {
    const log = new TestLog('example.com/log-a');
    const { server, witnessVkey } = await startWitness(b, [log.vkey], { 'witness-name': 'witness.test/w1' });
    try {
      const info = (await getJson(`${server.url}/v1/server`)).body.witness;
      t.is(info.name, 'witness.test/w1');
      t.is(cosignatureVerifier(info.vkey).name, 'witness.test/w1');
      t.deepEqual(info.logs, [{ origin: log.origin, vkeys: [log.vkey], urls: [] }]);
      t.deepEqual(await row(server, log.origin), {
        treeSize: 0n,
        rootHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        checkpoint: null,
        cosignedAt: null,
      });
      for (const [old, size] of [
        [0, 5],
        [5, 9],
        [9, 9],
        [9, 64],
      ] as const) {
        const a = await addCheckpoint(server.url, await log.request(old, size));
        t.is(a.status, 200, a.body);
        t.true(a.contentType.startsWith('text/plain'));
        const c = await verifyCosigned(await log.signed(size), a.body, witnessVkey);
        t.is(c.treeSize, BigInt(size));
        t.regex(a.body, /^\u2014 witness\.test\/w1 [A-Za-z0-9+/]+=*\n$/);
        // The timestamp is now, give or take the test's own time.
        const ts = new DataView(fromB64(a.body.trim().split(' ')[2]!).buffer).getBigUint64(4);
        t.true(Math.abs(Number(ts) - Date.now() / 1000) < 120);
        const r = (await row(server, log.origin))!;
        t.is(r.treeSize, BigInt(size));
        await checkRowWhole(r, log, witnessVkey);
      }
    } finally {
      await server.close();
    }
  },
);

backendTest(
  test,
  'witness: every refusal has the spec status and leaves the state unchanged',
  async (t, b) => {
    const log = new TestLog('example.com/log-b');
    const other = new TestLog('example.com/other');
    const { server } = await startWitness(b, [log.vkey]);
    try {
      t.is((await addCheckpoint(server.url, await log.request(0, 8))).status, 200);
      const o = log.origin;
      const proof = await log.proof(8, 13);
      const body = (p: { old?: number; proof?: Uint8Array[]; note?: string }) =>
        (async () =>
          `old ${p.old ?? 8}\n${(p.proof ?? proof).map((h) => `${base64Encode(h)}\n`).join('')}\n${p.note ?? (await log.signed(13))}`)();

      // 404: an origin this witness does not know (its own key signs it).
      await expectRefused(
        t,
        server,
        o,
        await other.request(0, 3),
        404,
        'WITNESS_LOG_UNKNOWN',
        'unknown origin',
      );
      // 403: the right origin signed by another key of the same name; and no signature line at all of a known key.
      const impostor = generateEd25519Key(log.origin);
      await expectRefused(
        t,
        server,
        o,
        await body({ note: await log.signed(13, impostor.skey) }),
        403,
        'WITNESS_CHECKPOINT_UNVERIFIED',
        'impostor key',
      );
      const forged = (await log.signed(13)).replace(
        / [A-Za-z0-9+/]{20}/,
        (m) => ` ${m.slice(1, 9)}${m[9] === 'A' ? 'B' : 'A'}${m.slice(10)}`,
      );
      await expectRefused(
        t,
        server,
        o,
        await body({ note: forged }),
        403,
        'WITNESS_CHECKPOINT_UNVERIFIED',
        'a signature that fails',
      );
      // 400: old size over the checkpoint size; malformed bodies; a body over the bound.
      await expectRefused(
        t,
        server,
        o,
        await body({ old: 14, proof: [] }),
        400,
        'WITNESS_REQUEST_INVALID',
        'old > size',
      );
      for (const bad of [
        '',
        'old 8\n',
        'old 08\n\n',
        `old 8\nnot base64\n\n${await log.signed(13)}`,
        `old 8\n\n${'x'.repeat(100)}`,
      ]) {
        await expectRefused(
          t,
          server,
          o,
          bad,
          400,
          'WITNESS_REQUEST_INVALID',
          `malformed ${JSON.stringify(bad.slice(0, 30))}`,
        );
      }
      await expectRefused(
        t,
        server,
        o,
        `old 8\n\n${'a'.repeat(MAX_ADD_CHECKPOINT_BYTES)}`,
        400,
        'WITNESS_REQUEST_INVALID',
        'over the bound',
      );
      // 409: an old size other than the stored one; the body is the stored size, typed text/x.tlog.size.
      for (const old of [0, 5, 12]) {
        const before = await row(server, o);
        const a = await addCheckpoint(server.url, await log.request(old, 13));
        t.is(a.status, 409, a.body);
        t.is(a.contentType, TREE_SIZE_CONTENT_TYPE);
        t.is(a.body, '8\n');
        t.deepEqual(await row(server, o), before);
      }
      // 422: a proof with one bit flipped, a short proof, a proof where none can be, same size other root,
      // and a fork of the log (same key, other leaves after 6) with an honest-looking proof.
      // (8 is a complete subtree, so PROOF(8, 13) is the one hash MTH(D[8:13]).)
      t.is(proof.length, 1);
      const flipped = proof.map((h) => Uint8Array.from(h, (x, j) => (j === 0 ? x ^ 1 : x)));
      await expectRefused(
        t,
        server,
        o,
        await body({ proof: flipped }),
        422,
        'WITNESS_CHECKPOINT_INCONSISTENT',
        'flipped proof',
      );
      await expectRefused(
        t,
        server,
        o,
        await body({ proof: proof.slice(1) }),
        422,
        'WITNESS_CHECKPOINT_INCONSISTENT',
        'short proof',
      );
      const fork = log.fork(6);
      await expectRefused(
        t,
        server,
        o,
        formatAddCheckpointRequest({
          oldSize: 8n,
          consistencyProof: [],
          signedCheckpoint: await fork.signed(8),
        }),
        422,
        'WITNESS_CHECKPOINT_INCONSISTENT',
        'same size, other root',
      );
      await expectRefused(
        t,
        server,
        o,
        formatAddCheckpointRequest({
          oldSize: 8n,
          consistencyProof: proof,
          signedCheckpoint: await log.signed(8),
        }),
        422,
        'WITNESS_CHECKPOINT_INCONSISTENT',
        'a proof where none can be',
      );
      await expectRefused(
        t,
        server,
        o,
        await fork.request(8, 13),
        422,
        'WITNESS_CHECKPOINT_INCONSISTENT',
        'forked branch',
      );
      // Compressed bodies are not inflated.
      const gz = await addCheckpoint(server.url, await log.request(8, 13), { 'content-encoding': 'gzip' });
      t.is(gz.status, 400);
      t.is((await row(server, o))!.treeSize, 8n);
      // And the honest next step is still cosigned.
      t.is((await addCheckpoint(server.url, await log.request(8, 13))).status, 200);
      t.is((await row(server, o))!.treeSize, 13n);
    } finally {
      await server.close();
    }
  },
);

backendTest(
  test,
  'witness: concurrent add-checkpoint for one origin has exactly one winner per size',
  async (t, b) => {
    const log = new TestLog('example.com/log-c', { size: 200 });
    const { server, witnessVkey } = await startWitness(b, [log.vkey]);
    try {
      // Round 1: 24 clients each send old 0 and a different size: one wins, the others learn its size.
      const sizes = Array.from({ length: 24 }, (_, i) => i + 1);
      const bodies = await Promise.all(sizes.map((n) => log.request(0, n)));
      const answers = await Promise.all(bodies.map((body) => addCheckpoint(server.url, body)));
      const won = sizes.filter((_, i) => answers[i]!.status === 200);
      t.is(won.length, 1, `winners: ${won.join(',')}`);
      const w = won[0]!;
      for (const a of answers) {
        if (a.status !== 200) t.deepEqual([a.status, a.body], [409, `${w}\n`]);
      }
      t.is((await row(server, log.origin))!.treeSize, BigInt(w));
      // Round 2: 24 clients send the same honest request from w: exactly one 200 (the rest see w + 50).
      const same = await log.request(w, w + 50);
      const again = await Promise.all(Array.from({ length: 24 }, () => addCheckpoint(server.url, same)));
      t.is(again.filter((a) => a.status === 200).length, 1);
      t.true(again.every((a) => a.status === 200 || (a.status === 409 && a.body === `${w + 50}\n`)));
      // Round 3: from w + 50 to 24 different larger sizes at once: one winner, and the state is its tree.
      const base = w + 50;
      const more = Array.from({ length: 24 }, (_, i) => base + 1 + i * 3);
      const r3 = await Promise.all(
        await Promise.all(more.map(async (n) => addCheckpoint(server.url, await log.request(base, n)))),
      );
      const won3 = more.filter((_, i) => r3[i]!.status === 200);
      t.is(won3.length, 1, `winners: ${won3.join(',')}`);
      const r = (await row(server, log.origin))!;
      t.is(r.treeSize, BigInt(won3[0]!));
      await checkRowWhole(r, log, witnessVkey);
    } finally {
      await server.close();
    }
  },
);

backendTest(
  test,
  'witness: 409 resync after a restart with older state (a restored backup)',
  async (t, b) => {
    const log = new TestLog('example.com/log-d');
    let { server, witnessVkey } = await startWitness(b, [log.vkey]);
    t.is((await addCheckpoint(server.url, await log.request(0, 5))).status, 200);
    const backup = (await row(server, log.origin))!;
    t.is((await addCheckpoint(server.url, await log.request(5, 9))).status, 200);
    await server.close();
    // Restore the row of size 5 while the witness is down, as restoring a backup of the database would.
    const db = await openDb({ databaseUrl: b.databaseUrl, dataDir: b.dataDir });
    await db.query(
      `UPDATE witness_logs SET tree_size = $2::numeric, root_hash = decode($3, 'hex'), checkpoint = $4, cosigned_at = $5
      WHERE origin = $1`,
      [log.origin, backup.treeSize.toString(), backup.rootHash, backup.checkpoint, backup.cosignedAt],
    );
    await db.close();
    ({ server, witnessVkey } = await startWitness(b, [log.vkey]));
    try {
      t.deepEqual(await row(server, log.origin), backup);
      // The log last had 9 cosigned: the witness answers with what it has.
      const a = await addCheckpoint(server.url, await log.request(9, 12));
      t.deepEqual([a.status, a.contentType, a.body], [409, TREE_SIZE_CONTENT_TYPE, '5\n']);
      t.deepEqual(await row(server, log.origin), backup);
      // The log resyncs: old 5 with the proof from 5 to 12.
      const ok = await addCheckpoint(server.url, await log.request(5, 12));
      t.is(ok.status, 200, ok.body);
      await verifyCosigned(await log.signed(12), ok.body, witnessVkey);
      t.is((await row(server, log.origin))!.treeSize, 12n);
    } finally {
      await server.close();
    }
  },
);

test('witness: a server cosigns its own log as it grows [pglite]', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sig-witness-self-'));
  const origin = 'sig.test/self';
  const logKey = generateEd25519Key(origin);
  const keyFile = join(dataDir, 'note.key');
  await writeFile(keyFile, `${logKey.skey}\n`, { mode: 0o600 });
  const b: StoreBackend = {
    name: 'pglite',
    databaseUrl: undefined,
    url: undefined,
    dataDir,
    cleanup: async () => {},
  };
  const { server, witnessVkey } = await startWitness(b, [logKey.vkey], { origin, 'note-key-file': keyFile });
  try {
    const signer = await makeSigner('Self Witness');
    const publish = async (i: number) => {
      const pub = await postJson(`${server.url}/v1/attestations`, {
        attestations: [await attest(signer, `sha256:${'ab'.repeat(31)}${String(i).padStart(2, '0')}`)],
        keys: [signer.armoredPublicKey],
      });
      t.is(pub.status, 200, JSON.stringify(pub.body));
    };
    await publish(0);
    const first = await (await fetch(`${server.url}/log/checkpoint`)).text();
    const a = await addCheckpoint(server.url, `old 0\n\n${first}`);
    t.is(a.status, 200, a.body);
    const c1 = await verifyCosigned(first, a.body, witnessVkey);
    t.true(c1.treeSize >= 1n);
    for (let i = 1; i < 4; i++) await publish(i);
    const next = await (await fetch(`${server.url}/log/checkpoint`)).text();
    const size = next.split('\n')[1]!;
    const proof = await getJson(`${server.url}/v1/proof/consistency?from=${c1.treeSize}&to=${size}`);
    t.is(proof.status, 200, JSON.stringify(proof.body));
    const hashes: string[] = proof.body.consistencyProof;
    const b2 = await addCheckpoint(
      server.url,
      `old ${c1.treeSize}\n${hashes.map((h) => `${h}\n`).join('')}\n${next}`,
    );
    t.is(b2.status, 200, b2.body);
    t.is((await verifyCosigned(next, b2.body, witnessVkey)).treeSize, BigInt(size));
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('witness: configuration refusals name the setting [pglite]', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sig-witness-config-'));
  const b: StoreBackend = {
    name: 'pglite',
    databaseUrl: undefined,
    url: undefined,
    dataDir,
    cleanup: async () => {},
  };
  try {
    const log = new TestLog('example.com/log-e');
    // Without WITNESS_LOGS there is no witness role (WITNESS_NAME alone does not turn it on).
    const off = await startTestServer(testConfig(b, { 'witness-name': 'w.test/one' }));
    try {
      t.false('witness' in (await getJson(`${off.url}/v1/server`)).body);
      const a = await addCheckpoint(off.url, await log.request(0, 3));
      t.deepEqual([a.status, JSON.parse(a.body).error.code], [404, 'NOT_FOUND']);
    } finally {
      await off.close();
    }
    const bad = join(dataDir, 'bad-logs');
    await writeFile(bad, `log ${log.vkey}\nwitness w ${generateCosignatureKey('w').vkey}\nquorum w\n`);
    await t.throwsAsync(startTestServer(testConfig(b, { 'witness-logs': bad })), {
      message: /WITNESS_LOGS.*line 2/,
    });
    // A file without log lines: a witness of no log yet (to publish its vkey first); every origin is 404.
    const none = join(dataDir, 'no-logs');
    await writeFile(none, '# nothing yet\n');
    const empty = await startTestServer(
      testConfig(b, { 'witness-logs': none, 'witness-name': 'w.test/one' }),
    );
    try {
      const info = (await getJson(`${empty.url}/v1/server`)).body.witness;
      t.deepEqual([info.name, info.logs], ['w.test/one', []]);
      const a = await addCheckpoint(empty.url, await log.request(0, 3));
      t.is(a.status, 404);
      t.regex(JSON.parse(a.body).error.message, /no log yet/);
    } finally {
      await empty.close();
    }
    // A key made for one name is refused under another. The key made at first start is mode 0600.
    const { server } = await startWitness(b, [log.vkey], { 'witness-name': 'w.test/one' });
    await server.close();
    t.is((await stat(join(dataDir, 'witness.key'))).mode & 0o777, 0o600);
    const logsFile = join(dataDir, 'witness-logs');
    await t.throwsAsync(
      startTestServer(testConfig(b, { 'witness-logs': logsFile, 'witness-name': 'w.test/two' })),
      {
        message: /WITNESS_NAME/,
      },
    );
    // The database remembers the key: a new key file is another witness, refused.
    const other = join(dataDir, 'other.key');
    await writeFile(other, `${generateCosignatureKey('w.test/one').skey}\n`);
    await t.throwsAsync(
      startTestServer(testConfig(b, { 'witness-logs': logsFile, 'witness-key-file': other })),
      {
        message: /WITNESS_KEY_FILE/,
      },
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
