/**
 * The one place that maps error codes to HTTP statuses (STYLE.md "Errors"), and the error handler that
 * writes every error body as `{"error": {"code", "message", "details"}}` (docs/contracts.md, HTTP wire
 * format).
 *
 * Bad input is always a 4xx whose message says what was expected and what was found. A 5xx means our own
 * bug or an unavailable dependency: the body says only "internal error" with the request id, and the full
 * error goes to the log under that id.
 */
import type { ErrorRequestHandler, Response } from 'express';
import { LogError } from '../../log/errors.js';

/** HTTP_STATUS maps every stable code (log/errors.ts, the service's, the HTTP layer's) to its status. */
export const HTTP_STATUS: Record<string, number> = {
  // log/errors.ts: bad input and failed verification.
  HASH_INVALID: 400,
  INDEX_OUT_OF_RANGE: 400,
  INCLUSION_PROOF_INVALID: 400,
  CONSISTENCY_PROOF_INVALID: 400,
  LOOKUP_PROOF_INVALID: 400,
  INDEX_LEAF_INVALID: 400,
  INDEX_ANSWER_INCOMPLETE: 400,
  INDEX_FRAUD: 400,
  TILE_PATH_INVALID: 400,
  ENTRY_TOO_LARGE: 413,
  CHECKPOINT_INVALID: 400,
  NOTE_INVALID: 400,
  NOTE_UNVERIFIED: 400,
  NOTE_SIGNATURE_INVALID: 400,
  KEY_INVALID: 400,
  KEY_TOO_LARGE: 413,
  KEY_ALGORITHM_REFUSED: 422,
  ATTESTATION_INVALID: 400,
  ATTESTATION_TOO_LARGE: 413,
  SIGNATURE_MALFORMED: 400,
  SIGNATURE_INVALID: 422,
  KEY_MISMATCH: 422,
  KEY_UNKNOWN: 422,
  // log/errors.ts codes that only our own stored data can produce: a bug, not bad input.
  TILE_INVALID: 500,
  ENTRY_INVALID: 500,
  // log/witness.ts, log/policy.ts: a bad add-checkpoint request is the 400 c2sp.org/tlog-witness names;
  // a witness's malformed answer is an upstream's bad data; a policy file is the operator's.
  WITNESS_REQUEST_INVALID: 400,
  WITNESS_RESPONSE_INVALID: 502,
  POLICY_INVALID: 400,
  // server/witness: the refusals of add-checkpoint, with the statuses c2sp.org/tlog-witness names.
  WITNESS_CHECKPOINT_UNVERIFIED: 403,
  WITNESS_LOG_UNKNOWN: 404,
  WITNESS_CHECKPOINT_INCONSISTENT: 422,
  // server/log-service.ts
  BACKLOG_FULL: 503,
  INTEGRATION_TIMEOUT: 503,
  SERVICE_CLOSED: 503,
  WORK_BUDGET_EXCEEDED: 422,
  KEY_BUSY: 503,
  // server/peers/errors.ts: a followed peer's fault, never an answer of this server (GET /v1/peers shows them).
  PEER_UNAVAILABLE: 502,
  PEER_BUSY: 503,
  PEER_LIMIT_EXCEEDED: 502,
  PEER_RESPONSE_INVALID: 502,
  PEER_TILE_MISMATCH: 502,
  PEER_FORKED: 502,
  INDEX_UNAVAILABLE: 503,
  // server/cosigning (the log role, fail closed): no served checkpoint yet; a publish's quorum is late.
  WITNESS_QUORUM_PENDING: 503,
  WITNESS_QUORUM_TIMEOUT: 503,
  // server/http
  JSON_INVALID: 400,
  REQUEST_INVALID: 400,
  PARAM_INVALID: 400,
  BODY_TOO_LARGE: 413,
  TOO_MANY_ATTESTATIONS: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};

/** RETRYABLE codes get a Retry-After header (seconds) unless the error carries its own. */
const RETRYABLE = new Set([
  'BACKLOG_FULL',
  'INTEGRATION_TIMEOUT',
  'SERVICE_CLOSED',
  'SHUTTING_DOWN',
  'KEY_BUSY',
  'WITNESS_QUORUM_PENDING',
  'WITNESS_QUORUM_TIMEOUT',
]);

/** HttpError is an error raised by the HTTP layer with a stable code (a key of HTTP_STATUS). */
export class HttpError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly retryAfterSeconds: number | undefined;
  constructor(
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** CodedError is the shape we map: a code we know, a message, optional details. */
interface CodedError {
  code: string;
  message: string;
  details: Record<string, unknown>;
  retryAfterSeconds?: number;
}

/**
 * codedError returns the stable-code view of `err` when it is one of ours (LogError, HttpError, or a
 * service error whose `code` is in HTTP_STATUS), else undefined: pg and system errors also carry a `code`
 * ('23505', 'ECONNREFUSED'), but those are not bad input and must never leak as a 4xx.
 */
export function codedError(err: unknown): CodedError | undefined {
  if (err instanceof LogError || err instanceof HttpError) return err;
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !(code in HTTP_STATUS)) return undefined;
  const details = (err as { details?: unknown }).details;
  const retry = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  const retryMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
  return {
    code,
    message: err.message,
    details: typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {},
    retryAfterSeconds:
      typeof retry === 'number' ? retry : typeof retryMs === 'number' ? Math.ceil(retryMs / 1000) : undefined,
  };
}

/** statusFor returns the HTTP status for a stable code (500 for a code we do not know). */
export function statusFor(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}

/** ErrorBody is the JSON of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** ErrorHooks lets the app count rejections and log bugs without this file knowing the logger. */
export interface ErrorHooks {
  /** retryAfterSeconds is the Retry-After for retryable errors that do not carry their own. */
  retryAfterSeconds: number;
  onRejected(code: string, status: number): void;
  onBug(err: unknown, requestId: string): void;
}

/**
 * bodyParserError turns the errors of express.json (body-parser 2) into ours: `entity.too.large` ->
 * BODY_TOO_LARGE (413), `entity.parse.failed` -> JSON_INVALID (400), charset/encoding -> 415.
 * Returns undefined for anything else.
 */
function bodyParserError(err: unknown, limit: number): HttpError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const type = (err as { type?: unknown }).type;
  const message = (err as { message?: unknown }).message;
  switch (type) {
    case 'entity.too.large':
      return new HttpError('BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`, {
        limit,
      });
    case 'entity.parse.failed':
      return new HttpError('JSON_INVALID', `request body is not valid JSON: ${String(message)}`, {
        field: 'body',
      });
    case 'entity.verify.failed':
    case 'request.size.invalid':
    case 'request.aborted':
      return new HttpError('REQUEST_INVALID', `request body could not be read: ${String(message)}`, {
        field: 'body',
      });
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new HttpError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${String(message)}: send UTF-8 JSON (identity, gzip or deflate)`,
        {
          field: 'content-type',
        },
      );
    default: {
      // Other http-errors from express itself (a malformed percent-encoding in a path is 400).
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && status !== 404) {
        return new HttpError('REQUEST_INVALID', `bad request: ${String(message)}`, {});
      }
      return undefined;
    }
  }
}

/** requestIdOf returns the request id set by the request-id middleware. */
export function requestIdOf(res: Response): string {
  return String(res.locals.requestId ?? '');
}

/**
 * errorHandler returns the express error middleware. JSON body `{"error": {...}}` everywhere, except
 * where a route set `res.locals.signetErrors` (the Signet Node client's /sig endpoints), which answer
 * `{"ok": false, "error": "<message>"}` with the same status.
 */
export function errorHandler(hooks: ErrorHooks, maxBodyBytes: number): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const coded = codedError(err) ?? bodyParserError(err, maxBodyBytes);
    let status: number;
    let body: ErrorBody;
    if (coded !== undefined && statusFor(coded.code) < 500) {
      status = statusFor(coded.code);
      body = { error: { code: coded.code, message: coded.message, details: coded.details } };
      hooks.onRejected(coded.code, status);
    } else if (coded !== undefined && RETRYABLE.has(coded.code)) {
      status = statusFor(coded.code);
      body = { error: { code: coded.code, message: coded.message, details: coded.details } };
      res.setHeader('Retry-After', String(Math.max(1, coded.retryAfterSeconds ?? hooks.retryAfterSeconds)));
      hooks.onRejected(coded.code, status);
    } else {
      status = 500;
      const requestId = requestIdOf(res);
      hooks.onBug(err, requestId);
      body = {
        error: {
          code: 'INTERNAL',
          message: `internal error (request id ${requestId})`,
          details: { requestId },
        },
      };
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status);
    res.setHeader('Cache-Control', 'no-store');
    if (res.locals.signetErrors === true) {
      res.json({ ok: false, error: body.error.message, code: body.error.code });
    } else {
      res.json(body);
    }
  };
}
