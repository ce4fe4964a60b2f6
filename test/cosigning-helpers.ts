/**
 * Helpers for the log role's tests (test/cosigning*.test.ts, test/cli-witness*.test.ts): a small
 * c2sp.org/tlog-witness witness built from log/witness.ts alone (in-memory state, node:http), which
 * the tests can stop, make refuse, or roll back; and a Sig Server started with a WITNESS_POLICY.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cosignatureSigner, cosignatureVerifier, generateCosignatureKey } from '../log/cosignature.js';
import { ed25519Verifier, generateEd25519Key } from '../log/note.js';
import {
  type CosignedTree,
  cosignCheckpoint,
  decideAddCheckpoint,
  formatTreeSizeBody,
  parseAddCheckpointRequest,
  TREE_SIZE_CONTENT_TYPE,
  type WitnessedLog,
} from '../log/witness.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { type ServerHandle, startServer } from '../server/main.js';

/** TestWitness is a witness the test controls. */
export interface TestWitness {
  /** url is the submission prefix: requests go to `${url}/add-checkpoint`. */
  url: string;
  name: string;
  vkey: string;
  /** cosigned: per origin, the latest checkpoint cosigned (the tests may roll it back). */
  cosigned: Map<string, CosignedTree>;
  /** mode: 'ok' answers by the spec; 'down' drops every connection; 'refuse' answers 503. */
  mode: 'ok' | 'down' | 'refuse';
  /** statuses counts the answers given, by status. */
  statuses: Map<number, number>;
  /** lie: 'future' signs with a clock an hour ahead; 'flip' alters a byte of the Ed25519 signature. */
  lie: 'none' | 'future' | 'flip';
  addLog(vkey: string): void;
  close(): Promise<void>;
}

/** startTestWitness starts a witness named `name` on 127.0.0.1 port 0 that knows no log yet. */
export async function startTestWitness(name: string): Promise<TestWitness> {
  const { skey, vkey } = generateCosignatureKey(name);
  const signer = cosignatureSigner(skey);
  const ahead = cosignatureSigner(skey, () => new Date(Date.now() + 3600_000));
  const logs = new Map<string, WitnessedLog>();
  const w: TestWitness = {
    url: '',
    name,
    vkey,
    cosigned: new Map(),
    mode: 'ok',
    statuses: new Map(),
    lie: 'none',
    addLog(logVkey) {
      const v = ed25519Verifier(logVkey);
      logs.set(v.name, { origin: v.name, verifiers: [v] });
    },
    close: async () => {},
  };
  // One request at a time: the check and the state change are atomic, as the spec asks.
  let queue: Promise<void> = Promise.resolve();
  const server: Server = createServer((req, res) => {
    if (w.mode === 'down') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      queue = queue.then(async () => {
        const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
          w.statuses.set(status, (w.statuses.get(status) ?? 0) + 1);
          res.writeHead(status, { 'content-type': type }).end(body);
        };
        if (w.mode === 'refuse') return answer(503, 'refusing\n');
        if (req.method !== 'POST' || req.url !== '/witness/add-checkpoint') return answer(404, 'no\n');
        let parsed: ReturnType<typeof parseAddCheckpointRequest>;
        try {
          parsed = parseAddCheckpointRequest(new Uint8Array(Buffer.concat(chunks)));
        } catch (e) {
          return answer(400, `${(e as Error).message}\n`);
        }
        const out = await decideAddCheckpoint(parsed, logs.get(parsed.origin), w.cosigned.get(parsed.origin));
        if (out.verdict === 'conflict')
          return answer(409, formatTreeSizeBody(out.treeSize), TREE_SIZE_CONTENT_TYPE);
        if (out.verdict === 'refuse') return answer(out.status, `${out.message}\n`);
        w.cosigned.set(parsed.origin, {
          treeSize: out.checkpoint.treeSize,
          rootHash: out.checkpoint.rootHash,
        });
        let lines = await cosignCheckpoint(out.text, [w.lie === 'future' ? ahead : signer]);
        if (w.lie === 'flip') {
          // The last base64 characters before the newline are Ed25519 signature bytes.
          const i = lines.length - 6;
          lines = lines.slice(0, i) + (lines[i] === 'A' ? 'B' : 'A') + lines.slice(i + 1);
        }
        return answer(200, lines);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  w.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
  w.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  // The verifier key parses (a test of the helper itself).
  cosignatureVerifier(vkey);
  return w;
}

/** LogKeyFile is a note key made before the log starts, so witnesses can know the log from the start. */
export interface LogKeyFile {
  origin: string;
  vkey: string;
  file: string;
}

/** makeLogKey writes a fresh Ed25519 note key for `origin` into dir/note.key. */
export function makeLogKey(dir: string, origin: string): LogKeyFile {
  const { skey, vkey } = generateEd25519Key(origin);
  const file = join(dir, 'note.key');
  writeFileSync(file, `${skey}\n`, { mode: 0o600 });
  return { origin, vkey, file };
}

/** policyText returns a tlog-policy: one witness line each, then the quorum (a witness or group name). */
export function policyText(
  witnesses: readonly { name: string; vkey: string; url: string }[],
  quorum: string,
): string {
  const lines = witnesses.map((w) => `witness ${w.name} ${w.vkey} ${w.url}`);
  return `${lines.join('\n')}\nquorum ${quorum}\n`;
}

/** startWitnessedLog starts a Sig Server (PGlite in dataDir) with the note key and policy text given. */
export function startWitnessedLog(
  dataDir: string,
  key: LogKeyFile,
  policy: string | undefined,
  flags: Record<string, string | number> = {},
): Promise<ServerHandle> {
  let policyFile: string | undefined;
  if (policy !== undefined) {
    policyFile = join(dataDir, 'witness-policy');
    writeFileSync(policyFile, policy);
  }
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      'data-dir': dataDir,
      origin: key.origin,
      'note-key-file': key.file,
      'checkpoint-interval-ms': 50,
      'batch-max-age-ms': 5,
      'rate-limit-publishes': 0,
      'log-level': 'error',
      'verify-workers': 0,
      ...(policyFile ? { 'witness-policy': policyFile } : {}),
      ...flags,
    },
  );
  return startServer(config, { logger: createLogger('error'), quiet: true });
}
