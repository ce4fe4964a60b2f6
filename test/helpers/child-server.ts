/**
 * Server processes for the stress tests and benchmarks: `node --import tsx server/main.ts` as a real
 * child process (so it can be SIGKILLed), plus what a client needs to check its answers offline: real
 * Ed25519 OpenPGP signers, pre-signed attestations, and receipt / checkpoint verification with log/ and
 * the keys the server publishes on /v1/server.
 *
 * A child is ready when it prints `sig server listening on <url>` on stderr (server/main.ts); nothing
 * here sleeps to synchronise: it waits on that line or on the process's exit, with a bounded deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as openpgp from 'openpgp';
import type { Checkpoint } from '../../log/checkpoint.js';
import { hashLeaf } from '../../log/hash.js';
import { verifyConsistency, verifyInclusion } from '../../log/proof.js';
import { type Attestation, readPublicKey, signAttestation } from '../../log/signet.js';
import { fromB64 } from './bytes.js';
import { newSigningKey, openLogCheckpoint } from './keys.js';

/** ROOT is the repository root (two levels above this file). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** SERVER_ROOT is the tree whose server/main.ts is run: ROOT, or SIG_SERVER_ROOT (e.g. a snapshot). */
export const SERVER_ROOT = process.env.SIG_SERVER_ROOT ?? ROOT;

/** ChildServer is one running server process. */
export interface ChildServer {
  /** url is its base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  proc: ChildProcess;
  /** output returns everything the process wrote on stderr and stdout so far (for failure messages). */
  output(): string;
  /** exited resolves with the exit code or signal when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** kill sends `signal` (default SIGKILL) and resolves when the process has ended. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** ChildOptions configure spawnServer. */
export interface ChildOptions {
  /** env: server settings (DATA_DIR, DATABASE_URL, ORIGIN, ...) on top of a clean environment. */
  env: Record<string, string>;
  /** readyTimeoutMs: how long to wait for the listening line (default 60 s). */
  readyTimeoutMs?: number;
  /** built: run the compiled dist/server/main.js (npm run build first) instead of the sources through
   *  tsx; default: when dist is newer than every source file of log/ and server/ (as after npm test's
   *  build), else tsx. */
  built?: boolean;
}

/** distIsFresh reports whether dist/server/main.js exists and every .ts of log/ and server/ has a newer .js in dist/ (sql/ is read at run time). */
export function distIsFresh(root = SERVER_ROOT): boolean {
  const main = join(root, 'dist', 'server', 'main.js');
  if (!existsSync(main)) return false;
  for (const dir of ['log', 'server', 'server/http']) {
    const d = join(root, dir);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      if (!/\.(ts|sql)$/.test(f)) continue;
      const js = join(root, 'dist', dir, f.replace(/\.ts$/, '.js'));
      const srcTime = statSync(join(d, f)).mtimeMs;
      if (f.endsWith('.ts') && (!existsSync(js) || statSync(js).mtimeMs < srcTime)) return false;
    }
  }
  return true;
}

/**
 * spawnServer starts `node --import tsx server/main.ts` (or the built dist/server/main.js) with `opts.env` (PORT, HOST and
 * LOG_LEVEL default to 0, 127.0.0.1, warn) and resolves once it listens. Throws, after killing it, when
 * it exits or stays silent past the deadline; the message carries its output.
 */
export function spawnServer(opts: ChildOptions): Promise<ChildServer> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PUBLISHES: '0',
    ...opts.env,
  };
  const args =
    (opts.built ?? distIsFresh())
      ? [join(SERVER_ROOT, 'dist', 'server', 'main.js')]
      : ['--import', 'tsx', join(SERVER_ROOT, 'server', 'main.ts')];
  // CHILD_CPU_PROF=<dir> writes a V8 CPU profile of the child there when it exits (for bench/ work).
  if (process.env.CHILD_CPU_PROF) args.unshift('--cpu-prof', `--cpu-prof-dir=${process.env.CHILD_CPU_PROF}`);
  const proc = spawn(process.execPath, args, {
    cwd: SERVER_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const child: Omit<ChildServer, 'url'> = {
    proc,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error, url?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        void child.kill().then(() => reject(err));
      } else {
        resolve({ ...child, url: url! });
      }
    };
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (out.length > 200_000) out = out.slice(-100_000);
      const m = /sig server listening on (http:\/\/\S+)/.exec(out);
      if (m) finish(undefined, m[1]);
    };
    proc.stderr!.on('data', onData);
    proc.stdout!.on('data', onData);
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    const timer = setTimeout(
      () => finish(new Error(`server did not listen within ${timeoutMs} ms; output:\n${out}`)),
      timeoutMs,
    );
    void exited.then(({ code, signal }) =>
      finish(new Error(`server exited (code ${code}, signal ${signal}) before listening; output:\n${out}`)),
    );
  });
}

/** Signer is a real v4 Ed25519 OpenPGP key pair, as Signet users have. */
export interface Signer {
  privateKey: openpgp.PrivateKey;
  armoredPublicKey: string;
  fingerprint: string;
}

/** makeSigner returns a fresh v4 Ed25519 OpenPGP key named `name`. */
export async function makeSigner(name: string): Promise<Signer> {
  const { privateKey, publicKey, fingerprint } = await newSigningKey(name);
  return { privateKey, armoredPublicKey: publicKey.armor(), fingerprint };
}

/**
 * presign returns `n` distinct attestations signed by the signers in turn (real signatures, made before
 * a run so that the server gets the CPU during it). Ids are `<prefix>:<i>`.
 */
export async function presign(signers: readonly Signer[], n: number, prefix: string): Promise<Attestation[]> {
  const out: Attestation[] = [];
  for (let i = 0; i < n; i++) {
    const s = signers[i % signers.length]!;
    out.push(await signAttestation({ id: `${prefix}:${i}`, ok: i % 7 !== 0, n: i }, s.privateKey));
  }
  return out;
}

/** LogKeys are the server keys a client pins (from /v1/server). */
export interface LogKeys {
  origin: string;
  vkey: string;
  openpgpPublicKey: openpgp.PublicKey;
}

/** fetchLogKeys returns the keys of the server at `url` (GET /v1/server); throws unless it answers 200. */
export async function fetchLogKeys(url: string): Promise<LogKeys> {
  const res = await fetch(`${url}/v1/server`);
  if (res.status !== 200) throw new Error(`${url}/v1/server answered ${res.status}`);
  const body = (await res.json()) as { origin: string; vkey: string; openpgp: { publicKey: string } };
  return {
    origin: body.origin,
    vkey: body.vkey,
    openpgpPublicKey: await readPublicKey(body.openpgp.publicKey),
  };
}

/** openCheckpoint verifies both signature lines of a checkpoint by the pinned keys (keys.ts). */
export const openCheckpoint = openLogCheckpoint;

/** ReceiptJson is one receipt on the wire (docs/contracts.md). */
export interface ReceiptJson {
  index: number;
  entry: string;
  inclusionProof: string[];
  checkpoint: string;
}

/** VerifiedReceipt is a receipt whose signatures and inclusion proof were checked. */
export interface VerifiedReceipt {
  index: bigint;
  entry: Uint8Array;
  checkpoint: Checkpoint;
  note: string;
}

/**
 * verifyReceiptOffline checks a receipt with nothing but the pinned keys: both checkpoint signatures,
 * the index a safe integer, and the entry's inclusion proof against the checkpoint's root. Throws on any
 * failure.
 */
export async function verifyReceiptOffline(r: ReceiptJson, keys: LogKeys): Promise<VerifiedReceipt> {
  if (!Number.isSafeInteger(r.index) || r.index < 0) throw new Error(`receipt index ${r.index} is not valid`);
  const cp = await openCheckpoint(r.checkpoint, keys);
  const entry = fromB64(r.entry);
  const proof = r.inclusionProof.map(fromB64);
  verifyInclusion(BigInt(r.index), cp.treeSize, hashLeaf(entry), proof, cp.rootHash);
  return { index: BigInt(r.index), entry, checkpoint: cp, note: r.checkpoint };
}

/**
 * proveConsistentOnline asks `url` for the consistency proof from `older` to `newer` and verifies it
 * (RFC 9162 §2.1.4). Throws when the server will not prove it or the proof fails.
 */
export async function proveConsistentOnline(
  url: string,
  older: Checkpoint,
  newer: Checkpoint,
): Promise<void> {
  if (older.treeSize > newer.treeSize) {
    throw new Error(`checkpoint of size ${older.treeSize} is newer than one of size ${newer.treeSize}`);
  }
  const res = await fetch(`${url}/v1/proof/consistency?from=${older.treeSize}&to=${newer.treeSize}`);
  if (res.status !== 200) throw new Error(`consistency ${older.treeSize}->${newer.treeSize}: ${res.status}`);
  const body = (await res.json()) as { consistencyProof: string[] };
  const proof = body.consistencyProof.map(fromB64);
  verifyConsistency(older.treeSize, newer.treeSize, proof, older.rootHash, newer.rootHash);
}

/** fetchAllEntries returns the whole entries feed 0..treeSize-1 of `url`, page by page. */
export async function fetchAllEntries(
  url: string,
  treeSize: bigint,
): Promise<{ index: number; entry: Uint8Array }[]> {
  const out: { index: number; entry: Uint8Array }[] = [];
  while (BigInt(out.length) < treeSize) {
    const res = await fetch(`${url}/v1/entries?start=${out.length}&limit=1000`);
    if (res.status !== 200) throw new Error(`entries from ${out.length}: ${res.status}`);
    const body = (await res.json()) as { entries: { index: number; entry: string }[] };
    if (body.entries.length === 0) throw new Error(`entries feed ended at ${out.length} < ${treeSize}`);
    for (const e of body.entries) out.push({ index: e.index, entry: fromB64(e.entry) });
  }
  return out;
}

/** waitFor polls `cond` every `everyMs` until it returns true or `timeoutMs` passes (then throws `what`). */
export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** freePort returns a TCP port free on 127.0.0.1 a moment ago (for processes that must know each other's URLs). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
