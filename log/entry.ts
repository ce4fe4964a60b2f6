/**
 * The log's entry bytes (SPEC.md "The log": Entry).
 *
 * An entry is the UTF-8 RFC 8785 (JCS) canonical JSON of `{"attestation": {data, key, sig}, "loggedAt":
 * "<RFC 3339 UTC with milliseconds>"}`. The server makes it deterministically; responses carry the bytes
 * verbatim, so a client hashes exactly what it got (RFC 6962 leaf hash) and then parses it with
 * parseEntry, which accepts only bytes that encodeEntry would have produced: one entry, one encoding.
 * Pure: no I/O.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual } from './bytes.js';
import { canonicalJson } from './canonical-json.js';
import { isLogError, LogError } from './errors.js';
import { dedupDigest } from './signature-canonical.js';
import { type Attestation, parseAttestation } from './signet.js';

/**
 * canonicalJson is re-exported from log/canonical-json.ts for importers not yet switched (cli/verify.ts);
 * import it from there. Remove this line once nothing imports canonicalJson from entry.js.
 */
export { canonicalJson } from './canonical-json.js';

/** MAX_ENTRY_BYTES is the largest entry: c2sp.org/tlog-tiles entry bundles frame entries with a uint16. */
export const MAX_ENTRY_BYTES = 65535;

/** RFC 3339 UTC timestamp with exactly three fraction digits, as Date.prototype.toISOString writes it. */
const LOGGED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const utf8Encoder = new TextEncoder();

/**
 * Entry is one logged attestation: the attestation as published (after parseAttestation) and the time
 * the server accepted it, `loggedAt`, an RFC 3339 UTC string with milliseconds (2026-11-25T12:00:00.000Z).
 */
export interface Entry {
  attestation: Attestation;
  loggedAt: string;
}

/**
 * encodeEntry returns the entry bytes: UTF-8 of canonicalJson({attestation, loggedAt}) (SPEC.md "The
 * log"). It re-checks the attestation with parseAttestation (ATTESTATION_INVALID, ATTESTATION_TOO_LARGE,
 * SIGNATURE_MALFORMED), throws ENTRY_INVALID when loggedAt is not an RFC 3339 UTC timestamp with
 * milliseconds, and ENTRY_TOO_LARGE above MAX_ENTRY_BYTES. Other fields of `e` are not encoded.
 */
export function encodeEntry(e: Entry): Uint8Array {
  const attestation = parseAttestation(e.attestation);
  checkLoggedAt(e.loggedAt);
  const bytes = utf8Encoder.encode(canonicalJson({ attestation, loggedAt: e.loggedAt }));
  if (bytes.length > MAX_ENTRY_BYTES) {
    throw new LogError(
      'ENTRY_TOO_LARGE',
      `entry is ${bytes.length} bytes; an entry must be at most ${MAX_ENTRY_BYTES} bytes (c2sp.org/tlog-tiles)`,
      { size: bytes.length, limit: MAX_ENTRY_BYTES },
    );
  }
  return bytes;
}

/**
 * parseEntry returns the entry the bytes encode. It throws ENTRY_TOO_LARGE above MAX_ENTRY_BYTES, and
 * ENTRY_INVALID (details.field, and details.cause for attestation errors) unless the bytes are valid
 * UTF-8 JSON of an object with exactly the members `attestation` (which passes parseAttestation) and
 * `loggedAt` (RFC 3339 UTC with milliseconds), and are exactly what encodeEntry makes of that value
 * (no whitespace, sorted keys, canonical numbers and escapes, no byte-order mark).
 */
export function parseEntry(bytes: Uint8Array): Entry {
  if (!(bytes instanceof Uint8Array)) invalidEntry('$', 'entry bytes (a Uint8Array)');
  if (bytes.length > MAX_ENTRY_BYTES) {
    throw new LogError(
      'ENTRY_TOO_LARGE',
      `entry is ${bytes.length} bytes; an entry is at most ${MAX_ENTRY_BYTES} bytes (c2sp.org/tlog-tiles)`,
      { size: bytes.length, limit: MAX_ENTRY_BYTES },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    invalidEntry('$', 'UTF-8 text, found invalid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    invalidEntry('$', `JSON, found a syntax error (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidEntry('$', 'a JSON object {"attestation", "loggedAt"}');
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (k !== 'attestation' && k !== 'loggedAt')
      invalidEntry(k, `only "attestation" and "loggedAt", found "${k}"`);
  }
  if (!('attestation' in obj)) invalidEntry('attestation', 'an "attestation" member, found none');
  if (!('loggedAt' in obj)) invalidEntry('loggedAt', 'a "loggedAt" member, found none');
  let attestation: Attestation;
  try {
    attestation = parseAttestation(obj.attestation);
  } catch (err) {
    if (!(err instanceof LogError)) throw err;
    const field = typeof err.details.field === 'string' ? `attestation.${err.details.field}` : 'attestation';
    throw new LogError('ENTRY_INVALID', `entry: ${err.message}`, { field, cause: err.code });
  }
  checkLoggedAt(obj.loggedAt);
  const entry: Entry = { attestation, loggedAt: obj.loggedAt };
  const again = encodeEntry(entry);
  if (!bytesEqual(again, bytes)) {
    invalidEntry('$', 'the RFC 8785 canonical encoding (sorted keys, no whitespace, canonical numbers)');
  }
  return entry;
}

/**
 * attestationDigest returns the server's dedup key, dedupDigest (log/signature-canonical.ts): SHA-256
 * of the UTF-8 canonical JSON of {data, key, sig} with sig in canonical form, so one attestation has one
 * digest whatever its member order, its loggedAt, or the spelling of its signature packet (header
 * format, unhashed subpackets). A sig that is not one signature packet canonicalSig can read
 * (parseAttestation only checks that it is base64; such a sig never verifies, so it is never logged) is
 * hashed as it is: every parsed attestation has a digest. It throws ENTRY_INVALID only when the
 * attestation is not JSON data (never for a parsed attestation).
 */
export function attestationDigest(att: Attestation): Uint8Array {
  try {
    return dedupDigest(att);
  } catch (e) {
    if (!isLogError(e, 'SIGNATURE_MALFORMED')) throw e;
    return sha256(utf8Encoder.encode(canonicalJson({ data: att.data, key: att.key, sig: att.sig })));
  }
}

function checkLoggedAt(v: unknown): asserts v is string {
  if (typeof v !== 'string' || !LOGGED_AT.test(v)) {
    invalidEntry(
      'loggedAt',
      `an RFC 3339 UTC timestamp with milliseconds like 2026-11-25T12:00:00.000Z, found ${JSON.stringify(v)}`,
    );
  }
  const t = Date.parse(v);
  if (Number.isNaN(t) || new Date(t).toISOString() !== v) {
    invalidEntry('loggedAt', `a real UTC date and time, found ${JSON.stringify(v)}`);
  }
}

function invalidEntry(field: string, expected: string): never {
  throw new LogError('ENTRY_INVALID', `entry: expected ${expected} (at ${field})`, { field });
}
