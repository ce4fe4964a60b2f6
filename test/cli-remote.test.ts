/**
 * The `sig` CLI against real servers: publish, verify --remote, pinning, freshness, and a proxy that
 * alters answers. Servers run in-process (startServer, 127.0.0.1 port 0, PGlite in temp dirs); the
 * BUILT CLI runs as a child process (dist/ must be fresh: `npm test` builds first; when iterating run
 * `npx tsc -p .`). Tests are serial: they share servers, and freshness depends on the tree not growing.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { base64Encode } from '../log/bytes.js';
import type { ServerHandle } from '../server/main.js';
import {
  checkBuilt,
  defaultFingerprint,
  flipBase64Byte,
  readJsonFile,
  sig,
  sigJson,
  startProxy,
  startTestServer,
  type TamperProxy,
  tempDir,
} from './cli-harness.js';
import { fromB64 } from './helpers/bytes.js';
import { spell, splitSignature } from './helpers/signature-spellings.js';

let a: ServerHandle;
let b: ServerHandle;
let proxy: TamperProxy;
let fpA: string;

test.before(async () => {
  checkBuilt();
  // Pages of 2, so a verify of three attestations follows the cursor.
  a = await startTestServer(tempDir('srv-a'), { 'query-page-limit': 2 });
  b = await startTestServer(tempDir('srv-b')); // same origin, its own keys
  proxy = await startProxy(a.url);
  fpA = a.service.info().openpgpFingerprint;
});

test.after.always(async () => {
  await proxy?.close();
  await a?.close();
  await b?.close();
});

/** publisher makes a SIG_DIR with a key, pinned to url (server a's key unless `pin`), and returns it with the key's fingerprint. */
async function publisher(url: string, label: string, pin = fpA): Promise<{ home: string; fp: string }> {
  const home = tempDir(label);
  await sig(home, ['key', 'generate', '--name', label]);
  const add = await sig(home, ['server', 'add', url, '--fingerprint', pin]);
  if (add.code !== 0) throw new Error(add.stderr);
  return { home, fp: await defaultFingerprint(home) };
}

function resourceFile(label: string): string {
  const p = join(tempDir(label), 'resource.bin');
  writeFileSync(p, `resource ${label} ${Math.random()}\n`);
  return p;
}

test.serial(
  'server add: refuses without a terminal, pins with --fingerprint, rejects a wrong fingerprint',
  async (t) => {
    const home = tempDir('add');
    const r = await sig(home, ['server', 'add', a.url]);
    t.is(r.code, EXIT.USAGE);
    t.regex(r.stderr, /NOT_INTERACTIVE/);
    t.regex(r.stderr, new RegExp(`--fingerprint ${fpA}`));
    t.regex(r.stderr, /origin\s+cli\.test\/log/);
    t.false(existsSync(join(home, 'servers.json')));

    const wrong = await sig(home, [
      'server',
      'add',
      a.url,
      '--fingerprint',
      b.service.info().openpgpFingerprint,
    ]);
    t.is(wrong.code, EXIT.INVALID);
    t.regex(wrong.stderr, /SERVER_KEY_MISMATCH/);

    const ok = await sigJson(home, [
      'server',
      'add',
      a.url,
      '--fingerprint',
      fpA.toLowerCase(),
      '--max-age',
      '2h',
    ]);
    t.is(ok.code, 0, ok.stderr);
    t.is(ok.json.server.fingerprint, fpA);
    t.is(ok.json.server.vkey, a.service.info().vkey);
    t.is(ok.json.server.maxAgeSeconds, 7200);
    const list = await sigJson(home, ['server', 'list']);
    t.is(list.json.servers.length, 1);
    t.true(existsSync(join(home, 'checkpoints', list.json.servers[0].name, 'latest')));
    const again = await sig(home, ['server', 'add', a.url, '--yes']);
    t.is(again.code, EXIT.USAGE, 'the same name twice is refused');
    t.is((await sig(home, ['server', 'remove', a.url])).code, 0);
    t.is((await sigJson(home, ['server', 'list'])).json.servers.length, 0);

    const down = await sig(home, ['server', 'add', 'http://127.0.0.1:9', '--yes']);
    t.is(down.code, EXIT.UNAVAILABLE);
  },
);

test.serial(
  'publish, verify --remote: trusted ok; a newer not-ok revokes; an untrusted key does not count',
  async (t) => {
    const pub = await publisher(a.url, 'alice');
    const mallory = await publisher(a.url, 'mallory');
    const file = resourceFile('publish');
    t.is((await sig(pub.home, ['attest', file, '--ok', '--comment', 'looked at it'])).code, 0);
    const p1 = await sigJson(pub.home, ['publish', file]);
    t.is(p1.code, 0, p1.stderr);
    const receipt = p1.json.servers[0].receipts[0];
    t.true(existsSync(receipt.file));
    const kept = readJsonFile(receipt.file);
    t.is(kept.index, receipt.index);
    t.is(kept.attestation.key, pub.fp);

    // The verifier has no copy of alice's key: it comes from GET /v1/keys, checked against the fingerprint.
    const verifier = tempDir('verifier');
    t.is((await sig(verifier, ['server', 'add', a.url, '--fingerprint', fpA])).code, 0);
    t.is((await sig(verifier, ['trust', 'add', pub.fp])).code, 0);
    const v1 = await sigJson(verifier, ['verify', file, '--remote']);
    t.is(v1.code, EXIT.OK, v1.stdout + v1.stderr);
    t.is(v1.json.verdict, 'trusted');
    t.is(v1.json.servers[0].status, 'fresh');
    t.is(v1.json.attestations[0].status, 'trusted ok');
    t.deepEqual(v1.json.attestations[0].sources, [v1.json.servers[0].server]);

    // Mallory (untrusted) says not ok: still trusted.
    t.is((await sig(mallory.home, ['attest', file, '--not-ok'])).code, 0);
    t.is((await sig(mallory.home, ['publish', file])).code, 0);
    const v2 = await sigJson(verifier, ['verify', file, '--remote']);
    t.is(v2.code, EXIT.OK);
    t.truthy(
      v2.json.attestations.find(
        (x: { key: string; status: string }) => x.key === mallory.fp && x.status === 'untrusted',
      ),
    );

    // Alice's newer not-ok (signature times have one-second resolution: wait for the clock to pass).
    const first = Date.parse(v1.json.attestations[0].signedAt);
    while (Date.now() < first + 1100) await new Promise((r) => setTimeout(r, 50));
    t.is((await sig(pub.home, ['attest', file, '--not-ok', '--comment', 'backdoor'])).code, 0);
    t.is((await sig(pub.home, ['publish', file])).code, 0);
    const v3 = await sig(verifier, ['verify', file, '--remote']);
    t.is(v3.code, EXIT.NOT_TRUSTED);
    t.regex(v3.stdout, /MARKED BAD/);
    t.regex(v3.stdout, /marked bad\s+[0-9A-F]{40} ok=false/);
    t.regex(v3.stdout, /superseded\s+[0-9A-F]{40} ok=true/);
    // Three attestations over two pages of 2 (query-page-limit), all found and proved.
    const v3j = await sigJson(verifier, ['verify', file, '--remote']);
    t.is(v3j.json.servers[0].attestations, 3);
    t.deepEqual(v3j.json.attestations.map((x: { status: string }) => x.status).sort(), [
      'marked bad',
      'superseded',
      'untrusted',
    ]);

    // Publishing the same attestation again returns the existing receipts (same indexes).
    const again = await sigJson(pub.home, ['publish', file]);
    t.is(again.code, 0);
    t.true(again.json.servers[0].receipts.some((r: { index: number }) => r.index === receipt.index));
  },
);

test.serial('a server whose keys are not the pinned ones is rejected (verify and audit)', async (t) => {
  const home = tempDir('pinned');
  t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fpA, '--name', 'a'])).code, 0);
  // Point the pinned entry at server B (same origin, different keys).
  const cfg = readJsonFile(join(home, 'servers.json'));
  cfg.servers[0].url = b.url;
  writeFileSync(join(home, 'servers.json'), JSON.stringify(cfg));
  const v = await sigJson(home, ['verify', 'sha256:00', '--remote']);
  t.is(v.code, EXIT.INVALID);
  t.is(v.json.servers[0].status, 'invalid');
  t.is(v.json.servers[0].error.code, 'SERVER_KEY_MISMATCH');
  t.regex(v.json.servers[0].error.message, /not signed by the pinned keys/);
  const au = await sig(home, ['audit']);
  t.is(au.code, EXIT.INVALID);
  t.regex(au.stderr, /SERVER_KEY_MISMATCH/);
});

test.serial(
  'one server down does not fail verify when another answers fresh; all down is exit 6',
  async (t) => {
    const home = tempDir('down');
    t.is((await sig(home, ['key', 'generate', '--name', 'Me', '--trust'])).code, 0);
    const id = `sha256:${'6'.repeat(64)}`;
    t.is((await sig(home, ['attest', '--id', id, '--ok'])).code, 0);
    t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fpA, '--name', 'up'])).code, 0);
    const cfg = readJsonFile(join(home, 'servers.json'));
    cfg.servers.push({ ...cfg.servers[0], name: 'down', url: 'http://127.0.0.1:9' });
    writeFileSync(join(home, 'servers.json'), JSON.stringify(cfg));
    t.is((await sig(home, ['publish', id, '--server', 'up'])).code, 0);
    const v = await sigJson(home, ['verify', id, '--remote']);
    t.is(v.code, EXIT.OK, v.stderr);
    t.deepEqual(
      v.json.servers.map((s: { server: string; status: string }) => `${s.server}:${s.status}`),
      ['up:fresh', 'down:unavailable'],
    );
    t.regex(v.stderr, /server down: unavailable: SERVER_UNAVAILABLE/);
    const only = await sigJson(home, ['verify', id, '--remote', '--server', 'down']);
    t.is(only.code, EXIT.UNAVAILABLE);
    t.is(only.json.verdict, 'stale');
  },
);

test.serial(
  'a proxy that alters one byte of a proof, an entry or a checkpoint is caught, naming what failed',
  async (t) => {
    const pub = await publisher(proxy.url, 'proxied');
    const file = resourceFile('proxied');
    t.is((await sig(pub.home, ['attest', file, '--ok'])).code, 0);
    t.is((await sig(pub.home, ['publish', file])).code, 0);
    t.is((await sig(pub.home, ['trust', 'add', pub.fp])).code, 0);
    const honest = await sig(pub.home, ['verify', file, '--remote']);
    t.is(honest.code, EXIT.OK, honest.stderr);
    const keptBefore = readdirSync(join(pub.home, 'checkpoints')).map((d) =>
      readdirSync(join(pub.home, 'checkpoints', d)),
    );

    const alterQuery = (
      edit: (j: { checkpoint: string; attestations: { entry: string; inclusionProof: string[] }[] }) => void,
    ) => {
      proxy.mutate = (path, body) => {
        if (!path.startsWith('/v1/attestations?')) return undefined;
        const j = JSON.parse(body.toString());
        edit(j);
        return { body: Buffer.from(JSON.stringify(j)) };
      };
    };
    try {
      // 1. One byte of an inclusion proof.
      alterQuery((j) => {
        j.attestations[0]!.inclusionProof[0] = flipBase64Byte(j.attestations[0]!.inclusionProof[0]!, 5);
      });
      const r1 = await sigJson(pub.home, ['verify', file, '--remote']);
      t.is(r1.code, EXIT.INVALID);
      t.is(r1.json.servers[0].error.code, 'INCLUSION_PROOF_INVALID');
      t.regex(r1.json.servers[0].error.message, /entry \d+ against checkpoint size \d+/);

      // 2. One byte of an entry.
      alterQuery((j) => {
        j.attestations[0]!.entry = flipBase64Byte(j.attestations[0]!.entry, 40);
      });
      const r2 = await sigJson(pub.home, ['verify', file, '--remote']);
      t.is(r2.code, EXIT.INVALID);
      t.is(
        r2.json.servers[0].error.code,
        'INCLUSION_PROOF_INVALID',
        'the altered entry no longer hashes to the proved leaf',
      );
      t.regex(r2.json.servers[0].error.message, /entry \d+/);

      // 3. One byte of the checkpoint (a character of the root hash line).
      alterQuery((j) => {
        const lines = j.checkpoint.split('\n');
        lines[2] = flipBase64Byte(lines[2]!, 3);
        j.checkpoint = lines.join('\n');
      });
      const r3 = await sigJson(pub.home, ['verify', file, '--remote']);
      t.is(r3.code, EXIT.INVALID);
      t.is(r3.json.servers[0].error.code, 'NOTE_SIGNATURE_INVALID');
      t.regex(r3.json.servers[0].error.message, /checkpoint .*does not verify/);

      // 4. /log/checkpoint altered under `sig audit`.
      proxy.mutate = (path, body) => {
        if (path !== '/log/checkpoint') return undefined;
        const lines = body.toString().split('\n');
        lines[2] = flipBase64Byte(lines[2]!, 0);
        return { body: Buffer.from(lines.join('\n')) };
      };
      const r4 = await sig(pub.home, ['audit']);
      t.is(r4.code, EXIT.INVALID);
      t.regex(r4.stderr, /NOTE_SIGNATURE_INVALID/);

      // 5. A publish receipt whose entry was altered: rejected, nothing kept.
      proxy.mutate = (path, body) => {
        if (path !== '/v1/attestations') return undefined;
        const j = JSON.parse(body.toString());
        j.receipts[0].entry = flipBase64Byte(j.receipts[0].entry, 30);
        return { body: Buffer.from(JSON.stringify(j)) };
      };
      const file2 = resourceFile('proxied2');
      t.is((await sig(pub.home, ['attest', file2, '--ok'])).code, 0);
      const receiptsBefore = readdirSync(join(pub.home, 'receipts')).flatMap((d) =>
        readdirSync(join(pub.home, 'receipts', d)),
      );
      const r5 = await sigJson(pub.home, ['publish', file2]);
      t.is(r5.code, EXIT.INVALID);
      t.is(r5.json.servers[0].error.code, 'INCLUSION_PROOF_INVALID');
      const receiptsAfter = readdirSync(join(pub.home, 'receipts')).flatMap((d) =>
        readdirSync(join(pub.home, 'receipts', d)),
      );
      t.deepEqual(receiptsAfter, receiptsBefore);

      // 6. A receipt for a different attestation than the one sent (a valid entry of the log, replayed).
      let replay: { index: number; entry: string; inclusionProof: string[]; checkpoint: string } | undefined;
      proxy.mutate = (path, body) => {
        if (path !== '/v1/attestations') return undefined;
        const j = JSON.parse(body.toString());
        if (!replay) {
          replay = j.receipts[0];
          return undefined;
        }
        j.receipts[0] = replay;
        return { body: Buffer.from(JSON.stringify(j)) };
      };
      const file3 = resourceFile('proxied3');
      const file4 = resourceFile('proxied4');
      t.is((await sig(pub.home, ['attest', file3, '--ok'])).code, 0);
      t.is((await sig(pub.home, ['attest', file4, '--ok'])).code, 0);
      t.is((await sig(pub.home, ['publish', file3])).code, 0);
      const r6 = await sigJson(pub.home, ['publish', file4]);
      t.is(r6.code, EXIT.INVALID);
      t.is(r6.json.servers[0].error.code, 'RECEIPT_INVALID');
      t.regex(r6.json.servers[0].error.message, /holds a different attestation/);
    } finally {
      proxy.mutate = undefined;
    }
    const keptAfter = readdirSync(join(pub.home, 'checkpoints')).map((d) =>
      readdirSync(join(pub.home, 'checkpoints', d)),
    );
    t.true(keptAfter[0]!.length >= keptBefore[0]!.length);
    t.is(
      (await sig(pub.home, ['verify', file, '--remote'])).code,
      EXIT.OK,
      'honest again once the proxy stops',
    );
  },
);

test.serial('a replayed older checkpoint is refused: a tree never shrinks', async (t) => {
  const pub = await publisher(proxy.url, 'replay');
  const old = await (await fetch(`${proxy.url}/log/checkpoint`)).text();
  const file = resourceFile('replay');
  t.is((await sig(pub.home, ['attest', file, '--ok'])).code, 0);
  t.is((await sig(pub.home, ['publish', file])).code, 0);
  const keptName = readdirSync(join(pub.home, 'checkpoints'))[0]!;
  const keptBefore = readFileSync(join(pub.home, 'checkpoints', keptName, 'latest'), 'utf8');
  proxy.mutate = (path) => (path === '/log/checkpoint' ? { body: Buffer.from(old) } : undefined);
  try {
    const r = await sigJson(pub.home, ['audit']);
    t.is(r.code, EXIT.INVALID);
    t.is(r.json.reports[0].error.code, 'CHECKPOINT_ROLLBACK');
    t.regex(r.json.reports[0].error.message, /smaller than the size \d+ already kept/);
  } finally {
    proxy.mutate = undefined;
  }
  t.is(
    readFileSync(join(pub.home, 'checkpoints', keptName, 'latest'), 'utf8'),
    keptBefore,
    'the kept checkpoint is unchanged',
  );
});

test.serial('429 and 503 with Retry-After are retried (bounded)', async (t) => {
  const pub = await publisher(proxy.url, 'retry');
  const file = resourceFile('retry');
  t.is((await sig(pub.home, ['attest', file, '--ok'])).code, 0);
  let refusals = 0;
  proxy.mutate = (path) => {
    if (path !== '/v1/attestations' || refusals >= 2) return undefined;
    refusals++;
    const body = Buffer.from(
      JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down', details: {} } }),
    );
    return {
      body,
      status: refusals === 1 ? 429 : 503,
      headers: { 'retry-after': '0', 'content-type': 'application/json' },
    };
  };
  try {
    const r = await sigJson(pub.home, ['publish', file]);
    t.is(r.code, 0, r.stderr);
    t.is(refusals, 2);
    t.regex(r.stderr, /answered 429; retrying/);
    // Always busy: gives up after the bounded tries with the unavailable code.
    proxy.mutate = (path) =>
      path === '/v1/attestations'
        ? {
            body: Buffer.from('{"error":{"code":"BACKLOG_FULL","message":"busy"}}'),
            status: 503,
            headers: { 'retry-after': '0' },
          }
        : undefined;
    const busy = await sig(pub.home, ['publish', file]);
    t.is(busy.code, EXIT.UNAVAILABLE);
    t.regex(busy.stderr, /BACKLOG_FULL.*gave up after 4 tries/);
  } finally {
    proxy.mutate = undefined;
  }
});

test.serial('log checkpoint, entry, inclusion and consistency proofs are verified', async (t) => {
  const home = tempDir('logcmds');
  t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fpA])).code, 0);
  const cp = await sigJson(home, ['log', 'checkpoint']);
  t.is(cp.code, 0, cp.stderr);
  const size = cp.json.treeSize as number;
  t.true(size >= 3, `tree size ${size}`);
  t.is(cp.json.origin, 'cli.test/log');
  const e = await sigJson(home, ['log', 'entry', '0']);
  t.is(e.code, 0, e.stderr);
  t.regex(e.json.entry.attestation.data.id, /^sha256:/);
  const inc = await sigJson(home, ['log', 'proof', 'inclusion', '1', '--size', String(size - 1)]);
  t.is(inc.code, 0, inc.stderr);
  t.true(inc.json.verified);
  const con = await sigJson(home, ['log', 'proof', 'consistency', '1', String(size)]);
  t.is(con.code, 0, con.stderr);
  t.is(con.json.rootTo, cp.json.rootHash);
  const out = await sig(home, ['log', 'entry', String(size + 5)]);
  t.is(out.code, EXIT.USAGE);
});

test.serial(
  'a server that stopped re-signing is stale: verify aborts; --allow-stale proceeds with a warning',
  async (t) => {
    const home = tempDir('stale');
    t.is((await sig(home, ['key', 'generate', '--name', 'Me'])).code, 0);
    t.is((await sig(home, ['trust', 'add', await defaultFingerprint(home)])).code, 0);
    const id = `sha256:${'5'.repeat(64)}`;
    t.is((await sig(home, ['attest', '--id', id, '--ok'])).code, 0);
    // Policy: a checkpoint older than 1s is stale. The server re-signs only every 10 minutes (default),
    // so once the tree stops growing its checkpoint ages past 1s.
    t.is((await sig(home, ['server', 'add', a.url, '--fingerprint', fpA, '--max-age', '1s'])).code, 0);
    t.is((await sig(home, ['publish', id])).code, 0);
    const deadline = Date.now() + 30_000;
    let r = await sigJson(home, ['verify', id, '--remote']);
    while (r.code !== EXIT.STALE && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await sigJson(home, ['verify', id, '--remote']);
    }
    t.is(r.code, EXIT.STALE);
    t.is(r.json.verdict, 'stale');
    t.is(r.json.servers[0].status, 'stale');
    t.regex(r.json.servers[0].reason, /allows 1s/);
    const human = await sig(home, ['verify', id, '--remote']);
    t.regex(human.stdout, /STALE: no configured server gave a fresh answer/);
    const s = await sigJson(home, ['verify', id, '--remote', '--allow-stale']);
    t.is(s.code, EXIT.OK);
    t.is(s.json.verdict, 'trusted');
    t.regex(s.stderr, /going on with stale answers/);
  },
);

test.serial('publish sends more attestations than a server takes per request in chunks', async (t) => {
  const small = await startTestServer(tempDir('srv-small'), { 'max-attestations-per-request': 2 });
  try {
    const { home } = await publisher(small.url, 'chunks', small.service.info().openpgpFingerprint);
    for (let i = 0; i < 5; i++)
      t.is((await sig(home, ['attest', resourceFile(`chunk-${i}`), '--ok'])).code, 0);
    const r = await sigJson(home, ['publish', '--all']);
    t.is(r.code, 0, r.stderr);
    const receipts = r.json.servers[0].receipts as { index: number }[];
    t.is(receipts.length, 5);
    t.deepEqual(new Set(receipts.map((x) => Number(x.index))).size, 5, 'five distinct log entries');
    t.is((await small.service.storageCounts()).attestations, 5);
  } finally {
    await small.close();
  }
});

test.serial('publish of a re-spelled copy of a logged attestation gets the first receipt', async (t) => {
  // The server dedups on the canonical signature (log/entry.ts attestationDigest): a copy whose signature
  // packet has a legacy header answers with the first copy's entry, which the CLI must accept.
  const pub = await publisher(a.url, 'respell');
  const file = resourceFile('respell');
  t.is((await sig(pub.home, ['attest', file, '--ok'])).code, 0);
  const first = await sigJson(pub.home, ['publish', file]);
  t.is(first.code, 0, first.stderr);
  const index = first.json.servers[0].receipts[0].index as number;
  const entries = (await a.service.storageCounts()).entries;

  const dir = join(pub.home, 'attestations');
  const [sub] = readdirSync(dir);
  const [name] = readdirSync(join(dir, sub!));
  const path = join(dir, sub!, name!);
  const att = readJsonFile(path);
  const parts = splitSignature(fromB64(att.sig));
  const respelled = base64Encode(spell(parts, { header: 'old2', unhashed: parts.unhashed, mpiPad: [] }));
  t.not(respelled, att.sig);
  writeFileSync(path, JSON.stringify({ ...att, sig: respelled }));

  const again = await sigJson(pub.home, ['publish', file]);
  t.is(again.code, 0, again.stderr);
  t.is(again.json.servers[0].receipts[0].index, index, "the first copy's receipt");
  t.is((await a.service.storageCounts()).entries, entries, 'nothing new logged');
});
