/**
 * Harness for the CLI tests (test/cli-*.test.ts): runs the BUILT CLI (`node bin/sig.js`, which runs
 * dist/cli/*.js) as a child process with its own $SIG_DIR, starts real servers in-process on 127.0.0.1
 * port 0 (PGlite in a temp dir), and puts a small node:http proxy between the CLI and a server that can
 * alter answers.
 *
 * The tests assume dist/ is fresh: `npm test` runs `npm run build` first. When iterating on one file,
 * run `npx tsc -p .` before `npx ava test/cli-<name>.test.ts`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyRoot } from '../log/hash.js';
import { loadConfig } from '../server/config.js';
import { loadKeys, type ServerKeys, signCheckpoint } from '../server/keys.js';
import { createLogger } from '../server/logger.js';
import { type ServerHandle, startServer } from '../server/main.js';

/** root is the project folder. */
export const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const bin = join(root, 'bin', 'sig.js');
const built = join(root, 'dist', 'cli', 'main.js');

/**
 * checkBuilt throws (with how to fix it) when dist/ has no CLI. It cannot tell a stale build from a
 * fresh one (tsc's incremental build leaves unchanged outputs alone): `npm test` builds first.
 */
export function checkBuilt(): void {
  for (const f of [built, join(root, 'dist', 'cli', 'commands.js')]) {
    if (!existsSync(f))
      throw new Error(`${f} is missing: run \`npm run build\` (npm test does) before the CLI tests`);
  }
}

/** Run is the outcome of one CLI run. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** sig runs `node bin/sig.js ...args` with SIG_DIR=sigDir and returns its exit code and output. */
export function sig(
  sigDir: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      {
        cwd: root,
        env: { ...process.env, SIG_DIR: sigDir, NODE_ENV: 'production', ...opts.env },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

/** sigJson runs sig with --json and parses stdout. */
// biome-ignore lint/suspicious/noExplicitAny: CLI JSON output
export async function sigJson(sigDir: string, args: string[]): Promise<Run & { json: any }> {
  const r = await sig(sigDir, [...args, '--json']);
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(
      `sig ${args.join(' ')} --json printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`,
    );
  }
  return { ...r, json };
}

/** tempDir makes a fresh temporary folder. */
export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `sig-${label}-`));
}

/** startTestServer starts a real server on 127.0.0.1 port 0 with PGlite in dataDir. */
export function startTestServer(
  dataDir: string,
  flags: Record<string, string | number> = {},
): Promise<ServerHandle> {
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      'data-dir': dataDir,
      origin: 'cli.test/log',
      'checkpoint-interval-ms': 50,
      'batch-max-age-ms': 5,
      'rate-limit-publishes': 0,
      'log-level': 'error',
      ...flags,
    },
  );
  return startServer(config, { logger: createLogger('error'), quiet: true });
}

/** Mutator may replace an answer: it gets the request path and the body, returns the body to send. */
export type Mutator = (
  path: string,
  body: Buffer,
  status: number,
) => { body: Buffer; status?: number; headers?: Record<string, string> } | undefined;

/** TamperProxy is a small HTTP proxy to a server; set `mutate` to alter answers. */
export interface TamperProxy {
  url: string;
  mutate: Mutator | undefined;
  /** requests counts the requests seen, by path without query. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** startProxy starts a proxy on 127.0.0.1 port 0 in front of target. */
export async function startProxy(target: string): Promise<TamperProxy> {
  const t = new URL(target);
  const proxy: TamperProxy = {
    url: '',
    mutate: undefined,
    requests: new Map(),
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const bare = path.split('?')[0]!;
    proxy.requests.set(bare, (proxy.requests.get(bare) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers, host: t.host };
      delete headers['accept-encoding'];
      const up = request({ host: t.hostname, port: t.port, path, method: req.method, headers }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          let out: Buffer = Buffer.concat(body);
          let status = upRes.statusCode ?? 502;
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(upRes.headers)) if (typeof v === 'string') h[k] = v;
          const m = proxy.mutate?.(path, out, status);
          if (m) {
            out = m.body;
            status = m.status ?? status;
            Object.assign(h, m.headers ?? {});
          }
          h['content-length'] = String(out.length);
          delete h['transfer-encoding'];
          res.writeHead(status, h);
          res.end(out);
        });
      });
      up.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}

/** flipBase64Byte returns b64 with one bit of byte `at` flipped. */
export function flipBase64Byte(b64: string, at = 0): string {
  const b = Buffer.from(b64, 'base64');
  b[at % b.length]! ^= 0x01;
  return b.toString('base64');
}

/** readJsonFile parses a JSON file. */
// biome-ignore lint/suspicious/noExplicitAny: test helper
export function readJsonFile(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** fingerprintOf returns the fingerprint of the only (or default) key in a SIG_DIR, via `sig key list --json`. */
export async function defaultFingerprint(sigDir: string): Promise<string> {
  const r = await sigJson(sigDir, ['key', 'list']);
  const k = r.json.keys.find((x: { default: boolean }) => x.default) ?? r.json.keys[0];
  if (!k) throw new Error(`no key in ${sigDir}`);
  return k.fingerprint;
}

/** HostileLog is a log with its own real keys that answers whatever a test wants (a hostile server). */
export interface HostileLog {
  url: string;
  origin: string;
  fingerprint: string;
  keys: ServerKeys;
  /** checkpoint is served at /log/checkpoint (set it with sign()). */
  checkpoint: string;
  /** handle answers a request first; return true when it did. Defaults: /v1/server, /log/checkpoint, else 404. */
  handle: ((req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>) | undefined;
  /** requests counts the requests seen, by path without query. */
  requests: Map<string, number>;
  /** sign returns a checkpoint of (treeSize, rootHash) signed by the log's keys (both lines). */
  sign(treeSize: bigint, rootHash: Uint8Array): Promise<string>;
  close(): Promise<void>;
}

/**
 * startHostileLog starts an HTTP server on 127.0.0.1 port 0 with real log keys (server/keys.ts loadKeys,
 * made in a temp dir) that serves /v1/server and a checkpoint it signed for whatever tree the test
 * claims, and lets the test answer everything else (`handle`): a server that can be pinned and then lies.
 */
export async function startHostileLog(
  opts: { origin?: string; treeSize?: bigint; rootHash?: Uint8Array } = {},
): Promise<HostileLog> {
  const origin = opts.origin ?? 'hostile.test/log';
  const keys = await loadKeys({ dataDir: tempDir('hostile-keys'), origin });
  const log: HostileLog = {
    url: '',
    origin,
    fingerprint: keys.openpgpFingerprint,
    keys,
    checkpoint: '',
    handle: undefined,
    requests: new Map(),
    sign: async (treeSize, rootHash) =>
      (await signCheckpoint(keys, { origin, treeSize, rootHash, extensions: [] })).note,
    close: async () => {},
  };
  log.checkpoint = await log.sign(opts.treeSize ?? 0n, opts.rootHash ?? emptyRoot());
  const server = createServer((req, res) => {
    const bare = (req.url ?? '/').split('?')[0]!;
    log.requests.set(bare, (log.requests.get(bare) ?? 0) + 1);
    void (async () => {
      if (log.handle && (await log.handle(req, res))) return;
      if (bare === '/v1/server') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            origin,
            vkey: keys.vkey,
            openpgp: { fingerprint: keys.openpgpFingerprint, publicKey: keys.openpgpPublicKey },
            limits: {},
            intervals: {},
            version: 'hostile',
          }),
        );
      } else if (bare === '/log/checkpoint') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(log.checkpoint);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"NOT_FOUND","message":"no such thing"}}');
      }
    })().catch((e) => {
      res.destroy(e as Error);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  log.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return log;
}
