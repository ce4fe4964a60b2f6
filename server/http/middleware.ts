/**
 * Cross-cutting middleware: request ids, security headers, CORS on the read path, the access log, and the
 * write guard (shutdown check, per-IP rate limit kept in the database, JSON body parser with the size
 * limit).
 */
import { randomUUID } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Config } from '../config.js';
import type { LogService } from '../log-service.js';
import type { Logger } from '../logger.js';
import { HttpError } from './errors.js';
import type { HttpMetrics } from './metrics.js';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * requestId takes the client's X-Request-Id when it is 1-128 safe characters, else makes a UUID; it is
 * echoed in the response header and kept in res.locals.requestId for logs and 500 bodies.
 */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  const id = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
  res.locals.requestId = id;
  res.setHeader('X-Request-Id', id);
  next();
};

/**
 * securityHeaders sets headers for an API that serves no HTML: nosniff, no referrer, no framing, and a
 * Content-Security-Policy that allows nothing.
 */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  next();
};

/**
 * cors opens the read path to every origin (Access-Control-Allow-Origin: *) on GET and HEAD, and answers
 * preflights with GET and HEAD only, so browsers never send a cross-origin POST.
 */
export const cors: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After, ETag');
  } else if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD');
    res.setHeader('Access-Control-Max-Age', '86400');
    res.status(204).end();
    return;
  }
  next();
};

/**
 * accessLog writes one line per answered request (method, path, route, status, duration, request id,
 * client address; never bodies or query values beyond the path) and counts it.
 */
export function accessLog(logger: Logger, metrics: HttpMetrics, state: { closing: boolean }): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    if (state.closing) res.setHeader('Connection', 'close');
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.request(req.method, route, res.statusCode);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const fields = {
        requestId: res.locals.requestId,
        method: req.method,
        path: req.path.slice(0, 200),
        route,
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
        ip: req.ip,
      };
      if (res.statusCode >= 500) logger.warn('request', fields);
      else logger.info('request', fields);
    });
    next();
  };
}

/**
 * writeGuard returns the middleware every write route runs first: 503 SHUTTING_DOWN while the process
 * drains, the per-IP rate limit (429 RATE_LIMITED with Retry-After; its counter lives in the database via
 * LogService.rateLimitStore, so it holds across processes), then the JSON body parser (413
 * BODY_TOO_LARGE over MAX_BODY_BYTES, 400 JSON_INVALID). Any content type is parsed as JSON: the Signet
 * clients do not all set one.
 */
export function writeGuard(
  service: LogService,
  config: Config,
  state: { closing: boolean },
): RequestHandler[] {
  const guards: RequestHandler[] = [
    (_req, _res, next) => {
      if (state.closing) {
        next(
          new HttpError(
            'SHUTTING_DOWN',
            'the server is shutting down: retry shortly (another process may answer)',
          ),
        );
        return;
      }
      next();
    },
  ];
  if (config.rateLimitPublishes > 0) {
    const limit = config.rateLimitPublishes;
    const windowMs = config.rateLimitWindowMs;
    guards.push(
      rateLimit({
        windowMs,
        limit,
        standardHeaders: 'draft-7',
        legacyHeaders: false,
        store: service.rateLimitStore('publish:'),
        // 'trust proxy' is the operator's explicit choice (TRUST_PROXY), documented in the README.
        validate: { trustProxy: false, xForwardedForHeader: false },
        handler: (_req, _res, next) => {
          next(
            new HttpError(
              'RATE_LIMITED',
              `more than ${limit} write requests from this address in ${Math.ceil(windowMs / 1000)} s: retry after Retry-After seconds`,
              { limit, windowMs },
            ),
          );
        },
      }),
    );
  }
  guards.push(express.json({ limit: config.maxBodyBytes, strict: true, type: () => true }));
  return guards;
}
