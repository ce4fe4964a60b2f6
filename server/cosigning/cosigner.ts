/**
 * The cosigning loop: the log role of c2sp.org/tlog-witness (SPEC.md "Witnesses"). After a checkpoint
 * commits (OUTSIDE the integration transaction: the sequencer never waits on a witness), each witness
 * of WITNESS_POLICY is sent the newest checkpoint, with the old size it last cosigned and the
 * consistency proof from there (server/prover.ts, the proofs clients get). One worker per witness,
 * each serial; witnesses are asked in parallel.
 *
 * Per answer (server/cosigning/witness-client.ts bounds time and size first):
 * - 200: the line by the witness's pinned key (name and key ID) must verify over the checkpoint text
 *   (log/cosignature.ts) with a timestamp no more than 5 minutes ahead of our clock; it is stored with
 *   the checkpoint and the witness's progress, then the checkpoint's quorum is evaluated
 *   (log/policy.ts quorumSatisfied). Lines by other keys are ignored (signed-note rule).
 * - 409: the witness has cosigned another size (it restarted with older state, or this log lost its
 *   record of it): resend once from that size. A size larger than the checkpoint's is a witness that
 *   saw more of this origin than this log has signed: a failure, never "fixed" by going along.
 * - anything else (400, 403, 404, 422, 5xx, timeout, network, bad body): a failure, counted by reason
 *   and retried with exponential backoff (0.5 s doubling to 30 s, with jitter), always with the newest
 *   checkpoint.
 *
 * Serving (server/cosigning/served.ts reads it): a checkpoint is served once its cosignatures meet the
 * quorum, its note with the cosignature lines appended in policy order. Fail closed by default: until
 * then the previous served checkpoint stays, so publishes wait (and time out with 503). With fail-open,
 * a checkpoint is also served (quorum false, with what it has) once every witness has been tried for
 * it once.
 *
 * Crash safety: see server/cosigning/store.ts; nothing here is acknowledged to anyone before it is
 * stored, and a lost answer is asked for again.
 */
import { cosignatureTimestamp } from '../../log/cosignature.js';
import { parseNote } from '../../log/note.js';
import { quorumSatisfied } from '../../log/policy.js';
import { formatAddCheckpointRequest, formatAddCheckpointResponse } from '../../log/witness.js';
import type { Logger } from '../logger.js';
import type { AskedWitness, CosigningPolicy } from './policy.js';
import type { CosignStore, SignedRow } from './store.js';
import { submitCheckpoint } from './witness-client.js';

/** COSIGNER_TIMING: backoff bounds, the idle poll, and the most a cosignature may be ahead of our clock. */
export const COSIGNER_TIMING = {
  backoffMinMs: 500,
  backoffMaxMs: 30_000,
  /** idlePollMs: how often an idle worker looks for checkpoints signed by another process. */
  idlePollMs: 1000,
  maxFutureSkewMs: 5 * 60 * 1000,
} as const;

/** WitnessMetrics is one witness as /metrics shows it (all since process start, but cosignedSize). */
export interface WitnessMetrics {
  name: string;
  url: string;
  /** cosignedSize: the size of the latest checkpoint it cosigned (as stored, or since). */
  cosignedSize: bigint | undefined;
  lastSuccessAt: Date | undefined;
  cosignatures: number;
  resyncs: number;
  /** failures by reason (witness-client reasons, plus cosignature-missing/-invalid/-future, witness-ahead). */
  failures: Record<string, number>;
  lastError: string | undefined;
}

/** CosignerOptions: fail-open, the logger, and what to call when a checkpoint becomes servable. */
export interface CosignerOptions {
  failOpen: boolean;
  logger?: Logger | undefined;
  /** onServed is called after a served row is written (the awaiter wakes its publishers). */
  onServed: (c: { note: string; treeSize: bigint }) => void;
}

/** Proves consistency between two sizes of this log (Prover.proveConsistency). */
export type ConsistencyProver = (size1: bigint, size2: bigint) => Promise<Uint8Array[]>;

/** A failed attempt, with a stable reason. */
class AttemptFailed extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

interface Worker {
  witness: AskedWitness;
  /** oldSize: the size we believe the witness has cosigned (the `old` of the next request). */
  oldSize: bigint;
  /** doneId: the newest checkpoint id it cosigned in this process. */
  doneId: bigint;
  consecutiveFailures: number;
  metrics: WitnessMetrics;
}

/** Cosigner runs the cosigning loop; see the file comment. */
export class Cosigner {
  private readonly store: CosignStore;
  private readonly policy: CosigningPolicy;
  private readonly prove: ConsistencyProver;
  private readonly opts: CosignerOptions;
  private readonly workers: Worker[];
  private readonly abort = new AbortController();
  private readonly wakers = new Set<() => void>();
  private running: Promise<void>[] = [];
  private stopped = false;
  /** tried: per checkpoint id (the newest few), the witnesses tried once for it (fail-open). */
  private readonly tried = new Map<bigint, Set<string>>();
  private settling: Promise<void> = Promise.resolve();
  /** signedSize: the newest checkpoint a worker has looked at. */
  signedSize: bigint | undefined;

  constructor(store: CosignStore, policy: CosigningPolicy, prove: ConsistencyProver, opts: CosignerOptions) {
    this.store = store;
    this.policy = policy;
    this.prove = prove;
    this.opts = opts;
    this.workers = policy.witnesses.map((witness) => ({
      witness,
      oldSize: 0n,
      doneId: -1n,
      consecutiveFailures: 0,
      metrics: {
        name: witness.name,
        url: witness.url,
        cosignedSize: undefined,
        lastSuccessAt: undefined,
        cosignatures: 0,
        resyncs: 0,
        failures: {},
        lastError: undefined,
      },
    }));
  }

  /** start loads each witness's stored progress and starts one worker per witness. */
  async start(): Promise<void> {
    const progress = await this.store.progress();
    for (const w of this.workers) {
      const p = progress.get(w.witness.vkey);
      if (p) {
        w.oldSize = p.treeSize;
        w.metrics.cosignedSize = p.treeSize;
        w.metrics.lastSuccessAt = p.lastSuccessAt;
      }
    }
    this.running = this.workers.map((w) => this.run(w));
  }

  /** notify says a new checkpoint was committed: idle workers look at once. */
  notify(): void {
    for (const wake of [...this.wakers]) wake();
    if (this.opts.failOpen && !this.stopped) {
      // Witnesses in backoff count as tried: with all of them failing, nobody else would settle.
      void this.store.latestSigned().then(
        (cp) => cp && this.checkFailOpen(cp),
        () => {},
      );
    }
  }

  /** stop aborts requests in flight, wakes every worker and waits for them to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.notify();
    await Promise.allSettled(this.running);
    await this.settling;
  }

  /** metrics returns a copy of each witness's metrics, in policy order. */
  metrics(): WitnessMetrics[] {
    return this.workers.map((w) => ({ ...w.metrics, failures: { ...w.metrics.failures } }));
  }

  private sleep(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve();
      };
      // A backoff ends early only on stop (notify is how stop wakes everyone; stopped is checked here).
      const waker = wakeOnNotify ? done : () => this.stopped && done();
      const timer = setTimeout(done, ms);
      this.wakers.add(waker);
    });
  }

  private async run(w: Worker): Promise<void> {
    while (!this.stopped) {
      let cp: SignedRow | undefined;
      try {
        cp = await this.store.latestSigned();
      } catch (e) {
        if (this.stopped) return;
        this.opts.logger?.warn('cosigning: reading the latest checkpoint failed', { err: e as Error });
        await this.sleep(COSIGNER_TIMING.backoffMaxMs, false);
        continue;
      }
      if (!cp || cp.id <= w.doneId) {
        await this.sleep(COSIGNER_TIMING.idlePollMs, true);
        continue;
      }
      if (this.signedSize === undefined || cp.treeSize > this.signedSize) this.signedSize = cp.treeSize;
      try {
        await this.cosign(w, cp);
        w.consecutiveFailures = 0;
      } catch (e) {
        if (this.stopped) return;
        const reason = e instanceof AttemptFailed ? e.reason : 'internal';
        if (!(e instanceof AttemptFailed)) this.opts.logger?.error('cosigning: bug', { err: e as Error });
        w.metrics.failures[reason] = (w.metrics.failures[reason] ?? 0) + 1;
        w.metrics.lastError = `${reason}: ${(e as Error).message}`;
        w.consecutiveFailures++;
        // A witness refusing a checkpoint this log signed (422, or another tree of the same size) is
        // evidence of a split view, or of a witness that is wrong: an error, not a warning.
        const log = reason === 'refused' || reason === 'root-mismatch' ? 'error' : 'warn';
        this.opts.logger?.[log]('cosigning: witness failed', {
          witness: w.witness.name,
          url: w.witness.url,
          treeSize: cp.treeSize,
          reason,
          message: (e as Error).message,
        });
        this.markTried(w, cp);
        const exp = COSIGNER_TIMING.backoffMinMs * 2 ** Math.min(w.consecutiveFailures - 1, 16);
        const ms = Math.min(COSIGNER_TIMING.backoffMaxMs, exp) * (0.8 + 0.4 * Math.random());
        await this.sleep(ms, false);
      }
    }
  }

  /** cosign gets, verifies and stores w's cosignature of cp, then settles cp. Throws AttemptFailed. */
  private async cosign(w: Worker, cp: SignedRow): Promise<void> {
    const line = await this.request(w, cp);
    const text = parseNote(cp.note).text;
    const ok = await w.witness.verifier.verify(new TextEncoder().encode(text), line.signature);
    if (!ok) {
      throw new AttemptFailed(
        'cosignature-invalid',
        `the line by ${w.witness.vkey} does not verify over the checkpoint of size ${cp.treeSize}`,
      );
    }
    const t = cosignatureTimestamp(line.signature);
    if (Number(t) * 1000 > Date.now() + COSIGNER_TIMING.maxFutureSkewMs) {
      throw new AttemptFailed(
        'cosignature-future',
        `cosignature time ${t} is more than 5 minutes ahead of this server's clock (check the witness's clock)`,
      );
    }
    await this.store.addCosignature({
      checkpointId: cp.id,
      vkey: w.witness.vkey,
      line: formatAddCheckpointResponse([line]),
      cosignedAt: new Date(Number(t) * 1000),
      treeSize: cp.treeSize,
      rootHash: cp.rootHash,
    });
    w.oldSize = cp.treeSize;
    w.doneId = cp.id;
    w.metrics.cosignedSize = cp.treeSize;
    w.metrics.lastSuccessAt = new Date();
    w.metrics.cosignatures++;
    this.markTried(w, cp);
    await this.settle(cp, false);
  }

  /**
   * request sends cp to w (one resend after a 409) and returns the signature line by w's pinned key,
   * not yet verified. Throws AttemptFailed.
   */
  private async request(w: Worker, cp: SignedRow) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const old = w.oldSize;
      if (old > cp.treeSize) {
        throw new AttemptFailed(
          'witness-ahead',
          `the witness has cosigned size ${old} of this log, larger than the newest checkpoint ${cp.treeSize}: it saw a tree this log never signed, or this database was restored from an old copy`,
        );
      }
      const proof = old > 0n && old < cp.treeSize ? await this.prove(old, cp.treeSize) : [];
      const body = formatAddCheckpointRequest({
        oldSize: old,
        consistencyProof: proof,
        signedCheckpoint: cp.note,
      });
      const answer = await submitCheckpoint(w.witness.url, body, this.abort.signal);
      if (answer.kind === 'failed') throw new AttemptFailed(answer.reason, answer.message);
      if (answer.kind === 'conflict') {
        if (answer.treeSize === old && old === cp.treeSize) {
          // The current c2sp.org/tlog-witness answers 409 for the cosigned size with another root
          // (SPEC.md and our witness: 422): the witness holds another tree of this size.
          throw new AttemptFailed(
            'root-mismatch',
            `409 naming size ${old}, the checkpoint's own size: the witness cosigned another tree of that size (a split view)`,
          );
        }
        if (answer.treeSize === old) {
          throw new AttemptFailed('conflict-loop', `409 naming the old size ${old} that was sent`);
        }
        w.oldSize = answer.treeSize;
        w.metrics.resyncs++;
        this.opts.logger?.info('cosigning: witness resync (409)', {
          witness: w.witness.name,
          sent: old,
          witnessSize: answer.treeSize,
        });
        continue;
      }
      const { name, keyId } = w.witness.verifier;
      const line = answer.lines.find((l) => l.name === name && l.keyId === keyId);
      if (!line) {
        throw new AttemptFailed(
          'cosignature-missing',
          `200 without a line by the pinned key ${w.witness.vkey} (lines by ${answer.lines.map((l) => l.name).join(', ')})`,
        );
      }
      return line;
    }
    throw new AttemptFailed('conflict-loop', 'a second 409 after resyncing to the size the witness named');
  }

  /** Records that w was tried for cp; with fail-open, settles cp once every witness was tried. */
  private markTried(w: Worker, cp: SignedRow): void {
    let set = this.tried.get(cp.id);
    if (!set) {
      set = new Set();
      this.tried.set(cp.id, set);
      for (const id of this.tried.keys()) if (id < cp.id - 8n) this.tried.delete(id);
    }
    set.add(w.witness.vkey);
    if (this.opts.failOpen) this.checkFailOpen(cp);
  }

  /**
   * checkFailOpen serves cp without its quorum (fail-open) once every witness has been tried for it,
   * a witness that is backing off after a failure counting as tried.
   */
  private checkFailOpen(cp: SignedRow): void {
    const set = this.tried.get(cp.id);
    if (!this.workers.every((x) => set?.has(x.witness.vkey) || x.consecutiveFailures > 0)) return;
    void this.settle(cp, true).catch((e) =>
      this.opts.logger?.error('cosigning: serving fail-open failed', { err: e as Error }),
    );
  }

  /**
   * settle serves cp when its stored cosignatures meet the quorum, or (failOpen, every witness tried)
   * without it. One at a time in this process, so a note is never rebuilt from an older read.
   */
  private settle(cp: SignedRow, failOpen: boolean): Promise<void> {
    const next = this.settling.then(async () => {
      const stored = await this.store.cosignatures(cp.id);
      const byVkey = new Map(stored.map((c) => [c.vkey, c.line]));
      const lines = this.policy.witnesses.flatMap((w) => byVkey.get(w.vkey) ?? []);
      const names = this.policy.witnesses.filter((w) => byVkey.has(w.vkey)).map((w) => w.name);
      const quorum = quorumSatisfied(this.policy.policy, names);
      if (!quorum && !failOpen) return;
      const note = cp.note + lines.join('');
      await this.store.serve({ checkpointId: cp.id, treeSize: cp.treeSize, note, quorum });
      // The newest served row (this one, or a newer or longer one another writer stored).
      const served = await this.store.latestServed();
      if (served) this.opts.onServed({ note: served.note, treeSize: served.treeSize });
    });
    this.settling = next.catch(() => {});
    return next;
  }
}
