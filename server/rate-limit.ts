/**
 * The publish rate limit's counters, kept in the database (rate_limits, sql/) so that a limit holds
 * across every process sharing it (SPEC.md "Limits": publishes per IP and window, 429 with Retry-After).
 * server/http/middleware.ts gives DbRateLimitStore to express-rate-limit.
 *
 * Crash safety: each call is one statement, so a counter is never half-updated. A process that dies
 * between a request's increment and its answer leaves the hit counted, which errs on the side of
 * limiting; the window's end (reset_at) bounds it.
 */
import type {
  ClientRateLimitInfo,
  Options as RateLimitOptions,
  Store as RateLimitStore,
} from 'express-rate-limit';

/** RateLimitCounters is the storage of the rate-limit counters (SqlStore in server/store.ts). */
export interface RateLimitCounters {
  /** rateLimitIncrement counts a hit on `key`, starting a window of windowMs when none is running. */
  rateLimitIncrement(key: string, windowMs: number): Promise<{ hits: number; resetAt: Date }>;
  /** rateLimitGet returns the running window's count for `key`, or undefined when none runs. */
  rateLimitGet(key: string): Promise<{ hits: number; resetAt: Date } | undefined>;
  /** rateLimitDecrement takes one hit back (never below 0). */
  rateLimitDecrement(key: string): Promise<void>;
  /** rateLimitReset deletes the counter of `key`, or with undefined every counter whose window ended. */
  rateLimitReset(key: string | undefined): Promise<void>;
}

/** SWEEP_EVERY: one increment in this many also deletes the counters whose window has ended. */
const SWEEP_EVERY = 1000;

/**
 * DbRateLimitStore is an express-rate-limit Store over RateLimitCounters. Give each limiter its own
 * `prefix`; the window comes from the limiter's options (init).
 */
export class DbRateLimitStore implements RateLimitStore {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private readonly store: RateLimitCounters;
  private calls = 0;

  constructor(store: RateLimitCounters, prefix: string) {
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
    if (++this.calls % SWEEP_EVERY === 0) await this.store.rateLimitReset(undefined);
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
