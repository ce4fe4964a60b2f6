/**
 * PeerFollowers: runs one Follower (follower.ts) per peer of the PEERS setting, in the integrating
 * process, while it holds the peers lock (lock.ts). Each peer has its own loop: a round, then the next
 * one at once while there is more to carry, else after pollMs; after an error, exponential backoff (from
 * pollMs to maxBackoffMs, or the peer's Retry-After for 429/503). A forked peer's loop ends for good. The
 * counters of /metrics are kept here (PeerMetrics, server/metrics.ts renders them).
 */
import type { Logger } from '../logger.js';
import type { PeerAdmission } from './carry.js';
import type { PeerSpec } from './config.js';
import { PeerError } from './errors.js';
import { Follower, type FollowLimits, type PeerStore } from './follower.js';
import { openPeersLock, type PeersLock } from './lock.js';

/** FollowOptions: the limits of a round, and the timing of the loops. */
export interface FollowOptions extends FollowLimits {
  pollMs: number;
  maxBackoffMs: number;
}

/** DEFAULT_FOLLOW: the settings a server runs with (bench/ and tests pass their own). */
export const DEFAULT_FOLLOW: Omit<FollowOptions, 'backlogShare'> = {
  pollMs: 1000,
  maxBackoffMs: 60_000,
  roundEntries: 4096,
  roundBytes: 32 * 1024 * 1024,
  requestTimeoutMs: 30_000,
};

/** PeerCounters are one peer's counters since process start (/metrics). */
export interface PeerCounters {
  rounds: number;
  errors: Record<string, number>;
  carried: number;
  added: number;
  indexLeaves: number;
  invalid: Record<string, number>;
  forked: number;
}

/** PeerFollowers runs the followers; start() once, close() to stop (waits for rounds in progress). */
export class PeerFollowers {
  private readonly followers: Follower[];
  private readonly store: PeerStore;
  private readonly lock: PeersLock;
  private readonly opts: FollowOptions;
  private readonly logger: Logger | undefined;
  /** counters by peer URL. */
  readonly counters = new Map<string, PeerCounters>();
  private closed = false;
  /** stopping aborts the requests in flight when close() is called. */
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    peers: readonly PeerSpec[],
    store: PeerStore,
    admission: PeerAdmission & { backlog(): Promise<number> },
    lock: PeersLock,
    opts: FollowOptions,
    logger?: Logger,
  ) {
    this.store = store;
    this.lock = lock;
    this.opts = { ...opts, stop: this.stopping.signal };
    this.logger = logger;
    this.followers = peers.map((p) => {
      const f = new Follower(p, store, admission, this.opts);
      const c: PeerCounters = {
        rounds: 0,
        errors: {},
        carried: 0,
        added: 0,
        indexLeaves: 0,
        invalid: {},
        forked: 0,
      };
      this.counters.set(p.url, c);
      f.onCarried = (k) => {
        c.carried += k.attestations;
        c.added += k.added;
        c.indexLeaves += k.indexLeaves;
        for (const code of k.invalidCodes) c.invalid[code] = (c.invalid[code] ?? 0) + 1;
      };
      return f;
    });
  }

  /** start starts one loop per peer. */
  start(): void {
    for (const f of this.followers) this.loops.push(this.loop(f));
  }

  /** close stops the loops (a round in progress finishes its current request or batch) and the lock. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    for (const w of this.wakers) w();
    await Promise.allSettled(this.loops);
    await this.lock.close();
  }

  private async loop(f: Follower): Promise<void> {
    const c = this.counters.get(f.peer.url)!;
    let failures = 0;
    while (!this.closed) {
      let waitMs = this.opts.pollMs;
      try {
        if (!(await this.lock.acquire())) {
          await this.sleep(this.opts.pollMs * 5);
          continue;
        }
        const r = await f.round();
        c.rounds++;
        failures = 0;
        if (r.stop) {
          c.forked = 1;
          this.logger?.error('peer forked: stopped following it; evidence on GET /v1/peers', {
            peer: f.peer.url,
          });
          return;
        }
        waitMs = r.waitMs ?? (r.more ? 0 : this.opts.pollMs);
      } catch (e) {
        if (this.closed) return;
        failures++;
        const code = (e as { code?: unknown }).code;
        const key = typeof code === 'string' ? code : 'INTERNAL';
        c.errors[key] = (c.errors[key] ?? 0) + 1;
        waitMs = this.backoff(failures, e);
        const message = (e as Error).message ?? String(e);
        if (e instanceof PeerError || key === 'BACKLOG_FULL') {
          this.logger?.warn('peer round failed', { peer: f.peer.url, code: key, message, retryInMs: waitMs });
        } else {
          this.logger?.error('peer round failed', { peer: f.peer.url, err: e, retryInMs: waitMs });
        }
        await this.store
          .load(f.peer.url, f.peer.vkey, f.peer.origin)
          .then((row) => this.store.failed(row, key, message))
          .catch(() => {});
      }
      if (waitMs > 0) await this.sleep(waitMs);
    }
  }

  /** backoff: the peer's Retry-After when it sent one, else pollMs doubled per failure up to maxBackoffMs. */
  private backoff(failures: number, e: unknown): number {
    if (e instanceof PeerError && e.retryAfterMs !== undefined)
      return Math.min(e.retryAfterMs, this.opts.maxBackoffMs);
    return Math.min(this.opts.pollMs * 2 ** Math.min(failures - 1, 16), this.opts.maxBackoffMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}

/**
 * followConfiguredPeers starts following the peers of the PEERS setting (server/main.ts, once the
 * server listens), with DEFAULT_FOLLOW, half of MAX_BACKLOG as the followers' share, this server's
 * MAX_ATTESTATION_BYTES, and the peers lock of its database. Does nothing without PEERS.
 */
export function followConfiguredPeers(
  service: {
    followPeers(peers: readonly PeerSpec[], opts: FollowOptions, lock: PeersLock, logger?: Logger): void;
  },
  config: {
    peers: PeerSpec[] | undefined;
    maxBacklog: number;
    maxAttestationBytes: number;
    databaseUrl: string | undefined;
  },
  logger: Logger,
): void {
  if (!config.peers) return;
  const backlogShare = Math.max(1, Math.floor(config.maxBacklog / 2));
  const opts = { ...DEFAULT_FOLLOW, backlogShare, maxAttestationBytes: config.maxAttestationBytes };
  service.followPeers(config.peers, opts, openPeersLock(config.databaseUrl), logger);
}
