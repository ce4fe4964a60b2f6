/**
 * The express 5 app of Sig Server: every endpoint of SPEC.md "HTTP API" with the wire format of
 * docs/contracts.md. Handlers are thin (parse, call LogService, encode); one file per route group:
 * log-routes.ts (tlog-tiles under /log), attestations.ts, keys.ts, proofs.ts, info.ts, signet.ts (/sig),
 * ops.ts (/healthz, /metrics). Errors go through one table (errors.ts).
 */
import express, { type Express } from 'express';
import type { Config } from '../config.js';
import type { LogService } from '../log-service.js';
import type { Logger } from '../logger.js';
import type { Witness } from '../witness/witness.js';
import { attestationRoutes } from './attestations.js';
import { checkpointRoutes } from './checkpoints.js';
import type { HttpContext } from './context.js';
import { errorHandler, HttpError } from './errors.js';
import { infoRoutes } from './info.js';
import { keyRoutes } from './keys.js';
import { logRoutes } from './log-routes.js';
import { createHttpMetrics } from './metrics.js';
import { accessLog, cors, requestId, securityHeaders, writeGuard } from './middleware.js';
import { openapiRoutes } from './openapi.js';
import { opsRoutes } from './ops.js';
import { peerRoutes } from './peers.js';
import { proofRoutes } from './proofs.js';
import { signetRoutes } from './signet.js';
import { uiRoutes } from './ui.js';
import { witnessRoutes } from './witness.js';

/** AppState is shared between the app and whoever shuts it down. */
export interface AppState {
  /** closing: set on shutdown; writes answer 503 SHUTTING_DOWN and connections close after each answer. */
  closing: boolean;
}

/**
 * createApp returns the express app for `service` and its state (set `state.closing` to drain), with
 * the routes of the roles given (`roles.witness`: POST /witness/add-checkpoint). Never throws for a
 * valid Config.
 */
export function createApp(
  service: LogService,
  config: Config,
  logger: Logger,
  roles: { witness?: Witness | undefined } = {},
): { app: Express; state: AppState } {
  const state: AppState = { closing: false };
  const metrics = createHttpMetrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  const ctx: HttpContext = {
    service,
    config,
    logger,
    state,
    metrics,
    writeGuard: writeGuard(service, config, state),
    witness: roles.witness,
  };

  app.use(requestId, securityHeaders, accessLog(logger, metrics, state), cors);
  app.use(logRoutes(ctx));
  app.use(attestationRoutes(ctx));
  app.use(keyRoutes(ctx));
  app.use(proofRoutes(ctx));
  app.use(infoRoutes(ctx));
  app.use(signetRoutes(ctx));
  app.use(opsRoutes(ctx));
  app.use(peerRoutes(ctx));
  if (roles.witness) app.use(witnessRoutes(ctx, roles.witness));
  app.use(checkpointRoutes(ctx));
  // The explorer (web/) and the API description; ui.ts gives its routes their own CSP.
  app.use(openapiRoutes());
  app.use(uiRoutes());
  app.use((req, _res, next) => {
    next(
      new HttpError('NOT_FOUND', `no such endpoint: ${req.method} ${req.path.slice(0, 200)}`, {
        field: 'path',
      }),
    );
  });
  app.use(
    errorHandler(
      {
        retryAfterSeconds: Math.max(1, Math.ceil(config.checkpointIntervalMs / 1000)),
        onRejected: (code) => metrics.rejected(code),
        onBug: (err, id) => logger.error('internal error', { requestId: id, err }),
      },
      config.maxBodyBytes,
    ),
  );
  return { app, state };
}
