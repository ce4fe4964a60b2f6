/**
 * The OpenPGP work of a request, as tasks that run in a verify worker (server/verify-worker.ts) or, with
 * no workers, on the calling thread: the same function either way, so answers do not depend on where
 * they ran. Two kinds:
 *   - verify: one attestation's signature by one stored or merged signer key (log/signet.ts
 *     verifyAttestation), the key read through the cache (server/key-cache.ts);
 *   - keys: the key intake of one request: each key sent is read with log/keys.ts readSignerKey (limits,
 *     algorithms, then only what verifies) and merged with the stored copy by mergeSignerKeys, the one
 *     merge rule. Every path that takes keys (publish with keys, POST /v1/keys) comes through here.
 *
 * A LogError keeps its code, message and details across the thread boundary (see toFailure).
 */
import type { PublicKey } from 'openpgp';
import { isLogError, LogError } from '../log/errors.js';
import { mergeSignerKeys, readSignerKey } from '../log/keys.js';
import { type Attestation, fingerprintHex, verifyAttestation } from '../log/signet.js';
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

/** CryptoTask is one unit of OpenPGP work. */
export type CryptoTask =
  | { kind: 'verify'; att: Attestation; armoredKey: string; nowMs: number }
  | { kind: 'keys'; keys: KeyIntake[] };

/** CryptoResult is what a task returns: the signature time, or the merged keys in order. */
export type CryptoResult = { signedAtMs: number } | { keys: MergedKey[] };

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

/** toFailure turns a thrown error into a CryptoFailure (LogErrors keep their code and details). */
export function toFailure(e: unknown): CryptoFailure {
  if (isLogError(e)) return { code: e.code, message: e.message, details: e.details };
  return { message: e instanceof Error ? e.message : String(e) };
}
