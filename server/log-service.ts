/**
 * LogService: the server core behind HTTP (docs/contracts.md "server/"): publish, queries, tiles,
 * proofs, keys, metrics, and the shared rate-limit store. It owns the database (server/store.ts), the
 * log's keys (server/keys.ts) and the integrator (server/sequencer.ts).
 *
 * Everything public is bounded by the latest signed checkpoint: tiles, proofs, entries and query
 * results never reach past it, so every answer can be checked against a checkpoint a client can get.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type {
  ClientRateLimitInfo,
  Options as RateLimitOptions,
  Store as RateLimitStore,
} from 'express-rate-limit';
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { encodeEntry } from '../log/entry.js';
import { isLogError, LogError } from '../log/errors.js';
import { KEY_LIMITS } from '../log/keys.js';
import { parseNote } from '../log/note.js';
import {
  proveConsistency as proveConsistencyWith,
  proveInclusion as proveInclusionWith,
} from '../log/proof.js';
import { dedupDigest } from '../log/signature-canonical.js';
import {
  type Attestation,
  fingerprintHex,
  parseAttestation,
  readPublicKey,
  signatureIssuer,
} from '../log/signet.js';
import {
  ENTRIES_LEVEL,
  encodeEntryBundle,
  type HashReader,
  type NodeId,
  TILE_WIDTH,
  type TileCoord,
  tileHashReader,
  tileWidthAt,
} from '../log/tiles.js';
import { type CryptoResult, type CryptoTask, type MergedKey, runTask } from './crypto-tasks.js';
import { openDb } from './db.js';
import { ServiceError } from './errors.js';
import { KeyCache } from './key-cache.js';
import { checkpointTime, defaultOrigin, loadKeys, type ServerKeys } from './keys.js';
import type { Logger } from './logger.js';
import { LruMap } from './lru.js';
import { type RoundResult, Sequencer } from './sequencer.js';
import {
  KeyConflictError,
  type KeyRow,
  type KeyUpdate,
  type NewPending,
  openStore,
  type Store,
} from './store.js';
import { VerifyPool } from './verify-pool.js';

export type { Logger } from './logger.js';

/** SignedCheckpoint is a checkpoint as the log signed it: the note text, its parsed body, and the
 *  creation time of its OpenPGP signature (the checkpoint's timestamp, SPEC.md "Checkpoint"). */
export interface SignedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  timestamp: Date;
}

/** Receipt is what publish returns per attestation: enough to verify offline (SPEC.md "HTTP API"). */
export interface Receipt {
  index: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
  checkpoint: SignedCheckpoint;
}

/** ServiceOptions configures LogService.open (defaults in DEFAULT_SERVICE_OPTIONS). */
export interface ServiceOptions {
  /** databaseUrl: Postgres through pg when set; else PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string | undefined;
  /** dataDir: PGlite database (when no databaseUrl) and key files; created if missing. */
  dataDir: string;
  /** origin: the checkpoint origin line and note key name; when unset or empty, the one recorded in
   *  the database, or at first start `sig.local/<8 hex>` (recorded and reused). */
  origin?: string | undefined;
  noteKeyFile?: string | undefined;
  openpgpKeyFile?: string | undefined;
  /** checkpointIntervalMs: a new checkpoint at most this often while the tree grows (default 1000). */
  checkpointIntervalMs: number;
  /** republishIntervalMs: a re-signed checkpoint at least this often when it does not (default 600000). */
  republishIntervalMs: number;
  batchMaxSize: number;
  batchMaxAgeMs: number;
  /** maxBacklog: publish fails with BACKLOG_FULL when more would wait for integration. */
  maxBacklog: number;
  /** publishWaitMs: how long publish waits for integration before INTEGRATION_TIMEOUT. */
  publishWaitMs: number;
  /** integrate: run the integrator in this process (default true); false = serve and accept only. */
  integrate?: boolean | undefined;
  logger?: Logger | undefined;
  /** migrate: apply pending migrations at start (default true); false refuses an older schema. */
  migrate?: boolean | undefined;
  /** verifyWorkers: worker threads that verify attestation signatures (default: one less than the
   *  cores, at least 1); 0 verifies on the main thread. */
  verifyWorkers?: number | undefined;
  /** verifyBudgetMs: the most one request's OpenPGP work may run in a worker (server/verify-pool.ts). */
  verifyBudgetMs?: number | undefined;
  /** pollMs: how often to look for work or checkpoints made by other processes (default 50). */
  pollMs?: number | undefined;
  /** faults: test hooks. beforeCommit and afterCommit run in each batch transaction; a throw in
   *  beforeCommit rolls the batch back, one in afterCommit comes after COMMIT (both as if the process
   *  died there). betweenReceiptReads runs in a waiting publisher between its read of the latest
   *  checkpoint and its read of its entries, where a checkpoint may land. */
  faults?:
    | { beforeCommit?: () => void; afterCommit?: () => void; betweenReceiptReads?: () => Promise<void> }
    | undefined;
}

/** DEFAULT_SERVICE_OPTIONS are the defaults of SPEC.md and docs/contracts.md. */
export const DEFAULT_SERVICE_OPTIONS = {
  checkpointIntervalMs: 1000,
  republishIntervalMs: 600_000,
  batchMaxSize: 256,
  batchMaxAgeMs: 200,
  maxBacklog: 10_000,
  publishWaitMs: 10_000,
} as const;

/** MAX_PAGE is the most items findAttestations and entries return at once. */
export const MAX_PAGE = 10_000;

/** BATCH_SIZE_BUCKETS are the upper bounds of the batch size histogram. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;
/** LATENCY_BUCKETS_MS are the upper bounds of the integration latency histogram (ms). */
export const LATENCY_BUCKETS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Histogram is a cumulative Prometheus-style histogram: counts[i] = observations <= le[i]. */
export interface Histogram {
  le: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

/** ServiceMetrics are the counters the HTTP layer exposes on /metrics (all since process start,
 *  except the gauges backlog, treeSize, checkpoint*). */
export interface ServiceMetrics {
  publishesAccepted: number;
  duplicates: number;
  /** rejections by error code (LogError and ServiceError codes). */
  rejections: Record<string, number>;
  batches: number;
  batchSize: Histogram;
  /** integrationLatencyMs: from acceptance to integration, per entry this process integrated. */
  integrationLatencyMs: Histogram;
  checkpointsSigned: number;
  /** backlog: pending rows, as last seen. */
  backlog: number;
  /** treeSize: of the latest checkpoint, as last seen. */
  treeSize: number;
  checkpointTimestamp: Date | undefined;
  checkpointAgeSeconds: number | undefined;
}

function histogram(le: readonly number[]): Histogram {
  return { le, counts: le.map(() => 0), sum: 0, count: 0 };
}

function observe(h: Histogram, v: number): void {
  h.sum += v;
  h.count++;
  h.le.forEach((b, i) => {
    if (v <= b) h.counts[i]!++;
  });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** NODE_CACHE_ENTRIES bounds the proof node cache: 65,536 hashes, about 10 MB with the map's overhead. */
const NODE_CACHE_ENTRIES = 65_536;
/** KEY_MERGE_ATTEMPTS: how often a request merges its keys again when a concurrent merge of the same
 *  key was stored first (KeyConflictError) before it answers KEY_BUSY. */
const KEY_MERGE_ATTEMPTS = 3;

/**
 * LogService: see docs/contracts.md. Open with LogService.open, close with close().
 */
export class LogService {
  private readonly store: Store;
  private readonly keys: ServerKeys;
  private readonly opts: ServiceOptions;
  private readonly sequencer: Sequencer | undefined;
  private readonly logger: Logger | undefined;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly waiters = new Set<() => void>();
  private poller: NodeJS.Timeout | undefined;
  /** The newest checkpoint this process has seen (signed here or found by the poller). */
  private lastSeen: { note: string; treeSize: bigint } | undefined;
  /**
   * checkpointGeneration counts the new checkpoints this process has seen (signed here or found by the
   * poller). A publisher reads it before it looks in the database and waits only while it is unchanged:
   * a checkpoint signed between its look and its wait would otherwise wake nobody (a lost wake-up), and
   * with no further growth the publisher would sleep until publishWaitMs.
   */
  private checkpointGeneration = 0;
  private cpCache: { note: string; signed: SignedCheckpoint } | undefined;
  /**
   * nodeCache holds hashes of complete subtrees that proofs needed. Such a node never changes once the
   * tree covers it (RFC 9162 §2.1: the log is append-only), so a hit skips the tile read and the
   * hashing inside the tile; recent entries share most of their proof, so hits are the rule.
   */
  private readonly nodeCache = new LruMap<string, Uint8Array>(NODE_CACHE_ENTRIES);
  /** keyCache: checked signer keys for OpenPGP work on this thread (verifyWorkers 0 only). */
  private readonly keyCache = new KeyCache();
  /** verifier runs the OpenPGP work in worker threads; undefined: on this thread (verifyWorkers 0). */
  private readonly verifier: VerifyPool | undefined;
  private readonly m: Omit<ServiceMetrics, 'checkpointAgeSeconds'>;

  private constructor(store: Store, keys: ServerKeys, opts: ServiceOptions) {
    this.store = store;
    this.keys = keys;
    this.opts = opts;
    this.logger = opts.logger;
    const workers = opts.verifyWorkers ?? Math.max(1, availableParallelism() - 1);
    this.verifier = workers > 0 ? new VerifyPool(workers, opts.verifyBudgetMs) : undefined;
    this.m = {
      publishesAccepted: 0,
      duplicates: 0,
      rejections: {},
      batches: 0,
      batchSize: histogram(BATCH_SIZE_BUCKETS),
      integrationLatencyMs: histogram(LATENCY_BUCKETS_MS),
      checkpointsSigned: 0,
      backlog: 0,
      treeSize: 0,
      checkpointTimestamp: undefined,
    };
    if (opts.integrate !== false) {
      this.sequencer = new Sequencer(
        store,
        keys,
        {
          batchMaxSize: opts.batchMaxSize,
          batchMaxAgeMs: opts.batchMaxAgeMs,
          checkpointIntervalMs: opts.checkpointIntervalMs,
          republishIntervalMs: opts.republishIntervalMs,
          pollMs: opts.pollMs ?? Math.min(opts.batchMaxAgeMs, 200),
          shared: store.kind === 'pg',
          faults: opts.faults,
          logger: opts.logger,
        },
        (r) => this.onRound(r),
      );
    }
  }

  /**
   * LogService.open opens the database (Postgres when databaseUrl is set, else PGlite in dataDir),
   * applies migrations, loads or makes the keys, checks them (and the origin) against the ones the
   * database recorded at first start, and starts the integrator. Throws ServiceError SCHEMA_MISMATCH,
   * IDENTITY_MISMATCH or CONFIG_INVALID for operator errors (the message says how to fix it), and
   * database errors as they come.
   */
  static async open(opts: ServiceOptions): Promise<LogService> {
    checkOptions(opts);
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const db = await openDb({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir });
    let store: Store | undefined;
    try {
      store = await openStore(db, { migrate: opts.migrate !== false });
      const recorded = await store.identity();
      const wanted = opts.origin ? opts.origin : undefined;
      if (recorded && wanted && recorded.origin !== wanted) {
        throw new ServiceError(
          'IDENTITY_MISMATCH',
          `this database belongs to the log "${recorded.origin}", but the origin given is "${wanted}": ` +
            `unset ORIGIN (or set it to "${recorded.origin}"), or use another database`,
          { recorded: recorded.origin, given: wanted },
        );
      }
      const origin = wanted ?? recorded?.origin ?? defaultOrigin();
      const keys = await loadKeys({
        dataDir: opts.dataDir,
        origin,
        noteKeyFile: opts.noteKeyFile,
        openpgpKeyFile: opts.openpgpKeyFile,
      });
      const id = await store.recordIdentity({
        origin,
        vkey: keys.vkey,
        openpgpFingerprint: keys.openpgpFingerprint,
        openpgpPublicKey: keys.openpgpPublicKey,
      });
      if (
        id.origin !== origin ||
        id.vkey !== keys.vkey ||
        id.openpgpFingerprint !== keys.openpgpFingerprint
      ) {
        throw new ServiceError(
          'IDENTITY_MISMATCH',
          `this database's log was started with other keys (origin "${id.origin}", note key ${id.vkey}, ` +
            `OpenPGP key ${id.openpgpFingerprint}) than the ones this process has (origin "${origin}", note key ` +
            `${keys.vkey}, OpenPGP key ${keys.openpgpFingerprint}): every process sharing a database must use ` +
            'the same key files (copy note.key and openpgp.key from the first server, or set the key file options)',
          { recordedVkey: id.vkey, vkey: keys.vkey, recordedFingerprint: id.openpgpFingerprint },
        );
      }
      const svc = new LogService(store, keys, opts);
      opts.logger?.info('log opened', {
        origin,
        database: store.kind,
        integrate: opts.integrate !== false,
        treeSize: (await store.state()).treeSize,
        backlog: await store.backlog(),
      });
      if (svc.sequencer) {
        // One round now, so a new log has its first checkpoint (size 0) before open returns.
        await svc.sequencer.round();
        svc.sequencer.start();
      }
      return svc;
    } catch (e) {
      await (store ? store.close() : db.close());
      throw e;
    }
  }

  /**
   * close stops taking publishes, lets the integration round in progress finish (commit or roll
   * back), wakes waiting publishers (they get INTEGRATION_TIMEOUT: their attestations are stored and
   * will be logged), stops timers, and closes the database. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sequencer?.stop();
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    for (const w of this.waiters) w();
    await Promise.allSettled([...this.inflight]);
    await this.verifier?.close();
    await this.store.close();
  }

  /** info returns the log's public identity: origin, Ed25519 vkey, OpenPGP public key and fingerprint. */
  info(): { origin: string; vkey: string; openpgpPublicKey: string; openpgpFingerprint: string } {
    return {
      origin: this.keys.origin,
      vkey: this.keys.vkey,
      openpgpPublicKey: this.keys.openpgpPublicKey,
      openpgpFingerprint: this.keys.openpgpFingerprint,
    };
  }

  private track<T>(start: () => Promise<T>): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new ServiceError(
          'SERVICE_CLOSED',
          'the log service is shutting down; retry on another server',
          {},
          1,
        ),
      );
    }
    const p = start();
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private reject(e: unknown): never {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') this.m.rejections[code] = (this.m.rejections[code] ?? 0) + 1;
    throw e;
  }

  /**
   * publish verifies every attestation first (shape and size, signer's key known from `armoredKeys`
   * or the keys table, `key` = the signer's primary fingerprint, signature valid): any failure throws
   * a LogError with details.item = its position (details.key = the position of a bad key) and stores
   * nothing. Then it stores the keys and the attestations as pending in one transaction, waits until
   * each is in the log under a signed checkpoint, and returns the receipts in order (all against
   * the same checkpoint). Duplicates (also within the request) get their existing receipt.
   * Throws ServiceError BACKLOG_FULL (nothing stored), INTEGRATION_TIMEOUT (stored, will be logged:
   * publish again later to get the receipt) or SERVICE_CLOSED.
   */
  publish(attestations: unknown[], armoredKeys: string[]): Promise<Receipt[]> {
    return this.track(() => retryKeyConflicts(() => this.doPublish(attestations, armoredKeys))).catch((e) =>
      this.reject(e),
    );
  }

  private async doPublish(attestations: unknown[], armoredKeys: string[]): Promise<Receipt[]> {
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
    const sent = await this.admitKeys(
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
            digest: dedupDigest(att), // canonical signature: a re-spelled copy is a duplicate
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
    // Everything verified: store keys and pending rows in one transaction (all or nothing).
    const uniqueDigests = [...new Map(rows.map((r) => [hex(r.digest), r.digest])).values()];
    // Read before the insert: a checkpoint seen after it bumps the generation (see waitForReceipts).
    const generation = this.checkpointGeneration;
    const added = await this.store.addPending(rows, sent.updates, this.opts.maxBacklog);
    this.m.publishesAccepted += added;
    this.m.duplicates += uniqueDigests.length - added;
    if (added > 0) this.sequencer?.kick(added);
    // All new: none can be under a checkpoint this process saw before the insert, so looking now
    // would only cost two queries; wait for the next checkpoint first.
    return this.waitForReceipts(
      rows.map((r) => r.digest),
      added === uniqueDigests.length ? generation : undefined,
    );
  }

  /**
   * waitForReceipts waits until every digest is logged under a signed checkpoint, then proves. With
   * `after` (a generation read before the digests were inserted as new) it waits for a newer
   * checkpoint before its first look.
   */
  private async waitForReceipts(digests: Uint8Array[], after?: number): Promise<Receipt[]> {
    const deadline = Date.now() + this.opts.publishWaitMs;
    const unique = [...new Map(digests.map((d) => [hex(d), d])).values()];
    let woken = false;
    if (after !== undefined) {
      await this.waitForCheckpoint(after, this.opts.publishWaitMs);
      woken = true;
    }
    for (;;) {
      const generation = this.checkpointGeneration;
      // After a wake-up the newest checkpoint seen is in memory; one that is newer still (another
      // process's, not yet polled) bumps the generation when the poller finds it, so the loop cannot
      // sleep through it.
      const seen = this.lastSeen;
      const cp = woken && seen ? await this.toSigned(seen.note) : await this.latestSigned();
      await this.opts.faults?.betweenReceiptReads?.();
      const found = await this.store.entriesByDigest(unique);
      const byDigest = new Map(found.map((f) => [hex(f.digest), f]));
      if (found.length === unique.length && found.every((f) => f.index < cp.checkpoint.treeSize)) {
        const items = digests.map((d) => byDigest.get(hex(d))!);
        const proofs = await this.proveMany(
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
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) {
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

  /**
   * waitForCheckpoint resolves when a checkpoint newer than `generation` has been seen (at once if one
   * already has), or after ms.
   */
  private waitForCheckpoint(generation: number, ms: number): Promise<void> {
    if (this.checkpointGeneration !== generation) return Promise.resolve();
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

  private sawCheckpoint(c: { note: string; treeSize: bigint }): void {
    this.lastSeen = { note: c.note, treeSize: c.treeSize };
    this.checkpointGeneration++;
    for (const w of [...this.waiters]) w();
  }

  private onRound(r: RoundResult): void {
    if (r.integrated > 0) {
      this.m.batches++;
      observe(this.m.batchSize, r.integrated);
      for (const l of r.latencyMs) observe(this.m.integrationLatencyMs, l);
    }
    if (r.checkpoint) {
      this.m.checkpointsSigned++;
      this.sawCheckpoint(r.checkpoint);
    }
  }

  /**
   * putKeys stores signers' public keys through the one intake (admitKeys: checked, then merged with
   * the stored copies) and returns their fingerprints in order, once each. Throws LogError KEY_INVALID,
   * KEY_TOO_LARGE or KEY_ALGORITHM_REFUSED (details.key = position, details.rule), or ServiceError
   * WORK_BUDGET_EXCEEDED or KEY_BUSY, storing nothing.
   */
  putKeys(armoredKeys: string[]): Promise<string[]> {
    return this.track(() =>
      retryKeyConflicts(async () => {
        const sent = await readSentKeys(armoredKeys);
        const { updates } = await this.admitKeys(sent, []);
        await this.store.putKeys(updates);
        return [...new Set(sent.map((k) => k.fingerprint))];
      }),
    ).catch((e) => this.reject(e));
  }

  /**
   * admitKeys is the one key intake of every path that takes keys (publish with keys, POST /v1/keys):
   * each key sent is checked and merged with the stored copy by log/keys.ts (in a verify worker, under
   * its time budget), and comes back as a compare-and-set update (store.ts KeyUpdate). It also returns
   * the stored rows of `alsoWanted` (the signers a publish names), read in the same query.
   */
  private async admitKeys(
    sent: readonly SentKey[],
    alsoWanted: readonly string[],
  ): Promise<{ updates: KeyUpdate[]; stored: KeyRow[] }> {
    const wanted = new Set([...sent.map((k) => k.fingerprint), ...alsoWanted]);
    const stored = wanted.size > 0 ? await this.store.getKeys([...wanted]) : [];
    if (sent.length === 0) return { updates: [], stored };
    const storedBy = new Map(stored.map((r) => [r.fingerprint, r.armored]));
    const merged = (await this.work({
      kind: 'keys',
      keys: sent.map((k) => ({ incoming: k.armored, stored: storedBy.get(k.fingerprint) })),
    })) as { keys: MergedKey[] };
    // A key sent twice was merged in order (crypto-tasks.ts): its last result holds both copies.
    const last = new Map(merged.keys.map((k) => [k.fingerprint, k]));
    const updates = [...last.values()].map((k) => ({ ...k, previous: storedBy.get(k.fingerprint) }));
    return { updates, stored };
  }

  /** work runs one OpenPGP task in the verify workers, or on this thread when there are none. */
  private work(task: CryptoTask): Promise<CryptoResult> {
    if (this.verifier) {
      return task.kind === 'verify'
        ? this.verifier
            .verify(task.att, task.armoredKey, new Date(task.nowMs))
            .then((d) => ({ signedAtMs: d.getTime() }))
        : this.verifier.mergeKeys(task.keys).then((keys) => ({ keys }));
    }
    return runTask(task, this.keyCache);
  }

  /** getKey returns the armored public key with that primary fingerprint (any case), or undefined. */
  async getKey(fingerprint: string): Promise<string | undefined> {
    const fp = fingerprint.toUpperCase();
    if (!/^[0-9A-F]{40}$/.test(fp)) return undefined;
    return (await this.store.getKeys([fp]))[0]?.armored;
  }

  /** latestCheckpoint returns the latest signed checkpoint. Throws NOT_FOUND before the first one
   *  (only on a new database whose integrator has not run yet). */
  latestCheckpoint(): Promise<SignedCheckpoint> {
    return this.latestSigned();
  }

  private async latestSigned(): Promise<SignedCheckpoint> {
    const c = await this.store.latestCheckpoint();
    if (!c) {
      throw new ServiceError(
        'NOT_FOUND',
        'the log has no checkpoint yet: no integrator has run; start one',
        {},
        1,
      );
    }
    return this.toSigned(c.note);
  }

  private async toSigned(note: string): Promise<SignedCheckpoint> {
    if (this.cpCache?.note === note) return this.cpCache.signed;
    const signed: SignedCheckpoint = {
      note,
      checkpoint: parseCheckpoint(parseNote(note).text),
      timestamp: await checkpointTime(this.keys, note),
    };
    this.cpCache = { note, signed };
    this.m.treeSize = Number(signed.checkpoint.treeSize);
    this.m.checkpointTimestamp = signed.timestamp;
    return signed;
  }

  /**
   * readTile returns a hash tile (level >= 0) or entry bundle (level ENTRIES_LEVEL) at the requested
   * width, or undefined when the tree of the latest checkpoint does not have that tile at least that
   * wide (c2sp.org/tlog-tiles). Narrower partial tiles are the prefix of the stored one.
   */
  async readTile(t: TileCoord): Promise<Uint8Array | undefined> {
    const cp = await this.latestSigned();
    const size = cp.checkpoint.treeSize;
    if (t.width < 1 || t.width > TILE_WIDTH || t.index < 0n) return undefined;
    if (t.level === ENTRIES_LEVEL) {
      if (tileWidthAt(0, t.index, size) < t.width) return undefined;
      const start = t.index * BigInt(TILE_WIDTH);
      const rows = await this.store.readEntries(start, start + BigInt(t.width));
      if (rows.length !== t.width) throw new Error(`entries ${start}..+${t.width} are not all stored`);
      return encodeEntryBundle(rows.map((r) => r.entry));
    }
    if (t.level < 0 || tileWidthAt(t.level, t.index, size) < t.width) return undefined;
    const data = await this.store.readStoredTile(t.level, t.index);
    if (!data || data.length < t.width * 32)
      throw new Error(`tile ${t.level}/${t.index} is not stored wide enough`);
    return data.subarray(0, t.width * 32);
  }

  /**
   * findAttestations returns the logged attestations matching `id` and/or `key` (at least one is
   * required: else ATTESTATION_INVALID), ordered by index, with index > `after`, at most `limit`
   * (1..MAX_PAGE), each with its entry and inclusion proof against the latest checkpoint (returned too);
   * entries not yet covered by it are left out. `next` is the `after` for the next page, when there
   * is one. One query for the entries and one for all the proofs' hashes.
   */
  async findAttestations(q: { id?: string; key?: string; after?: bigint; limit: number }): Promise<{
    checkpoint: SignedCheckpoint;
    items: { index: bigint; entry: Uint8Array; inclusionProof: Uint8Array[] }[];
    next?: bigint;
  }> {
    if (q.id === undefined && q.key === undefined) {
      throw new LogError('ATTESTATION_INVALID', 'a query needs an id, a key, or both', { field: 'id' });
    }
    if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        `limit must be an integer from 1 to ${MAX_PAGE}, found ${q.limit}`,
        {
          field: 'limit',
        },
      );
    }
    const checkpoint = await this.latestSigned();
    const rows = await this.store.findEntries({
      ...(q.id !== undefined ? { id: q.id } : {}),
      ...(q.key !== undefined ? { key: q.key.toUpperCase() } : {}),
      ...(q.after !== undefined ? { after: q.after } : {}),
      below: checkpoint.checkpoint.treeSize,
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const proofs = await this.proveMany(
      page.map((r) => r.index),
      checkpoint.checkpoint.treeSize,
    );
    const items = page.map((r, i) => ({ index: r.index, entry: r.entry, inclusionProof: proofs[i]! }));
    return rows.length > q.limit
      ? { checkpoint, items, next: page[page.length - 1]!.index }
      : { checkpoint, items };
  }

  /**
   * proveMany returns inclusion proofs for several indexes in a tree of treeSize with ONE read of
   * stored tiles: plan (a dry run records the nodes each proof needs), one batched read, compute.
   */
  private async proveMany(indexes: bigint[], treeSize: bigint): Promise<Uint8Array[][]> {
    if (indexes.length === 0) return [];
    const planned: NodeId[] = [];
    const dummy = new Uint8Array(32);
    const record: HashReader = async (ids) => {
      planned.push(...ids);
      return ids.map(() => dummy);
    };
    for (const i of indexes) await proveInclusionWith(i, treeSize, record);
    const byId = new Map<string, Uint8Array>();
    const missing = new Map<string, NodeId>();
    for (const n of planned) {
      const k = `${n.level}/${n.index}`;
      const hit = this.nodeCache.get(k);
      if (hit) byId.set(k, hit);
      else missing.set(k, n);
    }
    if (missing.size > 0) {
      const ids = [...missing.values()];
      const hashes = await tileHashReader(treeSize, (tiles) => this.store.readTiles(tiles))(ids);
      ids.forEach((n, i) => {
        const k = `${n.level}/${n.index}`;
        byId.set(k, hashes[i]!);
        // Proof nodes are complete subtrees of this tree; check anyway before keeping one forever.
        if ((n.index + 1n) << BigInt(n.level) <= treeSize) this.nodeCache.set(k, hashes[i]!);
      });
    }
    const cached: HashReader = async (ids) => ids.map((n) => byId.get(`${n.level}/${n.index}`)!);
    return Promise.all(indexes.map((i) => proveInclusionWith(i, treeSize, cached)));
  }

  /**
   * proveInclusion returns the RFC 9162 §2.1.3 inclusion proof of `index` in the tree of `treeSize`.
   * Throws INDEX_OUT_OF_RANGE unless index < treeSize <= the latest checkpoint's size.
   */
  async proveInclusion(index: bigint, treeSize: bigint): Promise<Uint8Array[]> {
    const cp = await this.latestSigned();
    checkSize('treeSize', treeSize, cp.checkpoint.treeSize);
    if (index < 0n || index >= treeSize) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        `index must be from 0 to treeSize - 1 = ${treeSize - 1n}, found ${index}`,
        {
          field: 'index',
        },
      );
    }
    return proveInclusionWith(
      index,
      treeSize,
      tileHashReader(treeSize, (t) => this.store.readTiles(t)),
    );
  }

  /**
   * proveConsistency returns the RFC 9162 §2.1.4 consistency proof between sizes size1 <= size2 <=
   * the latest checkpoint's size (else INDEX_OUT_OF_RANGE).
   */
  async proveConsistency(size1: bigint, size2: bigint): Promise<Uint8Array[]> {
    const cp = await this.latestSigned();
    checkSize('size2', size2, cp.checkpoint.treeSize);
    if (size1 < 0n || size1 > size2) {
      throw new LogError('INDEX_OUT_OF_RANGE', `size1 must be from 0 to size2 = ${size2}, found ${size1}`, {
        field: 'from',
      });
    }
    return proveConsistencyWith(
      size1,
      size2,
      tileHashReader(size2, (t) => this.store.readTiles(t)),
    );
  }

  /**
   * entries returns up to `limit` (1..MAX_PAGE) entries from index `start`, in log order, within the
   * latest checkpoint (empty past its end). Throws INDEX_OUT_OF_RANGE for a negative start or bad limit.
   */
  async entries(start: bigint, limit: number): Promise<{ index: bigint; entry: Uint8Array }[]> {
    if (start < 0n)
      throw new LogError('INDEX_OUT_OF_RANGE', `start must be >= 0, found ${start}`, { field: 'start' });
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        `limit must be an integer from 1 to ${MAX_PAGE}, found ${limit}`,
        {
          field: 'limit',
        },
      );
    }
    const cp = await this.latestSigned();
    const end =
      start + BigInt(limit) < cp.checkpoint.treeSize ? start + BigInt(limit) : cp.checkpoint.treeSize;
    if (end <= start) return [];
    return this.store.readEntries(start, end);
  }

  /** backlog returns how many accepted attestations wait for integration (all processes). */
  async backlog(): Promise<number> {
    const n = await this.store.backlog();
    this.m.backlog = n;
    return n;
  }

  /**
   * storageCounts returns row counts of the log's tables (entries, pending, tiles, checkpoints,
   * keys): for tests and operators. Not part of the HTTP API.
   */
  storageCounts(): Promise<{
    entries: number;
    pending: number;
    tiles: number;
    checkpoints: number;
    keys: number;
  }> {
    return this.store.counts();
  }

  /** metrics returns the counters for /metrics (gauges as last seen; call backlog() to refresh it). */
  metrics(): ServiceMetrics {
    const ts = this.m.checkpointTimestamp;
    return {
      ...this.m,
      rejections: { ...this.m.rejections },
      batchSize: { ...this.m.batchSize, counts: [...this.m.batchSize.counts] },
      integrationLatencyMs: {
        ...this.m.integrationLatencyMs,
        counts: [...this.m.integrationLatencyMs.counts],
      },
      checkpointAgeSeconds: ts ? Math.max(0, (Date.now() - ts.getTime()) / 1000) : undefined,
    };
  }

  /**
   * rateLimitStore returns a new express-rate-limit Store whose counters live in the database
   * (rate_limits), so a limit holds across every process sharing it. Give each limiter its own
   * `prefix`. The window comes from the limiter's options (init).
   */
  rateLimitStore(prefix = 'rl:'): RateLimitStore {
    return new DbRateLimitStore(this.store, prefix);
  }
}

/** DbRateLimitStore is an express-rate-limit Store over the rate_limits table. */
class DbRateLimitStore implements RateLimitStore {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private readonly store: Store;
  private calls = 0;

  constructor(store: Store, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  init(options: RateLimitOptions): void {
    this.windowMs = options.windowMs;
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const r = await this.store.rateLimitGet(this.prefix + key);
    return r ? { totalHits: r.hits, resetTime: r.resetAt } : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // Sweep expired counters now and then (any process may; it only deletes finished windows).
    if (++this.calls % 1000 === 0) await this.store.rateLimitReset(undefined);
    const r = await this.store.rateLimitIncrement(this.prefix + key, this.windowMs);
    return { totalHits: r.hits, resetTime: r.resetAt };
  }

  async decrement(key: string): Promise<void> {
    await this.store.rateLimitDecrement(this.prefix + key);
  }

  async resetKey(key: string): Promise<void> {
    await this.store.rateLimitReset(this.prefix + key);
  }
}

function checkOptions(o: ServiceOptions): void {
  const positive = [
    'checkpointIntervalMs',
    'republishIntervalMs',
    'batchMaxSize',
    'batchMaxAgeMs',
    'maxBacklog',
    'publishWaitMs',
  ] as const;
  for (const k of positive) {
    const v = o[k];
    if (!Number.isSafeInteger(v) || v < (k === 'batchMaxAgeMs' ? 0 : 1)) {
      throw new ServiceError('CONFIG_INVALID', `${k} must be a positive integer, found ${String(v)}`, {
        field: k,
      });
    }
  }
  if (o.verifyWorkers !== undefined && (!Number.isSafeInteger(o.verifyWorkers) || o.verifyWorkers < 0)) {
    throw new ServiceError(
      'CONFIG_INVALID',
      `verifyWorkers must be a whole number (0: verify on the main thread), found ${String(o.verifyWorkers)}`,
      { field: 'verifyWorkers' },
    );
  }
  if (!o.dataDir) throw new ServiceError('CONFIG_INVALID', 'dataDir must be set', { field: 'dataDir' });
}

function checkSize(field: string, size: bigint, max: bigint): void {
  if (size < 0n || size > max) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `${field} must be from 0 to the latest checkpoint's size ${max}, found ${size}`,
      { field, max: max.toString() },
    );
  }
}

/** SentKey is a key sent with a request: its armor, and the primary fingerprint read from it. */
interface SentKey {
  armored: string;
  fingerprint: string;
}

/**
 * readSentKeys checks the shape and size of the keys sent with a request and reads each one's primary
 * fingerprint: packets parsed, no signature verified (that happens in admitKeys, off this thread). Throws
 * LogError KEY_INVALID or KEY_TOO_LARGE with details.key = position.
 */
async function readSentKeys(armoredKeys: unknown): Promise<SentKey[]> {
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
 * retryKeyConflicts runs fn again when a concurrent merge of the same signer key was stored between its
 * read and its write (KeyConflictError: its transaction rolled back, nothing stored), at most
 * KEY_MERGE_ATTEMPTS times; then KEY_BUSY.
 */
async function retryKeyConflicts<T>(fn: () => Promise<T>): Promise<T> {
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

/** withItem runs fn and re-throws its LogError with details.item = i (and the position in the message). */
async function withItem<T>(i: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw new LogError(e.code, `attestation ${i}: ${e.message}`, { ...e.details, item: i });
  }
}
