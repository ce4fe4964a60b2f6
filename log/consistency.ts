/**
 * Judging a new checkpoint against the one kept for a log: the decision a client (`sig verify`,
 * `sig audit`), a follower of a peer log, or a c2sp.org/tlog-witness makes before it keeps (or cosigns)
 * the new one.
 *
 * The kept checkpoint was verified and kept earlier; the next one has just been verified (signatures
 * are the caller's business: this judges the c2sp.org/tlog-checkpoint bodies only). Both are of one log
 * (same origin). A log only grows, and each tree extends the one before (RFC 9162 §2.1.4):
 * - same size, same root: the same tree (a re-signed checkpoint);
 * - larger size, and the consistency proof from the kept size to the next size verifies
 *   (RFC 9162 §2.1.4.2): the tree grew;
 * - smaller size: a rollback, whatever the proof says (an old checkpoint replayed, or a log that lost
 *   entries; neither may replace what was kept);
 * - same size with another root, or a proof that does not lead to both roots: a fork. The two signed
 *   checkpoints (and the proof) are the evidence. A fork is a verdict, never an exception: the caller
 *   must keep the evidence, not lose it in an error path.
 *
 * Bad input (an invalid checkpoint, checkpoints of two logs, a proof element that is not a hash, a
 * non-empty proof where no proof can exist) throws a LogError: it says nothing about the log.
 * Pure: no I/O.
 */
import { base64Encode, bytesEqual } from './bytes.js';
import { type Checkpoint, formatCheckpoint } from './checkpoint.js';
import { isLogError, LogError } from './errors.js';
import { checkProofHashes, verifyConsistency } from './proof.js';

/**
 * CheckpointJudgement is what judgeCheckpoint decided about the next checkpoint:
 * - `same`: the kept tree, re-signed;
 * - `consistent`: a larger tree that extends the kept one; keep the next checkpoint;
 * - `rollback`: a smaller tree than the kept one; keep the kept one;
 * - `fork`: the two checkpoints cannot both be true; `reason` says why: `root-mismatch` (same size,
 *   different roots) or `proof-invalid` (the consistency proof fails, `cause` holds its
 *   CONSISTENCY_PROOF_INVALID error). Keep both signed checkpoints and the proof as evidence.
 * `message` says what was found, for people (sizes and base64 roots).
 */
export type CheckpointJudgement =
  | { verdict: 'same' }
  | { verdict: 'consistent' }
  | { verdict: 'rollback'; message: string }
  | { verdict: 'fork'; reason: 'root-mismatch'; message: string }
  | { verdict: 'fork'; reason: 'proof-invalid'; message: string; cause: LogError };

/**
 * judgeCheckpoint decides whether `next` may follow `kept`, two checkpoints of one log, given the
 * consistency proof from kept.treeSize to next.treeSize (RFC 9162 §2.1.4; empty when the sizes are
 * equal, when kept.treeSize is 0 as c2sp.org/tlog-witness requires, and ignored when next is smaller).
 * It returns the verdict (see CheckpointJudgement); a fork and a rollback are verdicts, not errors.
 * Throws CHECKPOINT_INVALID (details.checkpoint 'kept' or 'next', details.field) when either is not a
 * valid checkpoint (formatCheckpoint's rules) or the origins differ; HASH_INVALID when
 * consistencyProof is not an array of 32-byte hashes; CONSISTENCY_PROOF_INVALID when the proof is
 * not empty although the sizes are equal with equal roots, or kept.treeSize is 0 (no proof can be
 * right there, and the two checkpoints do not conflict).
 */
export function judgeCheckpoint(
  kept: Checkpoint,
  next: Checkpoint,
  consistencyProof: readonly Uint8Array[],
): CheckpointJudgement {
  checkCheckpoint(kept, 'kept');
  checkCheckpoint(next, 'next');
  if (kept.origin !== next.origin) {
    throw new LogError(
      'CHECKPOINT_INVALID',
      `the next checkpoint is of log ${JSON.stringify(next.origin)}, the kept one of ${JSON.stringify(kept.origin)}: only checkpoints of one log can be compared`,
      { checkpoint: 'next', field: 'origin' },
    );
  }
  checkProofHashes(consistencyProof, 'consistencyProof');
  const n1 = kept.treeSize;
  const n2 = next.treeSize;
  const r1 = base64Encode(kept.rootHash);
  const r2 = base64Encode(next.rootHash);
  if (n2 < n1) {
    return {
      verdict: 'rollback',
      message: `the next checkpoint has size ${n2} (root ${r2}), smaller than the kept size ${n1} (root ${r1}): a log never shrinks, so it is an old checkpoint replayed or the log lost entries`,
    };
  }
  if (n1 === n2) {
    if (!bytesEqual(kept.rootHash, next.rootHash)) {
      return {
        verdict: 'fork',
        reason: 'root-mismatch',
        message: `two checkpoints of size ${n1} with different roots (${r1} kept, ${r2} next): the log forked`,
      };
    }
    if (consistencyProof.length !== 0) {
      throw new LogError(
        'CONSISTENCY_PROOF_INVALID',
        `a consistency proof between equal sizes (${n1}) is empty (RFC 9162 §2.1.4.1), found ${consistencyProof.length} hashes`,
        { field: 'consistencyProof', expected: 0, found: consistencyProof.length },
      );
    }
    return { verdict: 'same' };
  }
  if (n1 === 0n) {
    // The empty tree is a prefix of every tree: there is nothing to prove (c2sp.org/tlog-witness: the
    // proof from size 0 MUST be empty).
    if (consistencyProof.length !== 0) {
      throw new LogError(
        'CONSISTENCY_PROOF_INVALID',
        `a consistency proof from the empty tree is empty (c2sp.org/tlog-witness), found ${consistencyProof.length} hashes`,
        { field: 'consistencyProof', expected: 0, found: consistencyProof.length },
      );
    }
    return { verdict: 'consistent' };
  }
  try {
    verifyConsistency(n1, n2, consistencyProof, kept.rootHash, next.rootHash);
  } catch (e) {
    // Sizes, roots and proof hashes were checked above: only the proof itself can fail here.
    if (!isLogError(e, 'CONSISTENCY_PROOF_INVALID')) throw e;
    return {
      verdict: 'fork',
      reason: 'proof-invalid',
      message: `the next checkpoint of size ${n2} (root ${r2}) is not proved consistent with the kept checkpoint of size ${n1} (root ${r1}): ${e.message}`,
      cause: e,
    };
  }
  return { verdict: 'consistent' };
}

/** Throws CHECKPOINT_INVALID, naming which checkpoint, unless c is one formatCheckpoint accepts. */
function checkCheckpoint(c: Checkpoint, which: 'kept' | 'next'): void {
  if (typeof c !== 'object' || c === null) {
    throw new LogError(
      'CHECKPOINT_INVALID',
      `the ${which} checkpoint must be a Checkpoint, found ${String(c)}`,
      {
        checkpoint: which,
      },
    );
  }
  try {
    formatCheckpoint(c);
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw new LogError(e.code, `the ${which} checkpoint: ${e.message}`, { ...e.details, checkpoint: which });
  }
}
