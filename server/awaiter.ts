/**
 * Awaiter: waiting for publication (cf. Tessera's await.go). A publish returns only once its entries and
 * a checkpoint covering them are committed (SPEC.md "Durability"); this is where publishers wait for
 * that checkpoint, then get their receipts (server/reader.ts for the checkpoint, server/prover.ts for
 * the proofs).
 *
 * Checkpoints come from two places: the sequencer of this process (sawCheckpoint, called after each
 * committed round), and other processes sharing the database, found by a poller that runs only while
 * someone waits.
 *
 * The lost wake-up: a publisher looks in the database, finds its entries not yet covered, then waits.
 * A checkpoint signed between that look and the wait would wake nobody, and with no further growth the
 * publisher would sleep until publishWaitMs. So every checkpoint seen bumps `generation`; a publisher
 * reads the generation BEFORE it looks, and waitForCheckpoint returns at once when the generation has
 * moved since. The same holds for a publish's first wait: it reads the generation before inserting its
 * rows (server/log-service.ts), so a checkpoint that lands between the insert and the wait is seen.
 *
 * Crash safety: nothing here is stored. A process that dies while publishers wait gives them no answer;
 * their attestations are pending or logged and a retry gets the existing receipts (duplicate publish).
 */
import { hexEncode } from '../log/bytes.js';
import { ServiceError } from './errors.js';
import type { EntryRow, LogReader, ReadStore, SignedCheckpoint } from './reader.js';

/** Receipt is what publish returns per attestation: enough to verify offline (SPEC.md "HTTP API"). */
export interface Receipt {
  index: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
  checkpoint: SignedCheckpoint;
}

/** AwaiterOptions: the bounds of waiting, and the hooks of the service that owns the awaiter. */
export interface AwaiterOptions {
  /** publishWaitMs: how long a publisher waits before INTEGRATION_TIMEOUT. */
  publishWaitMs: number;
  /** pollMs: how often to look for checkpoints of other processes while anyone waits (default 50). */
  pollMs?: number | undefined;
  /** closed says whether the service is closing: a publisher that finds its entries not covered then
   *  stops waiting (INTEGRATION_TIMEOUT). */
  closed: () => boolean;
  /** betweenReceiptReads: test hook, between the read of the checkpoint and the read of the entries. */
  betweenReceiptReads?: (() => Promise<void>) | undefined;
}

/** Awaiter: see the file comment. */
export class Awaiter {
  private readonly reader: LogReader;
  private readonly store: Pick<ReadStore, 'latestCheckpoint' | 'entriesByDigest'>;
  private readonly opts: AwaiterOptions;
  private readonly waiters = new Set<() => void>();
  private poller: NodeJS.Timeout | undefined;
  /** The newest checkpoint this process has seen (signed here or found by the poller). */
  private lastSeen: { note: string; treeSize: bigint } | undefined;
  private seenCount = 0;

  constructor(
    reader: LogReader,
    store: Pick<ReadStore, 'latestCheckpoint' | 'entriesByDigest'>,
    opts: AwaiterOptions,
  ) {
    this.reader = reader;
    this.store = store;
    this.opts = opts;
  }

  /** generation counts the new checkpoints this process has seen (see the lost wake-up, above). */
  get generation(): number {
    return this.seenCount;
  }

  /** sawCheckpoint records a new checkpoint (signed here, or found by the poller) and wakes every waiter. */
  sawCheckpoint(c: { note: string; treeSize: bigint }): void {
    this.lastSeen = { note: c.note, treeSize: c.treeSize };
    this.seenCount++;
    for (const w of [...this.waiters]) w();
  }

  /** close stops the poller and wakes every waiter (they answer at once: see AwaiterOptions.closed). */
  close(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    for (const w of [...this.waiters]) w();
  }

  /**
   * waitForReceipts waits until every digest is logged under a signed checkpoint, then proves: one
   * receipt per digest, in order, all against the same checkpoint. With `after` (a generation read
   * before the digests were inserted as new) it waits for a newer checkpoint before its first look.
   * Throws ServiceError INTEGRATION_TIMEOUT after publishWaitMs, or when the service closes.
   */
  async waitForReceipts(digests: readonly Uint8Array[], after?: number): Promise<Receipt[]> {
    const deadline = Date.now() + this.opts.publishWaitMs;
    const unique = [...new Map(digests.map((d) => [hexEncode(d), d])).values()];
    let woken = false;
    if (after !== undefined) {
      await this.waitForCheckpoint(after, this.opts.publishWaitMs);
      woken = true;
    }
    for (;;) {
      const generation = this.generation;
      // After a wake-up the newest checkpoint seen is in memory; one that is newer still (another
      // process's, not yet polled) bumps the generation when the poller finds it, so the loop cannot
      // sleep through it.
      const seen = this.lastSeen;
      const cp =
        woken && seen ? await this.reader.signedCheckpoint(seen.note) : await this.reader.latestCheckpoint();
      await this.opts.betweenReceiptReads?.();
      const found = await this.store.entriesByDigest(unique);
      if (found.length === unique.length && found.every((f) => f.index < cp.checkpoint.treeSize)) {
        return this.receipts(digests, found, cp);
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.opts.closed()) {
        throw new ServiceError(
          'INTEGRATION_TIMEOUT',
          `accepted but not yet in a signed checkpoint after ${this.opts.publishWaitMs} ms: the attestations are ` +
            'stored and will be logged; publish them again later to get their receipts',
          { waitedMs: this.opts.publishWaitMs, logged: found.length, total: unique.length },
          1,
        );
      }
      await this.waitForCheckpoint(generation, left);
      woken = true;
    }
  }

  /** receipts proves every digest's entry (all found, all under cp) with one batched read. */
  private async receipts(
    digests: readonly Uint8Array[],
    found: readonly (EntryRow & { digest: Uint8Array })[],
    cp: SignedCheckpoint,
  ): Promise<Receipt[]> {
    const byDigest = new Map(found.map((f) => [hexEncode(f.digest), f]));
    const items = digests.map((d) => byDigest.get(hexEncode(d))!);
    const proofs = await this.reader.prover.proveMany(
      items.map((f) => f.index),
      cp.checkpoint.treeSize,
    );
    return items.map((f, i) => ({
      index: f.index,
      entry: f.entry,
      inclusionProof: proofs[i]!,
      checkpoint: cp,
    }));
  }

  /**
   * waitForCheckpoint resolves when a checkpoint newer than `generation` has been seen (at once if one
   * already has), or after ms.
   */
  private waitForCheckpoint(generation: number, ms: number): Promise<void> {
    if (this.generation !== generation) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        if (this.waiters.size === 0 && this.poller) {
          clearInterval(this.poller);
          this.poller = undefined;
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      // Checkpoints signed by another process: poll the latest one while anyone waits.
      if (!this.poller) {
        this.poller = setInterval(() => void this.pollCheckpoint(), this.opts.pollMs ?? 50);
      }
    });
  }

  private async pollCheckpoint(): Promise<void> {
    try {
      const c = await this.store.latestCheckpoint();
      // Only forward: a poll that read the database before this process signed a newer checkpoint
      // must not make that newer one look unseen.
      if (c && c.note !== this.lastSeen?.note && c.treeSize >= (this.lastSeen?.treeSize ?? -1n)) {
        this.sawCheckpoint(c);
      }
    } catch {
      // The database is closing or unreachable: waiters time out on their own.
    }
  }
}
