/**
 * `sig audit`: consistency with kept checkpoints, fork detection with evidence, --peer, --full, --watch.
 * The fork is real: two servers share the SAME key files (A's note.key and openpgp.key, given to B by
 * file) and origin but have different databases and different entries, so both sign valid checkpoints
 * of two different trees. Servers run in-process on 127.0.0.1 port 0 (PGlite in temp dirs); the BUILT
 * CLI runs as a child process (`npm test` builds first; when iterating run `npx tsc -p .`).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { parseCheckpoint } from '../log/checkpoint.js';
import { ed25519Verifier, openNote, openpgpVerifier } from '../log/note.js';
import { readPublicKey } from '../log/signet.js';
import type { ServerHandle } from '../server/main.js';
import { checkBuilt, readJsonFile, sig, sigJson, startTestServer, tempDir } from './cli-harness.js';

const ORIGIN = 'fork.test/log';
let a: ServerHandle;
let b: ServerHandle;
let fp: string;

test.before(async () => {
  checkBuilt();
  const dirA = tempDir('fork-a');
  a = await startTestServer(dirA, { origin: ORIGIN });
  b = await startTestServer(tempDir('fork-b'), {
    origin: ORIGIN,
    'note-key-file': join(dirA, 'note.key'),
    'openpgp-key-file': join(dirA, 'openpgp.key'),
  });
  fp = a.service.info().openpgpFingerprint;
  if (b.service.info().vkey !== a.service.info().vkey) throw new Error('B must sign with A keys');
  // One different entry on each: two trees of size 1 with different roots, signed by the same keys.
  for (const [srv, label] of [
    [a, 'on-a'],
    [b, 'on-b'],
  ] as const) {
    const home = tempDir(label);
    await sig(home, ['key', 'generate', '--name', label]);
    await sig(home, ['server', 'add', srv.url, '--fingerprint', fp]);
    await sig(home, [
      'attest',
      '--id',
      `sha256:${label === 'on-a' ? 'a'.repeat(64) : 'b'.repeat(64)}`,
      '--ok',
    ]);
    const p = await sig(home, ['publish', '--all']);
    if (p.code !== 0) throw new Error(p.stderr);
  }
});

test.after.always(async () => {
  await a?.close();
  await b?.close();
});

/** pointAt rewrites the URL of the (only) pinned server, keeping its keys and kept checkpoints. */
function pointAt(home: string, url: string): void {
  const cfg = readJsonFile(join(home, 'servers.json'));
  cfg.servers[0].url = url;
  writeFileSync(join(home, 'servers.json'), JSON.stringify(cfg));
}

/** checkEvidence opens both evidence checkpoints with the pinned keys and returns them parsed. */
async function checkEvidence(home: string, dir: string) {
  const server = readJsonFile(join(home, 'servers.json')).servers[0];
  const verifiers = [
    ed25519Verifier(server.vkey),
    openpgpVerifier(server.origin, await readPublicKey(server.openpgpPublicKey)),
  ];
  const files = readdirSync(dir).filter((f) => f.startsWith('checkpoint.'));
  const cps = [];
  for (const f of files) {
    const opened = await openNote(readFileSync(join(dir, f), 'utf8'), verifiers);
    cps.push(parseCheckpoint(opened.text));
  }
  return cps;
}

test.serial(
  'audit: a fork at the same size (pinned A, then pointed at B) is detected, with evidence',
  async (t) => {
    const home = tempDir('auditor');
    t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fp, '--name', 'log'])).code, 0);
    const first = await sigJson(home, ['audit']);
    t.is(first.code, EXIT.OK, first.stderr);
    t.is(first.json.reports[0].treeSize, 2); // the attestation and its index leaf
    t.is(first.json.reports[0].status, 'fresh');

    pointAt(home, b.url);
    const fork = await sigJson(home, ['audit']);
    t.is(fork.code, EXIT.FORK);
    const r = fork.json.reports[0];
    t.is(r.status, 'fork');
    t.is(r.error.code, 'FORK_DETECTED');
    t.regex(r.error.message, /two checkpoints of size 2 with different roots/);
    const evidence = r.error.details.evidence as string;
    t.true(evidence.startsWith(join(home, 'evidence')));
    const cps = await checkEvidence(home, evidence);
    t.is(cps.length, 2);
    t.is(cps[0]!.treeSize, 2n);
    t.is(cps[1]!.treeSize, 2n);
    t.notDeepEqual(cps[0]!.rootHash, cps[1]!.rootHash);
    // The kept checkpoint is still A's: the fork was not accepted.
    const kept = readFileSync(join(home, 'checkpoints', 'log', 'latest'), 'utf8');
    const rootA = (await (await fetch(`${a.url}/log/checkpoint`)).text()).split('\n')[2];
    t.is(kept.split('\n')[2], rootA);
    t.is((await sig(home, ['verify', `sha256:${'b'.repeat(64)}`, '--remote'])).code, EXIT.FORK);
  },
);

test.serial(
  'audit --peer: a peer checkpoint of the same size with another root is a fork; a consistent peer is not',
  async (t) => {
    const home = tempDir('peer');
    t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fp])).code, 0);
    const ok = await sigJson(home, ['audit', '--peer', `${a.url}/log/checkpoint`]);
    t.is(ok.code, EXIT.OK, ok.stderr);
    t.is(ok.json.reports[0].peers[0].treeSize, ok.json.reports[0].treeSize);

    const peerFile = join(tempDir('peer-file'), 'checkpoint');
    writeFileSync(peerFile, await (await fetch(`${b.url}/log/checkpoint`)).text());
    const fork = await sig(home, ['audit', '--peer', peerFile]);
    t.is(fork.code, EXIT.FORK);
    t.regex(fork.stderr, /FORK_DETECTED.*evidence in /);
    t.is(readdirSync(join(home, 'evidence')).length, 1);
  },
);

test.serial(
  'audit: a fork at different sizes (kept B at 2, A grows to 4) fails the consistency proof',
  async (t) => {
    const home = tempDir('grow');
    t.is((await sig(home, ['server', 'add', b.url, '--fingerprint', fp, '--name', 'log'])).code, 0);
    // A grows past B.
    const pub = tempDir('grow-pub');
    await sig(pub, ['key', 'generate', '--name', 'grow']);
    await sig(pub, ['server', 'add', a.url, '--fingerprint', fp]);
    await sig(pub, ['attest', '--id', `sha256:${'c'.repeat(64)}`, '--ok']);
    t.is((await sig(pub, ['publish', '--all'])).code, 0);

    pointAt(home, a.url);
    const fork = await sigJson(home, ['audit']);
    t.is(fork.code, EXIT.FORK);
    t.regex(fork.json.reports[0].error.message, /not proved consistent with the checkpoint of size 2/);
    const cps = await checkEvidence(home, fork.json.reports[0].error.details.evidence);
    t.deepEqual(cps.map((c) => c.treeSize).sort(), [2n, 4n]);
  },
);

test.serial(
  'audit --full recomputes the tree from tiles and re-verifies every attestation; --watch repeats',
  async (t) => {
    const home = tempDir('full');
    t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fp])).code, 0);
    const full = await sigJson(home, ['audit', '--full']);
    t.is(full.code, EXIT.OK, full.stderr);
    const f = full.json.reports[0].full;
    t.is(f.entries, full.json.reports[0].treeSize);
    // Every entry is an attestation, re-verified, or an index leaf, replayed (one per publish here).
    t.is(f.attestationsVerified + f.index.indexLeaves, f.entries);
    t.is(f.index.indexLeaves, f.attestationsVerified);
    t.deepEqual(f.invalidAttestations, []);
    t.true(f.hashTiles >= 1);
    const watch = await sigJson(home, ['audit', '--watch', '--count', '2', '--interval', '1s']);
    t.is(watch.code, EXIT.OK);
    t.is(watch.json.rounds, 2);
    t.is(watch.json.reports.length, 2);
  },
);
