/**
 * The witness role (SPEC.md "Witnesses", c2sp.org/tlog-witness): cosign checkpoints of the logs in
 * WITNESS_LOGS, each only when it is consistent with the latest one this witness cosigned for that log.
 *
 * The rules and the bodies are log/witness.ts (parseAddCheckpointRequest, decideAddCheckpoint,
 * cosignCheckpoint), the same code every other part of Sig Server reads them with; this file loads the
 * stored state, applies the decision and stores the new state, through WitnessStore (implemented by
 * server/witness/sql-store.ts), whose update() runs the check and the store in one transaction under
 * the origin's row lock: two concurrent submissions never both win, and a crash leaves the old state
 * or the new one. The HTTP edge is server/http/witness.ts.
 *
 * Work is bounded before the lock: the body is at most MAX_ADD_CHECKPOINT_BYTES and parsed strictly
 * (400), an unknown origin is answered without touching the database (404), and so is a checkpoint no
 * listed key signed (403): at most one Ed25519 verification per listed key of the origin (lines of
 * unknown keys are skipped by openNote). Under the lock: that verification again, one consistency proof
 * of at most 63 hashes, one signature.
 */
import { formatNote } from '../../log/note.js';
import {
  type AddCheckpointOutcome,
  type CosignedTree,
  cosignCheckpoint,
  decideAddCheckpoint,
  parseAddCheckpointRequest,
} from '../../log/witness.js';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CosignerKey } from './key.js';
import type { WitnessLogs } from './logs.js';

/** CosignerIdentity is the cosigner a witness database recorded at its first start. */
export interface CosignerIdentity {
  name: string;
  vkey: string;
}

/**
 * StoredCosignedTree is a log's row: the latest cosigned tree, and (once it cosigned one) that
 * checkpoint as a signed note with the log's verified lines and our cosignature, and when.
 */
export interface StoredCosignedTree extends CosignedTree {
  checkpoint: string | undefined;
  cosignedAt: Date | undefined;
}

/** WitnessStore is the storage of the witness (server/witness/sql-store.ts on pg and PGlite). */
export interface WitnessStore {
  /** recordIdentity records `id` unless an identity is recorded, and returns the recorded one. */
  recordIdentity(id: CosignerIdentity): Promise<CosignerIdentity>;
  /** addLogs makes a never-cosigned row (size 0) for each origin that has no row; others are kept. */
  addLogs(origins: readonly string[]): Promise<void>;
  /**
   * update runs fn on the origin's row, locked, in one transaction: when fn returns `next`, it becomes
   * the row before COMMIT; `value` is returned after COMMIT. Throws when the origin has no row, and
   * whatever fn or the database throws (nothing is stored then).
   */
  update<T>(
    origin: string,
    fn: (tree: StoredCosignedTree) => Promise<{ next?: { tree: StoredCosignedTree }; value: T }>,
  ): Promise<T>;
}

/**
 * AddCheckpointAnswer is the answer to an add-checkpoint request, with the status c2sp.org/tlog-witness
 * gives it: 200 with the cosignature lines; 409 with the stored size (for a `text/x.tlog.size` body);
 * a refusal with its stable code (server/http/errors.ts HTTP_STATUS has the same status for it).
 */
export type AddCheckpointAnswer =
  | { status: 200; body: string; origin: string; treeSize: bigint }
  | { status: 409; origin: string; treeSize: bigint; message: string }
  | {
      status: 400 | 403 | 404 | 422;
      code: WitnessRefusalCode;
      reason: string;
      origin: string;
      message: string;
    };

/** WITNESS_REFUSAL_CODES are the stable codes of the refusals, by status. */
export const WITNESS_REFUSAL_CODES = {
  400: 'WITNESS_REQUEST_INVALID',
  403: 'WITNESS_CHECKPOINT_UNVERIFIED',
  404: 'WITNESS_LOG_UNKNOWN',
  422: 'WITNESS_CHECKPOINT_INCONSISTENT',
} as const;

/** WitnessRefusalCode is one of WITNESS_REFUSAL_CODES. */
export type WitnessRefusalCode = (typeof WITNESS_REFUSAL_CODES)[keyof typeof WITNESS_REFUSAL_CODES];

/** WitnessInfo is what /v1/server advertises about the witness. */
export interface WitnessInfo {
  name: string;
  vkey: string;
  logs: { origin: string; vkeys: string[]; urls: string[] }[];
}

/**
 * Witness: see the file comment. Open with Witness.open; it holds no resources of its own (the store's
 * database is closed by whoever opened it, after the HTTP server stopped taking requests).
 */
export class Witness {
  private readonly store: WitnessStore;
  private readonly logs: WitnessLogs;
  private readonly key: CosignerKey;
  private readonly logger: Logger | undefined;

  private constructor(store: WitnessStore, logs: WitnessLogs, key: CosignerKey, logger?: Logger) {
    this.store = store;
    this.logs = logs;
    this.key = key;
    this.logger = logger;
  }

  /**
   * Witness.open checks the cosigner key against the one this database recorded at the witness's first
   * start (recording it the first time), makes a row for each configured log that has none, and returns
   * the Witness. Throws ServiceError IDENTITY_MISMATCH when another cosigner key was recorded, and
   * database errors as they come.
   */
  static async open(
    store: WitnessStore,
    opts: { logs: WitnessLogs; key: CosignerKey; logger?: Logger | undefined },
  ): Promise<Witness> {
    const { key, logs } = opts;
    const recorded = await store.recordIdentity({ name: key.name, vkey: key.vkey });
    if (recorded.vkey !== key.vkey) {
      throw new ServiceError(
        'IDENTITY_MISMATCH',
        `this database's witness cosigns as ${recorded.vkey}, but the witness key file holds ${key.vkey}: ` +
          'every process sharing a database must use the same WITNESS_KEY_FILE (a new key would be a new ' +
          "witness with the old one's state); give the recorded key",
        { expected: recorded.vkey, found: key.vkey },
      );
    }
    await store.addLogs([...logs.keys()]);
    opts.logger?.info('witness opened', { name: key.name, vkey: key.vkey, logs: [...logs.keys()] });
    return new Witness(store, logs, key, opts.logger);
  }

  /** info returns the cosigner's name and vkey and the witnessed logs (origin, vkeys, URLs). */
  info(): WitnessInfo {
    return {
      name: this.key.name,
      vkey: this.key.vkey,
      logs: [...this.logs.values()].map((l) => ({
        origin: l.origin,
        vkeys: [...l.vkeys],
        urls: [...l.urls],
      })),
    };
  }

  /**
   * addCheckpoint answers an add-checkpoint request body (c2sp.org/tlog-witness): parse (throws LogError
   * WITNESS_REQUEST_INVALID, HTTP 400, for a malformed body, before anything else), then 404 for an
   * unknown origin, then the log's signature (403) and old size (400) checked without the database, then,
   * in one transaction on the origin's locked row, decideAddCheckpoint again on the stored state; a
   * `cosign` verdict is signed and stored before COMMIT, and answered after it. Throws database errors
   * (nothing stored then).
   */
  async addCheckpoint(body: string | Uint8Array): Promise<AddCheckpointAnswer> {
    const request = parseAddCheckpointRequest(body);
    const log = this.logs.get(request.origin);
    if (log === undefined) {
      const known = [...this.logs.keys()].map((o) => JSON.stringify(o)).join(', ');
      return {
        status: 404,
        code: WITNESS_REFUSAL_CODES[404],
        reason: 'unknown-origin',
        origin: request.origin,
        message: `unknown log origin ${JSON.stringify(request.origin)}: this witness witnesses ${known || 'no log yet'}`,
      };
    }
    // The refusals that do not depend on the stored state (a checkpoint no listed key signed: 403; an old
    // size past the checkpoint's: 400) are answered before any transaction, so a flood of forged requests
    // never holds the row lock, nor (PGlite: one connection) the whole database. An honest request is
    // verified again under the lock: one more Ed25519 verification per cosignature.
    const unlocked = await decideAddCheckpoint(request, log, undefined);
    if (unlocked.verdict === 'refuse' && (unlocked.status === 403 || unlocked.status === 400)) {
      return this.answer(log.origin, unlocked);
    }
    return this.store.update(log.origin, async (tree) => {
      const outcome = await decideAddCheckpoint(request, log, tree);
      if (outcome.verdict !== 'cosign') return { value: this.answer(log.origin, outcome) };
      const cosignedAt = new Date();
      const lines = await cosignCheckpoint(outcome.text, [this.key.signer]);
      const checkpoint = formatNote({ text: outcome.text, signatures: outcome.logSignatures }) + lines;
      const { treeSize, rootHash } = outcome.checkpoint;
      return {
        next: { tree: { treeSize, rootHash, checkpoint, cosignedAt } },
        value: { status: 200 as const, body: lines, origin: log.origin, treeSize },
      };
    });
  }

  /** answer turns a refusal or conflict into its AddCheckpointAnswer, logging evidence of a fork. */
  private answer(
    origin: string,
    o: Exclude<AddCheckpointOutcome, { verdict: 'cosign' }>,
  ): AddCheckpointAnswer {
    if (o.verdict === 'conflict') {
      return { status: 409, origin, treeSize: o.treeSize, message: o.message };
    }
    if (o.judgement?.verdict === 'fork') {
      // A checkpoint the log signed that is not consistent with one it signed before: evidence of a
      // split view (tlog-witness: the witness MAY log it, MUST NOT cosign it).
      this.logger?.warn('witness: a log signed an inconsistent checkpoint', {
        origin,
        reason: o.reason,
        message: o.message,
      });
    }
    return {
      status: o.status,
      code: WITNESS_REFUSAL_CODES[o.status],
      reason: o.reason,
      origin,
      message: o.message,
    };
  }
}
