/**
 * Reads that scale out (DATABASE_READ_URL, server/read-replica.ts), on a real primary and hot standby
 * (test/helpers/replica.ts): one integrating process on the primary takes publishes; a serve-only
 * process (INTEGRATE=false, DATABASE_URL = primary, DATABASE_READ_URL = standby) answers the reads.
 * Every answer of the serve-only process is verified offline: the checkpoint's two signatures, the
 * entry feed and the level-0 tile and entry bundle against its root, query items and the index leaf by
 * inclusion proofs, the index answer with log/index-answer.ts, inclusion and consistency proofs.
 *
 * The lag case: with the standby's replay paused, the serve-only process keeps answering for the
 * checkpoint the standby has (never the primary's newer one, whose entries it cannot prove), refuses a
 * size past it, holds the receipt of a publish sent to it (written to the primary) until the standby
 * covers it, and /metrics shows the lag; after resume the receipt comes, the process never serves a
 * smaller tree than it, and it proves consistency from the old checkpoint to the new.
 *
 * Witnessed (WITNESS_POLICY, fail closed), the served checkpoint on the replica is its newest cosigned
 * one, not a newer one signed while the witness is down. With the standby down, /healthz and /metrics
 * say so, and the primary's process goes on.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { bytesEqual } from '../log/bytes.js';
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { hashLeaf, rootFromLeafHashes } from '../log/hash.js';
import { parseIndexObject, verifyIndexAnswer } from '../log/index-answer.js';
import { parseNote } from '../log/note.js';
import { verifyConsistency, verifyInclusion } from '../log/proof.js';
import { decodeEntryBundle, decodeHashTile } from '../log/tiles.js';
import { loadConfig } from '../server/config.js';
import { LogService } from '../server/log-service.js';
import { makeLogKey, policyText, startTestWitness, startWitnessedLog } from './cosigning-helpers.js';
import { fromB64 } from './helpers/bytes.js';
import { type ChildServer, spawnServer } from './helpers/child-server.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  type ReceiptJson,
  type ServerKeys,
  type Signer,
  serverKeys,
  verifyCheckpointNote,
  verifyReceipt,
  waitFor,
} from './helpers/http.js';
import { type ReplicaPair, startReplicaPair } from './helpers/replica.js';
import { TEST_OPTIONS } from './helpers/service.js';

let pair: ReplicaPair | undefined;
let writer: ChildServer | undefined;
let reader: ChildServer | undefined;
let dataDir = '';

test.before(async () => {
  pair = await startReplicaPair('test');
  if (!pair) return;
  dataDir = mkdtempSync(join(tmpdir(), 'sig-replica-keys-'));
  const common = {
    DATA_DIR: dataDir,
    ORIGIN: 'sig.test/replica',
    CHECKPOINT_INTERVAL_MS: '100',
    BATCH_MAX_AGE_MS: '10',
    VERIFY_WORKERS: '0',
  };
  writer = await spawnServer({ env: { ...common, DATABASE_URL: pair.primaryUrl } });
  reader = await spawnServer({
    env: { ...common, DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.standbyUrl, INTEGRATE: 'false' },
  });
});

test.after.always(async () => {
  await Promise.allSettled([writer?.kill('SIGTERM'), reader?.kill('SIGTERM')]);
  await pair?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function publish(url: string, signer: Signer, ids: string[]): Promise<ReceiptJson[]> {
  const atts = await Promise.all(ids.map((id) => attest(signer, id)));
  const r = await postJson(`${url}/v1/attestations`, { attestations: atts, keys: [signer.armoredPublicKey] });
  if (r.status !== 200) {
    const logs = `writer:\n${writer?.output().slice(-3000)}\nreader:\n${reader?.output().slice(-3000)}`;
    throw new Error(`publish answered ${r.status}: ${JSON.stringify(r.body)}\n${logs}`);
  }
  return r.body.receipts as ReceiptJson[];
}

/** servedCheckpoint fetches and verifies /log/checkpoint; returns the note and its body. */
async function servedCheckpoint(url: string, keys: ServerKeys): Promise<{ note: string; cp: Checkpoint }> {
  const res = await fetch(`${url}/log/checkpoint`);
  if (res.status !== 200) throw new Error(`/log/checkpoint answered ${res.status}`);
  const note = await res.text();
  return { note, cp: await verifyCheckpointNote(note, keys) };
}

/** metric reads one gauge from /metrics. */
async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * checkReads verifies the serve-only process's answers against its own served checkpoint: the feed,
 * the level-0 tile and entry bundle, a query per id (items, index leaf and lookups), an inclusion
 * proof of every entry. `absent` ids must have no items (not under that checkpoint). Returns it.
 */
async function checkReads(
  t: ExecutionContext,
  url: string,
  keys: ServerKeys,
  present: string[],
  absent: string[] = [],
): Promise<{ note: string; cp: Checkpoint }> {
  const served = await servedCheckpoint(url, keys);
  const { cp } = served;
  const size = Number(cp.treeSize);
  t.true(size > 0 && size <= 256, `size ${size} fits one tile`);
  const feed = await getJson(`${url}/v1/entries?start=0&limit=${size}`);
  t.is(feed.status, 200);
  const entries = (feed.body.entries as { index: number; entry: string }[]).map((e) => fromB64(e.entry));
  t.is(entries.length, size, 'the feed reaches the served checkpoint');
  const leaves = entries.map(hashLeaf);
  t.true(bytesEqual(rootFromLeafHashes(leaves), cp.rootHash), 'the feed hashes to the root');
  const tile = await fetch(`${url}/log/tile/0/000.p/${size}`);
  t.is(tile.status, size === 256 ? 404 : 200);
  if (size < 256) {
    const hashes = decodeHashTile(new Uint8Array(await tile.arrayBuffer()), size);
    t.true(
      hashes.every((h, i) => bytesEqual(h, leaves[i]!)),
      'tile 0 holds the leaf hashes',
    );
    const bundle = await fetch(`${url}/log/tile/entries/000.p/${size}`);
    t.is(bundle.status, 200);
    const got = decodeEntryBundle(new Uint8Array(await bundle.arrayBuffer()), size);
    t.true(
      got.every((e, i) => bytesEqual(e, entries[i]!)),
      'the entry bundle holds the entries',
    );
  }
  const past = await fetch(`${url}/log/tile/0/000.p/${size + 1}`);
  t.is(past.status, 404, 'no tile past the served checkpoint');
  for (const id of [...present, ...absent]) {
    const q = await getJson(`${url}/v1/attestations?id=${encodeURIComponent(id)}`);
    t.is(q.status, 200, JSON.stringify(q.body));
    const qcp = await verifyCheckpointNote(q.body.checkpoint, keys);
    t.true(qcp.treeSize >= cp.treeSize, 'a later answer never goes back');
    const items = (q.body.attestations as ReceiptJson[]).map((it) => ({
      index: BigInt(it.index),
      entry: fromB64(it.entry),
      inclusionProof: it.inclusionProof.map(fromB64),
    }));
    for (const it of items)
      verifyInclusion(it.index, qcp.treeSize, hashLeaf(it.entry), it.inclusionProof, qcp.rootHash);
    const verdict = verifyIndexAnswer(
      [{ by: 'id', value: id }],
      [{ tree: qcp, index: parseIndexObject(q.body.index), items }],
    );
    t.true(verdict.complete, `the answer for ${id} is proved complete`);
    t.is(items.length, present.includes(id) ? 1 : 0, id);
  }
  for (let i = 0; i < size; i++) {
    const p = await getJson(`${url}/v1/proof/inclusion?index=${i}&size=${size}`);
    t.is(p.status, 200);
    verifyInclusion(BigInt(i), cp.treeSize, leaves[i]!, p.body.inclusionProof.map(fromB64), cp.rootHash);
  }
  return served;
}

test.serial(
  'a serve-only process on the hot standby answers for the checkpoint the standby has, and every answer verifies',
  async (t) => {
    if (!pair || !writer || !reader) return t.pass('skipped: no PostgreSQL server tools');
    const keys = await serverKeys(writer.url);
    t.is((await serverKeys(reader.url)).vkey, keys.vkey);
    const alice = await makeSigner('Alice Replica');
    const first = ['sha256:r1', 'sha256:r2', 'sha256:r3', 'sha256:r4'];
    const receipts = await publish(writer.url, alice, first);
    for (const r of receipts) await verifyReceipt(r, keys);
    const receiptSize = parseCheckpoint(parseNote(receipts[0]!.checkpoint).text).treeSize;
    await waitFor('the standby to have the receipts checkpoint', async () => {
      const { cp } = await servedCheckpoint(reader!.url, keys);
      return cp.treeSize >= receiptSize ? true : undefined;
    });
    t.is(await metric(reader.url, 'sig_replica_standby'), 1);
    t.is(await metric(reader.url, 'sig_replica_up'), 1);
    t.is(await metric(reader.url, 'sig_replica_streaming'), 1);
    const before = await checkReads(t, reader.url, keys, first, ['sha256:r5']);

    // Lag: the standby stops replaying; the primary goes on.
    await pair.pauseReplay();
    const held = await servedCheckpoint(reader.url, keys);
    const second = ['sha256:r5', 'sha256:r6'];
    const newer = await publish(writer.url, alice, second);
    const newSize = await verifyReceipt(newer[0]!, keys);
    t.true(newSize > held.cp.treeSize);
    // A publish through the serve-only process is written to the primary (the writer integrates it),
    // and its receipt waits for the replica to cover it.
    let receiptCame = false;
    const viaReader = publish(reader.url, alice, ['sha256:r7']).finally(() => {
      receiptCame = true;
    });
    await waitFor('r7 integrated on the primary', async () => {
      const q = await getJson(`${writer!.url}/v1/attestations?id=sha256:r7`);
      return q.body.attestations?.length === 1 ? true : undefined;
    });

    const lagged = await checkReads(t, reader.url, keys, first, [...second, 'sha256:r7']);
    t.is(lagged.note, held.note, "the lagging replica serves its own checkpoint, not the primary's");
    const past = await getJson(`${reader.url}/v1/proof/inclusion?index=0&size=${newSize}`);
    t.is(past.status, 400);
    t.is(past.body.error.code, 'INDEX_OUT_OF_RANGE');
    const feed = await getJson(`${reader.url}/v1/entries?start=${held.cp.treeSize}`);
    t.deepEqual(feed.body.entries, [], 'the feed stops at the replica checkpoint');
    t.is(await metric(reader.url, 'sig_replica_tree_size'), Number(held.cp.treeSize));
    t.true((await metric(reader.url, 'sig_primary_tree_size'))! >= Number(newSize));
    t.true((await metric(reader.url, 'sig_replica_checkpoint_lag_seconds'))! > 0);
    const lag = await waitFor('replay lag over 1 s', async () => {
      const v = await metric(reader!.url, 'sig_replica_replay_lag_seconds');
      return v !== undefined && v > 1 ? v : undefined;
    });
    t.true(lag > 1);
    // The primary's own process is not held back; the serve-only process's receipt is.
    t.true((await servedCheckpoint(writer.url, keys)).cp.treeSize >= newSize);
    t.false(receiptCame, 'no receipt from the serve-only process before its replica covers the entry');

    // Resume: the replica catches up, and its new checkpoint is consistent with the one it held.
    await pair.resumeReplay();
    const after = await waitFor('the standby to catch up', async () => {
      const s = await servedCheckpoint(reader!.url, keys);
      return s.cp.treeSize >= newSize ? s : undefined;
    });
    const [r7] = await viaReader;
    const r7Size = await verifyReceipt(r7!, keys);
    const caught = await checkReads(t, reader.url, keys, [...first, ...second, 'sha256:r7']);
    t.true(caught.cp.treeSize >= r7Size, 'after its receipt, the same process never serves a smaller tree');
    const from = before.cp.treeSize;
    const to = after.cp.treeSize;
    const c = await getJson(`${reader.url}/v1/proof/consistency?from=${from}&to=${to}`);
    t.is(c.status, 200);
    verifyConsistency(from, to, c.body.consistencyProof.map(fromB64), before.cp.rootHash, after.cp.rootHash);
    // The integrator's rounds write WAL all the time, so "caught up" is a lag well under a second.
    await waitFor('replay lag back under 1 s', async () => {
      const v = await metric(reader!.url, 'sig_replica_replay_lag_seconds');
      return v !== undefined && v < 1 ? true : undefined;
    });
    t.is(
      await metric(writer.url, 'sig_replica_up'),
      undefined,
      'no replica figures without DATABASE_READ_URL',
    );
  },
);

test.serial(
  'a process refuses a hot standby as DATABASE_URL, and DATABASE_READ_URL needs DATABASE_URL',
  async (t) => {
    t.throws(() => loadConfig({ DATABASE_READ_URL: 'postgres://h/db' }), {
      message: /DATABASE_URL is not set/,
    });
    if (!pair) return;
    const err = await t.throwsAsync(
      LogService.open({ ...TEST_OPTIONS, databaseUrl: pair.standbyUrl, dataDir, integrate: false }),
    );
    t.is((err as { code?: string }).code, 'CONFIG_INVALID');
    t.regex(err!.message, /hot standby.*DATABASE_READ_URL/);
    // Nothing was written to the standby's database (it could not be), and the log is intact.
    const [r] = await pair.query('standby', 'SELECT count(*) AS n FROM checkpoints');
    t.true(Number(r!.n) > 0);
  },
);

test.serial(
  'witnessed (WITNESS_POLICY, fail closed): the serve-only process serves the newest cosigned checkpoint the standby has, not a newer unwitnessed one',
  async (t) => {
    if (!pair) return t.pass('skipped: no PostgreSQL server tools');
    await pair.query('primary', 'CREATE DATABASE sig_w');
    await pair.caughtUp();
    const db = (u: string) => u.replace(/\/sig$/, '/sig_w');
    const dir = mkdtempSync(join(tmpdir(), 'sig-replica-w-'));
    const key = makeLogKey(dir, 'sig.test/replica-w');
    const w = await startTestWitness('witness.test/rw');
    w.addLog(key.vkey);
    const policy = policyText([{ ...w, name: 'rw' }], 'rw');
    const primary = await startWitnessedLog(dir, key, policy, {
      'database-url': db(pair.primaryUrl),
      'publish-wait-ms': 1500,
    });
    const replica = await startWitnessedLog(dir, key, policy, {
      'database-url': db(pair.primaryUrl),
      'database-read-url': db(pair.standbyUrl),
      integrate: 'false',
    });
    t.teardown(async () => {
      await replica.close();
      await primary.close();
      await w.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const keys = await serverKeys(primary.url);
    const carol = await makeSigner('Carol Replica');
    const atts = [await attest(carol, 'sha256:w1'), await attest(carol, 'sha256:w2')];
    const send = (a: unknown) =>
      postJson(`${primary.url}/v1/attestations`, { attestations: [a], keys: [carol.armoredPublicKey] });
    let first = await send(atts[0]);
    for (let i = 0; i < 20 && first.status !== 200; i++) first = await send(atts[0]);
    t.is(first.status, 200, JSON.stringify(first.body));
    const cosigned = (note: string) => parseNote(note).signatures.some((x) => x.name === 'witness.test/rw');
    t.true(cosigned(first.body.receipts[0].checkpoint));
    // The witness goes down: the log grows and signs checkpoints that are not served.
    w.mode = 'down';
    const late = await send(atts[1]);
    t.is(late.body.error?.code, 'WITNESS_QUORUM_TIMEOUT', JSON.stringify(late.body));
    await pair.caughtUp();
    const [newest] = await pair.query('standby', 'SELECT max(tree_size) AS n FROM checkpoints');
    const served = await servedCheckpoint(replica.url, keys);
    t.true(cosigned(served.note), 'the replica serves a cosigned checkpoint');
    t.true(served.cp.treeSize < BigInt(newest!.n), 'not the newest signed one the standby holds');
    t.is(
      served.note,
      (await servedCheckpoint(primary.url, keys)).note,
      'the same served checkpoint as the primary',
    );
    for (const [id, n] of [
      ['sha256:w1', 1],
      ['sha256:w2', 0],
    ] as const) {
      const q = await getJson(`${replica.url}/v1/attestations?id=${id}`);
      t.is(q.status, 200);
      t.is(q.body.checkpoint, served.note);
      t.is(q.body.attestations.length, n, id);
      for (const it of q.body.attestations as ReceiptJson[])
        verifyInclusion(
          BigInt(it.index),
          served.cp.treeSize,
          hashLeaf(fromB64(it.entry)),
          it.inclusionProof.map(fromB64),
          served.cp.rootHash,
        );
    }
  },
);

test.serial(
  'with the standby down, the serve-only process says so on /healthz and /metrics, and the primary goes on',
  async (t) => {
    if (!pair || !writer || !reader) return t.pass('skipped: no PostgreSQL server tools');
    const keys = await serverKeys(writer.url);
    await pair.stopStandby();
    const health = await getJson(`${reader.url}/healthz`);
    t.is(health.status, 503);
    t.false(health.body.ok);
    t.is(await metric(reader.url, 'sig_replica_up'), 0);
    t.true((await metric(reader.url, 'sig_backlog')) !== undefined, '/metrics still answers');
    const bob = await makeSigner('Bob Replica');
    const [r] = await publish(writer.url, bob, ['sha256:r8']);
    t.true((await verifyReceipt(r!, keys)) > 0n, 'the primary side is not held back');
    const q = await getJson(`${reader.url}/v1/attestations?id=sha256:r8`);
    // Reads need the standby: a 5xx with a code (today 500 INTERNAL, as when the primary is down).
    t.true(q.status >= 500, `status ${q.status}`);
    t.regex(String(q.body.error?.code), /^[A-Z_]+$/);
  },
);
