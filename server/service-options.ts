/**
 * ServiceOptions: what LogService.open takes (server/main.ts fills it from server/config.ts), its
 * defaults (SPEC.md, docs/contracts.md), and the check of the numbers before anything is opened.
 */
import { ServiceError } from './errors.js';
import type { Logger } from './logger.js';

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

/**
 * checkOptions throws ServiceError CONFIG_INVALID (details.field) when a bound is not a positive integer
 * (batchMaxAgeMs may be 0), verifyWorkers is not a whole number, or dataDir is empty.
 */
export function checkOptions(o: ServiceOptions): void {
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
