/**
 * errors: the CLI's own failures, beside log/'s LogError: a stable `code` (mapped to an exit code in ONE place,
 * cli/exit-codes.ts) and a message that says what was expected, what was found and how to fix it.
 */
import { isLogError, LogError } from '../log/errors.js';

/** CLI_ERROR_CODES lists every stable code the CLI raises itself. Add codes, never rename one. */
export const CLI_ERROR_CODES = [
  'USAGE', // bad arguments or flags
  'LOCAL_DATA_INVALID', // a file under $SIG_DIR that does not parse, a missing key
  'NOT_INTERACTIVE', // a question that needs a terminal, asked with no terminal and no flag answering it
  'NOT_TRUSTED', // verification finished and the policy says not trusted (or marked bad)
  'CHECKPOINT_STALE', // no configured server gave a fresh checkpoint
  'NO_SERVER', // no server configured where one is needed
  'SERVER_RESPONSE_INVALID', // a server answer that does not parse or does not match what was asked
  'SERVER_KEY_MISMATCH', // a server's key is not the one pinned (or not the one the user said to pin)
  'CHECKPOINT_ROLLBACK', // a server signed a smaller tree than one already kept
  'RECEIPT_INVALID', // a publish receipt that does not prove what was sent
  'FORK_DETECTED', // two signed checkpoints of one log that cannot both be true
  'SERVER_UNAVAILABLE', // network failure, timeout, 5xx, or 429/503 after the bounded retries
  'SERVER_REFUSED', // the server answered 4xx: it refused the request
  'SERVER_LIMIT_EXCEEDED', // an answer past one of the client's bounds (cli/client.ts CLIENT_LIMITS)
  'DEADLINE_EXCEEDED', // the command's overall deadline (--timeout) passed
  'UNDECIDED', // verification finished but cannot decide: a logged attestation by a trusted key does not verify
  'WITNESS_QUORUM_NOT_MET', // a checkpoint without the pinned quorum of valid, fresh cosignatures (cli/witnesses.ts)
] as const;

/** CliErrorCode is one of CLI_ERROR_CODES. */
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** CliError is thrown by cli/ for failures that are not log/ verification errors. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: CliErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.details = details;
  }
}

/**
 * withContext runs fn and, when it throws a LogError or CliError, rethrows the same code with `context`
 * in front of the message (and in details.context), so the user reads what failed where ("server a:
 * inclusion proof of entry 3 against checkpoint size 7: ..."). Other errors pass through unchanged.
 */
export async function withContext<T>(context: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isLogError(e)) throw new LogError(e.code, `${context}: ${e.message}`, { ...e.details, context });
    if (e instanceof CliError)
      throw new CliError(e.code, `${context}: ${e.message}`, { ...e.details, context });
    throw e;
  }
}
