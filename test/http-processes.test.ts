/**
 * Two server PROCESSES (child processes running server/main.ts via `node --import tsx`, port 0, the
 * same key files and the same Postgres) take publishes at once, some of the same attestations sent to
 * both: one log, no gap, no duplicate, every receipt verifies, and every entry is included in the final
 * checkpoint. Then SIGTERM: both drain and exit 0. And a process killed with SIGKILL in the middle of a
 * stream of publishes loses nothing it acknowledged once restarted. Postgres only (PGlite cannot be
 * shared by processes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { canonicalJson } from '../log/canonical-json.js';
import { parseEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { verifyInclusion } from '../log/proof.js';
import type { Attestation } from '../log/signet.js';
import { fromB64 } from './helpers/bytes.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  type ReceiptJson,
  serverKeys,
  verifyCheckpointNote,
  verifyReceipt,
} from './helpers/http.js';
import { endsWithIndexLeaf, replayIndex } from './helpers/index-replay.js';
import { postgresBackend } from './helpers/stores.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

interface Proc {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** startProcess runs server/main.ts with `flags` and resolves once it prints its listening line. */
function startProcess(flags: string[]): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), ...flags], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 60 s:\n${err}`));
    }, 60_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const m = /^sig server listening on (http:\/\/\S+)$/m.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, exited, stderr: () => err });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${err}`));
    });
  });
}

test('two server processes on one Postgres: one log, no gap, no duplicate', async (t) => {
  const b = await postgresBackend('procs');
  if (!b) {
    t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
    return;
  }
  const flags = [
    '--port=0',
    '--host=127.0.0.1',
    `--data-dir=${b.dataDir}`,
    `--database-url=${b.databaseUrl}`,
    '--origin=sig.test/procs',
    '--checkpoint-interval-ms=50',
    '--batch-max-age-ms=5',
    '--rate-limit-publishes=0',
    '--log-level=warn',
  ];
  const procs: Proc[] = [];
  try {
    // The first process makes the key files in the data directory; the second reads the same ones.
    procs.push(await startProcess(flags));
    procs.push(await startProcess(flags));
    const [a, c] = procs as [Proc, Proc];
    const keys = await serverKeys(a.url);
    const keysC = await serverKeys(c.url);
    t.is(keysC.vkey, keys.vkey);
    t.is(keysC.openpgpFingerprint, keys.openpgpFingerprint);

    const frank = await makeSigner('Frank');
    const grace = await makeSigner('Grace');
    t.is(
      (await postJson(`${a.url}/v1/keys`, { keys: [frank.armoredPublicKey, grace.armoredPublicKey] })).status,
      200,
    );
    const mine = async (s: typeof frank, tag: string, n: number) => {
      const out: Attestation[] = [];
      for (let i = 0; i < n; i++) out.push(await attest(s, `sha256:${tag}-${i}`));
      return out;
    };
    const forA = await mine(frank, 'a', 24);
    const forC = await mine(grace, 'c', 24);
    const shared = await mine(grace, 'shared', 6); // sent to both processes at once

    // Three concurrent streams per process, one or two attestations per request.
    const receipts: { att: Attestation; r: ReceiptJson }[] = [];
    const stream = async (url: string, list: Attestation[]) => {
      for (let i = 0; i < list.length; i += 2) {
        const batch = list.slice(i, i + 2);
        const res = await postJson(`${url}/v1/attestations`, { attestations: batch });
        t.is(res.status, 200, JSON.stringify(res.body));
        (res.body.receipts as ReceiptJson[]).forEach((r, k) => {
          receipts.push({ att: batch[k]!, r });
        });
      }
    };
    await Promise.all([
      stream(a.url, forA.slice(0, 12)),
      stream(a.url, forA.slice(12)),
      stream(a.url, shared),
      stream(c.url, forC.slice(0, 12)),
      stream(c.url, forC.slice(12)),
      stream(c.url, shared),
    ]);
    const distinct = forA.length + forC.length + shared.length;
    t.is(receipts.length, distinct + shared.length);

    // Same attestation through both processes: the same index.
    const indexOf = new Map<string, number>();
    for (const { att, r } of receipts) {
      const k = canonicalJson(att);
      const prev = indexOf.get(k);
      if (prev !== undefined) t.is(r.index, prev, 'a duplicate publish gets the existing index');
      indexOf.set(k, r.index);
      await verifyReceipt(r, keys);
      t.deepEqual(parseEntry(fromB64(r.entry)).attestation, att);
    }
    t.is(indexOf.size, distinct);

    // The final checkpoint (from either process) covers everything; every receipt's entry is in it; the
    // log is the attestations once each (0..n-1 with the index leaves between) and one index.
    const cp = await verifyCheckpointNote(await (await fetch(`${c.url}/log/checkpoint`)).text(), keys);
    const feed = await getJson(`${a.url}/v1/entries?start=0&limit=100`);
    t.is(feed.body.entries.length, Number(cp.treeSize));
    const replayed = replayIndex(feed.body.entries.map((e: { entry: string }) => fromB64(e.entry)));
    t.deepEqual(
      replayed.attestations,
      [...indexOf.values()].sort((x, y) => x - y),
      'the attestations once each, no index twice; the rest are index leaves holding the replayed root',
    );
    t.true(endsWithIndexLeaf(replayed.leaves, cp.treeSize));
    for (const { r } of receipts) {
      t.is(feed.body.entries[r.index].entry, r.entry);
      const proof = await getJson(`${a.url}/v1/proof/inclusion?index=${r.index}&size=${cp.treeSize}`);
      verifyInclusion(
        BigInt(r.index),
        cp.treeSize,
        hashLeaf(fromB64(r.entry)),
        proof.body.inclusionProof.map(fromB64),
        cp.rootHash,
      );
    }

    // Graceful stop on SIGTERM: both exit 0.
    for (const p of procs) p.child.kill('SIGTERM');
    const codes = await Promise.all(procs.map((p) => p.exited));
    t.deepEqual(codes, [0, 0], procs.map((p) => p.stderr()).join('\n'));
  } finally {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await b.cleanup();
  }
});

test('SIGKILL a server process mid-stream, restart on the same Postgres: nothing acknowledged lost', async (t) => {
  const b = await postgresBackend('kill');
  if (!b) {
    t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
    return;
  }
  const flags = [
    '--port=0',
    '--host=127.0.0.1',
    `--data-dir=${b.dataDir}`,
    `--database-url=${b.databaseUrl}`,
    '--origin=sig.test/kill',
    '--checkpoint-interval-ms=50',
    '--batch-max-age-ms=5',
    '--rate-limit-publishes=0',
    '--log-level=warn',
  ];
  const procs: Proc[] = [];
  try {
    const first = await startProcess(flags);
    procs.push(first);
    const keys = await serverKeys(first.url);
    const ivan = await makeSigner('Ivan');
    t.is((await postJson(`${first.url}/v1/keys`, { keys: [ivan.armoredPublicKey] })).status, 200);
    const n = 40;
    const atts: Attestation[] = [];
    for (let i = 0; i < n; i++) atts.push(await attest(ivan, `sha256:kill-${i}`));

    // Four workers stream single publishes; after 10 receipts the process is killed without warning.
    const acked = new Map<number, ReceiptJson>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        try {
          const res = await postJson(`${first.url}/v1/attestations`, { attestations: [atts[i]] });
          if (res.status === 200) acked.set(i, res.body.receipts[0]);
        } catch {
          // the process is gone
        }
        if (acked.size >= 10 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    await first.exited;
    t.true(killed);
    for (const r of acked.values()) await verifyReceipt(r, keys);

    const second = await startProcess(flags);
    procs.push(second);
    const keys2 = await serverKeys(second.url);
    t.is(keys2.vkey, keys.vkey);
    // Entries accepted before the kill but not yet integrated are integrated by the new process.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const metrics = await (await fetch(`${second.url}/metrics`)).text();
      if (/^sig_backlog 0$/m.test(metrics)) break;
      if (Date.now() > deadline) throw new Error(`backlog did not drain:\n${metrics}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cp = await verifyCheckpointNote(await (await fetch(`${second.url}/log/checkpoint`)).text(), keys);
    const feed = await getJson(`${second.url}/v1/entries?start=0&limit=100`);
    t.is(feed.body.entries.length, Number(cp.treeSize));
    t.deepEqual(
      feed.body.entries.map((e: { index: number }) => e.index),
      feed.body.entries.map((_: unknown, i: number) => i),
    );
    for (const r of acked.values()) t.is(feed.body.entries[r.index].entry, r.entry, `entry ${r.index} kept`);

    // Everything again: acknowledged ones keep their index; the log ends with each attestation once.
    const again = await postJson(`${second.url}/v1/attestations`, { attestations: atts.slice(0, 20) });
    const again2 = await postJson(`${second.url}/v1/attestations`, { attestations: atts.slice(20) });
    t.is(again.status, 200, JSON.stringify(again.body));
    t.is(again2.status, 200, JSON.stringify(again2.body));
    const all = [...again.body.receipts, ...again2.body.receipts] as ReceiptJson[];
    for (const [i, r] of acked) t.is(all[i]!.index, r.index);
    const finalCp = await verifyCheckpointNote(
      await (await fetch(`${second.url}/log/checkpoint`)).text(),
      keys,
    );
    const finalFeed = await getJson(`${second.url}/v1/entries?start=0&limit=100`);
    const replayed = replayIndex(finalFeed.body.entries.map((e: { entry: string }) => fromB64(e.entry)));
    t.deepEqual(
      all.map((r) => r.index).sort((x, y) => x - y),
      replayed.attestations,
      'each attestation exactly once, no gap; every index leaf, before and after the kill, replays',
    );
    t.is(replayed.attestations.length, n);
    t.true(endsWithIndexLeaf(replayed.leaves, finalCp.treeSize));
    second.child.kill('SIGTERM');
    t.is(await second.exited, 0);
  } finally {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await b.cleanup();
  }
});
