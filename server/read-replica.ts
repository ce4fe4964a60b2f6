/**
 * Reads that scale out (DATABASE_READ_URL): the read paths of a process (checkpoint, tiles, the entry
 * feed, proofs, attestation and index queries: one LogReader) run on a Postgres streaming replica
 * through a pool of their own; writes (publishes, keys, rate limits, identity), the integrator and the
 * cosigning loop stay on DATABASE_URL, the primary (receipts: below).
 *
 * Why an answer from the replica is always provable there. A read-path answer takes its checkpoint
 * from the replica itself (LogReader's `served`, below: `checkpoints`, or `served_checkpoints` when
 * witnessed), never from the primary, and then reads tiles, entries and index buckets on the same
 * replica. That is enough because of how the primary writes them:
 *  - one sequencer round is ONE transaction (server/sequencer.ts, SqlStore.integrate): its entries,
 *    tiles, log_state, index leaf and bucket versions (server/index-round.ts) and its checkpoint row
 *    (integrationTx.addCheckpoint, server/integration-tx.ts) commit together (a re-signing that replaces
 *    the newest row does so in that transaction, for the same size and root);
 *  - rounds are serialised: each takes pg_try_advisory_xact_lock and `log_state FOR UPDATE`, which
 *    the previous round holds until its COMMIT, so every row a checkpoint of size N needs (its own
 *    round's, or an earlier round's) has its commit record before that checkpoint's in the WAL;
 *  - a served_checkpoints row is inserted after the checkpoint's round committed (the cosigning loop
 *    runs after COMMIT), so it too comes later in the WAL than everything its checkpoint covers;
 *  - a hot standby makes transactions visible in the order of their commit records in the WAL, and
 *    one transaction all at once; replay only moves forward.
 * So a checkpoint row a replica shows comes with every tile, entry and bucket version its proofs need,
 * and any later read on that replica sees at least those (partial tiles only grow: the prefix a tree
 * of size N needs never changes; bucket versions are pruned only when no checkpoint of the last 10
 * minutes needs them, the same window a cursor has on the primary). What the replica may not have yet
 * is newer: a lagging replica answers consistently for an older checkpoint, and /metrics shows the lag.
 *
 * Receipts. A serve-only process (INTEGRATE=false) with a replica waits for the replica to hold a
 * checkpoint covering a publish, and proves the receipt there: a client that publishes and then reads
 * through the same process never sees its tree go back (the CLI refuses a smaller tree than it kept).
 * The publish itself is written to the primary; while the replica lags past PUBLISH_WAIT_MS it gets 503
 * INTEGRATION_TIMEOUT (stored; a retry gets the receipt). An integrating process proves its receipts on
 * the primary, whose checkpoints it signs and announces to its waiting publishers.
 *
 * DATABASE_READ_URL must name ONE server: behind a load balancer over several replicas, a checkpoint
 * from one and tiles from a staler one would not match. Run one or more serve-only processes per replica.
 *
 * A process never runs on a standby as DATABASE_URL (refuseStandby): migrations, the identity record,
 * pending rows and rate-limit counters all write.
 */
import type { CosigningPolicy } from './cosigning/policy.js';
import { Witnessing } from './cosigning/witnessing.js';
import { type Db, openDb } from './db.js';
import { ServiceError } from './errors.js';
import type { StoredCheckpoint } from './sequencer.js';
import { SqlStore } from './store.js';

/** ReadReplicaOptions: the read replica setting (server/config.ts DATABASE_READ_URL). */
export interface ReadReplicaOptions {
  /** databaseReadUrl: a streaming replica of databaseUrl for the read paths; unset: reads on the primary. */
  databaseReadUrl?: string | undefined;
}

/** ReplicaFigures is what /metrics shows of the replica (renderReplicaMetrics). */
export interface ReplicaFigures {
  /** up: the replica answered the figures' query. */
  up: boolean;
  /** standby: the read database is in recovery (a hot standby); false when it is a primary. */
  standby: boolean;
  /** streaming: a WAL receiver runs on the replica (it streams from the primary). */
  streaming: boolean;
  /** replayLagSeconds: age of the last transaction replayed while WAL waits to be replayed (0 when
   *  everything received is replayed; undefined before any transaction was replayed). */
  replayLagSeconds: number | undefined;
  /** replica / primary: the checkpoint each would serve now (undefined when none or unreadable). */
  replica: StoredCheckpoint | undefined;
  primary: StoredCheckpoint | undefined;
}

/**
 * refuseStandby throws CONFIG_INVALID when `db` (opened as DATABASE_URL) is a hot standby: everything
 * this process writes would fail there, so say what to set instead.
 */
export async function refuseStandby(db: Db): Promise<void> {
  if (db.kind !== 'pg') return;
  const [r] = await db.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
  if (r?.standby) {
    throw new ServiceError(
      'CONFIG_INVALID',
      'DATABASE_URL names a hot standby (read-only): set DATABASE_URL to the primary, and DATABASE_READ_URL ' +
        'to this replica so that the reads go to it (README "Operations")',
      { field: 'DATABASE_URL' },
    );
  }
}

/** ReadReplica is the replica's pool and store; see the file comment. */
export class ReadReplica {
  readonly db: Db;
  /** store: SqlStore's reads on the replica (ReadStore); nothing writes through it. */
  readonly store: SqlStore;
  /** witnessing reads served_checkpoints on the replica (WITNESS_POLICY); it never cosigns. */
  private readonly witnessing: Witnessing | undefined;

  private constructor(db: Db, policy: CosigningPolicy | undefined, failOpen: boolean) {
    this.db = db;
    this.store = new SqlStore(db);
    const prove = () => Promise.reject(new Error('a read replica does not cosign'));
    const opts = { failOpen, integrate: false, prove, onServed: () => {} };
    this.witnessing = policy ? new Witnessing(db, policy, opts) : undefined;
  }

  /**
   * open connects to the replica (throws when it does not answer). No migration: the primary's schema
   * arrives by replication. With a cosigning policy the served checkpoint is the replica's newest row of
   * served_checkpoints, as on the primary (server/cosigning/witnessing.ts).
   */
  static async open(
    url: string,
    policy: CosigningPolicy | undefined,
    failOpen: boolean,
  ): Promise<ReadReplica> {
    return new ReadReplica(await openDb({ databaseUrl: url, dataDir: '' }), policy, failOpen);
  }

  /** served returns the checkpoint the read paths are bounded by, read from the replica itself. */
  readonly served = (): Promise<StoredCheckpoint | undefined> =>
    this.witnessing ? this.witnessing.latestCheckpoint() : this.store.latestCheckpoint();

  /** awaited: what a serve-only process's awaiter reads (server/awaiter.ts), all on the replica. */
  readonly awaited = {
    latestCheckpoint: () => this.served(),
    entriesByDigest: (d: readonly Uint8Array[]) => this.store.entriesByDigest(d),
  };

  /**
   * figures reads the replay lag on the replica, and the checkpoints the replica and the primary
   * (`primaryServed`) would serve now; one that cannot be read (none yet) is undefined.
   */
  async figures(primaryServed: () => Promise<StoredCheckpoint | undefined>): Promise<ReplicaFigures> {
    const quiet = (f: () => Promise<StoredCheckpoint | undefined>) => f().catch(() => undefined);
    const [[r], replica, primary] = await Promise.all([
      this.db
        .query<{ standby: boolean; lag: unknown; receivers: unknown }>(
          `SELECT pg_is_in_recovery() AS standby, (SELECT count(*) FROM pg_stat_wal_receiver) AS receivers,
                CASE WHEN NOT pg_is_in_recovery() THEN 0
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                     ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag`,
        )
        .catch(() => []),
      quiet(this.served),
      quiet(primaryServed),
    ]);
    const lag = r?.lag === null || r?.lag === undefined ? undefined : Math.max(0, Number(r.lag));
    const standby = r?.standby === true;
    const streaming = Number(r?.receivers ?? 0) > 0;
    return { up: r !== undefined, standby, streaming, replayLagSeconds: lag, replica, primary };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * renderReplicaMetrics returns the Prometheus lines of the replica's figures (none without a replica):
 * sig_replica_up, sig_replica_standby, sig_replica_streaming, sig_replica_replay_lag_seconds, sig_replica_tree_size, sig_primary_tree_size and
 * sig_replica_checkpoint_lag_seconds (how much older the replica's checkpoint is than the primary's).
 */
export function renderReplicaMetrics(f: ReplicaFigures | undefined): string[] {
  if (!f) return [];
  const out: string[] = [];
  const one = (name: string, help: string, value: number | bigint | undefined) => {
    if (value !== undefined) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
  };
  one('sig_replica_up', 'Whether DATABASE_READ_URL answered (1) or not (0).', f.up ? 1 : 0);
  if (!f.up) return out;
  one(
    'sig_replica_standby',
    'Whether DATABASE_READ_URL is a hot standby (1) or a primary (0).',
    f.standby ? 1 : 0,
  );
  one(
    'sig_replica_streaming',
    'Whether a WAL receiver runs on the replica (1: it streams from the primary; 0: the link is down).',
    f.streaming ? 1 : 0,
  );
  one(
    'sig_replica_replay_lag_seconds',
    'Age of the last transaction the replica replayed, while received WAL waits to be replayed (0: caught up).',
    f.replayLagSeconds,
  );
  one(
    'sig_replica_tree_size',
    'Tree size of the checkpoint the replica serves (reads answer for it).',
    f.replica?.treeSize,
  );
  one(
    'sig_primary_tree_size',
    'Tree size of the checkpoint the primary serves (receipts answer for it).',
    f.primary?.treeSize,
  );
  if (f.replica && f.primary) {
    const behind = (f.primary.signedAt.getTime() - f.replica.signedAt.getTime()) / 1000;
    one(
      'sig_replica_checkpoint_lag_seconds',
      "How much older the replica's checkpoint is than the primary's (by signing time; 0: the same).",
      Math.max(0, behind),
    );
  }
  return out;
}
