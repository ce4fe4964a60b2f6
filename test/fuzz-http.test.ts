/**
 * Hostile input against every endpoint of a real server process (property-based, fast-check): malformed
 * and deeply nested JSON, wrong types, huge and negative numbers, bad base64, armored garbage, malformed
 * keys, Unicode edge cases (lone surrogates, NUL, overlong UTF-8, bidi controls), tile path tricks (../,
 * %2e%2e, .p/0, .p/256, x-prefix errors), overflowing sizes and indexes (18446744073709551616).
 *
 * Properties, for every request: no 5xx; every rejection is a 4xx whose body is the documented JSON error
 * `{"error": {"code", "message", "details"}}` (under /sig the Signet client's `{"ok": false, "error", "code"}`)
 * with a code from the one status table
 * (server/http/errors.ts HTTP_STATUS) and exactly that code's status. After the run the same process
 * still answers /healthz, and a valid publish still gets a receipt that verifies offline.
 *
 * Requests go through node:http with the path as written (fetch would normalise ../ and %2e away). The
 * number of requests is printed (t.log and console.log). FUZZ_RUNS scales it; FUZZ_SEED replays a run.
 */

import { rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import test from 'ava';
import fc from 'fast-check';
import { generateEd25519Key } from '../log/note.js';
import { type Attestation, signAttestation } from '../log/signet.js';
import { formatAddCheckpointRequest, parseTreeSizeBody, TREE_SIZE_CONTENT_TYPE } from '../log/witness.js';
import { HTTP_STATUS } from '../server/http/errors.js';
import {
  type ChildServer,
  fetchLogKeys,
  makeSigner,
  presign,
  type ReceiptJson,
  type Signer,
  spawnServer,
  verifyReceiptOffline,
} from './helpers/child-server.js';
import { freshPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/stores.js';
import { TestLog, writeLogsFile } from './witness-server-harness.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 250); // per property; 12 properties
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

/** Req is one raw HTTP request. */
interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** Res is the raw answer. */
interface Res {
  status: number;
  contentType: string;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
let sent = 0;

function send(base: URL, r: Req): Promise<Res> {
  sent++;
  return new Promise((resolve, reject) => {
    const body =
      r.body === undefined ? undefined : typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: r.method,
        path: r.path,
        agent,
        headers: {
          ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
          ...r.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** check throws unless `res` is a success or a documented 4xx with the JSON error body. */
function check(r: Req, res: Res): void {
  const what = `${r.method} ${r.path.slice(0, 200)} (body ${typeof r.body === 'string' ? JSON.stringify(r.body.slice(0, 200)) : r.body ? `${r.body.length} bytes` : 'none'})`;
  if (res.status >= 500 || res.status < 200) {
    throw new Error(`${what} answered ${res.status}: ${res.body.slice(0, 300)}`);
  }
  if (res.status < 400) return;
  if (!res.contentType.startsWith('application/json')) {
    throw new Error(`${what}: ${res.status} with content-type ${res.contentType}, not JSON`);
  }
  let parsed: { error?: { code?: unknown; message?: unknown; details?: unknown } };
  try {
    parsed = JSON.parse(res.body);
  } catch {
    throw new Error(`${what}: ${res.status} body is not JSON: ${res.body.slice(0, 200)}`);
  }
  if (r.path.startsWith('/sig')) {
    // The Signet client's format (SPEC.md "Compatibility"): {"ok": false, "error": "...", "code"}.
    const sig = parsed as { ok?: unknown; error?: unknown; code?: unknown };
    if (sig.ok !== false || typeof sig.error !== 'string' || sig.error.length === 0) {
      throw new Error(
        `${what}: ${res.status} body is not {"ok": false, "error": "..."}: ${res.body.slice(0, 300)}`,
      );
    }
    if (typeof sig.code !== 'string' || HTTP_STATUS[sig.code] !== res.status) {
      throw new Error(`${what}: code ${String(sig.code)} is not documented as ${res.status}`);
    }
    return;
  }
  const e = parsed.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || e.message.length === 0) {
    throw new Error(
      `${what}: ${res.status} body is not {"error": {code, message, details}}: ${res.body.slice(0, 300)}`,
    );
  }
  if (typeof e.details !== 'object' || e.details === null || Array.isArray(e.details)) {
    throw new Error(`${what}: error.details is not an object: ${res.body.slice(0, 300)}`);
  }
  if (!(e.code in HTTP_STATUS)) throw new Error(`${what}: undocumented error code ${e.code}`);
  if (HTTP_STATUS[e.code] !== res.status) {
    throw new Error(
      `${what}: code ${e.code} documented as ${HTTP_STATUS[e.code]} but answered ${res.status}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

/** pct percent-encodes every byte of the UTF-8 (WTF-8 for lone surrogates) of s, except unreserved ASCII. */
function pct(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (/^[A-Za-z0-9\-._~]$/.test(ch)) {
      out += ch;
      continue;
    }
    let bytes: number[];
    if (cp >= 0xd800 && cp <= 0xdfff) bytes = [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    else bytes = [...Buffer.from(ch, 'utf8')];
    out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/** RAW_TRICKS are pre-encoded fragments: invalid percent escapes, overlong UTF-8, NUL, traversal. */
const RAW_TRICKS = [
  '%',
  '%zz',
  '%C0%AF',
  '%C0%80',
  '%FF%FE',
  '%ED%A0%80',
  '%00',
  '..',
  '../',
  '%2e%2e',
  '%2E%2E%2F',
  '..%2f',
  '%2f',
  '%5c',
  '.%00.',
  '%E2%80%AE', // right-to-left override
  '%EF%BB%BF', // byte order mark
  '%F0%9F%98%80',
  '%F4%90%80%80', // above U+10FFFF
];

const numberish = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '-1',
    '-0',
    '00',
    '01',
    '1e3',
    '1.0',
    '0x10',
    '%201',
    '1%20',
    '%2B1',
    'NaN',
    'Infinity',
    '18446744073709551616',
    '18446744073709551615',
    '9223372036854775808',
    '9007199254740992',
    '9007199254740991',
    '99999999999999999999999999999999',
    '%D9%A3', // Arabic-Indic digit three
    '%EF%BC%91', // fullwidth digit one
    '',
    '%00',
    '1%00',
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.nat(300).map(String),
  fc.string({ maxLength: 10 }).map(pct),
  fc.constantFrom(...RAW_TRICKS),
);

const hexish = fc.oneof(
  fc.stringMatching(/^[0-9A-Fa-f]{38,42}$/),
  fc.string({ maxLength: 50 }),
  fc.constant('0'.repeat(40)),
  fc.constant('G'.repeat(40)),
);

const unicodeText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\ud83d', '\u202e', '\ufeff', '\uffff', '\u{10ffff}', ''),
);

const base64ish = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
  fc.stringMatching(/^[A-Za-z0-9+/=_-]{0,80}$/),
  fc.constantFrom('====', 'A', 'AA=', 'AAA', '!!!!', 'wsBcBAABCAAQ', ' AAAA', 'AAAA\n'),
);

const armoredGarbage = fc.oneof(
  fc
    .uint8Array({ maxLength: 300 })
    .map(
      (b) =>
        `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n${Buffer.from(b).toString('base64')}\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n`,
    ),
  fc
    .string({ maxLength: 200 })
    .map((s) => `-----BEGIN PGP PUBLIC KEY BLOCK-----\n${s}\n-----END PGP PUBLIC KEY BLOCK-----`),
  fc.constantFrom(
    '-----BEGIN PGP PUBLIC KEY BLOCK-----',
    '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----',
    '-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQ\n-----END PGP SIGNATURE-----',
  ),
  base64ish,
  unicodeText,
);

const anyJson = fc.jsonValue({ maxDepth: 5 });

/** hugeNumbers are JSON number texts that do not fit anything. */
const hugeNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  '18446744073709551616',
  '-0',
  '0.0000000000000000000001',
  '123456789012345678901234567890',
);

const attestationLike = (valid: Attestation[]) =>
  fc.oneof(
    anyJson,
    fc.record(
      {
        data: fc.oneof(
          anyJson,
          fc.record(
            { id: fc.oneof(unicodeText, anyJson), ok: fc.oneof(fc.boolean(), anyJson), extra: anyJson },
            { requiredKeys: [] },
          ),
        ),
        key: fc.oneof(hexish, anyJson),
        sig: fc.oneof(base64ish, anyJson),
      },
      { requiredKeys: [] },
    ),
    // A valid attestation with one thing changed.
    fc
      .tuple(
        fc.constantFrom(...valid),
        fc.constantFrom(
          'sig-char',
          'sig-trunc',
          'key-case',
          'key-other',
          'data-id',
          'data-ok',
          'data-extra',
          'none',
        ),
        fc.nat(),
        unicodeText,
      )
      .map(([a, how, n, text]) => {
        const c = structuredClone(a) as unknown as {
          data: Record<string, unknown>;
          key: string;
          sig: string;
        };
        if (how === 'sig-char') {
          const i = n % c.sig.length;
          c.sig = c.sig.slice(0, i) + (c.sig[i] === 'A' ? 'B' : 'A') + c.sig.slice(i + 1);
        } else if (how === 'sig-trunc') c.sig = c.sig.slice(0, n % c.sig.length);
        else if (how === 'key-case') c.key = c.key.toLowerCase();
        else if (how === 'key-other') c.key = valid[(n + 1) % valid.length]!.key.replace(/.$/, '0');
        else if (how === 'data-id') c.data.id = text;
        else if (how === 'data-ok') c.data.ok = !c.data.ok;
        else if (how === 'data-extra') c.data[text] = n;
        return c;
      }),
  );

const deepJson = fc
  .tuple(fc.integer({ min: 1, max: 400_000 }), fc.constantFrom('[', '{"a":', '{"attestations":'))
  .map(([n, open]) => {
    const close = open === '[' ? ']' : '}';
    return open === '{"attestations":'
      ? `{"attestations":[${'['.repeat(n)}${']'.repeat(n)}]}`
      : `${open.repeat(n)}1${close.repeat(n)}`;
  });

const tileSeg = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '-1',
    'x001',
    'x000',
    'x',
    'x1',
    'x0001',
    'x256',
    '000',
    '001',
    '255',
    '256',
    '999',
    '1000',
    '63',
    '64',
    'entries',
    '.p',
    '.p/0',
    '.p/1',
    '.p/255',
    '.p/256',
    '.p/-1',
    '.p/',
    '000.p/0',
    '000.p/256',
    '000.p/1',
    '18446744073709551616',
  ),
  fc.constantFrom(...RAW_TRICKS),
  fc.stringMatching(/^[0-9xp./]{0,8}$/),
);

const tilePathGen = fc
  .array(tileSeg, { minLength: 0, maxLength: 6 })
  .map((segs) => `/log/tile/${segs.join('/')}`);

const methodGen = fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');

// ---------------------------------------------------------------------------------------------

let server: ChildServer | undefined;
let cleanup: (() => Promise<void>) | undefined;
let signers: Signer[] = [];
let valid: Attestation[] = [];
const hostileSigned: Attestation[] = [];

/** HOSTILE_IDS are data.id values a signer may really sign: NUL, bidi override, combining marks,
 *  non-characters, astral planes, line breaks, SQL and path syntax, and an id longer than a query allows. */
const HOSTILE_IDS = [
  'nul\u0000inside',
  '\u202etxt.exe',
  'e\u0301\u0301',
  '\uffff\ufffe',
  '\u{1f600}\u{10ffff}',
  'line\nbreak\r\n',
  "x' OR '1'='1",
  '../../etc/passwd',
  'x'.repeat(5000),
];

test.before(async () => {
  signers = [await makeSigner('Fuzz A'), await makeSigner('Fuzz B')];
  valid = await presign(signers, 8, 'sha256:fuzz');
  for (const id of HOSTILE_IDS)
    hostileSigned.push(await signAttestation({ id, ok: false }, signers[0]!.privateKey));
  const dataDir = await tempDir('fuzz');
  const db = await freshPostgres('fuzz');
  server = await spawnServer({
    env: {
      DATA_DIR: dataDir,
      ORIGIN: 'sig.test/fuzz',
      CHECKPOINT_INTERVAL_MS: '20',
      BATCH_MAX_AGE_MS: '5',
      ...(db ? { DATABASE_URL: db.url } : {}),
    },
  });
  cleanup = async () => {
    await rm(dataDir, { recursive: true, force: true });
    await db?.drop();
  };
});

test.after.always(async () => {
  agent.destroy();
  await server?.kill('SIGKILL');
  await cleanup?.();
});

test.serial(
  `fuzz: every endpoint answers hostile input with a documented 4xx, never 5xx (${RUNS} runs x 12 properties, seed ${SEED})`,
  async (t) => {
    const base = new URL(server!.url);
    const go = (r: Req) => send(base, r).then((res) => check(r, res));
    const keysArmored = signers.map((s) => s.armoredPublicKey);
    const runs = (n = RUNS) => ({ numRuns: n, seed: SEED, endOnFailure: true });
    const properties: [string, fc.IAsyncProperty<[Req]>, number][] = [];
    const prop = (name: string, gen: fc.Arbitrary<Req>, n = RUNS) =>
      properties.push([name, fc.asyncProperty(gen, (r) => go(r)), n]);

    // A few keys and attestations known to the server, so mutations reach signature checks.
    const seed = await send(base, {
      method: 'POST',
      path: '/v1/attestations',
      body: JSON.stringify({ attestations: valid.slice(0, 2), keys: keysArmored }),
    });
    t.is(seed.status, 200, seed.body);

    prop(
      'POST /v1/attestations: attestation-shaped values and mutated valid ones',
      fc
        .record({
          atts: fc.array(attestationLike(valid), { minLength: 0, maxLength: 4 }),
          keys: fc.oneof(
            fc.constant(undefined),
            fc.constant(keysArmored),
            fc.array(armoredGarbage, { maxLength: 2 }),
            anyJson,
          ),
        })
        .map(({ atts, keys }) => ({
          method: 'POST',
          path: '/v1/attestations',
          body: JSON.stringify(keys === undefined ? { attestations: atts } : { attestations: atts, keys }),
        })),
    );
    prop(
      'POST bodies: any JSON, garbage text and bytes, huge numbers, deep nesting',
      fc
        .tuple(
          fc.constantFrom('/v1/attestations', '/v1/keys', '/sig'),
          fc.oneof(
            anyJson.map((v) => JSON.stringify(v)),
            fc.string({ unit: 'binary', maxLength: 300 }),
            fc.uint8Array({ maxLength: 300 }),
            hugeNumber.map(
              (n) =>
                `{"attestations":[{"data":{"id":"x","ok":true,"n":${n}},"key":"${'A'.repeat(40)}","sig":"AAAA"}]}`,
            ),
            hugeNumber.map((n) => `{"attestations":${n}}`),
            deepJson,
            fc.constantFrom(
              '',
              '{',
              '{"attestations":',
              'null',
              '[]',
              '"x"',
              '{"attestations":[]}',
              '{"__proto__":{"x":1}}',
              '{"attestations":[{"__proto__":null}]}',
            ),
          ),
        )
        .map(([path, body]) => ({ method: 'POST', path, body })),
    );
    prop(
      'POST with wrong or missing content types and encodings',
      fc
        .tuple(
          fc.constantFrom('/v1/attestations', '/v1/keys', '/sig'),
          fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/json; charset=utf-16',
            'application/json; charset=latin1',
            '',
          ),
          fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown')),
          anyJson,
        )
        .map(([path, type, enc, v]) => ({
          method: 'POST',
          path,
          headers: { 'content-type': type, ...(enc ? { 'content-encoding': enc } : {}) },
          body: JSON.stringify({ attestations: [v] }),
        })),
      Math.ceil(RUNS / 2),
    );
    prop(
      'POST /v1/keys: armored garbage, malformed keys, wrong types',
      fc
        .oneof(
          fc.array(armoredGarbage, { maxLength: 3 }),
          anyJson,
          fc.constant(keysArmored.map((k) => k.replace('m', 'n'))),
        )
        .map((keys) => ({ method: 'POST', path: '/v1/keys', body: JSON.stringify({ keys }) })),
    );
    prop(
      'GET /v1/keys/<fingerprint> and /sig/<id>: Unicode, traversal, wrong lengths',
      fc
        .tuple(
          fc.constantFrom('/v1/keys/', '/sig/'),
          fc.oneof(hexish.map(pct), unicodeText.map(pct), fc.constantFrom(...RAW_TRICKS)),
        )
        .map(([p, s]) => ({ method: 'GET', path: p + s })),
    );
    prop(
      'GET /v1/attestations?id=&key=&cursor=&limit=: Unicode ids, bad keys, cursors, limits, repeats',
      fc
        .record(
          {
            id: fc.oneof(unicodeText.map(pct), fc.constantFrom(...RAW_TRICKS), fc.constant('x'.repeat(5000))),
            key: hexish.map(pct),
            cursor: fc.oneof(numberish, base64ish.map(pct)),
            limit: numberish,
            repeat: fc.constantFrom('', '&id=a', '&limit=1&limit=2', '&id[]=a', '&id[x]=1', '&key=&key='),
          },
          { requiredKeys: ['repeat'] },
        )
        .map(({ repeat, ...q }) => ({
          method: 'GET',
          path: `/v1/attestations?${Object.entries(q)
            .map(([k, v]) => `${k}=${v}`)
            .join('&')}${repeat}`,
        })),
    );
    prop(
      'GET /v1/proof/inclusion and /v1/proof/consistency: overflowing, negative, non-canonical numbers',
      fc
        .tuple(
          fc.constantFrom(['inclusion', 'index', 'size'], ['consistency', 'from', 'to']),
          fc.option(numberish),
          fc.option(numberish),
          fc.constantFrom('', '&size=1', '&to=1&to=2'),
        )
        .map(([[kind, a, b], x, y, extra]) => ({
          method: 'GET',
          path: `/v1/proof/${kind}?${x === null ? '' : `${a}=${x}`}&${y === null ? '' : `${b}=${y}`}${extra}`,
        })),
    );
    prop(
      'GET /v1/entries?start=&limit=',
      fc.tuple(fc.option(numberish), fc.option(numberish)).map(([s, l]) => ({
        method: 'GET',
        path: `/v1/entries?${s === null ? '' : `start=${s}`}&${l === null ? '' : `limit=${l}`}`,
      })),
    );
    prop(
      'GET /log/tile/...: traversal, %2e%2e, .p/0, .p/256, x-prefix errors, overflow',
      tilePathGen.map((path) => ({ method: 'GET', path })),
      RUNS * 2,
    );
    prop(
      'any method on any path with trick segments',
      fc
        .tuple(
          methodGen,
          fc.constantFrom(
            '/log/checkpoint',
            '/log',
            '/log/',
            '/v1/server',
            '/v1',
            '/healthz',
            '/metrics',
            '/sig',
            '/v1/attestations',
            '/v1/keys',
            '/',
            '//',
            '/log/tile/0/000',
          ),
          fc.array(fc.constantFrom(...RAW_TRICKS, 'x', '1'), { maxLength: 3 }),
          fc.option(fc.string({ maxLength: 10 }).map(pct)),
        )
        .map(([method, p, segs, q]) => ({
          method,
          path: `${p}${segs.length > 0 ? `/${segs.join('/')}` : ''}${q === null ? '' : `?${q}`}`,
          ...(method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: '{}' } : {}),
        })),
    );
    prop(
      'headers: odd Accept, Origin, X-Forwarded-For, huge Content-Length claims',
      fc
        .record({
          accept: fc.constantFrom('*/*', 'text/html', 'application/xml', '', 'application/json;q=0'),
          xff: fc.constantFrom('1.2.3.4', '::1', 'garbage', '1.2.3.4, 5.6.7.8', '999.999.999.999'),
          path: fc.constantFrom('/v1/server', '/log/checkpoint', '/v1/entries?start=0', '/healthz'),
        })
        .map(({ accept, xff, path }) => ({
          method: 'GET',
          path,
          headers: { accept, 'x-forwarded-for': xff },
        })),
      Math.ceil(RUNS / 2),
    );
    prop(
      'POST /sig (Signet client compatibility): unknown keys, wrong shapes',
      fc.array(attestationLike(valid), { maxLength: 3 }).map((atts) => ({
        method: 'POST',
        path: '/sig',
        body: JSON.stringify({ attestations: atts }),
      })),
      Math.ceil(RUNS / 2),
    );

    let total = 0;
    const failures: string[] = [];
    for (const [name, p, n] of properties) {
      const before = sent;
      try {
        await fc.assert(p, runs(n));
      } catch (e) {
        // fast-check's message names the counterexample; its cause says what was wrong with the answer.
        const cause = (e as { cause?: unknown }).cause;
        failures.push(
          `${name}: ${(e as Error).message}\nanswer: ${cause instanceof Error ? cause.message : String(cause)}`,
        );
      }
      total += sent - before;
      t.log(`${name}: ${sent - before} requests`);
    }
    // Validly signed attestations whose data.id is hostile text: stored (or refused with a 4xx), and
    // findable by id when the query can name it.
    for (const [i, a] of hostileSigned.entries()) {
      const r: Req = {
        method: 'POST',
        path: '/v1/attestations',
        body: JSON.stringify({ attestations: [a], keys: keysArmored }),
      };
      const res = await send(base, r);
      total++;
      try {
        check(r, res);
        if (res.status === 200 && a.data.id.length <= 4096) {
          const q: Req = { method: 'GET', path: `/v1/attestations?id=${pct(a.data.id)}` };
          const found = await send(base, q);
          total++;
          check(q, found);
          const items = (JSON.parse(found.body) as { attestations: unknown[] }).attestations;
          if (found.status !== 200 || items.length !== 1) {
            throw new Error(
              `published id ${JSON.stringify(a.data.id.slice(0, 20))} is not found by ?id= (${found.status})`,
            );
          }
        }
      } catch (e) {
        failures.push(
          `signed attestation with hostile id #${i} ${JSON.stringify(a.data.id.slice(0, 20))}: ${(e as Error).message}`,
        );
      }
    }
    // Oversized bodies: past MAX_BODY_BYTES (1 MiB default) must be 413, not a crash.
    for (const size of [1024 * 1024 + 1, 3 * 1024 * 1024]) {
      const r: Req = {
        method: 'POST',
        path: '/v1/attestations',
        body: `{"attestations":["${'a'.repeat(size)}"]}`,
      };
      const res = await send(base, r);
      check(r, res);
      t.is(res.status, 413);
      total++;
    }

    // Still alive and still correct.
    const health = await send(base, { method: 'GET', path: '/healthz' });
    t.is(health.status, 200);
    const again = await send(base, {
      method: 'POST',
      path: '/v1/attestations',
      body: JSON.stringify({ attestations: [valid[7]], keys: keysArmored }),
    });
    t.is(again.status, 200, again.body);
    const receipt = (JSON.parse(again.body) as { receipts: ReceiptJson[] }).receipts[0]!;
    await verifyReceiptOffline(receipt, await fetchLogKeys(server!.url));
    t.is(server!.proc.exitCode, null, 'the server process is still running');
    const summary =
      `fuzz-http: ${total} hostile requests over ${properties.length} properties (seed ${SEED}): ` +
      (failures.length === 0
        ? 'no 5xx, every rejection a documented JSON 4xx'
        : `${failures.length} propert${failures.length === 1 ? 'y' : 'ies'} failed`);
    t.log(summary);
    console.log(summary);
    t.deepEqual(failures, [], failures.join('\n\n'));
  },
);

// ---------------------------------------------------------------------------------------------
// The witness role (server/witness, c2sp.org/tlog-witness): hostile add-checkpoint bodies against a
// server of its own with WITNESS_LOGS. For every request: no 5xx; a refusal is a documented JSON 4xx,
// or 409 with exactly `text/x.tlog.size` and the stored size; and every refusal leaves the stored size
// as it was (read before and after with a probe the witness can only answer with 409: old 2^64-1 on a
// checkpoint of that size). Mutations start from an honest request from the stored size, so they
// reach every step (parse, origin, signature, sizes, proof). At the end an honest request from the
// stored size is cosigned: the stored root is still the log's.

test.serial(
  `fuzz: POST /witness/add-checkpoint: no 5xx, state unchanged on every rejection (seed ${SEED})`,
  async (t) => {
    const log = new TestLog('fuzz.test/witnessed', { size: 4000 });
    const dataDir = await tempDir('fuzz-witness');
    const db = await freshPostgres('fuzz_witness');
    const witness = await spawnServer({
      env: {
        DATA_DIR: dataDir,
        ORIGIN: 'sig.test/fuzz-witness',
        WITNESS_LOGS: await writeLogsFile(dataDir, [log.vkey]),
        ...(db ? { DATABASE_URL: db.url } : {}),
      },
      built: false,
    });
    try {
      const base = new URL(witness.url);
      const path = '/witness/add-checkpoint';
      const top = 2n ** 64n - 1n;
      const probeBody = `old ${top}\n\n${await log.sign(`${log.origin}\n${top}\n${'A'.repeat(43)}=\n`)}`;
      const stored = async (): Promise<number> => {
        const res = await send(base, { method: 'POST', path, body: probeBody });
        if (res.status !== 409) throw new Error(`probe answered ${res.status}: ${res.body.slice(0, 200)}`);
        return Number(parseTreeSizeBody(res.body));
      };
      const first = await send(base, { method: 'POST', path, body: await log.request(0, 10) });
      t.is(first.status, 200, first.body);
      const impostor = generateEd25519Key(log.origin).skey;
      const fork = log.fork(5);

      /** mutate returns a hostile body made from an honest request from `s` to `s + 1 + step`. */
      const mutate = async (s: number, how: string, step: number, n: number, text: string, num: string) => {
        const to = Math.min(4000, s + 1 + step);
        const honest = await log.request(s, to);
        const at = n % (honest.length + 1);
        const lines = honest.split('\n');
        switch (how) {
          case 'flip':
            return honest.slice(0, at) + (honest[at] === 'A' ? 'B' : 'A') + honest.slice(at + 1);
          case 'truncate':
            return honest.slice(0, at);
          case 'insert':
            return honest.slice(0, at) + text + honest.slice(at);
          case 'old':
            return [`old ${num}`, ...lines.slice(1)].join('\n');
          case 'old-other':
            return log.request(n % (s + 1), to);
          case 'dup-line':
            return [...lines.slice(0, (n % lines.length) + 1), ...lines.slice(n % lines.length)].join('\n');
          case 'drop-line':
            return lines.filter((_, i) => i !== n % lines.length).join('\n');
          case 'crlf':
            return honest.replaceAll('\n', '\r\n');
          case 'origin':
            return honest.replace(`\n\n${log.origin}\n`, `\n\n${text}\n`);
          case 'impostor':
            return formatAddCheckpointRequest({
              oldSize: BigInt(s),
              consistencyProof: await log.proof(s, to),
              signedCheckpoint: await log.signed(to, impostor),
            });
          case 'fork':
            return s <= 5 ? fork.request(s, to) : fork.request(s, s);
          case 'huge':
            return `${honest}${'x'.repeat(128 * 1024)}`;
          case 'bytes':
            return Buffer.concat([
              Buffer.from(honest.slice(0, at)),
              Buffer.from([0xff, 0xfe, 0xc0, 0x80]),
              Buffer.from(honest.slice(at)),
            ]);
          default:
            return honest;
        }
      };
      const go = async (body: string | Uint8Array, headers: Record<string, string> = {}) => {
        const before = await stored();
        const r: Req = { method: 'POST', path, body, headers: { 'content-type': 'text/plain', ...headers } };
        const res = await send(base, r);
        if (res.status === 200) return; // a mutation that is still an honest request
        if (res.status === 409) {
          if (res.contentType !== TREE_SIZE_CONTENT_TYPE || res.body !== `${before}\n`) {
            throw new Error(`409 with ${res.contentType} ${JSON.stringify(res.body)}, stored ${before}`);
          }
        } else {
          check(r, res);
        }
        const after = await stored();
        if (after !== before)
          throw new Error(`a ${res.status} changed the stored size from ${before} to ${after}`);
      };
      const mutations = fc.constantFrom(
        'flip',
        'truncate',
        'insert',
        'old',
        'old-other',
        'dup-line',
        'drop-line',
        'crlf',
        'origin',
        'impostor',
        'fork',
        'huge',
        'bytes',
      );
      const failures: string[] = [];
      let total = 0;
      const run = async <T>(name: string, p: fc.IAsyncProperty<T>) => {
        const before = sent;
        try {
          await fc.assert(p, { numRuns: Math.ceil(RUNS / 2), seed: SEED, endOnFailure: true });
        } catch (e) {
          const cause = (e as { cause?: unknown }).cause;
          failures.push(
            `${name}: ${(e as Error).message}\nanswer: ${cause instanceof Error ? cause.message : String(cause)}`,
          );
        }
        total += sent - before;
        t.log(`witness ${name}: ${sent - before} requests (probes included)`);
      };
      await run(
        'mutated honest requests',
        fc.asyncProperty(
          fc.tuple(mutations, fc.nat(40), fc.nat(), unicodeText, numberish),
          async ([how, step, n, text, num]) => go(await mutate(await stored(), how, step, n, text, num)),
        ),
      );
      await run(
        'garbage bodies, content types and encodings',
        fc.asyncProperty(
          fc.tuple(
            fc.oneof(
              fc.string({ unit: 'binary', maxLength: 300 }),
              fc.uint8Array({ maxLength: 300 }),
              numberish.map((x) => `old ${x}\n\n${log.origin}\n1\n${'A'.repeat(43)}=\n\n`),
              fc.constantFrom(
                '',
                '\n',
                '\n\n',
                'old 0',
                'old 0\n',
                'old 0\n\n',
                'old -1\n\n',
                'old 0\n\n\n',
                '\ufeffold 0\n\n',
              ),
            ),
            fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown')),
            fc.constantFrom('text/plain', 'application/json', '', 'text/x.tlog.size'),
          ),
          ([body, enc, type]) =>
            go(body, { 'content-type': type, ...(enc ? { 'content-encoding': enc } : {}) }),
        ),
      );
      // The stored root is still the log's: an honest request from the stored size is cosigned.
      const s = await stored();
      const honest = await send(base, {
        method: 'POST',
        path,
        body: await log.request(s, Math.min(4000, s + 7)),
      });
      t.is(honest.status, 200, honest.body);
      t.is(witness.proc.exitCode, null, 'the witness process is still running');
      console.log(`fuzz-http witness: ${total} requests, ${failures.length} failed properties`);
      t.deepEqual(failures, [], failures.join('\n\n'));
    } finally {
      await witness.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
      await db?.drop();
    }
  },
);
