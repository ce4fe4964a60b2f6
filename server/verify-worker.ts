/**
 * The verification worker (server/verify-pool.ts starts it): runs log/signet.ts verifyAttestation, the
 * CPU-heavy part of a publish, off the main thread, which keeps HTTP, the database and the integrator.
 * One message in, one out: {id, att, armoredKey, nowMs} -> {id, signedAtMs} or {id, error}. LogErrors
 * keep their code, message and details, so the publisher gets the same 4xx as without the worker.
 */
import { parentPort } from 'node:worker_threads';
import { isLogError } from '../log/errors.js';
import { type Attestation, verifyAttestation } from '../log/signet.js';
import { KeyCache } from './key-cache.js';

/** VerifyRequest is one attestation to verify with one armored key. */
export interface VerifyRequest {
  id: number;
  att: Attestation;
  armoredKey: string;
  nowMs: number;
}

/** VerifyAnswer is the worker's answer to the request with the same id. */
export type VerifyAnswer =
  | { id: number; signedAtMs: number }
  | { id: number; error: { code?: string; message: string; details?: Record<string, unknown> } };

const keys = new KeyCache();

async function answer(req: VerifyRequest): Promise<VerifyAnswer> {
  try {
    const key = await keys.parse(req.armoredKey);
    const r = await verifyAttestation(req.att, key, { now: new Date(req.nowMs) });
    return { id: req.id, signedAtMs: r.signedAt.getTime() };
  } catch (e) {
    if (isLogError(e)) return { id: req.id, error: { code: e.code, message: e.message, details: e.details } };
    return { id: req.id, error: { message: e instanceof Error ? e.message : String(e) } };
  }
}

parentPort?.on('message', (req: VerifyRequest) => {
  void answer(req).then((a) => parentPort?.postMessage(a));
});
