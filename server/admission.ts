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
import { attestationDigest, encodeEntry } from '../log/entry.js';
import { isLogError, LogError } from '../log/errors.js';
import { type Attestation, parseAttestation, signatureIssuer } from '../log/signet.js';
import { admitKeys, type CryptoWork, type KeyStore, type KeyUpdate, readSentKeys } from './key-intake.js';

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
   * several, the lowest failing item's.
   */
  async check(attestations: unknown[], armoredKeys: string[]): Promise<Admitted> {
    if (!Array.isArray(attestations) || attestations.length === 0) {
      throw new LogError('ATTESTATION_INVALID', 'expected a non-empty array of attestations', {
        field: 'attestations',
      });
    }
    const sentKeys = await readSentKeys(armoredKeys);
    const loggedAt = new Date();
    const parsed: Attestation[] = [];
    const issuers: { fingerprint?: string; keyId: string }[] = [];
    for (const [i, value] of attestations.entries()) {
      await withItem(i, async () => {
        const att = parseAttestation(value);
        if (att.data.id.includes('\u0000')) {
          // A signer may sign such an id, but Postgres text (entries.identifier, the ?id= index)
          // cannot hold U+0000: refuse it clearly rather than fail inside the transaction.
          throw new LogError(
            'ATTESTATION_INVALID',
            'data.id must not contain U+0000 (NUL): this log cannot index it',
            {
              field: 'data.id',
            },
          );
        }
        issuers.push(await signatureIssuer(att));
        parsed.push(att);
      });
    }
    // Keys sent along go through the one intake (admitKeys): what verifies, merged with the stored copy.
    // The merged keys are what the attestations are checked with, and what is stored with them.
    const sent = await admitKeys(
      this.store,
      this.work,
      sentKeys,
      parsed.map((a) => a.key),
    );
    const armorFor = new Map<string, string>(sent.stored.map((r) => [r.fingerprint, r.armored]));
    for (const k of sent.updates) armorFor.set(k.fingerprint, k.armored);
    // Every item is checked at once (the verify workers take them in parallel); the error reported is
    // the lowest failing item's, as if they were checked in order.
    const settled = await Promise.allSettled(
      parsed.map((att, i) =>
        withItem(i, async (): Promise<NewPending> => {
          const armoredKey = armorFor.get(att.key);
          if (armoredKey === undefined) {
            const issuer = issuers[i]!;
            throw new LogError(
              'KEY_UNKNOWN',
              `the signer's key ${att.key} is not known to this server: send it in "keys" (or POST /v1/keys first)`,
              { field: 'key', key: att.key, issuer: issuer.fingerprint ?? issuer.keyId },
            );
          }
          await this.work({ kind: 'verify', att, armoredKey, nowMs: loggedAt.getTime() });
          return {
            loggedAt,
            digest: attestationDigest(att),
            entry: encodeEntry({ attestation: att, loggedAt: loggedAt.toISOString() }),
            identifier: att.data.id,
            signer: att.key,
          };
        }),
      ),
    );
    const rows: NewPending[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      rows.push(r.value);
    }
    return { rows, keys: sent.updates };
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

/** withItem runs fn and re-throws its LogError with details.item = i (and the position in the message). */
async function withItem<T>(i: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw new LogError(e.code, `attestation ${i}: ${e.message}`, { ...e.details, item: i });
  }
}
