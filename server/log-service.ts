/**
 * LogService: the server core behind HTTP (docs/contracts.md, "server/"). SKELETON: the surface is
 * final, the bodies are being filled in.
 */
import type { Store as RateLimitStore } from 'express-rate-limit';
import type { Checkpoint } from '../log/checkpoint.js';
import type { TileCoord } from '../log/tiles.js';

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

/** Logger is what the service logs to; `console` fits. Never given secrets. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** ServiceOptions configures LogService.open (defaults in DEFAULT_SERVICE_OPTIONS). */
export interface ServiceOptions {
  databaseUrl?: string;
  dataDir: string;
  /** origin: the checkpoint origin line and note key name; when unset, the one recorded in the
   *  database, or at first start `sig.local/<8 hex>` (recorded and reused). */
  origin?: string;
  noteKeyFile?: string;
  openpgpKeyFile?: string;
  checkpointIntervalMs: number;
  republishIntervalMs: number;
  batchMaxSize: number;
  batchMaxAgeMs: number;
  maxBacklog: number;
  publishWaitMs: number;
  integrate?: boolean;
  logger?: Logger;
  /** migrate: apply pending migrations at start (default true); false refuses an old schema. */
  migrate?: boolean;
  /** faults: test hooks called inside/after each batch transaction (throw to simulate a crash). */
  faults?: { beforeCommit?: () => void; afterCommit?: () => void };
}

/** ServiceMetrics are the counters the HTTP layer exposes on /metrics. */
export interface ServiceMetrics {
  publishesAccepted: number;
  duplicates: number;
  rejections: Record<string, number>;
  batches: number;
  batchSizeBuckets: { le: number; count: number }[];
  batchSizeSum: number;
  integrationLatencyMsSum: number;
  integrationLatencyCount: number;
  backlog: number;
  treeSize: number;
  checkpointTimestamp: Date | undefined;
  checkpointAgeSeconds: number | undefined;
}

/** LogService: see docs/contracts.md. */
export class LogService {
  private constructor() {}
  /** LogService.open opens the database, migrates, loads or makes the keys, starts the integrator. */
  static async open(_opts: ServiceOptions): Promise<LogService> {
    throw new Error('LogService.open: not implemented yet');
  }
  /** close stops taking publishes, finishes the current batch, stops timers, closes the database. */
  async close(): Promise<void> {}
  /** info returns the log's public identity. */
  info(): { origin: string; vkey: string; openpgpPublicKey: string; openpgpFingerprint: string } {
    throw new Error('not implemented yet');
  }
  /** publish: see docs/contracts.md. */
  async publish(_attestations: unknown[], _armoredKeys: string[]): Promise<Receipt[]> {
    throw new Error('not implemented yet');
  }
  /** putKeys stores public keys, returns their fingerprints. */
  async putKeys(_armoredKeys: string[]): Promise<string[]> {
    throw new Error('not implemented yet');
  }
  /** getKey returns the armored key or undefined. */
  async getKey(_fingerprint: string): Promise<string | undefined> {
    throw new Error('not implemented yet');
  }
  /** latestCheckpoint returns the latest signed checkpoint. */
  async latestCheckpoint(): Promise<SignedCheckpoint> {
    throw new Error('not implemented yet');
  }
  /** readTile returns a hash tile or entry bundle, undefined if not in the tree. */
  async readTile(_t: TileCoord): Promise<Uint8Array | undefined> {
    throw new Error('not implemented yet');
  }
  /** findAttestations: see docs/contracts.md. */
  async findAttestations(_q: { id?: string; key?: string; after?: bigint; limit: number }): Promise<{
    checkpoint: SignedCheckpoint;
    items: { index: bigint; entry: Uint8Array; inclusionProof: Uint8Array[] }[];
    next?: bigint;
  }> {
    throw new Error('not implemented yet');
  }
  /** proveInclusion: RFC 9162 §2.1.3. */
  async proveInclusion(_index: bigint, _treeSize: bigint): Promise<Uint8Array[]> {
    throw new Error('not implemented yet');
  }
  /** proveConsistency: RFC 9162 §2.1.4. */
  async proveConsistency(_size1: bigint, _size2: bigint): Promise<Uint8Array[]> {
    throw new Error('not implemented yet');
  }
  /** entries returns the feed of entries in log order. */
  async entries(_start: bigint, _limit: number): Promise<{ index: bigint; entry: Uint8Array }[]> {
    throw new Error('not implemented yet');
  }
  /** backlog returns how many accepted attestations wait for integration. */
  async backlog(): Promise<number> {
    throw new Error('not implemented yet');
  }
  /** metrics returns counters for /metrics. */
  metrics(): ServiceMetrics {
    throw new Error('not implemented yet');
  }
  /** rateLimitStore returns an express-rate-limit Store kept in the database. */
  rateLimitStore(_prefix?: string): RateLimitStore {
    throw new Error('not implemented yet');
  }
}
