/**
 * One error type for everything in log/: bad input and failed verification.
 *
 * Every failure carries a stable `code` (part of the API: the HTTP layer maps codes to statuses in
 * server/http, the CLI maps them to exit codes in cli/) and a message that says what was expected and
 * what was found. Broken invariants inside our own code are plain `Error`s, never a LogError.
 */

/** ErrorCode lists every stable code. Add new codes here, never rename one. */
export const ERROR_CODES = [
  // Hashes, sizes and indexes (RFC 9162 §2.1).
  'HASH_INVALID', // not a 32-byte SHA-256 hash
  'INDEX_OUT_OF_RANGE', // index >= treeSize, size1 > size2, negative or non-integer numbers
  'INCLUSION_PROOF_INVALID',
  'CONSISTENCY_PROOF_INVALID',
  'LOOKUP_PROOF_INVALID', // SPEC.md "The index": a map lookup proof malformed or not folding to the root
  'INDEX_LEAF_INVALID', // SPEC.md "The index": a checkpoint's last leaf is not an index leaf naming size-1 (or not included)
  'INDEX_ANSWER_INCOMPLETE', // an answer that fails a completeness check (log/index-answer.ts, details.check names it)
  'INDEX_FRAUD', // a signed index leaf that does not name its position or hold the recomputed root (replay)
  // c2sp.org/tlog-tiles
  'TILE_PATH_INVALID',
  'TILE_INVALID', // wrong length for its width, bad bundle framing
  'ENTRY_TOO_LARGE', // an entry over 65,535 bytes cannot go in an entry bundle
  // c2sp.org/tlog-checkpoint and c2sp.org/signed-note
  'CHECKPOINT_INVALID',
  'NOTE_INVALID', // malformed note text or signature lines, or over the size bounds
  'NOTE_UNVERIFIED', // no signature by any known key
  'NOTE_SIGNATURE_INVALID', // a known key's signature does not verify
  'KEY_INVALID', // malformed vkey/skey or OpenPGP key (log/keys.ts: details.rule names the rule)
  'KEY_TOO_LARGE', // an OpenPGP key over the size or count limits (log/keys.ts KEY_LIMITS)
  'KEY_ALGORITHM_REFUSED', // an OpenPGP key packet with an algorithm or size the log does not accept
  // Signet attestations and log entries
  'ATTESTATION_INVALID', // wrong shape: data.id, data.ok, key, sig
  'ATTESTATION_TOO_LARGE',
  'SIGNATURE_MALFORMED', // sig is not base64 of one binary OpenPGP signature
  'SIGNATURE_INVALID', // the signature does not verify over either Signet serialisation
  'KEY_MISMATCH', // `key` is not the primary fingerprint of the key that made the signature
  'KEY_UNKNOWN', // no public key for the signer
  'ENTRY_INVALID', // log entry bytes that are not canonical JSON of the entry shape
  // c2sp.org/tlog-witness and c2sp.org/tlog-policy (log/witness.ts, log/policy.ts)
  'WITNESS_REQUEST_INVALID', // a malformed add-checkpoint request body (the witness answers 400)
  'WITNESS_RESPONSE_INVALID', // a malformed add-checkpoint response body (200 cosignature lines, 409 size)
  'POLICY_INVALID', // a tlog-policy file that does not parse (details.line names the line)
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * LogError is thrown by log/ for bad input and failed verification. `code` is stable; `details`
 * names the field or item that failed (e.g. `{ field: 'proof', index: 3 }`) and is safe to show to
 * users (never secrets).
 */
export class LogError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'LogError';
    this.code = code;
    this.details = details;
  }
}

/** isLogError reports whether `e` is a LogError, optionally with the given code. */
export function isLogError(e: unknown, code?: ErrorCode): e is LogError {
  return e instanceof LogError && (code === undefined || e.code === code);
}
