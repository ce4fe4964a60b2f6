/**
 * The index replayed by auditors (SPEC.md "What an auditor checks"): `sig audit --full` and
 * `sig server fsck` on a real stored log. A LogService opened with the test-only sequencer fault
 * `faults.indexRoot` (server/index-round.ts) signs one index leaf with a wrong map root, as a lying log
 * would; then a normal server serves that same database. `sig audit --full` must exit 9 (INDEX_FRAUD)
 * and write the evidence (signed checkpoint, the leaf with its inclusion proof, claimed and recomputed
 * roots, the entry before it with its proof), checkable with log/ alone; fsck must report
 * INDEX_ROOT_MISMATCH for the same entry. An honest log audits clean, every index leaf checked. Servers
 * run in-process on 127.0.0.1 port 0 (PGlite in temp dirs); the BUILT CLI runs as a child process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { bytesEqual } from '../log/bytes.js';
import { parseCheckpoint } from '../log/checkpoint.js';
import { hashLeaf } from '../log/hash.js';
import { IndexReplayer, parseIndexLeaf } from '../log/index-map.js';
import { ed25519Verifier, openNote } from '../log/note.js';
import { verifyInclusion } from '../log/proof.js';
import { LogService, type ServiceOptions } from '../server/log-service.js';
import type { ServerHandle } from '../server/main.js';
import { checkBuilt, readJsonFile, sig, sigJson, startTestServer, tempDir } from './cli-harness.js';
import { fromB64 } from './helpers/bytes.js';
import { makeSigner, sha256Id, TEST_OPTIONS } from './helpers/service.js';

const ORIGIN = 'cli.test/log';

/**
 * Builds a log of three publishes in dataDir (one round and one index leaf each); the index leaf of the
 * second round is written with `lie` applied to its root (the faults.indexRoot hook) when given.
 */
async function buildLog(dataDir: string, lie?: (root: Uint8Array) => Uint8Array): Promise<void> {
  let lying = false;
  const faults = {
    indexRoot: (root: Uint8Array) => (lying && lie ? lie(root) : root),
  } as unknown as ServiceOptions['faults'];
  const svc = await LogService.open({ ...TEST_OPTIONS, dataDir, origin: ORIGIN, faults });
  try {
    const signer = await makeSigner('Index Auditor Test');
    for (let i = 0; i < 3; i++) {
      lying = i === 1;
      await svc.publish([await signer.attest(sha256Id(`index-audit-${i}`))], [signer.publicArmored]);
    }
  } finally {
    await svc.close();
  }
}

let honest: ServerHandle;
let lying: ServerHandle;
let lyingDir: string;

test.before(async () => {
  checkBuilt();
  const honestDir = tempDir('index-honest');
  lyingDir = tempDir('index-lying');
  await buildLog(honestDir);
  await buildLog(lyingDir, (root) => {
    const r = root.slice();
    r[0]! ^= 0x01;
    return r;
  });
  honest = await startTestServer(honestDir);
  lying = await startTestServer(lyingDir);
});

test.after.always(async () => {
  await honest?.close();
  await lying?.close();
});

test.serial(
  'audit --full on an honest log replays the index: every index leaf checked, exit 0',
  async (t) => {
    const home = tempDir('index-audit-ok');
    t.is((await sig(home, ['server', 'add', honest.url, '--yes'])).code, 0);
    const r = await sigJson(home, ['audit', '--full']);
    t.is(r.code, EXIT.OK, r.stderr);
    const full = r.json.reports[0].full;
    t.is(full.index.indexLeaves, 3);
    t.is(full.index.replayed, full.entries);
    t.is(full.attestationsVerified + full.index.indexLeaves, full.entries);
    t.deepEqual(full.invalidAttestations, []);
    const text = await sig(home, ['audit', '--full']);
    t.is(text.code, EXIT.OK, text.stderr);
    t.regex(text.stdout, /index: 3 index leaves checked against the map replayed over 6 entries/);
  },
);

test.serial(
  'audit --full catches a wrong index root: exit 9, evidence that log/ alone can check',
  async (t) => {
    const home = tempDir('index-audit-fraud');
    t.is((await sig(home, ['server', 'add', lying.url, '--yes'])).code, 0);
    const r = await sigJson(home, ['audit', '--full']);
    t.is(r.code, EXIT.INDEX_FRAUD, r.stderr);
    const err = r.json.reports[0].error;
    t.is(err.code, 'INDEX_FRAUD');
    t.is(err.exitCode, 9);
    // The log is a0, L1, a2, L3 (the lie), a4, L5.
    t.is(err.details.index, 3);
    t.regex(
      err.message,
      /index fraud: the index leaf at 3, .* holds root .*, but the entries before it give/,
    );
    const dir = err.details.evidence as string;
    t.true(dir.startsWith(join(home, 'evidence')), dir);
    t.deepEqual(readdirSync(dir).sort(), ['README.txt', 'checkpoint.6', 'entry.json', 'index-leaf.json']);

    // The checkpoint is signed by the log's key; the leaf is in its tree; its root is not the replayed one.
    const note = readFileSync(join(dir, 'checkpoint.6'), 'utf8');
    const opened = await openNote(note, [ed25519Verifier(lying.service.info().vkey)]);
    const cp = parseCheckpoint(opened.text);
    const leaf = readJsonFile(join(dir, 'index-leaf.json'));
    const leafEntry = fromB64(leaf.entry);
    verifyInclusion(3n, cp.treeSize, hashLeaf(leafEntry), leaf.inclusionProof.map(fromB64), cp.rootHash);
    const claimed = parseIndexLeaf(leafEntry);
    t.is(claimed.size, 3n);
    t.is(leaf.claimed.root, Buffer.from(claimed.root).toString('base64'));
    t.false(leaf.rootMatches);
    t.true(leaf.sizeMatches);
    const before = readJsonFile(join(dir, 'entry.json'));
    t.is(before.index, 2);
    t.deepEqual(before.segment, { from: 2, to: 2 });
    const a2 = fromB64(before.entry);
    verifyInclusion(2n, cp.treeSize, hashLeaf(a2), before.inclusionProof.map(fromB64), cp.rootHash);
    // Replaying the evidence's own entries (0..2, from the feed) gives its recomputed root, not the claim.
    const feed = (await (await fetch(`${lying.url}/v1/entries?start=0&limit=3`)).json()) as {
      entries: { entry: string }[];
    };
    const replay = new IndexReplayer();
    for (const e of feed.entries) replay.append(fromB64(e.entry));
    t.true(bytesEqual(replay.root(), fromB64(leaf.recomputed.root)));
    t.false(bytesEqual(replay.root(), claimed.root));
    t.regex(readFileSync(join(dir, 'README.txt'), 'utf8'), /Index fraud evidence/);

    const text = await sig(home, ['audit', '--full']);
    t.is(text.code, EXIT.INDEX_FRAUD);
    t.regex(text.stderr, /INDEX_FRAUD: .*index fraud: the index leaf at 3/);
  },
);

test.serial('sig server fsck on the same database reports INDEX_ROOT_MISMATCH for entry 3', async (t) => {
  await lying.close();
  const home = tempDir('index-fsck');
  const r = await sig(home, ['server', 'fsck', '--data-dir', lyingDir, '--json', '--no-signatures']);
  t.is(r.code, EXIT.INVALID, r.stderr);
  const report = JSON.parse(r.stdout);
  const index = report.problems.filter((p: { class: string }) => p.class === 'INDEX');
  t.deepEqual(
    index.map((p: { code: string; details: { index: string; checkpointSize: string } }) => [
      p.code,
      p.details.index,
      p.details.checkpointSize,
    ]),
    [['INDEX_ROOT_MISMATCH', '3', '4']],
  );
  t.is(report.problems.filter((p: { class: string }) => p.class !== 'INDEX').length, 0, r.stdout);
  t.is(report.firstClass, 'INDEX');
});
