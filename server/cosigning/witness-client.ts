/**
 * The log's side of one c2sp.org/tlog-witness add-checkpoint request: POST `<url>/add-checkpoint`, with
 * a bounded time and a bounded answer. A witness is a remote party: its answer is hostile until
 * checked. This file bounds it (time, bytes, redirects) and reads its shape (log/witness.ts parsers);
 * server/cosigning/cosigner.ts verifies the cosignature itself with the witness's pinned key.
 */

import { isTimeout, raceAbort, readBody, timeoutSignal } from '../../log/bounded-read.js';
import { LogError } from '../../log/errors.js';
import type { NoteSignature } from '../../log/note.js';
import {
  MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
  parseAddCheckpointResponse,
  parseTreeSizeBody,
} from '../../log/witness.js';

/** WITNESS_CLIENT_LIMITS bounds one request: the whole exchange's time, and the bytes read of each kind of answer. */
export const WITNESS_CLIENT_LIMITS = {
  /** requestMs: the whole request, connect to last byte of the answer. */
  requestMs: 10_000,
  /** okBytes: a 200 body (cosignature lines). */
  okBytes: MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
  /** sizeBytes: a 409 body (a decimal size and a newline). */
  sizeBytes: 32,
  /** errorBytes: what is kept of any other body, for the log and /metrics (cut, never parsed). */
  errorBytes: 1024,
} as const;

/**
 * WitnessAnswer is what one request got: `cosigned` (200, the signature lines, not yet verified),
 * `conflict` (409, the size the witness has cosigned), or `failed` (anything else: a status the spec
 * names, another status, a network error, a timeout, or a body past its bound), with a stable reason.
 */
export type WitnessAnswer =
  | { kind: 'cosigned'; lines: NoteSignature[] }
  | { kind: 'conflict'; treeSize: bigint }
  | { kind: 'failed'; reason: string; status?: number; message: string };

/** The reason a status the spec names gets (c2sp.org/tlog-witness), for /metrics. */
function statusReason(status: number): string {
  switch (status) {
    case 400:
      return 'bad-request';
    case 403:
      return 'unverified';
    case 404:
      return 'unknown-origin';
    case 422:
      return 'refused';
    default:
      return status >= 500 ? 'server-error' : 'unexpected-status';
  }
}

/** Parses one bounded body with a log/witness.ts parser; a refusal becomes a `failed` answer. */
function parsed<T>(parse: () => T, status: number): T | WitnessAnswer {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return { kind: 'failed', reason: 'response-invalid', status, message: e.message };
  }
}

/**
 * submitCheckpoint POSTs an add-checkpoint body (log/witness.ts formatAddCheckpointRequest) to
 * `<url>/add-checkpoint` and returns the witness's answer, within WITNESS_CLIENT_LIMITS and `signal`
 * (aborted when the log closes). Redirects are refused (a witness is pinned by its URL too). Never
 * throws for what the witness or the network does: those are `failed` answers.
 */
export async function submitCheckpoint(
  url: string,
  body: string,
  signal?: AbortSignal,
): Promise<WitnessAnswer> {
  const abort = timeoutSignal(WITNESS_CLIENT_LIMITS.requestMs, signal);
  let res: Response;
  try {
    res = await raceAbort(
      fetch(`${url}/add-checkpoint`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        redirect: 'error',
        signal: abort,
      }),
      abort,
    );
  } catch (e) {
    const timedOut = isTimeout(abort);
    return {
      kind: 'failed',
      reason: timedOut ? 'timeout' : 'network',
      message: timedOut
        ? `no answer within ${WITNESS_CLIENT_LIMITS.requestMs} ms`
        : `request failed: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`,
    };
  }
  return readAnswer(res, abort);
}

/** readAnswer reads a witness's answer within its bound for the status (see submitCheckpoint). */
async function readAnswer(res: Response, timeout: AbortSignal): Promise<WitnessAnswer> {
  try {
    const max =
      res.status === 200
        ? WITNESS_CLIENT_LIMITS.okBytes
        : res.status === 409
          ? WITNESS_CLIENT_LIMITS.sizeBytes
          : WITNESS_CLIENT_LIMITS.errorBytes;
    const { bytes, over } = await readBody(res, max, timeout);
    if (over) {
      if (res.status === 200 || res.status === 409) {
        return {
          kind: 'failed',
          reason: 'response-too-large',
          status: res.status,
          message: `a ${res.status} answer over ${max} bytes`,
        };
      }
      return {
        kind: 'failed',
        reason: statusReason(res.status),
        status: res.status,
        message: `HTTP ${res.status}`,
      };
    }
    if (res.status === 200) {
      const lines = parsed(() => parseAddCheckpointResponse(bytes), 200);
      return Array.isArray(lines) ? { kind: 'cosigned', lines } : (lines as WitnessAnswer);
    }
    if (res.status === 409) {
      const size = parsed(() => parseTreeSizeBody(bytes), 409);
      return typeof size === 'bigint' ? { kind: 'conflict', treeSize: size } : (size as WitnessAnswer);
    }
    const text = new TextDecoder()
      .decode(bytes)
      .replace(/[^\x20-\x7e]+/g, ' ')
      .trim()
      .slice(0, 300);
    return {
      kind: 'failed',
      reason: statusReason(res.status),
      status: res.status,
      message: `HTTP ${res.status}${text ? `: ${text}` : ''}`,
    };
  } catch (e) {
    const timedOut = isTimeout(timeout);
    return {
      kind: 'failed',
      reason: timedOut ? 'timeout' : 'network',
      status: res.status,
      message: timedOut
        ? `the answer did not arrive within ${WITNESS_CLIENT_LIMITS.requestMs} ms`
        : `reading the answer failed: ${(e as Error).message}`,
    };
  }
}
