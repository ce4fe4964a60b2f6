/**
 * Strict parsing of query parameters and path segments (docs/contracts.md, HTTP wire format): indexes
 * and sizes are canonical non-negative decimal safe integers (no sign, no leading zeros, no spaces, no
 * exponent), returned as bigint; a parameter given twice, or in any other form, is a 400 PARAM_INVALID
 * naming the parameter.
 */
import type { Request } from 'express';
import { HttpError } from './errors.js';

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const FINGERPRINT = /^[0-9A-Fa-f]{40}$/;

/** MAX_ID_LENGTH bounds the `id` a query can ask for (Signet ids are digests or URLs). */
export const MAX_ID_LENGTH = 4096;

/** queryString returns the single string value of query parameter `name`, or undefined if absent. Throws PARAM_INVALID when repeated. */
export function queryString(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    throw new HttpError('PARAM_INVALID', `query parameter ${name} must be given once, as a plain value`, {
      field: name,
    });
  }
  return v;
}

/** parseDecimal returns `raw` as a bigint when it is a canonical decimal safe integer; throws PARAM_INVALID naming `name`. */
export function parseDecimal(name: string, raw: string): bigint {
  if (!DECIMAL.test(raw) || BigInt(raw) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new HttpError(
      'PARAM_INVALID',
      `${name} must be a non-negative whole number in canonical decimal (like 0 or 42, at most ${Number.MAX_SAFE_INTEGER}); found ${JSON.stringify(raw.slice(0, 40))}`,
      { field: name },
    );
  }
  return BigInt(raw);
}

/** queryIndex returns query parameter `name` as a bigint, `fallback` when absent, or throws PARAM_INVALID (also when required and absent). */
export function queryIndex(req: Request, name: string, fallback?: bigint): bigint {
  const raw = queryString(req, name);
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw new HttpError('PARAM_INVALID', `query parameter ${name} is required`, { field: name });
  }
  return parseDecimal(name, raw);
}

/**
 * queryLimit returns the page size: `limit` when given (1 or more; cut to `max`), else `max`.
 * Throws PARAM_INVALID for 0 or a non-canonical number.
 */
export function queryLimit(req: Request, max: number): number {
  const raw = queryString(req, 'limit');
  if (raw === undefined) return max;
  const n = parseDecimal('limit', raw);
  if (n < 1n) throw new HttpError('PARAM_INVALID', 'limit must be at least 1; found 0', { field: 'limit' });
  return n > BigInt(max) ? max : Number(n);
}

/** parseFingerprint returns a 40-hex v4 fingerprint in upper case, or throws PARAM_INVALID naming `name`. */
export function parseFingerprint(name: string, raw: string): string {
  if (!FINGERPRINT.test(raw)) {
    throw new HttpError(
      'PARAM_INVALID',
      `${name} must be a 40-digit hexadecimal OpenPGP v4 fingerprint; found ${JSON.stringify(raw.slice(0, 60))}`,
      { field: name },
    );
  }
  return raw.toUpperCase();
}

/** parseId returns a non-empty attestation id of at most MAX_ID_LENGTH characters without NUL, or throws PARAM_INVALID naming `name`. */
export function parseId(name: string, raw: string): string {
  if (raw.length === 0 || raw.length > MAX_ID_LENGTH) {
    throw new HttpError(
      'PARAM_INVALID',
      `${name} must be 1 to ${MAX_ID_LENGTH} characters; found ${raw.length}`,
      {
        field: name,
      },
    );
  }
  if (raw.includes('\u0000')) {
    // No logged id contains NUL (publish refuses them: Postgres text cannot hold U+0000), so the
    // query could only ever match nothing; say so rather than pass it to the database.
    throw new HttpError('PARAM_INVALID', `${name} must not contain U+0000 (NUL): no logged id does`, {
      field: name,
    });
  }
  return raw;
}
