/**
 * The log role's witness policy (SPEC.md "Witnesses", `WITNESS_POLICY`): a c2sp.org/tlog-policy file
 * naming the witnesses this log asks, each with the URL of its submission prefix
 * (c2sp.org/tlog-witness: requests go to `<url>/add-checkpoint`), and the quorum. Parsed with
 * log/policy.ts; this file reads it from disk and checks what the log role needs on top: every witness
 * has a URL. `log` lines are allowed (one file can serve this log and its clients) and ignored here.
 *
 * A policy with no witnesses (or `quorum none`) asks for no cosignature: today's behaviour, exactly as
 * if WITNESS_POLICY were unset.
 *
 * Also CosigningError, the stable codes of this role that reach HTTP (server/http/errors.ts maps them:
 * both 503 with Retry-After).
 */
import { readFileSync } from 'node:fs';
import { isLogError } from '../../log/errors.js';
import { POLICY_NONE, type PolicyWitness, parseWitnessPolicy, type WitnessPolicy } from '../../log/policy.js';
import { ServiceError } from '../errors.js';

/** COSIGNING_ERROR_CODES are the codes of CosigningError. */
export const COSIGNING_ERROR_CODES = [
  // No checkpoint of this log has reached its witness quorum yet: nothing can be served (HTTP 503).
  'WITNESS_QUORUM_PENDING',
  // A publish is logged, but no checkpoint covering it reached the quorum within PUBLISH_WAIT_MS (503).
  'WITNESS_QUORUM_TIMEOUT',
] as const;

/** CosigningErrorCode is one of COSIGNING_ERROR_CODES. */
export type CosigningErrorCode = (typeof COSIGNING_ERROR_CODES)[number];

/**
 * CosigningError is thrown by the served-checkpoint selector and by publish when the witnesses'
 * quorum holds things up (fail closed). Same shape as ServiceError: code, message, details,
 * retryAfterSeconds (sent as Retry-After).
 */
export class CosigningError extends Error {
  readonly code: CosigningErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryAfterSeconds: number;

  constructor(
    code: CosigningErrorCode,
    message: string,
    details: Record<string, unknown>,
    retryAfter: number,
  ) {
    super(message);
    this.name = 'CosigningError';
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfter;
  }
}

/** AskedWitness is a witness of the policy with the URL the log submits to. */
export interface AskedWitness extends PolicyWitness {
  url: string;
}

/** CosigningPolicy is a policy that asks for cosignatures: at least one witness, a quorum other than none. */
export interface CosigningPolicy {
  policy: WitnessPolicy;
  witnesses: AskedWitness[];
}

/**
 * parseCosigningPolicy returns the cosigning policy of a tlog-policy text, or undefined when it asks for
 * no cosignature (no witness line, or `quorum none`). Throws ServiceError CONFIG_INVALID naming the
 * file, the line and the fix for a policy log/policy.ts refuses or a witness without a URL.
 */
export function parseCosigningPolicy(text: string | Uint8Array, file: string): CosigningPolicy | undefined {
  let policy: WitnessPolicy;
  try {
    policy = parseWitnessPolicy(text);
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw new ServiceError('CONFIG_INVALID', `WITNESS_POLICY ${file}: ${e.message}; fix the file`, {
      field: 'WITNESS_POLICY',
      file,
      ...e.details,
    });
  }
  if (policy.witnesses.length === 0 || policy.quorum === POLICY_NONE) return undefined;
  const witnesses = policy.witnesses.map((w) => {
    if (w.url === undefined) {
      throw new ServiceError(
        'CONFIG_INVALID',
        `WITNESS_POLICY ${file}: witness ${JSON.stringify(w.name)} has no URL; this log must know where to submit its checkpoints: add the witness's submission prefix, e.g. "witness ${w.name} ${w.vkey} https://witness.example/witness" (requests go to <url>/add-checkpoint)`,
        { field: 'WITNESS_POLICY', file, witness: w.name },
      );
    }
    return { ...w, url: w.url.replace(/\/+$/, '') };
  });
  return { policy, witnesses };
}

/**
 * loadCosigningPolicy reads and parses the WITNESS_POLICY file (parseCosigningPolicy); undefined when
 * no file is given. Throws ServiceError CONFIG_INVALID when the file cannot be read or is refused.
 */
export function loadCosigningPolicy(file: string | undefined): CosigningPolicy | undefined {
  if (file === undefined || file === '') return undefined;
  let text: Uint8Array;
  try {
    text = readFileSync(file);
  } catch (e) {
    throw new ServiceError(
      'CONFIG_INVALID',
      `WITNESS_POLICY ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the path of a c2sp.org/tlog-policy file, or unset WITNESS_POLICY`,
      { field: 'WITNESS_POLICY', file },
    );
  }
  return parseCosigningPolicy(text, file);
}
