/**
 * docs/openapi.yaml, the OpenAPI 3.1 description of the HTTP API, against the real thing:
 *   - the document served at /openapi.json is docs/openapi.yaml, and a real validator
 *     (@seriousme/openapi-schema-validator, the OpenAPI 3.1 JSON schema) finds it valid; a broken copy
 *     is refused (so the validator is not a no-op);
 *   - every route the express app mounts is in the document, and every operation of the document is
 *     exercised below (the witness route on a server with the witness role);
 *   - real answers of a running server (127.0.0.1, PGlite, real keys and signatures), successes and
 *     errors, each match the documented status, media type and schema (Ajv, JSON Schema 2020-12, the
 *     dialect of OpenAPI 3.1); every operation that documents an error answers at least one here;
 *   - every stable error code of server/http/errors.ts HTTP_STATUS is in the document's ErrorCode.
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import AjvModule, { type Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import test from 'ava';
import type { Express } from 'express';
import { parse } from 'yaml';
import { createApp } from '../server/http/app.js';
import { HTTP_STATUS } from '../server/http/errors.js';
import { createLogger } from '../server/logger.js';
import type { ServerHandle } from '../server/main.js';
import { buildExplorer } from './helpers/browser.js';
import { attest, makeSigner, postJson, type Signer, startTestServer, testConfig } from './helpers/http.js';
import { pgliteBackend, type StoreBackend } from './helpers/stores.js';
import { TestLog, writeLogsFile } from './witness-server-harness.js';

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is plain JSON
type Doc = any;
type Case = { method: string; path: string; body?: string; headers?: Record<string, string>; status: number };

// ajv and ajv-formats are CommonJS: under Node's ESM the class and the plugin may sit on `default`.
const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof Ajv2020;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

let backend: StoreBackend;
let server: ServerHandle;
let doc: Doc;
let alice: Signer;
let witnessed: TestLog;

test.before(async () => {
  buildExplorer();
  backend = await pgliteBackend('openapi');
  witnessed = new TestLog('other.test/log');
  const logs = await writeLogsFile(backend.dataDir, [witnessed.vkey]);
  server = await startTestServer(
    testConfig(backend, { 'query-page-limit': 2, 'max-attestations-per-request': 3, 'witness-logs': logs }),
  );
  alice = await makeSigner('Alice');
  const res = await postJson(`${server.url}/v1/attestations`, {
    attestations: [
      await attest(alice, 'sha256:aa'),
      await attest(alice, 'sha256:bb'),
      await attest(alice, 'sha256:aa', { comment: 'again' }),
    ],
    keys: [alice.armoredPublicKey],
  });
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${JSON.stringify(res.body)}`);
  doc = await (await fetch(`${server.url}/openapi.json`)).json();
});

test.after.always(async () => {
  await server?.close();
  await backend?.cleanup();
});

test('the served document is docs/openapi.yaml and a real OpenAPI 3.1 validator finds it valid', async (t) => {
  t.deepEqual(doc, parse(readFileSync('docs/openapi.yaml', 'utf8')));
  const v = new Validator();
  const result = await v.validate(structuredClone(doc));
  t.is(v.version, '3.1');
  t.true(result.valid, JSON.stringify(result.errors, null, 2));
  const broken = structuredClone(doc);
  broken.paths['/healthz'].get.responses['200'] = { content: 'nothing' };
  t.false((await new Validator().validate(broken)).valid, 'the validator refuses a broken document');
});

test('every error code of HTTP_STATUS is in the document', (t) => {
  const codes: string[] = doc.components.schemas.ErrorCode.enum;
  t.deepEqual(
    Object.keys(HTTP_STATUS).filter((c) => !codes.includes(c)),
    [],
  );
  t.deepEqual(
    codes.filter((c) => !(c in HTTP_STATUS)),
    [],
    'no code the server does not have',
  );
});

/** routesOf returns "METHOD /path" of every route mounted in the app, params as {}. */
function routesOf(app: Express): string[] {
  const out: string[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: express 5's router internals
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) {
          out.push(`${m.toUpperCase()} ${String(layer.route.path).replace(/[:*][A-Za-z]+/g, '{}')}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  // biome-ignore lint/suspicious/noExplicitAny: express 5's router internals
  walk((app as any).router.stack);
  return out;
}

function operations(): string[] {
  const out: string[] = [];
  for (const [p, item] of Object.entries<Doc>(doc.paths)) {
    for (const m of Object.keys(item)) out.push(`${m.toUpperCase()} ${p.replace(/\{[A-Za-z]+\}/g, '{}')}`);
  }
  return out;
}

test('every route the app mounts is documented', (t) => {
  const { app } = createApp(server.service, testConfig(backend), createLogger('error'));
  const documented = new Set(operations());
  const routes = routesOf(app);
  t.true(routes.length > 15);
  t.deepEqual(
    routes.filter((r) => !documented.has(r)),
    [],
  );
});

/** operationFor returns the documented path template and operation for a request path. */
function operationFor(method: string, path: string): { template: string; op: Doc } | undefined {
  const bare = path.split('?')[0]!;
  const templates = Object.keys(doc.paths).sort(
    (a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0),
  );
  for (const template of templates) {
    const re = new RegExp(
      `^${template.replace(/\{tilePath\}|\{id\}/g, '(.+)').replace(/\{[A-Za-z]+\}/g, '([^/]+)')}$`,
    );
    const op = doc.paths[template][method.toLowerCase()];
    if (re.test(bare) && op) return { template, op };
  }
  return undefined;
}

async function checkCase(c: Case, ajv: Ajv2020): Promise<string | undefined> {
  const found = operationFor(c.method, c.path);
  if (!found) return `${c.method} ${c.path}: not in the document`;
  const res = await fetch(`${server.url}${c.path}`, {
    method: c.method,
    ...(c.body !== undefined ? { body: c.body } : {}),
    headers: { ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers },
  });
  const text = await res.text();
  const what = `${c.method} ${c.path.slice(0, 80)} -> ${res.status}`;
  if (res.status !== c.status) return `${what}, expected ${c.status}: ${text.slice(0, 300)}`;
  const pointerEscape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
  let pointer = `#/paths/${pointerEscape(found.template)}/${c.method.toLowerCase()}/responses/${res.status}`;
  let response = found.op.responses[String(res.status)];
  if (!response) return `${what}: status not documented`;
  if (response.$ref) {
    pointer = response.$ref;
    response = response.$ref
      .split('/')
      .slice(1)
      .reduce((o: Doc, k: string) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = Object.keys(response.content ?? {}).find((m) => m === type);
  if (!media) return `${what}: content type ${type} not documented (${Object.keys(response.content ?? {})})`;
  const validate = ajv.getSchema(`openapi${pointer}/content/${pointerEscape(media)}/schema`);
  if (!validate) return `${what}: no schema at ${pointer}`;
  const value = type === 'application/json' ? JSON.parse(text) : text;
  if (!validate(value)) return `${what}: ${JSON.stringify(validate.errors)} in ${text.slice(0, 300)}`;
  return undefined;
}

test('real answers, errors included, match their documented schemas for every operation', async (t) => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  const size = ((await (await fetch(`${server.url}/healthz`)).json()) as { treeSize: number }).treeSize;
  const fp = alice.fingerprint;
  const bob = await makeSigner('Bob');
  const json = (v: unknown) => JSON.stringify(v);
  const fresh = await attest(alice, 'sha256:cc');
  const cases: Case[] = [
    { method: 'GET', path: '/log/checkpoint', status: 200 },
    { method: 'GET', path: `/log/tile/0/000.p/${size}`, status: 200 },
    { method: 'GET', path: `/log/tile/entries/000.p/${size}`, status: 200 },
    { method: 'GET', path: '/log/tile/0/x1', status: 400 },
    { method: 'GET', path: '/log/tile/0/005', status: 404 },
    {
      method: 'POST',
      path: '/v1/attestations',
      body: json({ attestations: [await attest(alice, 'sha256:dd')] }),
      status: 200,
    },
    { method: 'POST', path: '/v1/attestations', body: json({}), status: 400 },
    { method: 'POST', path: '/v1/attestations', body: '{"attestations": [', status: 400 },
    { method: 'POST', path: '/v1/attestations', body: json({ attestations: [1, 2, 3, 4] }), status: 413 },
    {
      method: 'POST',
      path: '/v1/attestations',
      body: json({ attestations: [await attest(bob, 'sha256:ee')] }),
      status: 422,
    },
    {
      method: 'POST',
      path: '/v1/attestations',
      body: json({ attestations: [fresh] }),
      headers: { 'content-type': 'application/json; charset=latin1' },
      status: 415,
    },
    { method: 'GET', path: '/v1/attestations?id=sha256%3Aaa', status: 200 },
    { method: 'GET', path: '/v1/attestations?id=sha256%3Aaa&limit=1', status: 200 },
    { method: 'GET', path: `/v1/attestations?key=${fp.toLowerCase()}`, status: 200 },
    { method: 'GET', path: '/v1/attestations', status: 400 },
    { method: 'GET', path: '/v1/attestations?key=xyz', status: 400 },
    { method: 'GET', path: '/v1/index?id=sha256%3Aaa', status: 200 },
    { method: 'GET', path: `/v1/index?key=${fp}`, status: 200 },
    { method: 'GET', path: '/v1/index', status: 400 },
    { method: 'POST', path: '/v1/keys', body: json({ keys: [bob.armoredPublicKey] }), status: 200 },
    { method: 'POST', path: '/v1/keys', body: json({ keys: [] }), status: 400 },
    { method: 'POST', path: '/v1/keys', body: json({ keys: ['not a key'] }), status: 400 },
    { method: 'GET', path: `/v1/keys/${fp}`, status: 200 },
    { method: 'GET', path: `/v1/keys/${'0'.repeat(40)}`, status: 404 },
    { method: 'GET', path: '/v1/keys/abc', status: 400 },
    { method: 'GET', path: `/v1/proof/inclusion?index=0&size=${size}`, status: 200 },
    { method: 'GET', path: '/v1/proof/inclusion?index=5&size=1', status: 400 },
    { method: 'GET', path: `/v1/proof/consistency?from=1&to=${size}`, status: 200 },
    { method: 'GET', path: `/v1/proof/consistency?from=1&to=${size + 1000}`, status: 400 },
    { method: 'GET', path: '/v1/entries?start=0&limit=3', status: 200 },
    { method: 'GET', path: '/v1/entries?start=-1', status: 400 },
    { method: 'GET', path: '/v1/checkpoints', status: 200 },
    { method: 'GET', path: '/v1/checkpoints?points=2', status: 200 },
    { method: 'GET', path: '/v1/checkpoints?points=1', status: 400 },
    { method: 'GET', path: '/v1/server', status: 200 },
    { method: 'GET', path: '/v1/peers', status: 200 },
    { method: 'GET', path: '/healthz', status: 200 },
    { method: 'GET', path: '/metrics', status: 200 },
    { method: 'GET', path: '/sig/sha256%3Aaa', status: 200 },
    { method: 'GET', path: '/sig/none', status: 200 },
    { method: 'GET', path: '/sig/a%00b', status: 400 },
    { method: 'POST', path: '/sig', body: json({ attestations: [fresh] }), status: 200 },
    { method: 'POST', path: '/sig', body: json({ attestations: [] }), status: 400 },
    {
      method: 'POST',
      path: '/sig',
      body: json({ attestations: [await attest(await makeSigner('Carol'), 'x')] }),
      status: 422,
    },
    { method: 'GET', path: '/openapi.json', status: 200 },
    { method: 'GET', path: '/', status: 200 },
    { method: 'GET', path: '/search?id=sha256%3Aaa', status: 200 },
    { method: 'GET', path: '/entry/0', status: 200 },
    { method: 'GET', path: '/assets/app.js', status: 200 },
    { method: 'GET', path: '/assets/app.css', status: 200 },
    { method: 'GET', path: '/assets/icon.svg', status: 200 },
    { method: 'GET', path: '/assets/nothing.js', status: 404 },
    { method: 'GET', path: '/assets/..%2Fopenapi.json', status: 404 },
    ...(await witnessCases()),
  ];
  const failures: string[] = [];
  for (const c of cases) {
    const f = await checkCase(c, ajv);
    if (f) failures.push(f);
  }
  t.deepEqual(failures, []);
  // Every operation is exercised, and every one that documents an error answers one here. Exempt:
  // errors a healthy server cannot be made to give from outside (no checkpoint yet, a database down,
  // shutting down, an unbuilt explorer).
  const exempt = new Set([
    'GET /log/checkpoint',
    'GET /healthz',
    'GET /openapi.json',
    'GET /',
    'GET /search',
    'GET /entry/{}',
  ]);
  const covered = new Map<string, Set<number>>();
  for (const c of cases) {
    const found = operationFor(c.method, c.path)!;
    const key = `${c.method} ${found.template.replace(/\{[A-Za-z]+\}/g, '{}')}`;
    covered.set(key, (covered.get(key) ?? new Set()).add(c.status));
  }
  for (const op of operations()) {
    t.true(covered.has(op), `${op} is exercised`);
    const [m, p] = op.split(' ') as [string, string];
    const template = Object.keys(doc.paths).find((k) => k.replace(/\{[A-Za-z]+\}/g, '{}') === p)!;
    const errors = Object.keys(doc.paths[template][m.toLowerCase()].responses).filter((s) => s >= '400');
    if (errors.length > 0 && !exempt.has(op)) {
      t.true(
        [...(covered.get(op) ?? [])].some((s) => s >= 400),
        `${op} answers one of its documented errors`,
      );
    }
  }
});

/** witnessCases are add-checkpoint requests for a log the server witnesses: 200, 400, 403, 404, 409, 422. */
async function witnessCases(): Promise<Case[]> {
  const path = '/witness/add-checkpoint';
  const text = { 'content-type': 'text/plain' };
  const stranger = new TestLog('stranger.test/log');
  const impostor = new TestLog('other.test/log');
  return [
    { method: 'POST', path, body: await witnessed.request(0, 5), headers: text, status: 200 },
    { method: 'POST', path, body: 'not a request', headers: text, status: 400 },
    { method: 'POST', path, body: await stranger.request(0, 5), headers: text, status: 404 },
    { method: 'POST', path, body: await impostor.request(0, 6), headers: text, status: 403 },
    { method: 'POST', path, body: await witnessed.request(2, 6), headers: text, status: 409 },
    // The cosigned size 5 with another root (a fork from leaf 2): 422.
    { method: 'POST', path, body: await witnessed.fork(2).request(5, 5), headers: text, status: 422 },
  ];
}
