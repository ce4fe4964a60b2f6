/**
 * The sequencer (integrator): turns durably accepted attestations (pending rows) into log entries,
 * one batch per transaction, and signs checkpoints (SPEC.md "Durability", "Re-signing",
 * "Storage and processes").
 *
 * One integrator at a time across every process sharing the database: each batch transaction first
 * takes pg_try_advisory_xact_lock (IntegrationStore.integrate); a process that does not get it skips the round
 * and tries again later. Every round re-reads the tree state inside the transaction (log_state FOR
 * UPDATE), so no process ever integrates from a stale in-memory view, and the lock is released by
 * COMMIT/ROLLBACK or by Postgres when the holder's connection dies.
 *
 * One round, in ONE transaction (IntegrationStore.integrate), and why dying after each step is safe:
 *  1. lock, read log_state and the latest checkpoint. Dying here: nothing written; the lock goes
 *     with the connection.
 *  2. take up to batchMaxSize oldest pending rows (only when the batch is full or its oldest row has
 *     waited batchMaxAgeMs), deleting any whose attestation is already logged (a publish racing
 *     another process's integration). Dying here rolls the deletes back; they are redone next time.
 *  3. decide whether a checkpoint is due (tree grew, or must end with an index leaf, and
 *     checkpointIntervalMs passed since the last checkpoint that grew it; none yet; or
 *     republishIntervalMs passed). Nothing written.
 *  4. append, in one step (server/index-round.ts IndexRound.append): the batch's entries and, when a
 *     checkpoint is due and the tree would not end with an index leaf (SPEC.md "The index"), the index
 *     leaf after them, holding the map root with the entries it did not cover yet folded in. Hash the
 *     leaves, compute the changed tiles and the new root from the stored right-edge tiles
 *     (log/tiles.ts appendLeaves), write entries with indices treeSize.., the tiles, the new
 *     log_state, delete the pending rows, and write the map's new bucket versions and its row. Dying
 *     before COMMIT rolls all of it back: the pending rows are still there and the next round (here or
 *     in another process) integrates them at the same indices from the same state, so the tree never
 *     forks and no index is used twice; the map always matches the newest index leaf, and the next
 *     round folds the same entries again (this process forgets what it kept in memory of a round that
 *     did not commit).
 *  5. sign the checkpoint (its size includes the index leaf, which is its last leaf) and store it.
 *     Still the same transaction.
 *  6. COMMIT. Dying right after: everything is durable; publishers waiting in this process lose
 *     their answer (no receipt was given, so nothing acknowledged is lost) and get their existing
 *     receipt when they retry (duplicate publish).
 * Publish acknowledges an attestation only once its entry and a checkpoint covering it are committed
 * (LogService.publish waits for that), so no acknowledged entry can be lost.
 */
import { type Checkpoint, MAX_TREE_SIZE } from '../log/checkpoint.js';
import { type IndexFaults, IndexRound, type LeafTx } from './index-round.js';
import { type ServerKeys, signCheckpoint } from './keys.js';
import type { Logger } from './logger.js';

/** TreeState is the integrated tree (log_state). */
export interface TreeState {
  treeSize: bigint;
  rootHash: Uint8Array;
}

/** PendingRow is an accepted attestation waiting for integration. */
export interface PendingRow {
  seq: bigint;
  digest: Uint8Array;
  entry: Uint8Array;
  identifier: string;
  signer: string;
  acceptedAt: Date;
}

/** StoredCheckpoint is one row of checkpoints: a checkpoint the integrator signed and stored. */
export interface StoredCheckpoint {
  treeSize: bigint;
  rootHash: Uint8Array;
  note: string;
  signedAt: Date;
}

/** IntegrationTx is what the integrator may do inside its batch transaction (under the lock). */
export interface IntegrationTx extends LeafTx {
  /** state returns the integrated tree, locking its row until the transaction ends. */
  state(): Promise<TreeState>;
  /** takePending drops pending rows already logged, then returns up to `limit` of the oldest. */
  takePending(limit: number): Promise<PendingRow[]>;
  // index, readTiles and appendBatch: LeafTx (server/index-round.ts), what the index step uses too.
  /** latestCheckpoint returns the newest stored checkpoint, if any. */
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** addCheckpoint stores a signed checkpoint. */
  addCheckpoint(c: StoredCheckpoint): Promise<void>;
}

/** IntegrationStore is the storage the sequencer uses (SqlStore in server/store.ts). */
export interface IntegrationStore {
  /**
   * integrate runs `fn` in one transaction holding the integrator lock (pg_try_advisory_xact_lock):
   * returns `{ ran: false }` at once when another process holds it. `beforeCommit` runs last inside
   * the transaction (a throw rolls everything back). Throws on database errors and what fn throws.
   */
  integrate<T>(
    fn: (tx: IntegrationTx) => Promise<T>,
    beforeCommit?: () => void,
  ): Promise<{ ran: true; value: T } | { ran: false }>;
}

/** SequencerOptions are the batch and checkpoint bounds (ServiceOptions has the same names). */
export interface SequencerOptions {
  batchMaxSize: number;
  batchMaxAgeMs: number;
  checkpointIntervalMs: number;
  republishIntervalMs: number;
  /** pollMs: how often to look for work published by other processes (default batchMaxAgeMs, >= 20). */
  pollMs?: number;
  /** shared: other processes may publish into this database (Postgres), so poll for their work;
   *  false (PGlite, one process) wakes only on kick() and on checkpoint deadlines. Default true. */
  shared?: boolean;
  faults?: { beforeCommit?: () => void; afterCommit?: () => void } & IndexFaults;
  /** servedSize: the tree size of the checkpoint answers are bounded by, when it may lag the newest
   *  (witnesses): the index never prunes the map that checkpoint needs. */
  servedSize?: () => Promise<bigint | undefined>;
  logger?: Logger | undefined;
}

/** RoundResult says what one round did. */
export interface RoundResult {
  /** ran is false when another process held the integrator lock. */
  ran: boolean;
  integrated: number;
  /** latencyMs: for each integrated entry, how long it waited since acceptance. */
  latencyMs: number[];
  checkpoint: StoredCheckpoint | undefined;
  /** nextInMs: when the next round is due by this round's view. */
  nextInMs: number;
}

/** RoundValue is what a committed round's transaction returns: its result, and the growth it signed. */
type RoundValue = Omit<RoundResult, 'ran'> & { grewAt: { treeSize: bigint; at: number } | undefined };

/**
 * Sequencer runs integration rounds on a timer, and on kick() after local publishes. `onRound` is
 * called after each committed round that did something (in-process event for waiting publishers).
 */
export class Sequencer {
  private readonly store: IntegrationStore;
  private readonly keys: ServerKeys;
  private readonly opts: SequencerOptions;
  private readonly onRound: (r: RoundResult) => void;
  private readonly index: IndexRound;
  private timer: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private running: Promise<void> | undefined;
  private stopped = false;
  private again = false;
  private kicked = 0;
  /**
   * grewAt: the tree size of the newest checkpoint this process signed that grew the tree, and when
   * (ms). The checkpoint interval runs from there, not from a re-signing of an unchanged tree, so a
   * publish on an idle log is integrated and checkpointed at once (idle): BENCHMARKS.md "Receipt
   * latency". Another process's checkpoint (a takeover) is not known here: then the interval runs from
   * the newest stored checkpoint's signing time, which is never earlier, so at most one checkpoint per
   * interval still holds.
   */
  private grewAt: { treeSize: bigint; at: number } | undefined;

  constructor(
    store: IntegrationStore,
    keys: ServerKeys,
    opts: SequencerOptions,
    onRound: (r: RoundResult) => void,
  ) {
    this.store = store;
    this.keys = keys;
    this.opts = opts;
    this.onRound = onRound;
    this.index = new IndexRound(opts.faults);
  }

  private get pollMs(): number {
    return Math.max(20, this.opts.pollMs ?? this.opts.batchMaxAgeMs);
  }

  /** start schedules the first round now. */
  start(): void {
    this.schedule(0);
  }

  /**
   * kick tells the sequencer that `added` rows were just made pending by this process. On an idle log
   * (no checkpoint grew the tree within the interval) the round runs now: waiting for a batch would
   * only delay the receipt, since the next checkpoint may be signed at once.
   */
  kick(added: number): void {
    if (this.stopped || added <= 0) return;
    this.kicked += added;
    const full = this.kicked >= this.opts.batchMaxSize;
    this.schedule(full ? 0 : Math.min(this.opts.batchMaxAgeMs, this.untilIdle(Date.now())));
  }

  /** untilIdle: ms until the interval since the last growth this process signed has passed (0: idle). */
  private untilIdle(t: number): number {
    return this.grewAt === undefined ? 0 : Math.max(0, this.grewAt.at + this.opts.checkpointIntervalMs - t);
  }

  /** intervalFrom: when the checkpoint interval started, by the newest stored checkpoint `last`. */
  private intervalFrom(last: StoredCheckpoint | undefined): number | undefined {
    if (last === undefined) return undefined;
    const g = this.grewAt;
    return g !== undefined && g.treeSize === last.treeSize ? g.at : last.signedAt.getTime();
  }

  /** stop cancels the timer and waits for the round in progress to finish (commit or roll back). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.index.close();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const at = Date.now() + Math.max(0, delayMs);
    if (this.timer && at >= this.wakeAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      void this.tick();
    }, at - Date.now());
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      // A round is in progress and may have read pending rows before this wake-up's rows were
      // inserted: it runs again (after the batch age bound) when done.
      this.again = true;
      return;
    }
    let next = this.pollMs;
    this.again = false;
    const run = (async () => {
      try {
        this.kicked = 0;
        const r = await this.round();
        next = r.ran ? r.nextInMs : this.pollMs;
      } catch (e) {
        this.opts.logger?.error('integration round failed; will retry', { err: e as Error });
        next = Math.max(this.pollMs, 200);
      }
    })();
    this.running = run;
    await run;
    this.running = undefined;
    this.schedule(this.again ? Math.min(next, this.opts.batchMaxAgeMs) : next);
  }

  /**
   * round runs one integration round (see the file comment) and returns what it did. It throws on
   * database errors and when a fault hook throws. Exposed for tests.
   */
  async round(now: () => number = Date.now): Promise<RoundResult> {
    const o = this.opts;
    let out: { ran: true; value: RoundValue } | { ran: false };
    try {
      // Read before the transaction: on PGlite a read from inside it would wait for it (one connection).
      const served = o.servedSize ? await o.servedSize() : undefined;
      out = await this.integrate(now, served);
    } catch (e) {
      this.index.rolledBack();
      throw e;
    }
    if (!out.ran)
      return { ran: false, integrated: 0, latencyMs: [], checkpoint: undefined, nextInMs: this.pollMs };
    // 6. Committed.
    this.index.committed();
    if (out.value.grewAt) this.grewAt = out.value.grewAt;
    o.faults?.afterCommit?.();
    const { grewAt: _, ...value } = out.value;
    const r: RoundResult = { ran: true, ...value };
    if (r.integrated > 0 || r.checkpoint) this.onRound(r);
    return r;
  }

  /** integrate runs steps 1-5 of a round in the integrator's transaction (see the file comment). */
  private integrate(now: () => number, served: bigint | undefined) {
    const o = this.opts;
    return this.store.integrate(async (tx): Promise<RoundValue> => {
      const state = await tx.state();
      const last = await tx.latestCheckpoint();
      // 2. Take a batch when it is full or old enough. The interval runs from the newest checkpoint
      // that grew the tree (intervalFrom); when it has passed, the log is idle and a batch is due at
      // once: its checkpoint can be signed now.
      const rows = await tx.takePending(o.batchMaxSize);
      const oldest = rows[0]?.acceptedAt.getTime();
      const from = this.intervalFrom(last);
      const idle = from === undefined || now() - from >= o.checkpointIntervalMs;
      const due =
        rows.length >= o.batchMaxSize ||
        (oldest !== undefined && (idle || now() - oldest >= o.batchMaxAgeMs));
      const batch = due ? rows : [];
      if (batch.length > 0 && state.treeSize + BigInt(batch.length) + 1n > MAX_TREE_SIZE)
        throw new Error('the log is full (2^64-1 entries)');
      // 4 (decided first). A checkpoint is due when the tree grew (or must end with an index leaf) and
      // the interval passed, or when the last one is republishIntervalMs old. Its age is measured from
      // the stored signing time (the integrator's clock in ms; the note's OpenPGP time has 1 s resolution).
      const t = now();
      const needsLeaf = batch.length > 0 || (await this.index.needsLeaf(tx, state.treeSize));
      const grows = last === undefined || state.treeSize + BigInt(batch.length) > last.treeSize || needsLeaf;
      const sinceGrowth = from === undefined ? Number.POSITIVE_INFINITY : t - from;
      const age = last === undefined ? Number.POSITIVE_INFINITY : t - last.signedAt.getTime();
      const signNow =
        last === undefined ||
        (grows && sinceGrowth >= o.checkpointIntervalMs) ||
        age >= o.republishIntervalMs;
      // 3 and 4. One append: the batch's entries and, when signing, the index leaf after them (SPEC.md
      // "The index", the rule), with their tiles, the state, the map's new buckets; pending deleted.
      let tree: TreeState = state;
      const leaf = signNow && needsLeaf;
      if (batch.length > 0 || leaf)
        tree = await this.index.append(
          tx,
          state.treeSize,
          batch,
          leaf ? { now: new Date(t), served } : undefined,
        );
      let checkpoint: StoredCheckpoint | undefined;
      if (signNow) {
        // 5. Sign the checkpoint over the whole tree, its last leaf the index leaf.
        const body: Checkpoint = {
          origin: this.keys.origin,
          treeSize: tree.treeSize,
          rootHash: tree.rootHash,
          extensions: [],
        };
        const { note } = await signCheckpoint(this.keys, body);
        checkpoint = { treeSize: tree.treeSize, rootHash: tree.rootHash, note, signedAt: new Date(t) };
        await tx.addCheckpoint(checkpoint);
      }
      const grewNow = checkpoint !== undefined && (last === undefined || checkpoint.treeSize > last.treeSize);
      const intervalAt = grewNow ? t : (from ?? t);
      const waits: number[] = [
        o.republishIntervalMs - (t - (checkpoint ? t : (last?.signedAt.getTime() ?? t))),
      ];
      if (batch.length > 0)
        waits.push(0); // more may be waiting behind this batch
      else if (oldest !== undefined)
        waits.push(Math.min(oldest + o.batchMaxAgeMs, intervalAt + o.checkpointIntervalMs) - t); // aged, or idle
      if (!checkpoint && (needsLeaf || tree.treeSize > (last?.treeSize ?? -1n)))
        waits.push(o.checkpointIntervalMs - (t - intervalAt));
      if (o.shared !== false) waits.push(this.pollMs); // pending rows from other processes
      const done = now();
      return {
        integrated: batch.length,
        latencyMs: batch.map((r) => Math.max(0, done - r.acceptedAt.getTime())),
        checkpoint,
        nextInMs: Math.max(0, Math.min(...waits)),
        grewAt: grewNow ? { treeSize: checkpoint!.treeSize, at: t } : undefined,
      };
    }, o.faults?.beforeCommit);
  }
}
