/**
 * Errors of the server core that are not about bad input (those are LogError, log/errors.ts): the log
 * is busy, an operator misconfigured it, or a thing asked for does not exist.
 *
 * ServiceError has the same shape as LogError (`code`, `message`, `details`), so the HTTP layer maps
 * both in one table: `{"error": {"code", "message", "details"}}`. The codes here never collide with
 * LogError codes. Add codes, never rename one.
 */

/** SERVICE_ERROR_CODES lists every stable ServiceError code. */
export const SERVICE_ERROR_CODES = [
  'BACKLOG_FULL', // too many accepted attestations wait for integration (HTTP 503 + Retry-After)
  'INTEGRATION_TIMEOUT', // accepted and durably stored, but not yet in a checkpoint (HTTP 503 + Retry-After)
  'SERVICE_CLOSED', // the service is shutting down (HTTP 503)
  'NOT_FOUND', // no such key, tile, checkpoint (HTTP 404)
  'SCHEMA_MISMATCH', // the database's schema version is not this server's (operator error, refuse to start)
  'IDENTITY_MISMATCH', // key files or origin differ from what the database recorded (refuse to start)
  'CONFIG_INVALID', // bad options or key files (refuse to start)
  'WORK_BUDGET_EXCEEDED', // a request's OpenPGP work ran past its time budget and was stopped (HTTP 422)
  'KEY_BUSY', // a signer key kept changing under concurrent merges; retry (HTTP 503 + Retry-After)
  'INDEX_UNAVAILABLE', // the index map of the answer's checkpoint is pruned or being written; retry (HTTP 503)
] as const;

export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];

/**
 * ServiceError is thrown by server/ for conditions that are not the caller's malformed input.
 * `retryAfterSeconds` is set for BACKLOG_FULL and INTEGRATION_TIMEOUT (the HTTP layer sends it as
 * Retry-After). `details` is safe to show to users (never secrets).
 */
export class ServiceError extends Error {
  readonly code: ServiceErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ServiceErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** isServiceError reports whether `e` is a ServiceError, optionally with the given code. */
export function isServiceError(e: unknown, code?: ServiceErrorCode): e is ServiceError {
  return e instanceof ServiceError && (code === undefined || e.code === code);
}
