/**
 * Complete answers in the CLI (issue 10 item 5; SPEC.md "The index", "What a verifier checks"), against
 * the BUILT CLI (child process) and real servers on 127.0.0.1 port 0 (PGlite in temp dirs), with pages
 * of 2 so answers span pages:
 * - `sig server add` pins the index; `sig verify --remote` reports each answer complete (and --json);
 *   `sig log entry` shows an index leaf parsed.
 * - A proxy between `sig` and the real server drops one entry from an answer, or alters the count, the
 *   chain or a sibling of the lookup proof, or answers a later page against a newer checkpoint: each is
 *   exit 4 and the message names what failed (details.check too).
 * - A hostile log with real keys that advertises the index signs checkpoints whose last leaf is not an
 *   index leaf: refused at `sig server add`, and in an answer; an answer without `index` is refused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import test from 'ava';
import { EXIT } from '../cli/exit-codes.js';
import { base64Encode } from '../log/bytes.js';
import { encodeEntry } from '../log/entry.js';
import { emptyRoot, hashLeaf } from '../log/hash.js';
import { chainOf, encodeLookupProof, IndexMap, identifierMapKey } from '../log/index-map.js';
import type { Attestation } from '../log/signet.js';
import type { ServerHandle } from '../server/main.js';
import {
  checkBuilt,
  type HostileLog,
  readJsonFile,
  sig,
  sigJson,
  startHostileLog,
  startProxy,
  startTestServer,
  type TamperProxy,
  tempDir,
} from './cli-harness.js';
import { makeSigner, sha256Id, type TestSigner } from './helpers/service.js';

const ID = sha256Id('cli-index: the answer under test');

let server: ServerHandle;
let proxy: TamperProxy;
let home: string;
let signers: TestSigner[];

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, tampered in place
type Json = any;

test.before(async () => {
  checkBuilt();
  server = await startTestServer(tempDir('index-cli'), { 'query-page-limit': 2 });
  proxy = await startProxy(server.url);
  signers = [await makeSigner('Index A'), await makeSigner('Index B'), await makeSigner('Index C')];
  // Five attestations of ID in separate rounds, with others between them: three pages, and entries
  // of ID that are not next to each other.
  for (const [i, s] of [...signers, signers[0]!, signers[1]!].entries()) {
    const atts: Attestation[] = [
      await s.attest(ID, true, { comment: `n${i}` }),
      await s.attest(sha256Id(`other-${i}`)),
    ];
    await server.service.publish(
      atts,
      signers.map((x) => x.publicArmored),
    );
  }
  home = tempDir('index-cli-home');
  for (const s of signers) {
    const f = join(home, `${s.fingerprint}.asc`);
    writeFileSync(f, s.publicArmored);
    if ((await sig(home, ['key', 'import', f])).code !== 0) throw new Error('import');
    if ((await sig(home, ['trust', 'add', s.fingerprint])).code !== 0) throw new Error('trust');
  }
});

test.after.always(async () => {
  await proxy?.close();
  await server?.close();
});

/** tamper sets the proxy to rewrite every answer of GET /v1/attestations with fn (on the parsed JSON). */
function tamper(fn: ((page: Json, path: string) => void) | undefined): void {
  proxy.mutate = fn
    ? (path, body, status) => {
        if (!path.startsWith('/v1/attestations?') || status !== 200) return undefined;
        const page = JSON.parse(body.toString('utf8'));
        fn(page, path);
        return { body: Buffer.from(JSON.stringify(page)) };
      }
    : undefined;
}

const flip = (b64: string, at = 0): string => {
  const b = Buffer.from(b64, 'base64');
  b[at % b.length]! ^= 0x01;
  return b.toString('base64');
};

/** verify runs `sig verify ID --remote --json` through the proxy and returns the server's report. */
async function verify(): Promise<{ code: number; report: Json; stderr: string }> {
  const r = await sigJson(home, ['verify', ID, '--remote']);
  return { code: r.code, report: r.json.servers?.[0], stderr: r.stderr };
}

test.serial('server add pins the index; verify --remote says complete (text and --json)', async (t) => {
  const add = await sig(home, ['server', 'add', proxy.url, '--yes', '--name', 'indexed']);
  t.is(add.code, 0, add.stderr);
  t.regex(add.stderr, /index {8}version 1: every answer is checked complete/);
  t.deepEqual(readJsonFile(join(home, 'servers.json')).servers[0].index, { version: 1 });
  tamper(undefined);
  const r = await verify();
  t.is(r.code, EXIT.OK, r.stderr);
  t.is(r.report.status, 'fresh');
  t.is(r.report.attestations, 5);
  t.true(r.report.complete);
  t.is(r.report.index.count, 5);
  t.regex(r.report.completeness, /^complete: the index at size \d+ holds 5 entries, all returned$/);
  t.true((proxy.requests.get('/v1/attestations') ?? 0) >= 3, 'three pages at least');
  const text = await sig(home, ['verify', ID, '--remote']);
  t.is(text.code, EXIT.OK, text.stderr);
  t.regex(text.stdout, /TRUSTED/);
  t.regex(
    text.stdout,
    /fresh +indexed: .*5 attestation\(s\); complete: the index at size \d+ holds 5 entries/,
  );
});

test.serial('a proxy that drops one entry from an answer is caught: a missing entry', async (t) => {
  for (const at of ['first', 'later'] as const) {
    let dropped = false;
    tamper((page, path) => {
      const later = path.includes('cursor=');
      if (!dropped && (at === 'first') !== later && page.attestations.length > 0) {
        page.attestations.splice(0, 1);
        dropped = true;
      }
    });
    const r = await verify();
    t.true(dropped);
    t.is(r.code, EXIT.INVALID, `${at}: ${r.stderr}`);
    t.is(r.report.status, 'invalid');
    t.is(r.report.error.code, 'INDEX_ANSWER_INCOMPLETE');
    t.is(r.report.error.details.check, 'missing entry');
    t.regex(
      r.report.error.message,
      /missing entry: the index at size \d+ holds 5 entries for id .*, the answer has 4: 1 left out/,
    );
  }
  tamper(undefined);
});

test.serial('a proxy that alters the count, the chain or a sibling is caught, naming it', async (t) => {
  const cases: [string, (lookup: Json) => void, string, string][] = [
    ['count', (l) => (l.count += 1), 'INDEX_ANSWER_INCOMPLETE', 'count'],
    ['count lowered with the last entry dropped', (l) => (l.count -= 1), 'INDEX_ANSWER_INCOMPLETE', 'count'],
    ['chain', (l) => (l.chain = flip(l.chain, 5)), 'INDEX_ANSWER_INCOMPLETE', 'chain'],
    ['sibling', (l) => (l.proof.siblings[0] = flip(l.proof.siblings[0], 9)), 'LOOKUP_PROOF_INVALID', 'proof'],
    [
      'leaf value',
      (l) => (l.proof.leaf.value = flip(l.proof.leaf.value, 39)),
      'LOOKUP_PROOF_INVALID',
      'proof',
    ],
  ];
  for (const [name, mutate, code, check] of cases) {
    tamper((page) => {
      mutate(page.index.lookups[0]);
      if (name.includes('dropped') && page.next === null) page.attestations.pop();
    });
    const r = await verify();
    t.is(r.code, EXIT.INVALID, `${name}: ${r.stderr}`);
    t.is(r.report.error.code, code, name);
    t.is(r.report.error.details.check, check, name);
    t.regex(r.report.error.message, new RegExp(`${check}: `), name);
    t.regex(r.stderr, new RegExp(`server indexed: invalid: ${code}: .*${check}`), name);
  }
  tamper(undefined);
});

test.serial('an index leaf moved or altered in the answer is caught as the index leaf', async (t) => {
  const cases: [string, (index: Json) => void][] = [
    ['not at size-1', (ix) => (ix.leafIndex -= 1)],
    ['altered bytes', (ix) => (ix.entry = flip(ix.entry, 30))],
    ['proof hash', (ix) => (ix.inclusionProof[0] = flip(ix.inclusionProof[0]))],
  ];
  for (const [name, mutate] of cases) {
    tamper((page) => mutate(page.index));
    const r = await verify();
    t.is(r.code, EXIT.INVALID, `${name}: ${r.stderr}`);
    t.is(r.report.error.code, 'INDEX_LEAF_INVALID', name);
    t.is(r.report.error.details.check, 'index leaf', name);
    t.regex(r.report.error.message, /index leaf: /, name);
  }
  tamper((page) => delete page.index);
  const none = await verify();
  t.is(none.code, EXIT.INVALID);
  t.is(none.report.error.details.check, 'index object');
  t.regex(
    none.report.error.message,
    /advertised the index when it was pinned, but page 1 carries no "index"/,
  );
  tamper(undefined);
});

test.serial('a page sequence that changes checkpoint midway is refused', async (t) => {
  // Page 1 as the server answers it now; then the log grows; page 2 is served against the newer
  // checkpoint (a cursor pinned at the new size), as a server that does not pin pages would.
  const first = (await (
    await fetch(`${server.url}/v1/attestations?id=${encodeURIComponent(ID)}`)
  ).json()) as Json;
  const after = String(first.next).split('.')[1];
  const s = signers[2]!;
  await server.service.publish([await s.attest(sha256Id('grow the log'))], [s.publicArmored]);
  const size = ((await (await fetch(`${server.url}/healthz`)).json()) as Json).treeSize as number;
  const later = await (
    await fetch(`${server.url}/v1/attestations?id=${encodeURIComponent(ID)}&cursor=${size}.${after}`)
  ).text();
  t.not(JSON.parse(later).checkpoint, first.checkpoint);
  proxy.mutate = (path, _body, status) => {
    if (!path.startsWith('/v1/attestations?') || status !== 200) return undefined;
    return path.includes('cursor=')
      ? { body: Buffer.from(later) }
      : { body: Buffer.from(JSON.stringify(first)) };
  };
  const r = await verify();
  proxy.mutate = undefined;
  t.is(r.code, EXIT.INVALID, r.stderr);
  t.is(r.report.error.code, 'INDEX_ANSWER_INCOMPLETE');
  t.is(r.report.error.details.check, 'checkpoint');
  t.regex(
    r.report.error.message,
    new RegExp(
      `checkpoint: a later page answers against a tree of size ${size}, the first page against size \\d+`,
    ),
  );
  // Honest again: complete, against the grown log.
  const ok = await verify();
  t.is(ok.code, EXIT.OK, ok.stderr);
  t.true(ok.report.complete);
});

test.serial('sig log entry shows an index leaf parsed', async (t) => {
  const cp = await sigJson(home, ['log', 'checkpoint']);
  t.is(cp.code, 0, cp.stderr);
  const last = cp.json.treeSize - 1;
  const e = await sigJson(home, ['log', 'entry', String(last)]);
  t.is(e.code, 0, e.stderr);
  t.is(e.json.kind, 'index');
  t.is(e.json.entry.index.size, last);
  t.is(e.json.entry.index.version, 1);
  t.is(Buffer.from(e.json.entry.index.root, 'base64').length, 32);
  const text = await sig(home, ['log', 'entry', String(last)]);
  t.regex(text.stdout, /^\{"index":\{"root":"[A-Za-z0-9+/]{43}=","size":\d+,"version":1\}\}/);
  t.regex(text.stderr, new RegExp(`index leaf: the map root over the ${last} entries before it is `));
  const a = await sigJson(home, ['log', 'entry', '0']);
  t.is(a.json.kind, 'attestation');
  t.regex(a.json.entry.attestation.data.id, /^sha256:/);
});

/** A hostile log that advertises the index and answers entries, proofs and queries from `entries`. */
async function indexedHostile(advertise = true): Promise<{
  log: HostileLog;
  setTree: (entries: Uint8Array[]) => Promise<void>;
  answer: { body?: Json };
}> {
  const log = await startHostileLog({ origin: 'hostile-index.test/log' });
  let tree: Uint8Array[] = [];
  const answer: { body?: Json } = {};
  const send = (res: ServerResponse, v: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  };
  log.handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/v1/server') {
      send(res, {
        origin: log.origin,
        vkey: log.keys.vkey,
        openpgp: { fingerprint: log.keys.openpgpFingerprint, publicKey: log.keys.openpgpPublicKey },
        limits: {},
        intervals: {},
        version: 'hostile',
        ...(advertise ? { index: { version: 1 } } : {}),
      });
      return true;
    }
    if (u.pathname === '/v1/entries') {
      const start = Number(u.searchParams.get('start'));
      send(res, {
        entries: tree.slice(start, start + 1).map((e, i) => ({ index: start + i, entry: base64Encode(e) })),
      });
      return true;
    }
    if (u.pathname === '/v1/proof/inclusion' && tree.length === 1) {
      send(res, { index: 0, treeSize: 1, inclusionProof: [] });
      return true;
    }
    if (u.pathname === '/v1/attestations' && answer.body) {
      send(res, answer.body);
      return true;
    }
    return false;
  };
  const setTree = async (entries: Uint8Array[]) => {
    tree = entries;
    if (entries.length > 1) throw new Error('one entry at most here');
    log.checkpoint =
      entries.length === 0 ? await log.sign(0n, emptyRoot()) : await log.sign(1n, hashLeaf(entries[0]!));
  };
  return { log, setTree, answer };
}

test.serial(
  'a log that advertises the index but whose checkpoint does not end with an index leaf',
  async (t) => {
    const s = signers[0]!;
    const att = await s.attest(ID);
    const entry = encodeEntry({ attestation: att, loggedAt: new Date().toISOString() });
    const { log, setTree, answer } = await indexedHostile();
    try {
      // At `server add`: the checkpoint of size 1 ends with an attestation entry.
      await setTree([entry]);
      const h = tempDir('index-hostile');
      const add = await sigJson(h, ['server', 'add', log.url, '--yes']);
      t.is(add.code, EXIT.INVALID, add.stderr);
      t.is(add.json.error.code, 'INDEX_LEAF_INVALID');
      t.regex(
        add.json.error.message,
        /index leaf: the last entry \(0\) of the checkpoint of size 1 is not an index leaf/,
      );
      // Pinned at size 0 (no leaf needed), then it answers against a checkpoint of size 1 without one.
      await setTree([]);
      t.is((await sig(h, ['server', 'add', log.url, '--yes', '--name', 'hostile'])).code, 0);
      await setTree([entry]);
      const map = new IndexMap();
      const key = identifierMapKey(ID);
      map.set(key, { count: 1n, chain: chainOf([0n]) });
      answer.body = {
        checkpoint: log.checkpoint,
        attestations: [{ index: 0, entry: base64Encode(entry), inclusionProof: [] }],
        next: null,
        index: {
          leafIndex: 0,
          entry: base64Encode(entry),
          inclusionProof: [],
          lookups: [
            {
              by: 'id',
              value: ID,
              count: 1,
              chain: base64Encode(chainOf([0n])),
              proof: encodeLookupProof(map.proveLookup(key)),
            },
          ],
        },
      };
      const r = await sigJson(h, ['verify', ID, '--remote', '--server', 'hostile']);
      t.is(r.code, EXIT.INVALID, r.stderr);
      const rep = r.json.servers[0];
      t.is(rep.error.code, 'INDEX_LEAF_INVALID');
      t.is(rep.error.details.check, 'index leaf');
      t.regex(
        rep.error.message,
        /index leaf: the last entry \(0\) of the checkpoint of size 1 is not an index leaf/,
      );
      // The kept checkpoint did not move to the invalid one.
      t.regex(readFileSync(join(h, 'checkpoints', 'hostile', 'latest'), 'utf8'), /\n0\n/);
      // And `sig audit`, which only fetches the checkpoint, refuses it too.
      const audit = await sigJson(h, ['audit', 'hostile']);
      t.is(audit.code, EXIT.INVALID);
      t.is(audit.json.reports[0].error.code, 'INDEX_LEAF_INVALID');
    } finally {
      await log.close();
    }
  },
);

test.serial(
  '"index": null at size > 0: not proved complete from an index-less server, invalid from an indexed one',
  async (t) => {
    const s = signers[1]!;
    const entry = encodeEntry({ attestation: await s.attest(ID), loggedAt: new Date().toISOString() });
    for (const advertise of [false, true]) {
      const { log, setTree, answer } = await indexedHostile(advertise);
      try {
        const h = tempDir('index-null');
        await setTree([]);
        t.is((await sig(h, ['server', 'add', log.url, '--yes', '--name', 'h'])).code, 0);
        t.is(readJsonFile(join(h, 'servers.json')).servers[0].index?.version, advertise ? 1 : undefined);
        await setTree([entry]);
        answer.body = {
          checkpoint: log.checkpoint,
          attestations: [{ index: 0, entry: base64Encode(entry), inclusionProof: [] }],
          next: null,
          index: null,
        };
        const r = await sigJson(h, ['verify', ID, '--remote']);
        const rep = r.json.servers[0];
        if (advertise) {
          t.is(r.code, EXIT.INVALID, r.stderr);
          t.is(rep.error.code, 'INDEX_LEAF_INVALID');
          t.regex(rep.error.message, /carries no index \("index": null\)/);
        } else {
          t.is(r.code, EXIT.NOT_TRUSTED, r.stderr); // nobody trusted in h: the answer itself is fine
          t.is(rep.status, 'fresh');
          t.false(rep.complete);
          t.regex(rep.completeness, /^not proved complete: the server has no index/);
        }
      } finally {
        await log.close();
      }
    }
  },
);
