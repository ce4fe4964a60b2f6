/**
 * Key intake: every path that takes signers' keys (a publish with "keys", POST /v1/keys) comes through
 * admitKeys, and nothing else merges keys. admitKeys sends each key, with the stored copy of the same
 * key, to one OpenPGP task (server/crypto-tasks.ts runTask 'keys', in a verify worker under its time
 * budget): log/keys.ts readSignerKey keeps only what verifies, and mergeSignerKeys, the one merge rule,
 * takes the union with the stored copy. So a stored revocation is never undone by an older copy of the
 * key, whichever path the copy comes by; POST /sig and a publish without keys only read the stored copy.
 *
 * Keys are stored compare-and-set (KeyUpdate): a merge is stored only if the copy it started from is
 * still the stored one. Crash safety: a merged key is written in the same transaction as what it came
 * with (the pending rows of a publish), or alone (POST /v1/keys); dying before COMMIT stores nothing,
 * and a retry merges again from whatever is stored.
 */
import { isLogError, LogError } from '../log/errors.js';
import { KEY_LIMITS } from '../log/keys.js';
import { fingerprintHex, readPublicKey } from '../log/signet.js';
import type { CryptoResult, CryptoTask, MergedKey } from './crypto-tasks.js';
import { ServiceError } from './errors.js';

/** KeyRow is a signer's public key as stored. */
export interface KeyRow {
  fingerprint: string;
  armored: string;
}

/**
 * KeyUpdate is a merged signer key to store, with the stored copy it was merged from (`previous`,
 * undefined when there was none). It is stored only if that copy is still the stored one: two
 * concurrent merges of one key would otherwise let the later write drop what the earlier added (a
 * revocation, say). Otherwise the whole write throws KeyConflictError and the caller merges again.
 */
export interface KeyUpdate extends KeyRow {
  previous: string | undefined;
}

/** KeyConflictError: a stored key changed between the read a merge started from and the write. */
export class KeyConflictError extends Error {
  readonly fingerprint: string;
  constructor(fingerprint: string) {
    super(`signer key ${fingerprint} changed while a merge of it was being stored`);
    this.name = 'KeyConflictError';
    this.fingerprint = fingerprint;
  }
}

/** KeyStore is the storage of signers' keys (SqlStore in server/store.ts). */
export interface KeyStore {
  /** getKeys returns the stored keys among `fingerprints` (upper-case hex), in no particular order. */
  getKeys(fingerprints: readonly string[]): Promise<KeyRow[]>;
  /** putKeys stores merged keys in one transaction, compare-and-set (KeyUpdate); throws KeyConflictError. */
  putKeys(keys: readonly KeyUpdate[]): Promise<void>;
}

/** CryptoWork runs one OpenPGP task: in a verify worker (server/verify-pool.ts) or on this thread. */
export type CryptoWork = (task: CryptoTask) => Promise<CryptoResult>;

/** SentKey is a key sent with a request: its armor, and the primary fingerprint read from it. */
export interface SentKey {
  armored: string;
  fingerprint: string;
}

/** KEY_MERGE_ATTEMPTS: how often a request merges its keys again when a concurrent merge of the same
 *  key was stored first (KeyConflictError) before it answers KEY_BUSY. */
const KEY_MERGE_ATTEMPTS = 3;

/**
 * readSentKeys checks the shape and size of the keys sent with a request and reads each one's primary
 * fingerprint: packets parsed, no signature verified (that happens in admitKeys, off this thread). Throws
 * LogError KEY_INVALID or KEY_TOO_LARGE with details.key = position.
 */
export async function readSentKeys(armoredKeys: unknown): Promise<SentKey[]> {
  if (armoredKeys === undefined) return [];
  if (!Array.isArray(armoredKeys)) {
    throw new LogError('KEY_INVALID', 'expected "keys" to be an array of armored public keys', {
      field: 'keys',
    });
  }
  const out: SentKey[] = [];
  for (const [i, a] of armoredKeys.entries()) {
    const at = { field: 'keys', key: i };
    if (typeof a !== 'string') {
      throw new LogError(
        'KEY_INVALID',
        `keys[${i}]: expected an armored public key string, found ${typeof a}`,
        at,
      );
    }
    if (a.length > KEY_LIMITS.maxBytes) {
      throw new LogError(
        'KEY_TOO_LARGE',
        `keys[${i}]: the key is ${a.length} bytes; this log accepts keys of at most ${KEY_LIMITS.maxBytes} bytes`,
        { ...at, rule: 'size', size: a.length, max: KEY_LIMITS.maxBytes },
      );
    }
    try {
      out.push({ armored: a, fingerprint: fingerprintHex(await readPublicKey(a)) });
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw new LogError(e.code, `keys[${i}]: ${e.message}`, { ...e.details, ...at });
    }
  }
  return out;
}

/**
 * admitKeys is the one key intake of every path that takes keys (publish with keys, POST /v1/keys):
 * each key sent is checked and merged with the stored copy by log/keys.ts (through `work`, in a verify
 * worker under its time budget), and comes back as a compare-and-set update (KeyUpdate). It also returns
 * the stored rows of `alsoWanted` (the signers a publish names), read in the same query. Throws what the
 * 'keys' task throws (LogError with details.key = position, WORK_BUDGET_EXCEEDED); stores nothing.
 */
export async function admitKeys(
  store: KeyStore,
  work: CryptoWork,
  sent: readonly SentKey[],
  alsoWanted: readonly string[],
): Promise<{ updates: KeyUpdate[]; stored: KeyRow[] }> {
  const wanted = new Set([...sent.map((k) => k.fingerprint), ...alsoWanted]);
  const stored = wanted.size > 0 ? await store.getKeys([...wanted]) : [];
  if (sent.length === 0) return { updates: [], stored };
  const storedBy = new Map(stored.map((r) => [r.fingerprint, r.armored]));
  const merged = (await work({
    kind: 'keys',
    keys: sent.map((k) => ({ incoming: k.armored, stored: storedBy.get(k.fingerprint) })),
  })) as { keys: MergedKey[] };
  // A key sent twice was merged in order (crypto-tasks.ts): its last result holds both copies.
  const last = new Map(merged.keys.map((k) => [k.fingerprint, k]));
  const updates = [...last.values()].map((k) => ({ ...k, previous: storedBy.get(k.fingerprint) }));
  return { updates, stored };
}

/**
 * storeKeys is POST /v1/keys: reads the keys sent, admits them (admitKeys) and stores the merged keys.
 * Returns their fingerprints in order, once each. Throws what readSentKeys and admitKeys throw, or
 * KeyConflictError (see retryKeyConflicts), storing nothing.
 */
export async function storeKeys(store: KeyStore, work: CryptoWork, armoredKeys: string[]): Promise<string[]> {
  const sent = await readSentKeys(armoredKeys);
  const { updates } = await admitKeys(store, work, sent, []);
  await store.putKeys(updates);
  return [...new Set(sent.map((k) => k.fingerprint))];
}

/**
 * retryKeyConflicts runs fn again when a concurrent merge of the same signer key was stored between its
 * read and its write (KeyConflictError: its transaction rolled back, nothing stored), at most
 * KEY_MERGE_ATTEMPTS times; then ServiceError KEY_BUSY. Other errors pass through.
 */
export async function retryKeyConflicts<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof KeyConflictError)) throw e;
      if (attempt >= KEY_MERGE_ATTEMPTS) {
        throw new ServiceError(
          'KEY_BUSY',
          `signer key ${e.fingerprint} kept changing while this request merged it; retry`,
          { key: e.fingerprint },
          1,
        );
      }
    }
  }
}
