/**
 * exit-codes: the ONE place where error codes (log/errors.ts LogError, cli/errors.ts CliError) become
 * process exit codes. The README's "Exit codes" table is this table.
 *
 * | code | name         | meaning                                                                     |
 * |------|--------------|-----------------------------------------------------------------------------|
 * | 0    | OK           | success; for `sig verify`: trusted                                          |
 * | 1    | USAGE        | bad arguments, local files, a question with no terminal, anything else      |
 * | 2    | NOT_TRUSTED  | verification finished: not trusted by the policy, or marked bad             |
 * | 3    | STALE        | no configured server gave a fresh checkpoint (or none is configured)        |
 * | 4    | INVALID      | a server sent invalid data: proof, signature, pinned key, receipt, rollback |
 * | 5    | FORK         | two signed checkpoints of one log disagree; evidence written                |
 * | 6    | UNAVAILABLE  | network failure, timeout, 5xx, or still 429/503 after bounded retries       |
 * | 7    | REFUSED      | the server refused the request (4xx), e.g. an attestation it rejects        |
 * | 8    | UNDECIDED    | `sig verify`: cannot decide; a logged attestation by a trusted key does not |
 * |      |              | verify (bad signature, or no usable copy of the key): it is never dropped   |
 * | 9    | INDEX_FRAUD  | `sig audit --full`: a signed index leaf does not name its position or hold  |
 * |      |              | the root recomputed from the entries before it; evidence written           |
 * | 10   | QUORUM_NOT_MET | `sig verify --remote`, `sig audit`: a server with pinned witnesses sent a |
 * |      |              | checkpoint without the pinned quorum of valid, fresh cosignatures          |
 */
import { isLogError } from '../log/errors.js';
import { CliError } from './errors.js';

/** EXIT is the table of exit codes by name. */
export const EXIT = {
  OK: 0,
  USAGE: 1,
  NOT_TRUSTED: 2,
  STALE: 3,
  INVALID: 4,
  FORK: 5,
  UNAVAILABLE: 6,
  REFUSED: 7,
  UNDECIDED: 8,
  INDEX_FRAUD: 9,
  QUORUM_NOT_MET: 10,
} as const;

/** ExitCode is one of the values of EXIT. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** EXIT_DESCRIPTIONS says in one line what each exit code means (printed by --help of every command). */
export const EXIT_DESCRIPTIONS: Record<ExitCode, string> = {
  0: 'ok (verify: trusted)',
  1: 'usage error, bad local data, or a question with no terminal to ask it on',
  2: 'not trusted by the policy, or marked bad by a trusted key',
  3: 'stale: no configured server gave a fresh checkpoint (or none is configured)',
  4: 'invalid data from a server: proof, signature, pinned key, receipt or rollback',
  5: 'fork detected: two signed checkpoints disagree (evidence written under $SIG_DIR/evidence)',
  6: 'network failure or server unavailable',
  7: 'the server refused the request (4xx)',
  8: 'cannot decide: a logged attestation by a trusted key does not verify (named in the output)',
  9: 'index fraud: a signed index leaf holds a wrong root or position (evidence written under $SIG_DIR/evidence)',
  10: 'witness quorum not met: the checkpoint lacks the pinned quorum of valid, fresh cosignatures',
};

const BY_CODE: Record<string, ExitCode> = {
  // cli/errors.ts
  USAGE: EXIT.USAGE,
  LOCAL_DATA_INVALID: EXIT.USAGE,
  NOT_INTERACTIVE: EXIT.USAGE,
  NOT_TRUSTED: EXIT.NOT_TRUSTED,
  CHECKPOINT_STALE: EXIT.STALE,
  NO_SERVER: EXIT.STALE,
  SERVER_RESPONSE_INVALID: EXIT.INVALID,
  SERVER_KEY_MISMATCH: EXIT.INVALID,
  CHECKPOINT_ROLLBACK: EXIT.INVALID,
  RECEIPT_INVALID: EXIT.INVALID,
  FORK_DETECTED: EXIT.FORK,
  SERVER_UNAVAILABLE: EXIT.UNAVAILABLE,
  SERVER_REFUSED: EXIT.REFUSED,
  SERVER_LIMIT_EXCEEDED: EXIT.INVALID,
  DEADLINE_EXCEEDED: EXIT.UNAVAILABLE,
  UNDECIDED: EXIT.UNDECIDED,
  // server/peers/errors.ts: what a server says about a peer it follows (GET /v1/peers).
  PEER_UNAVAILABLE: EXIT.UNAVAILABLE,
  PEER_BUSY: EXIT.UNAVAILABLE,
  PEER_LIMIT_EXCEEDED: EXIT.INVALID,
  PEER_RESPONSE_INVALID: EXIT.INVALID,
  PEER_TILE_MISMATCH: EXIT.INVALID,
  PEER_FORKED: EXIT.FORK,
  // log/errors.ts: everything a server can send that fails verification is INVALID.
  HASH_INVALID: EXIT.INVALID,
  INDEX_OUT_OF_RANGE: EXIT.INVALID,
  INCLUSION_PROOF_INVALID: EXIT.INVALID,
  CONSISTENCY_PROOF_INVALID: EXIT.INVALID,
  TILE_PATH_INVALID: EXIT.INVALID,
  TILE_INVALID: EXIT.INVALID,
  ENTRY_TOO_LARGE: EXIT.INVALID,
  CHECKPOINT_INVALID: EXIT.INVALID,
  NOTE_INVALID: EXIT.INVALID,
  NOTE_UNVERIFIED: EXIT.INVALID,
  NOTE_SIGNATURE_INVALID: EXIT.INVALID,
  ENTRY_INVALID: EXIT.INVALID,
  LOOKUP_PROOF_INVALID: EXIT.INVALID,
  INDEX_LEAF_INVALID: EXIT.INVALID,
  INDEX_ANSWER_INCOMPLETE: EXIT.INVALID,
  INDEX_FRAUD: EXIT.INDEX_FRAUD,
  WITNESS_RESPONSE_INVALID: EXIT.INVALID,
  WITNESS_REQUEST_INVALID: EXIT.USAGE,
  // cli/witnesses.ts; the server's 503s of the log role (fail closed) are a server unavailable.
  WITNESS_QUORUM_NOT_MET: EXIT.QUORUM_NOT_MET,
  WITNESS_QUORUM_PENDING: EXIT.UNAVAILABLE,
  WITNESS_QUORUM_TIMEOUT: EXIT.UNAVAILABLE,
  POLICY_INVALID: EXIT.USAGE,
  // A witness refused a checkpoint (server/witness, HTTP 403/404/422).
  WITNESS_CHECKPOINT_UNVERIFIED: EXIT.REFUSED,
  WITNESS_LOG_UNKNOWN: EXIT.REFUSED,
  WITNESS_CHECKPOINT_INCONSISTENT: EXIT.REFUSED,
  // Attestation and key errors are mostly about local input (a file the user gave); where they come
  // from a server the CLI wraps them in SERVER_RESPONSE_INVALID first.
  KEY_INVALID: EXIT.USAGE,
  KEY_TOO_LARGE: EXIT.USAGE,
  KEY_ALGORITHM_REFUSED: EXIT.USAGE,
  ATTESTATION_INVALID: EXIT.USAGE,
  ATTESTATION_TOO_LARGE: EXIT.USAGE,
  SIGNATURE_MALFORMED: EXIT.USAGE,
  SIGNATURE_INVALID: EXIT.USAGE,
  KEY_MISMATCH: EXIT.USAGE,
  KEY_UNKNOWN: EXIT.USAGE,
};

/**
 * exitCodeFor returns the exit code for an error thrown anywhere in a command: the table above for
 * LogError and CliError codes, USAGE for oclif's own parse errors and anything else.
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError || isLogError(err)) return BY_CODE[err.code] ?? EXIT.USAGE;
  return EXIT.USAGE;
}

/** exitCodeForCode returns the exit code for a stable error code string (USAGE when unknown). */
export function exitCodeForCode(code: string): ExitCode {
  return BY_CODE[code] ?? EXIT.USAGE;
}

const SEVERITY: Record<ExitCode, number> = {
  0: 0,
  1: 1,
  7: 2,
  6: 3,
  3: 4,
  2: 5,
  8: 6,
  10: 7,
  4: 8,
  9: 9,
  5: 10,
};

/**
 * worse returns the more serious of two exit codes, for commands that talk to several servers:
 * FORK > INDEX_FRAUD > INVALID > QUORUM_NOT_MET > UNDECIDED > NOT_TRUSTED > STALE > UNAVAILABLE >
 * REFUSED > USAGE > OK.
 */
export function worse(a: ExitCode, b: ExitCode): ExitCode {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}
