/**
 * Witnessing: how the log role plugs into LogService (server/log-service.ts), in one place.
 *
 * - The served checkpoint is chosen here (`latestCheckpoint`): with a cosigning policy, the newest
 *   checkpoint in served_checkpoints (quorum reached, or fail-open), its note carrying the cosignature
 *   lines; LogReader (server/reader.ts) and the awaiter's poller (server/awaiter.ts) both read it, so
 *   /log/checkpoint, receipts, query answers, proofs, tiles and the feed all stop at that checkpoint.
 *   Without a policy (or one with no witnesses) Witnessing is not made at all: today's behaviour.
 * - The cosigning loop (server/cosigning/cosigner.ts) runs in integrating processes; others only read.
 * - Publishes that time out because the quorum is late are told so (WITNESS_QUORUM_TIMEOUT).
 */
import type { Db } from '../db.js';
import { isServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StoredCheckpoint } from '../sequencer.js';
import { type ConsistencyProver, Cosigner, type WitnessMetrics } from './cosigner.js';
import { CosigningError, type CosigningPolicy } from './policy.js';
import { SqlCosignStore } from './store.js';

/** RETRY_AFTER_SECONDS is the Retry-After of the 503s this role causes. */
export const RETRY_AFTER_SECONDS = 5;

/** WitnessingMetrics is what /metrics shows of the log role. */
export interface WitnessingMetrics {
  failOpen: boolean;
  /** signedSize: the newest checkpoint the cosigner has submitted (undefined in a serve-only process). */
  signedSize: bigint | undefined;
  witnesses: WitnessMetrics[];
}

/** Witnessing is the log role of one process; see the file comment. */
export class Witnessing {
  private readonly store: SqlCosignStore;
  private readonly cosigner: Cosigner | undefined;
  readonly policy: CosigningPolicy;
  readonly failOpen: boolean;

  /**
   * `prove` proves consistency between stored sizes (Prover.proveConsistency: not bounded by the
   * served checkpoint, since witnesses are sent the newest one); `onServed` wakes waiting publishers.
   * The cosigning loop runs only when `integrate` is true; start it with start().
   */
  constructor(
    db: Db,
    policy: CosigningPolicy,
    opts: {
      failOpen: boolean;
      integrate: boolean;
      prove: ConsistencyProver;
      onServed: (c: { note: string; treeSize: bigint }) => void;
      logger?: Logger | undefined;
    },
  ) {
    this.store = new SqlCosignStore(db);
    this.policy = policy;
    this.failOpen = opts.failOpen;
    this.cosigner = opts.integrate
      ? new Cosigner(this.store, policy, opts.prove, {
          failOpen: opts.failOpen,
          logger: opts.logger,
          onServed: opts.onServed,
        })
      : undefined;
  }

  /** start starts the cosigning loop (integrating processes only). */
  async start(): Promise<void> {
    await this.cosigner?.start();
  }

  /** checkpointSigned tells the loop that a checkpoint was committed. */
  checkpointSigned(): void {
    this.cosigner?.notify();
  }

  /** stop stops the loop: requests in flight are aborted (their witnesses resync with a 409 later). */
  async stop(): Promise<void> {
    await this.cosigner?.stop();
  }

  /**
   * latestCheckpoint returns the served checkpoint (see the file comment). Throws CosigningError
   * WITNESS_QUORUM_PENDING (503, Retry-After) while no checkpoint has been served yet.
   */
  readonly latestCheckpoint = async (): Promise<StoredCheckpoint> => {
    const s = await this.store.latestServed();
    if (s) return s;
    throw new CosigningError(
      'WITNESS_QUORUM_PENDING',
      `no checkpoint of this log has reached its witness quorum yet (${this.policy.policy.quorum}); it is served once the witnesses of WITNESS_POLICY cosign one`,
      { quorum: this.policy.policy.quorum },
      RETRY_AFTER_SECONDS,
    );
  };

  /**
   * servedSize returns the tree size of the served checkpoint, or undefined while none is served (it
   * never throws WITNESS_QUORUM_PENDING: the sequencer reads it before each round, also the first).
   */
  async servedSize(): Promise<bigint | undefined> {
    return (await this.store.latestServed())?.treeSize;
  }

  /**
   * explainTimeout turns a publish's INTEGRATION_TIMEOUT whose entries are all logged into
   * WITNESS_QUORUM_TIMEOUT (503, Retry-After): they are in the log, but no checkpoint covering them has
   * reached the quorum within PUBLISH_WAIT_MS (fail closed). Anything else is returned unchanged.
   */
  explainTimeout(e: unknown): unknown {
    if (!isServiceError(e, 'INTEGRATION_TIMEOUT')) return e;
    const { logged, total } = e.details as { logged?: unknown; total?: unknown };
    if (typeof logged !== 'number' || logged !== total) return e;
    return new CosigningError(
      'WITNESS_QUORUM_TIMEOUT',
      `the attestations are logged, but no checkpoint covering them has reached the witness quorum (${this.policy.policy.quorum}) within the publish wait: witnesses are down or refusing (see /metrics); publish again later to get the receipts`,
      { ...e.details, quorum: this.policy.policy.quorum },
      RETRY_AFTER_SECONDS,
    );
  }

  /** metrics returns the log role's figures for /metrics. */
  metrics(): WitnessingMetrics {
    return {
      failOpen: this.failOpen,
      signedSize: this.cosigner?.signedSize,
      witnesses: this.cosigner?.metrics() ?? [],
    };
  }
}

/** WitnessingOptions are the log role's settings (server/config.ts WITNESS_POLICY, WITNESS_FAIL_OPEN). */
export interface WitnessingOptions {
  /** witnessPolicy: path of the c2sp.org/tlog-policy file; unset: no witnesses asked. */
  witnessPolicy?: string | undefined;
  /** witnessFailOpen: serve checkpoints that miss the quorum once every witness was tried (default false). */
  witnessFailOpen?: boolean | undefined;
  /**
   * cosignLater: open() does not start the cosigning loop; the caller calls LogService.startCosigning
   * once it answers HTTP (server/main.ts: a server that is its own witness would ask a port that does
   * not listen yet).
   */
  cosignLater?: boolean | undefined;
}
