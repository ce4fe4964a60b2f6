/**
 * The OpenPGP work of a request, as tasks that run in a verify worker (server/verify-worker.ts) or, with
 * no workers, on the calling thread: the same function either way, so answers do not depend on where
 * they ran. Three kinds:
 *   - admit: a publish's attestations as sent, each read once (log/signet.ts readAttestation), its
 *     signature verified with the signer's key (verifyReadAttestation), and its dedup key and entry bytes
 *     made (log/entry.ts), so the request's thread only stores them (server/admission.ts);
 *   - verify: one attestation's signature by one stored or merged signer key (log/signet.ts
 *     verifyAttestation), the key read through the cache (server/key-cache.ts);
 *   - keys: the key intake of one request: each key sent is read with log/keys.ts readSignerKey (limits,
 *     algorithms, then only what verifies) and merged with the stored copy by mergeSignerKeys, the one
 *     merge rule. Every path that takes keys (publish with keys, POST /v1/keys) comes through here.
 *
 * A LogError keeps its code, message and details across the thread boundary (see toFailure).
 */
import type { PublicKey } from 'openpgp';
import { attestationDigest, encodeEntry } from '../log/entry.js';
import { isLogError, LogError } from '../log/errors.js';
import { mergeSignerKeys, readSignerKey } from '../log/keys.js';
import {
  type Attestation,
  fingerprintHex,
  type ReadAttestation,
  readAttestation,
  verifyAttestation,
  verifyReadAttestation,
} from '../log/signet.js';
import type { KeyCache } from './key-cache.js';

/** KeyIntake is one key sent with a request, and the stored copy of the same key when there is one. */
export interface KeyIntake {
  incoming: string;
  stored?: string | undefined;
}

/** MergedKey is the result of one KeyIntake: the key's primary fingerprint and the armor to store. */
export interface MergedKey {
  fingerprint: string;
  armored: string;
}

/** AdmitTask: attestations of one publish as sent (JSON values), items[0] at position `first`. */
export interface AdmitTask {
  kind: 'admit';
  items: unknown[];
  first: number;
  /** keys: [primary fingerprint, armored key] of the signers this publish may name. */
  keys: [string, string][];
  /** nowMs: the acceptance time (the entries' loggedAt, and the clock signatures are checked against). */
  nowMs: number;
}

/**
 * AdmitFailure is an item that failed: in the 'read' phase (parseAttestation, the U+0000 rule,
 * signatureIssuer: what admission reports before any signature) or the 'check' phase (KEY_UNKNOWN,
 * verification). The error is a LogError's parts, its message and details.item naming the position.
 */
export interface AdmitFailure {
  item: number;
  phase: 'read' | 'check';
  error: CryptoFailure;
}

/**
 * Admitted items, packed for one transfer between threads: item i's 32-byte dedup key is
 * digests[32i, 32i+32), its entry bytes entries[ends[i-1] (0 for the first), ends[i]); a failed item has
 * zero bytes there.
 */
export interface AdmitResult {
  digests: Uint8Array;
  entries: Uint8Array;
  ends: number[];
  ids: string[];
  signers: string[];
  failures: AdmitFailure[];
}

/** CryptoTask is one unit of OpenPGP work. */
export type CryptoTask =
  | AdmitTask
  | { kind: 'verify'; att: Attestation; armoredKey: string; nowMs: number }
  | { kind: 'keys'; keys: KeyIntake[] };

/** CryptoResult is what a task returns: admitted items, the signature time, or the merged keys in order. */
export type CryptoResult = AdmitResult | { signedAtMs: number } | { keys: MergedKey[] };

/** CryptoFailure is a failed task as it crosses threads: a LogError's parts, or a plain message. */
export interface CryptoFailure {
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * runTask does `task` with keys read through `cache`. Throws LogError for bad input (a keys task names
 * the position in details.key and in the message), plain errors for bugs.
 */
export async function runTask(task: CryptoTask, cache: KeyCache): Promise<CryptoResult> {
  if (task.kind === 'admit') return admit(task, cache);
  if (task.kind === 'verify') {
    const key = await cache.read(task.armoredKey);
    const r = await verifyAttestation(task.att, key, { now: new Date(task.nowMs) });
    return { signedAtMs: r.signedAt.getTime() };
  }
  const out: MergedKey[] = [];
  // A key sent twice in one request: the second copy merges into the first one's result.
  const byFingerprint = new Map<string, PublicKey>();
  for (const [i, k] of task.keys.entries()) {
    try {
      const incoming = await readSignerKey(k.incoming);
      const fp = fingerprintHex(incoming);
      const base = byFingerprint.get(fp) ?? (k.stored === undefined ? undefined : await cache.read(k.stored));
      const merged = base === undefined ? incoming : mergeSignerKeys(base, incoming);
      byFingerprint.set(fp, merged);
      out.push({ fingerprint: fp, armored: merged.armor() });
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw new LogError(e.code, `keys[${i}]: ${e.message}`, { ...e.details, field: 'keys', key: i });
    }
  }
  return { keys: out };
}

/**
 * admit reads, checks and encodes each item of an AdmitTask (see AdmitResult); item failures are
 * returned. The items are checked concurrently: while one waits for its signature math (WebCrypto,
 * on libuv's threads), the next is read on this one.
 */
async function admit(task: AdmitTask, cache: KeyCache): Promise<AdmitResult> {
  const armorFor = new Map(task.keys);
  // Each signer key is read once per task, however many items it signed (a first read verifies it).
  const keys = new Map<string, Promise<PublicKey>>();
  const keyOf = (armored: string) => {
    const k = keys.get(armored) ?? cache.read(armored);
    keys.set(armored, k);
    return k;
  };
  const loggedAt = new Date(task.nowMs);
  const done = await Promise.all(
    task.items.map((value, j) => admitItem(value, task.first + j, armorFor, keyOf, loggedAt)),
  );
  const n = done.length;
  const out: AdmitResult = {
    digests: new Uint8Array(32 * n),
    entries: new Uint8Array(done.reduce((sum, d) => sum + (d.entry?.length ?? 0), 0)),
    ends: [],
    ids: [],
    signers: [],
    failures: [],
  };
  let end = 0;
  done.forEach((d, j) => {
    if (d.failure) out.failures.push(d.failure);
    if (d.digest) out.digests.set(d.digest, 32 * j);
    if (d.entry) out.entries.set(d.entry, end);
    end += d.entry?.length ?? 0;
    out.ends.push(end);
    out.ids.push(d.id ?? '');
    out.signers.push(d.signer ?? '');
  });
  return out;
}

interface AdmittedItem {
  digest?: Uint8Array;
  entry?: Uint8Array;
  id?: string;
  signer?: string;
  failure?: AdmitFailure;
}

/** admitItem is one item of admit: read, checked, its dedup key and entry made; or how it failed. */
async function admitItem(
  value: unknown,
  item: number,
  armorFor: Map<string, string>,
  keyOf: (armored: string) => Promise<PublicKey>,
  loggedAt: Date,
): Promise<AdmittedItem> {
  let phase: AdmitFailure['phase'] = 'read';
  try {
    const r = await readItem(value);
    phase = 'check';
    await checkItem(r, armorFor, keyOf, loggedAt);
    return {
      digest: attestationDigest(r.att),
      entry: encodeEntry({ attestation: r.att, loggedAt: loggedAt.toISOString() }),
      id: r.att.data.id,
      signer: r.att.key,
    };
  } catch (e) {
    if (!isLogError(e)) throw e;
    const error = new LogError(e.code, `attestation ${item}: ${e.message}`, { ...e.details, item });
    return { failure: { item, phase, error: toFailure(error) } };
  }
}

/** readItem is what admission checks before any signature: the shape, the U+0000 rule, the issuer. */
async function readItem(value: unknown): Promise<ReadAttestation> {
  const r = await readAttestation(value);
  if (r.att.data.id.includes('\u0000')) {
    // A signer may sign such an id, but Postgres text (entries.identifier, the ?id= index) cannot hold
    // U+0000: refuse it clearly rather than fail inside the transaction.
    throw new LogError(
      'ATTESTATION_INVALID',
      'data.id must not contain U+0000 (NUL): this log cannot index it',
      {
        field: 'data.id',
      },
    );
  }
  return r;
}

/** checkItem verifies the signature with the signer's key, or throws KEY_UNKNOWN naming the issuer. */
async function checkItem(
  r: ReadAttestation,
  armorFor: Map<string, string>,
  keyOf: (armored: string) => Promise<PublicKey>,
  now: Date,
): Promise<void> {
  const armored = armorFor.get(r.att.key);
  if (armored === undefined) {
    throw new LogError(
      'KEY_UNKNOWN',
      `the signer's key ${r.att.key} is not known to this server: send it in "keys" (or POST /v1/keys first)`,
      { field: 'key', key: r.att.key, issuer: r.issuer.fingerprint ?? r.issuer.keyId },
    );
  }
  await verifyReadAttestation(r, await keyOf(armored), { now });
}

/** transferables lists the buffers of a result that can move to another thread instead of being copied. */
export function transferables(r: CryptoResult): ArrayBuffer[] {
  if (!('digests' in r)) return [];
  const b = [r.digests.buffer, r.entries.buffer];
  return b.filter((x, i): x is ArrayBuffer => x instanceof ArrayBuffer && b.indexOf(x) === i);
}

/** toFailure turns a thrown error into a CryptoFailure (LogErrors keep their code and details). */
export function toFailure(e: unknown): CryptoFailure {
  if (isLogError(e)) return { code: e.code, message: e.message, details: e.details };
  return { message: e instanceof Error ? e.message : String(e) };
}
