/**
 * `sig` against servers that lie (issue 8, "a client no server can wreck"). Each test is an attack that
 * once worked, reproduced against the BUILT CLI (child process): hostile servers are real HTTP servers
 * on 127.0.0.1 port 0, either a log with its own real keys that answers whatever the test wants
 * (startHostileLog) or a real server behind a proxy that alters answers (startProxy). Keys are real
 * OpenPGP keys (openpgp.js), never mocks. Serial: tests share servers and wait on signature times.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import * as openpgp from 'openpgp';
import { EXIT } from '../cli/exit-codes.js';
import { base64Encode } from '../log/bytes.js';
import { encodeEntry } from '../log/entry.js';
import { hashChildren, hashLeaf } from '../log/hash.js';
import { parseAttestation, signAttestation } from '../log/signet.js';
import { encodeEntryBundle } from '../log/tiles.js';
import type { ServerHandle } from '../server/main.js';
import {
  checkBuilt,
  defaultFingerprint,
  type HostileLog,
  sig,
  sigJson,
  startHostileLog,
  startProxy,
  startTestServer,
  tempDir,
} from './cli-harness.js';
import { newSigningKey } from './helpers/keys.js';
import { refMth, refPath, refTiles } from './reference.js';

let a: ServerHandle;
let b: ServerHandle;
let fpA: string;
let fpB: string;

/** Alice is a trusted signer who said ok with her primary key, then not ok with a signing subkey she added later. */
interface Alice {
  home: string;
  fp: string;
  /** oldKey is her public key as it was before the subkey: a stale (or stripped) copy. */
  oldKey: string;
  /** newKey is her current public key, with the subkey and its binding signature. */
  newKey: string;
  id: string;
  okAttestation: unknown;
  notOkAttestation: unknown;
}
let alice: Alice;

test.before(async () => {
  checkBuilt();
  a = await startTestServer(tempDir('hostile-a'));
  b = await startTestServer(tempDir('hostile-b'));
  fpA = a.service.info().openpgpFingerprint;
  fpB = b.service.info().openpgpFingerprint;
  alice = await makeAlice();
});

test.after.always(async () => {
  await a?.close();
  await b?.close();
});

async function waitPastSecond(since: number): Promise<void> {
  while (Date.now() < since + 1100) await new Promise((r) => setTimeout(r, 50));
}

/**
 * makeAlice publishes to server a: Alice's ok (signed by her primary key), then, after she adds a
 * signing subkey, her newer not ok (openpgp.js signs with the newest signing subkey). Server a has both
 * and her current key. A copy of her key without the subkey cannot verify the not ok.
 */
async function makeAlice(): Promise<Alice> {
  const home = tempDir('alice');
  await sig(home, ['key', 'generate', '--name', 'Alice']);
  const fp = await defaultFingerprint(home);
  if ((await sig(home, ['server', 'add', a.url, '--fingerprint', fpA])).code !== 0) throw new Error('add');
  const id = `sha256:${'a1'.repeat(32)}`;
  const ok = await sigJson(home, ['attest', '--id', id, '--ok']);
  const p1 = await sig(home, ['publish', id]);
  if (p1.code !== 0) throw new Error(p1.stderr);
  const oldKey = readFileSync(join(home, 'keys', `${fp}.asc`), 'utf8');
  // Signature times have one-second resolution: the not ok must be strictly newer.
  await waitPastSecond(Date.parse(ok.json.signedAt));

  const secretFile = join(home, 'keys', `${fp}.secret.asc`);
  const priv = await openpgp.readPrivateKey({ armoredKey: readFileSync(secretFile, 'utf8') });
  const withSub = await priv.addSubkey({ type: 'ecc', curve: 'ed25519Legacy', sign: true });
  writeFileSync(secretFile, withSub.armor());
  const newKey = withSub.toPublic().armor();
  writeFileSync(join(home, 'keys', `${fp}.asc`), newKey);
  const notOk = await sigJson(home, ['attest', '--id', id, '--not-ok', '--comment', 'backdoor']);
  if (notOk.code !== 0) throw new Error(notOk.stderr);
  const p2 = await sig(home, ['publish', id]);
  if (p2.code !== 0) throw new Error(p2.stderr);
  return {
    home,
    fp,
    oldKey,
    newKey,
    id,
    okAttestation: ok.json.attestation,
    notOkAttestation: notOk.json.attestation,
  };
}

/** verifier makes a SIG_DIR that trusts Alice (without a copy of her key) and pins the given servers in order. */
async function verifier(
  label: string,
  servers: { url: string; fp: string; name: string }[],
): Promise<string> {
  const home = tempDir(label);
  for (const s of servers) {
    const r = await sig(home, ['server', 'add', s.url, '--fingerprint', s.fp, '--name', s.name]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  if ((await sig(home, ['trust', 'add', alice.fp])).code !== 0) throw new Error('trust');
  return home;
}

test.serial('honest baseline: both servers honest, Alice marked it bad', async (t) => {
  const home = await verifier('baseline', [{ url: a.url, fp: fpA, name: 'honest' }]);
  const v = await sigJson(home, ['verify', alice.id, '--remote']);
  t.is(v.code, EXIT.NOT_TRUSTED, v.stderr);
  t.is(v.json.verdict, 'marked bad');
});

test.serial(
  'fail closed: a stripped copy of a trusted key (subkey binding removed) makes the verdict CANNOT DECIDE, naming key and entry, not TRUSTED',
  async (t) => {
    const proxy = await startProxy(a.url);
    try {
      const home = await verifier('strip-one', [{ url: proxy.url, fp: fpA, name: 'evil' }]);
      proxy.mutate = (path) =>
        path === `/v1/keys/${alice.fp}` ? { body: Buffer.from(alice.oldKey) } : undefined;
      const v = await sigJson(home, ['verify', alice.id, '--remote']);
      t.is(v.code, EXIT.UNDECIDED, v.stdout + v.stderr);
      t.is(v.json.verdict, 'cannot decide');
      t.is(v.json.exitCode, EXIT.UNDECIDED);
      t.is(v.json.undecided.length, 1);
      const u = v.json.undecided[0];
      t.is(u.key, alice.fp);
      t.is(u.ok, false);
      t.is(u.entries.length, 1);
      t.is(u.entries[0].server, 'evil');
      t.true(Number.isSafeInteger(u.entries[0].index));
      t.regex(u.reason, /KEY_MISMATCH/);
      const human = await sig(home, ['verify', alice.id, '--remote']);
      t.is(human.code, EXIT.UNDECIDED);
      t.regex(human.stdout, /CANNOT DECIDE/);
      t.regex(human.stdout, new RegExp(`${alice.fp}.*server evil index ${u.entries[0].index}`));
    } finally {
      await proxy.close();
    }
  },
);

test.serial(
  'fail closed: a hostile log serving a trusted key’s not ok with a broken signature gets CANNOT DECIDE, not TRUSTED',
  async (t) => {
    const ok = parseAttestation(alice.okAttestation);
    const notOk = parseAttestation(alice.notOkAttestation);
    // The not ok, its comment changed after signing: the signature no longer verifies.
    const broken = { ...notOk, data: { ...notOk.data, comment: 'all fine' } };
    const loggedAt = new Date().toISOString();
    const e0 = encodeEntry({ attestation: ok, loggedAt });
    const e1 = encodeEntry({ attestation: broken, loggedAt });
    const l0 = hashLeaf(e0);
    const l1 = hashLeaf(e1);
    const log = await startHostileLog({ treeSize: 2n, rootHash: hashChildren(l0, l1) });
    try {
      log.handle = (req, res) => {
        if (req.url?.startsWith('/v1/attestations?')) {
          json(res, {
            checkpoint: log.checkpoint,
            attestations: [
              { index: 0, entry: base64Encode(e0), inclusionProof: [base64Encode(l1)] },
              { index: 1, entry: base64Encode(e1), inclusionProof: [base64Encode(l0)] },
            ],
            next: null,
          });
          return true;
        }
        if (req.url === `/v1/keys/${alice.fp}`) {
          res.writeHead(200, { 'content-type': 'application/pgp-keys' });
          res.end(alice.newKey);
          return true;
        }
        return false;
      };
      const home = await verifier('broken-sig', [{ url: log.url, fp: log.fingerprint, name: 'hostile' }]);
      const v = await sigJson(home, ['verify', alice.id, '--remote']);
      t.is(v.code, EXIT.UNDECIDED, v.stdout + v.stderr);
      t.is(v.json.verdict, 'cannot decide');
      t.deepEqual(v.json.undecided[0].entries, [{ server: 'hostile', index: 1 }]);
      t.regex(v.json.undecided[0].reason, /SIGNATURE_INVALID/);
    } finally {
      await log.close();
    }
  },
);

test.serial(
  'signer keys: a server that 404s the query but serves a stripped copy of the key cannot turn an honest MARKED BAD into TRUSTED; copies that disagree are reported',
  async (t) => {
    const evil = await startProxy(b.url);
    try {
      // The hostile server comes first in servers.json: the old client took the key from it.
      const home = await verifier('strip-two', [
        { url: evil.url, fp: fpB, name: 'evil' },
        { url: a.url, fp: fpA, name: 'honest' },
      ]);
      const answers: [string, (p: string) => Buffer | undefined][] = [
        ['stripped', (p) => (p === `/v1/keys/${alice.fp}` ? Buffer.from(alice.oldKey) : undefined)],
        [
          'garbage',
          (p) =>
            p === `/v1/keys/${alice.fp}`
              ? Buffer.from(
                  '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n',
                )
              : undefined,
        ],
        [
          'another key',
          (p) => (p === `/v1/keys/${alice.fp}` ? Buffer.from(b.service.info().openpgpPublicKey) : undefined),
        ],
      ];
      for (const [label, key] of answers) {
        evil.mutate = (path) => {
          if (path.startsWith('/v1/attestations?')) {
            return {
              status: 404,
              body: Buffer.from('{"error":{"code":"NOT_FOUND","message":"nothing here"}}'),
            };
          }
          const k = key(path);
          return k ? { body: k, status: 200 } : undefined;
        };
        const v = await sigJson(home, ['verify', alice.id, '--remote']);
        t.is(v.code, EXIT.NOT_TRUSTED, `${label}: ${v.stdout}${v.stderr}`);
        t.is(v.json.verdict, 'marked bad', label);
        t.deepEqual(
          v.json.servers.map((s: { server: string; status: string }) => `${s.server}:${s.status}`),
          ['evil:refused', 'honest:fresh'],
          label,
        );
        const k = v.json.keys.find((x: { fingerprint: string }) => x.fingerprint === alice.fp);
        t.is(k.source, 'servers', label);
        const copy = (name: string) => k.copies.find((c: { server: string }) => c.server === name);
        t.is(copy('honest').status, 'ok', label);
        if (label === 'stripped') {
          t.is(copy('evil').status, 'ok');
          t.true(k.disagree);
          t.deepEqual(k.incomplete, ['evil']);
          t.regex(v.stderr, new RegExp(`key ${alice.fp}: the copies from servers disagree.*evil`));
        } else {
          t.is(copy('evil').status, 'invalid', label);
          t.regex(v.stderr, new RegExp(`key ${alice.fp}: server evil sent a copy that is not usable`), label);
        }
      }
    } finally {
      await evil.close();
    }
  },
);

test.serial('local keys win over every server copy', async (t) => {
  const home = await verifier('local-wins', [{ url: a.url, fp: fpA, name: 'honest' }]);
  writeFileSync(join(home, 'keys.asc'), alice.newKey);
  t.is((await sig(home, ['key', 'import', join(home, 'keys.asc')])).code, 0);
  const v = await sigJson(home, ['verify', alice.id, '--remote']);
  t.is(v.code, EXIT.NOT_TRUSTED, v.stderr);
  t.is(v.json.keys.find((x: { fingerprint: string }) => x.fingerprint === alice.fp).source, 'local');
  t.is(v.json.verdict, 'marked bad');
});

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** withLog runs fn with a hostile log and closes it after. */
async function withLog<T>(
  opts: Parameters<typeof startHostileLog>[0],
  fn: (log: HostileLog) => Promise<T>,
): Promise<T> {
  const log = await startHostileLog(opts);
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

test.serial(
  'bounds: an 800 MB answer to `sig server add` is cut at the JSON cap and refused, without buffering it',
  async (t) => {
    await withLog({}, async (log) => {
      let sent = 0;
      const total = 800 * 1024 * 1024;
      log.handle = (req, res) => {
        if (req.url !== '/v1/server') return false;
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        const pump = () => {
          while (sent < total && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', () => {
          sent = Math.min(sent, total);
        });
        pump();
        return true;
      };
      const home = tempDir('huge');
      // A small heap: buffering the answer, as the old client did, dies here.
      const r = await sig(home, ['server', 'add', log.url, '--yes', '--json'], {
        env: { NODE_OPTIONS: '--max-old-space-size=128' },
      });
      t.is(r.code, EXIT.INVALID, r.stdout + r.stderr);
      t.is(JSON.parse(r.stdout).error.code, 'SERVER_LIMIT_EXCEEDED');
      t.regex(r.stdout, /larger than .*16 MiB/);
      t.true(sent < 64 * 1024 * 1024, `the server got to send ${sent} bytes`);
    });
  },
);

test.serial('bounds: --timeout is an overall deadline; a body that trickles forever exits 6', async (t) => {
  await withLog({}, async (log) => {
    log.handle = (req, res) => {
      if (req.url !== '/v1/server') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
      return true;
    };
    const started = Date.now();
    const r = await sigJson(tempDir('trickle'), ['server', 'add', log.url, '--yes', '--timeout', '2s']);
    t.is(r.code, EXIT.UNAVAILABLE, r.stdout + r.stderr);
    t.is(r.json.error.code, 'DEADLINE_EXCEEDED');
    t.regex(r.json.error.message, /--timeout/);
    t.true(Date.now() - started < 15_000);
  });
});

test.serial('bounds: a connection dropped mid-body exits 6 (network), not 1', async (t) => {
  await withLog({}, async (log) => {
    log.handle = (req, res) => {
      if (req.url !== '/v1/server') return false;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"origin": "hostile.test/log", "vkey": ');
      setTimeout(() => res.socket?.destroy(), 50);
      return true;
    };
    const r = await sigJson(tempDir('dropped'), ['server', 'add', log.url, '--yes']);
    t.is(r.code, EXIT.UNAVAILABLE, r.stdout + r.stderr);
    t.is(r.json.error.code, 'SERVER_UNAVAILABLE');
  });
});

test.serial('bounds: verify --remote stops after the page cap of an answer that never ends', async (t) => {
  await withLog({}, async (log) => {
    let pages = 0;
    log.handle = (req, res) => {
      if (!req.url?.startsWith('/v1/attestations?')) return false;
      pages++;
      json(res, { checkpoint: log.checkpoint, attestations: [], next: pages < 5000 ? String(pages) : null });
      return true;
    };
    const home = await verifier('pages', [{ url: log.url, fp: log.fingerprint, name: 'endless' }]);
    const v = await sigJson(home, ['verify', alice.id, '--remote']);
    t.is(v.code, EXIT.INVALID, v.stdout + v.stderr);
    t.is(v.json.servers[0].error.code, 'SERVER_LIMIT_EXCEEDED');
    t.regex(v.json.servers[0].error.message, /more than 1000 pages/);
    t.true(pages <= 1001, `${pages} pages asked`);
  });
});

test.serial('bounds: verify --remote refuses an answer past the item cap', async (t) => {
  const entry = encodeEntry({
    attestation: parseAttestation(alice.okAttestation),
    loggedAt: new Date().toISOString(),
  });
  await withLog({ treeSize: 1n, rootHash: hashLeaf(entry) }, async (log) => {
    let pages = 0;
    const item = { index: 0, entry: base64Encode(entry), inclusionProof: [] };
    log.handle = (req, res) => {
      if (!req.url?.startsWith('/v1/attestations?')) return false;
      pages++;
      json(res, {
        checkpoint: log.checkpoint,
        attestations: Array.from({ length: 1000 }, () => item),
        next: pages < 12 ? String(pages) : null,
      });
      return true;
    };
    const home = await verifier('items', [{ url: log.url, fp: log.fingerprint, name: 'many' }]);
    const v = await sigJson(home, ['verify', alice.id, '--remote']);
    t.is(v.code, EXIT.INVALID, v.stdout + v.stderr);
    t.is(v.json.servers[0].error.code, 'SERVER_LIMIT_EXCEEDED');
    t.regex(v.json.servers[0].error.message, /more than 10000 attestations/);
  });
});

test.serial(
  'bounds: slow key lookups for signers you do not trust cannot hold the verdict: trusted keys first, the rest stop at the deadline',
  async (t) => {
    // 120 attestations by keys nobody trusts, then Alice's ok, in a real tree of the hostile log.
    const atts = [];
    const others = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      const k = await newSigningKey(`stranger ${i}`);
      others.set(k.fingerprint, k.publicKey.armor());
      atts.push(await signAttestation({ id: alice.id, ok: true }, k.privateKey));
    }
    atts.push(parseAttestation(alice.okAttestation));
    const loggedAt = new Date().toISOString();
    const entries = atts.map((attestation) => encodeEntry({ attestation, loggedAt }));
    const leaves = entries.map((e) => hashLeaf(e));
    await withLog({ treeSize: BigInt(leaves.length), rootHash: refMth(leaves) }, async (log) => {
      let slowLookups = 0;
      log.handle = async (req, res) => {
        if (req.url?.startsWith('/v1/attestations?')) {
          json(res, {
            checkpoint: log.checkpoint,
            attestations: entries.map((e, i) => ({
              index: i,
              entry: base64Encode(e),
              inclusionProof: refPath(i, leaves).map(base64Encode),
            })),
            next: null,
          });
          return true;
        }
        const fp = req.url?.match(/^\/v1\/keys\/([0-9A-F]{40})$/)?.[1];
        if (fp === alice.fp || (fp && others.has(fp))) {
          if (fp !== alice.fp) {
            slowLookups++;
            await new Promise((r) => setTimeout(r, 1000));
          }
          if (res.destroyed) return true;
          res.writeHead(200, { 'content-type': 'application/pgp-keys' });
          res.end(fp === alice.fp ? alice.newKey : others.get(fp));
          return true;
        }
        return false;
      };
      const home = await verifier('slow-keys', [{ url: log.url, fp: log.fingerprint, name: 'slow' }]);
      const started = Date.now();
      const v = await sigJson(home, ['verify', alice.id, '--remote', '--timeout', '4s']);
      t.is(v.code, EXIT.OK, v.stdout + v.stderr);
      t.is(v.json.verdict, 'trusted');
      t.true(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
      t.true(slowLookups <= 100, `${slowLookups} slow lookups`);
      const unknown = v.json.attestations.filter((a: { status: string }) => a.status === 'unknown');
      t.true(unknown.length >= 20, `${unknown.length} not checked`);
      t.is(v.json.attestations.at(-1).key, alice.fp, 'the output keeps the order of the answer');
      t.is(v.json.attestations.at(-1).status, 'trusted ok');
    });
  },
);

test.serial(
  'audit --full: a pinned server claiming a tree of 2^63 fails with a clear error and a report, within a small heap',
  async (t) => {
    await withLog({ treeSize: 1n << 63n, rootHash: new Uint8Array(32).fill(7) }, async (log) => {
      const home = tempDir('huge-tree');
      t.is((await sig(home, ['server', 'add', log.url, '--fingerprint', log.fingerprint])).code, 0);
      const r = await sig(home, ['audit', '--full', '--json'], {
        env: { NODE_OPTIONS: '--max-old-space-size=128' },
      });
      t.is(r.code, EXIT.INVALID, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout).reports[0];
      t.is(report.status, 'invalid');
      t.is(report.error.code, 'SERVER_LIMIT_EXCEEDED');
      t.regex(report.error.message, /9223372036854775808 entries/);
      t.regex(report.error.message, /--timeout/);
    });
  },
);

test.serial(
  'audit --full streams: tiles that stop matching fail at the first bad tile, with a report',
  async (t) => {
    const entries = Array.from({ length: 256 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
    await withLog({ treeSize: 600n, rootHash: new Uint8Array(32).fill(9) }, async (log) => {
      log.handle = (req, res) => {
        if (req.url === '/log/tile/entries/000') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(encodeEntryBundle(entries));
          return true;
        }
        if (req.url === '/log/tile/0/000') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(Buffer.alloc(32 * 256, 1));
          return true;
        }
        return false;
      };
      const home = tempDir('bad-tiles');
      t.is((await sig(home, ['server', 'add', log.url, '--fingerprint', log.fingerprint])).code, 0);
      const r = await sigJson(home, ['audit', '--full']);
      t.is(r.code, EXIT.INVALID, r.stdout + r.stderr);
      const report = r.json.reports[0];
      t.is(report.status, 'invalid');
      t.is(report.error.code, 'SERVER_RESPONSE_INVALID');
      t.regex(report.error.message, /hash tile tile\/0\/000 differs/);
      t.is(report.error.details.entriesRead, 256);
      t.is(log.requests.get('/log/tile/entries/001') ?? 0, 0, 'stopped at the first bad tile');
    });
  },
);

test.serial(
  'audit --full streams a tree with full tiles on two levels (66,055 entries) and matches every tile and the root',
  async (t) => {
    // Entries that are not attestations: the tree checks out, every attestation is counted invalid.
    const n = 65_536 + 2 * 256 + 7;
    const enc = new TextEncoder();
    const entries = Array.from({ length: n }, (_, i) => enc.encode(`entry ${i}`));
    const leaves = entries.map((e) => hashLeaf(e));
    const tiles = refTiles(leaves);
    for (let b = 0; b * 256 < n; b++) {
      const width = Math.min(256, n - b * 256);
      const path = `tile/entries/${String(b).padStart(3, '0')}${width < 256 ? `.p/${width}` : ''}`;
      tiles.set(path, encodeEntryBundle(entries.slice(b * 256, b * 256 + width)));
    }
    await withLog({ treeSize: BigInt(n), rootHash: refMth(leaves) }, async (log) => {
      log.handle = (req, res) => {
        const data = req.url?.startsWith('/log/') ? tiles.get(req.url.slice('/log/'.length)) : undefined;
        if (!data) return false;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(data);
        return true;
      };
      const home = tempDir('two-levels');
      t.is((await sig(home, ['server', 'add', log.url, '--fingerprint', log.fingerprint])).code, 0);
      const r = await sigJson(home, ['audit', '--full']);
      t.is(r.code, EXIT.INVALID, r.stderr);
      const report = r.json.reports[0];
      t.is(report.error, undefined, JSON.stringify(report.error));
      t.is(report.full.entries, n);
      t.is(report.full.entryBundles, 259);
      t.is(report.full.hashTiles, tiles.size - 259, 'every hash tile, full and partial, on levels 0 to 2');
      t.is(report.full.invalidCount, n);
      t.is(report.full.invalidAttestations.length, 100);
    });
  },
);
