/**
 * Admission of a publish (SPEC.md "HTTP API", POST /v1/attestations and POST /sig): every attestation is
 * checked before anything is stored (shape and size, the signer's key known, sent along or stored, `key`
 * = its primary fingerprint, signature valid), then the request is stored as pending rows, with the
 * merged keys it brought, in one transaction. The sequencer (server/sequencer.ts) integrates the rows;
 * the awaiter (server/awaiter.ts) waits for the checkpoint that covers them.
 *
 * Keys sent along go through the one key intake, server/key-intake.ts admitKeys; a publish without keys
 * checks with the stored copy, which the verify task reads through the same checks (server/key-cache.ts).
 *
 * Crash safety: check stores nothing; addPending is one transaction (one statement when no keys were sent), so
 * dying before its COMMIT leaves nothing of the request, and dying after leaves every row pending, to be
 * integrated by whichever process integrates next. Nothing is acknowledged before the awaiter's receipt.
 */
import { hexEncode } from '../log/bytes.js';
import { type ErrorCode, LogError } from '../log/errors.js';
import type { AdmitFailure, AdmitResult, AdmitTask } from './crypto-tasks.js';
import {
  admitKeys,
  type CryptoWork,
  type KeyRow,
  type KeyStore,
  type KeyUpdate,
  readSentKeys,
} from './key-intake.js';

/** NewPending is what publish stores for one accepted attestation. */
export interface NewPending {
  /** loggedAt is the entry's loggedAt (acceptance time), stored as pending.accepted_at. */
  loggedAt: Date;
  digest: Uint8Array;
  entry: Uint8Array;
  identifier: string;
  signer: string;
}

/** AdmissionStore is the storage admission writes (SqlStore in server/store.ts). */
export interface AdmissionStore extends KeyStore {
  /**
   * addPending stores, in one transaction, the keys and every row whose digest is neither pending nor
   * logged; it throws BACKLOG_FULL (storing nothing) when the backlog would pass maxBacklog, or
   * KeyConflictError (storing nothing). Returns how many rows were new.
   */
  addPending(rows: readonly NewPending[], keys: readonly KeyUpdate[], maxBacklog: number): Promise<number>;
  /** backlog returns how many rows are pending (all processes). */
  backlog(): Promise<number>;
}

/** Admitted is a publish that passed every check: its pending rows in request order, and the merged keys
 *  to store with them. */
export interface Admitted {
  rows: NewPending[];
  keys: KeyUpdate[];
}

/** Admission checks and stores publishes; it keeps the counters of what it stored (server/metrics.ts). */
export class Admission {
  private readonly store: AdmissionStore;
  private readonly work: CryptoWork;
  private readonly maxBacklog: number;
  /** counters: attestations stored as new, duplicates (already pending or logged), the backlog last seen. */
  readonly counters = { publishesAccepted: 0, duplicates: 0, backlog: 0 };

  constructor(store: AdmissionStore, work: CryptoWork, maxBacklog: number) {
    this.store = store;
    this.work = work;
    this.maxBacklog = maxBacklog;
  }

  /**
   * check verifies every attestation (shape and size, signer's key known from `armoredKeys` or the keys
   * table, `key` = the signer's primary fingerprint, signature valid) and stores nothing. Any failure
   * throws a LogError with details.item = its position (details.key = the position of a bad key); with
   * several, the lowest failing item's, and a malformed item (shape, U+0000, issuer) before a bad key
   * sent along, before an unknown signer or a signature that does not verify.
   *
   * Each item is read, verified and encoded once, in the verify workers, ADMIT_CHUNK items to a task
   * (server/crypto-tasks.ts admit): this thread only looks up the signers' keys and collects the rows.
   */
  async check(attestations: unknown[], armoredKeys: string[]): Promise<Admitted> {
    if (!Array.isArray(attestations) || attestations.length === 0) {
      throw new LogError('ATTESTATION_INVALID', 'expected a non-empty array of attestations', {
        field: 'attestations',
      });
    }
    const sentKeys = await readSentKeys(armoredKeys);
    const loggedAt = new Date();
    const named = signersNamed(attestations);
    if (sentKeys.length === 0) {
      const { stored } = await admitKeys(this.store, this.work, [], named);
      return { rows: this.rowsOf(await this.admit(attestations, stored, loggedAt), loggedAt), keys: [] };
    }
    // Keys sent along go through the one intake (admitKeys): what verifies, merged with the stored copy.
    // The merged keys are what the attestations are checked with, and what is stored with them.
    let sent: Awaited<ReturnType<typeof admitKeys>>;
    try {
      sent = await admitKeys(this.store, this.work, sentKeys, named);
    } catch (e) {
      // A malformed item is reported before a bad key (no key is needed to find it).
      throw firstFailure(await this.admit(attestations, [], loggedAt), 'read') ?? e;
    }
    const armor = new Map<string, string>(sent.stored.map((r) => [r.fingerprint, r.armored]));
    for (const k of sent.updates) armor.set(k.fingerprint, k.armored);
    const keys = [...armor].map(([fingerprint, armored]) => ({ fingerprint, armored }));
    const chunks = await this.admit(attestations, keys, loggedAt);
    return { rows: this.rowsOf(chunks, loggedAt), keys: sent.updates };
  }

  /** admit sends the items to the workers in tasks of ADMIT_CHUNK, with the signers' keys. */
  private admit(items: unknown[], keys: readonly KeyRow[], loggedAt: Date): Promise<AdmitChunk[]> {
    const known: [string, string][] = keys.map((k) => [k.fingerprint, k.armored]);
    const tasks: Promise<AdmitChunk>[] = [];
    for (let first = 0; first < items.length; first += ADMIT_CHUNK) {
      const task: AdmitTask = {
        kind: 'admit',
        items: items.slice(first, first + ADMIT_CHUNK),
        first,
        keys: known,
        nowMs: loggedAt.getTime(),
      };
      tasks.push(
        this.work(task).then(
          (r) => ({ first, result: r as AdmitResult }),
          (error: unknown) => ({ first, error }),
        ),
      );
    }
    return Promise.all(tasks);
  }

  /** rowsOf returns the pending rows of admitted chunks, or throws the failure check reports. */
  private rowsOf(chunks: AdmitChunk[], loggedAt: Date): NewPending[] {
    const failed = firstFailure(chunks, 'read') ?? firstFailure(chunks, 'check');
    if (failed) throw failed;
    const rows: NewPending[] = [];
    for (const c of chunks) {
      const r = c.result!;
      let start = 0;
      r.ends.forEach((end, j) => {
        rows.push({
          loggedAt,
          digest: r.digests.subarray(32 * j, 32 * j + 32),
          entry: r.entries.subarray(start, end),
          identifier: r.ids[j]!,
          signer: r.signers[j]!,
        });
        start = end;
      });
    }
    return rows;
  }

  /**
   * addPending stores a checked publish: the keys and the new pending rows in one transaction (all or
   * nothing). Returns how many rows were new and whether every distinct one was (then none can be
   * under a checkpoint seen before). Throws ServiceError BACKLOG_FULL or KeyConflictError, storing nothing.
   */
  async addPending(a: Admitted): Promise<{ added: number; allNew: boolean }> {
    const distinct = new Set(a.rows.map((r) => hexEncode(r.digest))).size;
    const added = await this.store.addPending(a.rows, a.keys, this.maxBacklog);
    this.counters.publishesAccepted += added;
    this.counters.duplicates += distinct - added;
    return { added, allNew: added === distinct };
  }

  /** backlog returns how many accepted attestations wait for integration (all processes). */
  async backlog(): Promise<number> {
    const n = await this.store.backlog();
    this.counters.backlog = n;
    return n;
  }
}

/** ADMIT_CHUNK: items per admit task; a publish of 100 is 4 messages each way, spread over the workers. */
const ADMIT_CHUNK = 25;

/** AdmitChunk is one admit task's answer: the result, or the error the whole task failed with. */
interface AdmitChunk {
  first: number;
  result?: AdmitResult;
  error?: unknown;
}

/**
 * firstFailure returns the error of the lowest item that failed in `phase`; for 'check', a task that
 * failed as a whole (over its time budget, a dead worker) counts as failing at its first item.
 */
function firstFailure(chunks: AdmitChunk[], phase: AdmitFailure['phase']): Error | undefined {
  for (const c of chunks) {
    if (c.result === undefined) {
      if (phase === 'check') return c.error as Error;
      continue;
    }
    const f = c.result.failures.find((x) => x.phase === phase);
    if (f) return new LogError(f.error.code as ErrorCode, f.error.message, f.error.details ?? {});
  }
  return undefined;
}

/** signersNamed returns the distinct `key` members that look like fingerprints, to read those keys. */
function signersNamed(items: unknown[]): string[] {
  const out = new Set<string>();
  for (const v of items) {
    const key = typeof v === 'object' && v !== null ? (v as { key?: unknown }).key : undefined;
    if (typeof key === 'string' && FINGERPRINT.test(key)) out.add(key);
  }
  return [...out];
}

const FINGERPRINT = /^[0-9A-F]{40}$/;
