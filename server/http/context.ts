/**
 * What every route group gets: the service, the configuration, the logger, the process state (draining
 * on shutdown), the HTTP counters and the publish rate limiter.
 */
import type { RequestHandler } from 'express';
import type { Config } from '../config.js';
import type { LogService } from '../log-service.js';
import type { Logger } from '../logger.js';
import type { Witness } from '../witness/witness.js';
import type { HttpMetrics } from './metrics.js';

/** HttpContext is shared by the route groups of one app. */
export interface HttpContext {
  service: LogService;
  config: Config;
  logger: Logger;
  /** closing is set on shutdown: writes get 503 SHUTTING_DOWN, connections are closed after each answer. */
  state: { closing: boolean };
  metrics: HttpMetrics;
  /** writeGuard runs before every write route: shutdown check, rate limit, JSON body parser. */
  writeGuard: RequestHandler[];
  /** witness is the witness role (server/witness/), when WITNESS_LOGS turns it on. */
  witness?: Witness | undefined;
}
