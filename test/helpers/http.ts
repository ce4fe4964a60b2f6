/**
 * Helpers for the HTTP tests (test/http-*.test.ts): real OpenPGP signers (ed25519, made with
 * openpgp.generateKey), attestations signed with log/signet.ts signAttestation, a server started with
 * startServer on 127.0.0.1 port 0, and offline verification of receipts and checkpoints with log/ and
 * the keys the server publishes on /v1/server.
 */
import type * as openpgp from 'openpgp';
import { hashLeaf } from '../../log/hash.js';
import { verifyInclusion } from '../../log/proof.js';
import { type Attestation, readPublicKey, signAttestation } from '../../log/signet.js';
import { type Config, loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { type ServerHandle, startServer } from '../../server/main.js';
import { fromB64 } from './bytes.js';
import { newSigningKey, openLogCheckpoint } from './keys.js';
import type { StoreBackend } from './stores.js';

/** Signer is a real OpenPGP key pair of the kind Signet users have (v4, Ed25519). */
export interface Signer {
  privateKey: openpgp.PrivateKey;
  armoredPublicKey: string;
  fingerprint: string;
}

/** makeSigner returns a fresh v4 Ed25519 OpenPGP key. */
export async function makeSigner(name: string): Promise<Signer> {
  const { privateKey, publicKey, fingerprint } = await newSigningKey(
    name,
    `${name.toLowerCase().replace(/\W/g, '')}@example.org`,
  );
  return {
    privateKey,
    armoredPublicKey: publicKey.armor(),
    fingerprint,
  };
}

/** attest returns a real signed attestation for id with optional extra data fields. */
export function attest(
  signer: Signer,
  id: string,
  extra: Record<string, unknown> = {},
): Promise<Attestation> {
  return signAttestation({ id, ok: true, ...extra }, signer.privateKey);
}

/** testConfig returns a Config for a test server on 127.0.0.1 port 0 over backend `b`, with `flags` on top. */
export function testConfig(b: StoreBackend, flags: Record<string, string | number | boolean> = {}): Config {
  return loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      'data-dir': b.dataDir,
      ...(b.databaseUrl === undefined ? {} : { 'database-url': b.databaseUrl }),
      origin: 'sig.test/log',
      'checkpoint-interval-ms': 50,
      'batch-max-age-ms': 5,
      'rate-limit-publishes': 0,
      'log-level': 'error',
      ...flags,
    },
  );
}

/** startTestServer starts a server for `config`, logging only errors (to stderr), without the human line. */
export function startTestServer(config: Config): Promise<ServerHandle> {
  return startServer(config, { logger: createLogger(config.logLevel), quiet: true });
}

/** Json is a parsed JSON response with its status and headers. */
// biome-ignore lint/suspicious/noExplicitAny: wire JSON
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** getJson fetches url and parses the JSON body (throws if it is not JSON). */
// biome-ignore lint/suspicious/noExplicitAny: test helper returns wire JSON
export async function getJson<T = any>(url: string, init?: RequestInit): Promise<JsonResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body };
}

/** postJson POSTs `body` (a value, JSON-encoded; or a string sent as is) and parses the JSON answer. */
// biome-ignore lint/suspicious/noExplicitAny: test helper returns wire JSON
export function postJson<T = any>(url: string, body: unknown): Promise<JsonResponse<T>> {
  return getJson<T>(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** ServerKeys are what a client pins from /v1/server. */
export interface ServerKeys {
  origin: string;
  vkey: string;
  openpgpPublicKey: openpgp.PublicKey;
  openpgpFingerprint: string;
}

/** serverKeys fetches /v1/server and reads its keys. */
export async function serverKeys(url: string): Promise<ServerKeys> {
  const { status, body } = await getJson(`${url}/v1/server`);
  if (status !== 200) throw new Error(`/v1/server answered ${status}`);
  return {
    origin: body.origin,
    vkey: body.vkey,
    openpgpPublicKey: await readPublicKey(body.openpgp.publicKey),
    openpgpFingerprint: body.openpgp.fingerprint,
  };
}

/** verifyCheckpointNote verifies both signature lines of a checkpoint by the server's keys (keys.ts). */
export const verifyCheckpointNote = openLogCheckpoint;

/** ReceiptJson is a receipt on the wire. */
export interface ReceiptJson {
  index: number;
  entry: string;
  inclusionProof: string[];
  checkpoint: string;
}

/**
 * verifyReceipt checks a receipt offline: both checkpoint signatures, and the entry's inclusion proof
 * against the checkpoint's root. Returns the checkpoint's tree size.
 */
export async function verifyReceipt(r: ReceiptJson, keys: ServerKeys): Promise<bigint> {
  const cp = await verifyCheckpointNote(r.checkpoint, keys);
  verifyInclusion(
    BigInt(r.index),
    cp.treeSize,
    hashLeaf(fromB64(r.entry)),
    r.inclusionProof.map(fromB64),
    cp.rootHash,
  );
  return cp.treeSize;
}

/** waitFor polls `check` until it returns a value other than undefined, for at most `ms`. */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
