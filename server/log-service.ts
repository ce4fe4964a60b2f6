/**
 * LogService: the lifecycle facade of the server core behind HTTP (docs/contracts.md "server/", the data
 * flow in docs/ARCHITECTURE.md). It opens the database (server/store.ts) and the log's identity
 * (server/identity.ts), wires the jobs together, and closes them in order. Each job has its own file:
 *   - admission of a publish: server/admission.ts, its keys through server/key-intake.ts;
 *   - integration and checkpoint signing: server/sequencer.ts;
 *   - waiting for publication (receipts): server/awaiter.ts;
 *   - reading and proving: server/reader.ts and server/prover.ts;
 *   - the rate-limit counters: server/rate-limit.ts; the counters of /metrics: server/metrics.ts.
 * The public methods are the API server/http uses; each one delegates to its job.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Store as ExpressRateLimitStore } from 'express-rate-limit';
import type { TileCoord } from '../log/tiles.js';
import { Admission, type AdmissionStore } from './admission.js';
import { Awaiter, type Receipt } from './awaiter.js';
import { loadCosigningPolicy } from './cosigning/policy.js';
import { Witnessing, type WitnessingOptions } from './cosigning/witnessing.js';
import { runTask } from './crypto-tasks.js';
import { type Db, openDb } from './db.js';
import { ServiceError } from './errors.js';
import { type IdentityStore, openIdentity } from './identity.js';
import { KeyCache } from './key-cache.js';
import { type CryptoWork, retryKeyConflicts, storeKeys } from './key-intake.js';
import type { ServerKeys } from './keys.js';
import type { Logger } from './logger.js';
import { IntegrationMetrics, type ServiceMetrics, snapshotMetrics } from './metrics.js';
import type { PeerSpec } from './peers/config.js';
import { type FollowOptions, type PeerCounters, PeerFollowers } from './peers/followers.js';
import type { PeersLock } from './peers/lock.js';
import { peersView } from './peers/status.js';
import { PeerSqlStore } from './peers/store.js';
import { DbRateLimitStore, type RateLimitCounters } from './rate-limit.js';
import { ReadReplica, type ReadReplicaOptions, type ReplicaFigures, refuseStandby } from './read-replica.js';
import {
  type AttestationPage,
  type CheckpointSample,
  type EntryRow,
  LogReader,
  type ReadStore,
  type SignedCheckpoint,
} from './reader.js';
import { type IntegrationStore, type RoundResult, Sequencer, type TreeState } from './sequencer.js';
import { checkOptions, type ServiceOptions } from './service-options.js';
import { openStore } from './store.js';
import { VerifyPool } from './verify-pool.js';

export type { Receipt } from './awaiter.js';
export type { Logger } from './logger.js';
export { BATCH_SIZE_BUCKETS, type Histogram, LATENCY_BUCKETS_MS, type ServiceMetrics } from './metrics.js';
export { type AttestationPage, MAX_PAGE, type SignedCheckpoint } from './reader.js';
export { DEFAULT_SERVICE_OPTIONS, type ServiceOptions } from './service-options.js';

/** StorageCounts are the row counts of the log's tables. */
export interface StorageCounts {
  /** entries: every leaf, index leaves included; attestations: the attestation entries alone. */
  entries: number;
  attestations: number;
  pending: number;
  tiles: number;
  checkpoints: number;
  keys: number;
}

/**
 * Store is all the storage LogService opens and closes: the interfaces of the jobs it wires (each
 * defined where it is used), and what open, close and storageCounts need. SqlStore (server/store.ts)
 * implements it on pg and PGlite. Every method throws on database errors.
 */
export interface Store extends ReadStore, AdmissionStore, IntegrationStore, RateLimitCounters, IdentityStore {
  readonly kind: 'pg' | 'pglite';
  /** state returns the integrated tree. */
  state(): Promise<TreeState>;
  /** counts returns row counts per table (tests and operators). */
  counts(): Promise<StorageCounts>;
  close(): Promise<void>;
}

/**
 * LogService: see docs/contracts.md. Open with LogService.open, close with close().
 */
export class LogService {
  private readonly store: Store;
  /**
   * db is the database the service opened, for the roles that keep their own tables beside the log's
   * (the witness, server/witness/). close() closes it: stop those roles first.
   */
  readonly db: Db;
  private readonly keys: ServerKeys;
  private readonly sequencer: Sequencer | undefined;
  /** verifier runs the OpenPGP work in worker threads; undefined: on this thread (verifyWorkers 0). */
  private readonly verifier: VerifyPool | undefined;
  /** keyCache: checked signer keys for OpenPGP work on this thread (verifyWorkers 0 only). */
  private readonly keyCache = new KeyCache();
  /** work runs one OpenPGP task in the verify workers, or on this thread when there are none. */
  private readonly work: CryptoWork = (task) =>
    this.verifier ? this.verifier.run(task) : runTask(task, this.keyCache);

  /** reader answers the read paths, on the replica with its own checkpoint when DATABASE_READ_URL is set
   *  (server/read-replica.ts); primaryReader: receipts and the cosigner's proofs, on the primary. */
  private readonly reader: LogReader;
  private readonly primaryReader: LogReader;
  private readonly replica: ReadReplica | undefined;
  private readonly admission: Admission;
  private readonly awaiter: Awaiter;
  /** witnessing: the log role (WITNESS_POLICY), set by open() when the policy asks for cosignatures. */
  private witnessing: Witnessing | undefined;
  private readonly integration = new IntegrationMetrics();
  /** rejections counts the failed publishes and key requests by error code (server/metrics.ts). */
  private readonly rejections: Record<string, number> = {};
  /** peerStore: the tables of the peers this log follows (server/peers/store.ts), set by open(). */
  private peerStore!: PeerSqlStore;
  /** followers: the peers this process follows (followPeers), while it integrates. */
  private followers: PeerFollowers | undefined;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(store: Store, keys: ServerKeys, opts: ServiceOptions, db: Db, replica?: ReadReplica) {
    this.store = store;
    this.db = db;
    this.keys = keys;
    this.replica = replica;
    const workers = opts.verifyWorkers ?? Math.max(1, availableParallelism() - 1);
    this.verifier = workers > 0 ? new VerifyPool(workers, opts.verifyBudgetMs) : undefined;
    // The served checkpoint is chosen in one place: server/cosigning/witnessing.ts when witnessed.
    const served = () => (this.witnessing ? this.witnessing.latestCheckpoint() : store.latestCheckpoint());
    this.primaryReader = new LogReader(store, keys, served);
    this.reader = replica ? new LogReader(replica.store, keys, replica.served) : this.primaryReader;
    this.admission = new Admission(store, this.work, opts.maxBacklog);
    // Receipts: a serve-only process with a replica waits for the replica to cover them, so what it
    // serves next never goes back; an integrating one proves on the primary, whose checkpoints it signs.
    const onReplica = opts.integrate === false ? replica : undefined;
    const awaited = onReplica?.awaited ?? {
      latestCheckpoint: served,
      entriesByDigest: (d: readonly Uint8Array[]) => store.entriesByDigest(d),
    };
    this.awaiter = new Awaiter(onReplica ? this.reader : this.primaryReader, awaited, {
      publishWaitMs: opts.publishWaitMs,
      pollMs: opts.pollMs,
      closed: () => this.closed,
      betweenReceiptReads: opts.faults?.betweenReceiptReads,
    });
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
          // The index keeps the map of the served checkpoint however old, when it can lag the newest
          // stored one (witnessed: the newest cosigned one); otherwise the history window covers it.
          servedSize: async () => this.witnessing?.servedSize(),
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
  static async open(opts: ServiceOptions & WitnessingOptions & ReadReplicaOptions): Promise<LogService> {
    checkOptions(opts);
    const policy = loadCosigningPolicy(opts.witnessPolicy);
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const db = await openDb({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir });
    let store: Store | undefined;
    let replica: ReadReplica | undefined;
    try {
      await refuseStandby(db);
      store = await openStore(db, { migrate: opts.migrate !== false });
      const keys = await openIdentity(store, opts);
      const failOpen = opts.witnessFailOpen === true;
      if (opts.databaseReadUrl) replica = await ReadReplica.open(opts.databaseReadUrl, policy, failOpen);
      const svc = new LogService(store, keys, opts, db, replica);
      svc.peerStore = new PeerSqlStore(db);
      opts.logger?.info('log opened', {
        origin: keys.origin,
        database: store.kind,
        integrate: opts.integrate !== false,
        treeSize: (await store.state()).treeSize,
        backlog: await store.backlog(),
      });
      if (policy) {
        svc.witnessing = new Witnessing(db, policy, {
          failOpen,
          integrate: opts.integrate !== false,
          prove: (m, n) => svc.primaryReader.prover.proveConsistency(m, n),
          onServed: (c) => svc.awaiter.sawCheckpoint(c),
          logger: opts.logger,
        });
      }
      if (svc.sequencer) {
        // One round now, so a new log has its first checkpoint (size 0) before open returns.
        await svc.sequencer.round();
        svc.sequencer.start();
      }
      if (!opts.cosignLater) await svc.startCosigning();
      return svc;
    } catch (e) {
      await replica?.close();
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
    // Followers first: a batch they are submitting finishes while admission and the database are up.
    await this.followers?.close();
    await this.sequencer?.stop();
    await this.witnessing?.stop();
    this.awaiter.close();
    await Promise.allSettled([...this.inflight]);
    await this.verifier?.close();
    await this.replica?.close();
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

  /**
   * publish checks every attestation (server/admission.ts: any failure throws a LogError with
   * details.item, details.key for a bad key, and stores nothing), stores the keys and the attestations as
   * pending in one transaction, waits until each is in the log under a signed checkpoint
   * (server/awaiter.ts), and returns the receipts in order (all against the same checkpoint). Duplicates
   * (also within the request) get their existing receipt. Throws ServiceError BACKLOG_FULL (nothing
   * stored), INTEGRATION_TIMEOUT (stored, will be logged: publish again later to get the receipt),
   * KEY_BUSY, WORK_BUDGET_EXCEEDED or SERVICE_CLOSED.
   */
  publish(attestations: unknown[], armoredKeys: string[]): Promise<Receipt[]> {
    return this.track(() => retryKeyConflicts(() => this.doPublish(attestations, armoredKeys))).catch((e) =>
      this.reject(this.witnessing ? this.witnessing.explainTimeout(e) : e),
    );
  }

  private async doPublish(attestations: unknown[], armoredKeys: string[]): Promise<Receipt[]> {
    const admitted = await this.admission.check(attestations, armoredKeys);
    // Read before the insert: a checkpoint seen after it bumps the generation (the lost wake-up,
    // server/awaiter.ts).
    const generation = this.awaiter.generation;
    const { added, allNew } = await this.admission.addPending(admitted);
    if (added > 0) this.sequencer?.kick(added);
    // All new: none can be under a checkpoint this process saw before the insert, so looking now
    // would only cost two queries; wait for the next checkpoint first.
    return this.awaiter.waitForReceipts(
      admitted.rows.map((r) => r.digest),
      allNew ? generation : undefined,
    );
  }

  /**
   * putKeys stores signers' public keys through the one intake (server/key-intake.ts admitKeys: checked,
   * then merged with the stored copies) and returns their fingerprints in order, once each. Throws
   * LogError KEY_INVALID, KEY_TOO_LARGE or KEY_ALGORITHM_REFUSED (details.key = position, details.rule),
   * or ServiceError WORK_BUDGET_EXCEEDED or KEY_BUSY, storing nothing.
   */
  putKeys(armoredKeys: string[]): Promise<string[]> {
    return this.track(() => retryKeyConflicts(() => storeKeys(this.store, this.work, armoredKeys))).catch(
      (e) => this.reject(e),
    );
  }

  /** getKey returns the armored public key with that primary fingerprint (any case), or undefined. */
  async getKey(fingerprint: string): Promise<string | undefined> {
    const fp = fingerprint.toUpperCase();
    if (!/^[0-9A-F]{40}$/.test(fp)) return undefined;
    return (await this.store.getKeys([fp]))[0]?.armored;
  }

  /** latestCheckpoint: LogReader.latestCheckpoint (NOT_FOUND before the first checkpoint). */
  latestCheckpoint(): Promise<SignedCheckpoint> {
    return this.reader.latestCheckpoint();
  }

  /** checkpointHistory: LogReader.checkpointHistory (sizes over time, for the explorer's plot). */
  checkpointHistory(points: number): Promise<CheckpointSample[]> {
    return this.reader.checkpointHistory(points);
  }

  /** readTile: LogReader.readTile (undefined when the latest checkpoint's tree lacks the tile). */
  readTile(t: TileCoord): Promise<Uint8Array | undefined> {
    return this.reader.readTile(t);
  }

  /** findAttestations: LogReader.findAttestations (a page of matches with proofs, and the checkpoint). */
  findAttestations(q: {
    id?: string;
    key?: string;
    after?: bigint;
    size?: bigint;
    limit: number;
    noIndex?: boolean;
  }): Promise<AttestationPage> {
    return this.reader.findAttestations(q);
  }

  /** findIndex: LogReader.findIndex (the latest checkpoint and its index for a query, no entries). */
  findIndex(q: { id?: string; key?: string }): ReturnType<LogReader['findIndex']> {
    return this.reader.findIndex(q);
  }

  /** proveInclusion: LogReader.proveInclusion (INDEX_OUT_OF_RANGE past the latest checkpoint). */
  proveInclusion(index: bigint, treeSize: bigint): Promise<Uint8Array[]> {
    return this.reader.proveInclusion(index, treeSize);
  }

  /** proveConsistency: LogReader.proveConsistency (INDEX_OUT_OF_RANGE past the latest checkpoint). */
  proveConsistency(size1: bigint, size2: bigint): Promise<Uint8Array[]> {
    return this.reader.proveConsistency(size1, size2);
  }

  /** entries: LogReader.entries (the feed, within the latest checkpoint). */
  entries(start: bigint, limit: number): Promise<EntryRow[]> {
    return this.reader.entries(start, limit);
  }

  /** replicaFigures: the replica's lag for /metrics (undefined without DATABASE_READ_URL). */
  async replicaFigures(): Promise<ReplicaFigures | undefined> {
    return this.replica?.figures(() => (this.witnessing ?? this.store).latestCheckpoint());
  }

  /** backlog returns how many accepted attestations wait for integration (all processes). */
  backlog(): Promise<number> {
    return this.admission.backlog();
  }

  /**
   * storageCounts returns row counts of the log's tables (entries, pending, tiles, checkpoints,
   * keys): for tests and operators. Not part of the HTTP API.
   */
  storageCounts(): Promise<StorageCounts> {
    return this.store.counts();
  }

  /** metrics returns the counters for /metrics (gauges as last seen; call backlog() to refresh it). */
  metrics(): ServiceMetrics {
    const m = snapshotMetrics({
      admission: this.admission.counters,
      rejections: this.rejections,
      integration: this.integration,
      checkpoint: this.reader.seen,
    });
    return this.witnessing ? { ...m, witnessing: this.witnessing.metrics() } : m;
  }

  /**
   * rateLimitStore returns a new express-rate-limit Store whose counters live in the database
   * (rate_limits), so a limit holds across every process sharing it. Give each limiter its own
   * `prefix`. The window comes from the limiter's options (init).
   */
  rateLimitStore(prefix = 'rl:'): ExpressRateLimitStore {
    return new DbRateLimitStore(this.store, prefix);
  }

  /** startCosigning starts the cosigning loop when witnessed (open does it, unless told cosignLater). */
  async startCosigning(): Promise<void> {
    await this.witnessing?.start();
  }

  /**
   * followPeers starts following `peers` (server/peers/followers.ts) if this process integrates; a
   * serve-only process does nothing. Their attestations go through the same admission as a publish, with
   * opts.backlogShare as its backlog limit, and their signer keys through the one key intake. `lock` says
   * which process follows (server/peers/lock.ts). close() stops them first. Call once after open.
   */
  followPeers(peers: readonly PeerSpec[], opts: FollowOptions, lock: PeersLock, logger?: Logger): void {
    if (!this.sequencer || peers.length === 0 || this.followers || this.closed) return;
    const admission = new Admission(this.store, this.work, opts.backlogShare);
    const carrier = {
      storeKeys: async (armored: string[]) => {
        await retryKeyConflicts(() => storeKeys(this.store, this.work, armored));
      },
      check: (atts: unknown[]) => admission.check(atts, []),
      addPending: async (a: Awaited<ReturnType<Admission['check']>>) => {
        const { added } = await retryKeyConflicts(() => admission.addPending(a));
        if (added > 0) this.sequencer?.kick(added);
        return added;
      },
      logged: async (digests: readonly Uint8Array[]) =>
        (await this.store.entriesByDigest(digests)).map((e) => e.digest),
      backlog: () => this.store.backlog(),
    };
    this.followers = new PeerFollowers(peers, this.peerStore, carrier, lock, opts, logger);
    this.followers.start();
  }

  /** peers returns the body of GET /v1/peers for the PEERS setting (server/peers/status.ts). */
  peers(peers: readonly PeerSpec[], staleMs: number): Promise<{ peers: Record<string, unknown>[] }> {
    return peersView(peers, this.peerStore, staleMs);
  }

  /** peerCounters returns the followers' counters by peer URL (/metrics); empty when not following. */
  peerCounters(): ReadonlyMap<string, PeerCounters> {
    return this.followers?.counters ?? new Map();
  }

  private onRound(r: RoundResult): void {
    this.integration.count(r);
    // Witnessed: publishers wait for a served checkpoint, which the cosigning loop announces.
    if (r.checkpoint && this.witnessing) this.witnessing.checkpointSigned();
    else if (r.checkpoint) this.awaiter.sawCheckpoint(r.checkpoint);
  }

  /** track runs a request unless the service is closing, and remembers it until it settles (close waits). */
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
    if (typeof code === 'string') this.rejections[code] = (this.rejections[code] ?? 0) + 1;
    throw e;
  }
}
