/**
 * The witness protocol: c2sp.org/tlog-witness `add-checkpoint` bodies, and the witness's decision.
 *
 * Request body (`POST <submission prefix>/add-checkpoint`), every line ending in U+000A:
 *
 * ```
 * old <N>\n                      the size of the checkpoint the client last had cosigned (0 at first)
 * <base64 hash>\n ...            0..63 consistency proof lines (RFC 6962 §2.1.2, old size -> new size)
 * \n                             an empty line
 * <signed checkpoint note>       c2sp.org/tlog-checkpoint as c2sp.org/signed-note, any signatures
 * ```
 *
 * Responses: 200 with one or more cosignature lines (c2sp.org/tlog-cosignature, log/cosignature.ts);
 * 409 with `text/x.tlog.size` body `<size of the latest cosigned checkpoint>\n`; 404 unknown origin;
 * 403 no valid signature by a trusted log key (or a trusted key's line that fails); 400 bad request;
 * 422 a bad consistency proof, the same size with another root, or an empty tree with a root that is
 * not SHA-256(""). This file parses and formats those bodies and makes the decision
 * (decideAddCheckpoint) on the witness's stored state; the server loads that state and writes the new
 * one in the same transaction, since the check and the update must be atomic (tlog-witness, the
 * rollback race). The consistency rule is log/consistency.ts judgeCheckpoint, the one that clients
 * and followers use. Pure: no I/O.
 */
import { base64DecodeStrict, base64Encode, bytesEqual } from './bytes.js';
import { type Checkpoint, MAX_TREE_SIZE, parseCheckpoint } from './checkpoint.js';
import { type CheckpointJudgement, judgeCheckpoint } from './consistency.js';
import { isLogError, LogError } from './errors.js';
import { emptyRoot } from './hash.js';
import {
  formatNote,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  openNote,
  parseNote,
  type Signer,
  signNote,
  type Verifier,
} from './note.js';

/**
 * MAX_CONSISTENCY_PROOF_LINES is the most proof lines an add-checkpoint request may carry: 63
 * (c2sp.org/tlog-witness).
 */
export const MAX_CONSISTENCY_PROOF_LINES = 63;

/**
 * MAX_ADD_CHECKPOINT_BYTES bounds an add-checkpoint request body: 128 KiB. The old size and 63 proof
 * lines take under 3 KiB; the rest holds a checkpoint with 16 signatures of post-quantum size (an
 * ML-DSA-44 line is ~3.3 KiB), which c2sp.org/signed-note asks verifiers to accept.
 */
export const MAX_ADD_CHECKPOINT_BYTES = 128 * 1024;

/**
 * MAX_ADD_CHECKPOINT_RESPONSE_BYTES bounds a 200 add-checkpoint response body (cosignature lines): 64 KiB.
 */
export const MAX_ADD_CHECKPOINT_RESPONSE_BYTES = 64 * 1024;

/** TREE_SIZE_CONTENT_TYPE is the media type of a 409 add-checkpoint response (c2sp.org/tlog-witness). */
export const TREE_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/**
 * AddCheckpointRequest is an add-checkpoint request (c2sp.org/tlog-witness): old size, consistency proof,
 * signed checkpoint.
 */
export interface AddCheckpointRequest {
  oldSize: bigint;
  consistencyProof: Uint8Array[];
  /** The whole signed note (text, blank line, signature lines), exactly as sent. */
  signedCheckpoint: string;
}

/**
 * ParsedAddCheckpointRequest is a syntactically valid add-checkpoint request, with the origin line of
 * its checkpoint. Nothing in it is verified yet: the origin only says which log's keys and state to load.
 */
export interface ParsedAddCheckpointRequest extends AddCheckpointRequest {
  origin: string;
}

/**
 * CosignedTree is the witness's record of a log: the latest checkpoint it cosigned (c2sp.org/tlog-witness).
 */
export interface CosignedTree {
  treeSize: bigint;
  rootHash: Uint8Array;
}

/** WitnessedLog is a log the witness is configured to witness: its origin and the keys it trusts for it. */
export interface WitnessedLog {
  origin: string;
  verifiers: readonly Verifier[];
}

/**
 * AddCheckpointRefusal names why a request is refused, with the status c2sp.org/tlog-witness gives it:
 * - 404 `unknown-origin`: no configured log has the checkpoint's origin;
 * - 403 `unverified`: no signature by a trusted key for the origin;
 * - 403 `signature-invalid`: a line matches a trusted key's name and key ID but does not verify;
 * - 400 `old-size-too-large`: the old size is larger than the checkpoint's size;
 * - 422 `empty-tree-root`: a checkpoint of size 0 whose root is not SHA-256("");
 * - 422 `proof-not-empty`: a proof where none can be (old size 0, or old size = checkpoint size);
 * - 422 `proof-invalid`: the consistency proof does not verify from the cosigned tree;
 * - 422 `root-mismatch`: the cosigned size again, with another root.
 */
export type AddCheckpointRefusal =
  | 'unknown-origin'
  | 'unverified'
  | 'signature-invalid'
  | 'old-size-too-large'
  | 'empty-tree-root'
  | 'proof-not-empty'
  | 'proof-invalid'
  | 'root-mismatch';

/**
 * AddCheckpointOutcome is what decideAddCheckpoint decided, with the HTTP status c2sp.org/tlog-witness
 * names:
 * - `cosign` (200): store {checkpoint.treeSize, checkpoint.rootHash} as the new CosignedTree (in the
 *   transaction that read the old one), then answer with cosignCheckpoint(text, ...) lines. `text` is
 *   the verified note text, `logSignatures` the trusted log lines that verified, `judgement` whether
 *   the tree is the cosigned one again (`same`) or grew from it (`consistent`);
 * - `conflict` (409): the old size is not the cosigned size; answer formatTreeSizeBody(treeSize);
 * - `refuse` (400, 403, 404, 422): see AddCheckpointRefusal. For `proof-invalid` and `root-mismatch`,
 *   `judgement` holds judgeCheckpoint's fork verdict: the signed checkpoint is evidence of a log that
 *   misbehaves, which the witness MAY keep (it MUST NOT cosign it).
 * `message` says what was found, for logs and the response body.
 */
export type AddCheckpointOutcome =
  | {
      verdict: 'cosign';
      status: 200;
      checkpoint: Checkpoint;
      text: string;
      logSignatures: NoteSignature[];
      judgement: 'same' | 'consistent';
    }
  | { verdict: 'conflict'; status: 409; treeSize: bigint; message: string }
  | {
      verdict: 'refuse';
      status: 400 | 403 | 404 | 422;
      reason: AddCheckpointRefusal;
      message: string;
      judgement?: CheckpointJudgement;
    };

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function requestError(part: string, message: string, details: Record<string, unknown> = {}): LogError {
  return new LogError('WITNESS_REQUEST_INVALID', `add-checkpoint request: ${message}`, { part, ...details });
}

function responseError(part: string, message: string, details: Record<string, unknown> = {}): LogError {
  return new LogError('WITNESS_RESPONSE_INVALID', `add-checkpoint response: ${message}`, {
    part,
    ...details,
  });
}

/** Decodes a body to a string: at most max UTF-8 bytes, valid UTF-8, well-formed Unicode. */
function bodyString(
  body: string | Uint8Array,
  max: number,
  fail: (m: string, d?: Record<string, unknown>) => LogError,
) {
  if (typeof body === 'string') {
    // Each UTF-16 code unit is at least one UTF-8 byte, so a long string is refused without encoding it.
    const n = body.length > max ? body.length : utf8Encoder.encode(body).length;
    if (n > max) throw fail(`body is ${n} bytes; at most ${max} are accepted`, { size: n, max });
    if (LONE_SURROGATE.test(body)) throw fail('body is not well-formed Unicode (lone surrogate)');
    return body;
  }
  if (!(body instanceof Uint8Array)) throw fail(`body must be a string or Uint8Array, got ${typeof body}`);
  if (body.length > max) {
    throw fail(`body is ${body.length} bytes; at most ${max} are accepted`, { size: body.length, max });
  }
  try {
    return utf8Decoder.decode(body);
  } catch {
    throw fail('body is not valid UTF-8');
  }
}

/** Parses a canonical decimal tree size (no sign, no leading zeros, at most 2^64 - 1), or undefined. */
function treeSizeOf(s: string): bigint | undefined {
  if (!DECIMAL.test(s) || s.length > 20) return undefined;
  const n = BigInt(s);
  return n > MAX_TREE_SIZE ? undefined : n;
}

/** Checks a signed checkpoint note's syntax (parseNote, parseCheckpoint); returns its origin. */
function checkSignedCheckpoint(note: string): string {
  try {
    return parseCheckpoint(parseNote(note).text).origin;
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw requestError('checkpoint', `the signed checkpoint is malformed: ${e.message}`, {
      cause: e.code,
      ...e.details,
    });
  }
}

/**
 * parseAddCheckpointRequest returns the parts of an add-checkpoint request body (c2sp.org/tlog-witness
 * "add-checkpoint"), strictly: at most MAX_ADD_CHECKPOINT_BYTES, valid UTF-8; the first line exactly
 * `old <N>` with N a canonical decimal (no leading zeros, `0` for zero) of at most 2^64 - 1; then at
 * most MAX_CONSISTENCY_PROOF_LINES lines of canonical standard base64 of 32 bytes; an empty line; and a
 * signed checkpoint note that parseNote and parseCheckpoint accept. Nothing is verified. Throws
 * WITNESS_REQUEST_INVALID (HTTP 400) naming the part (details.part: body, old, proof, checkpoint; a
 * proof line's details.index).
 */
export function parseAddCheckpointRequest(body: string | Uint8Array): ParsedAddCheckpointRequest {
  const s = bodyString(body, MAX_ADD_CHECKPOINT_BYTES, (m, d) => requestError('body', m, d));
  const end = s.indexOf('\n\n');
  if (end < 0) {
    throw requestError(
      'body',
      'no empty line after the old size and proof lines (expected "old <N>\\n", proof lines, "\\n", signed checkpoint)',
    );
  }
  const [first, ...proofLines] = s.slice(0, end).split('\n') as [string, ...string[]];
  const m = /^old ([0-9]+)$/.exec(first);
  const oldSize = m ? treeSizeOf(m[1]!) : undefined;
  if (oldSize === undefined) {
    throw requestError(
      'old',
      `the first line must be "old <N>" (one space, N a decimal of at most 2^64-1 without leading zeros), found ${JSON.stringify(first.slice(0, 40))}`,
    );
  }
  if (proofLines.length > MAX_CONSISTENCY_PROOF_LINES) {
    throw requestError(
      'proof',
      `${proofLines.length} consistency proof lines; at most ${MAX_CONSISTENCY_PROOF_LINES} are allowed`,
      { count: proofLines.length, max: MAX_CONSISTENCY_PROOF_LINES },
    );
  }
  const consistencyProof = proofLines.map((line, i) => {
    const h = base64DecodeStrict(line);
    if (h === undefined || h.length !== 32) {
      throw requestError(
        'proof',
        `consistency proof line ${i + 1} is not the canonical base64 of a 32-byte hash: ${JSON.stringify(line.slice(0, 60))}`,
        { index: i },
      );
    }
    return h;
  });
  const signedCheckpoint = s.slice(end + 2);
  const origin = checkSignedCheckpoint(signedCheckpoint);
  return { oldSize, consistencyProof, signedCheckpoint, origin };
}

/**
 * formatAddCheckpointRequest returns the add-checkpoint request body for req (c2sp.org/tlog-witness):
 * `old <N>\n`, one base64 line per proof hash, `\n`, the signed checkpoint. Throws
 * WITNESS_REQUEST_INVALID when parseAddCheckpointRequest would refuse the result: old size not a bigint
 * in 0..2^64-1, a proof hash not 32 bytes or more than MAX_CONSISTENCY_PROOF_LINES of them, a malformed
 * signed checkpoint, or a body over MAX_ADD_CHECKPOINT_BYTES.
 */
export function formatAddCheckpointRequest(req: AddCheckpointRequest): string {
  const { oldSize, consistencyProof, signedCheckpoint } = req;
  if (typeof oldSize !== 'bigint' || oldSize < 0n || oldSize > MAX_TREE_SIZE) {
    throw requestError('old', `old size must be a bigint in 0..2^64-1, got ${String(oldSize)}`);
  }
  if (!Array.isArray(consistencyProof) || consistencyProof.length > MAX_CONSISTENCY_PROOF_LINES) {
    throw requestError(
      'proof',
      `the consistency proof must be an array of at most ${MAX_CONSISTENCY_PROOF_LINES} hashes, got ${Array.isArray(consistencyProof) ? consistencyProof.length : typeof consistencyProof}`,
    );
  }
  consistencyProof.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== 32) {
      throw requestError('proof', `consistency proof hash ${i + 1} is not 32 bytes`, { index: i });
    }
  });
  if (typeof signedCheckpoint !== 'string') {
    throw requestError(
      'checkpoint',
      `the signed checkpoint must be a string, got ${typeof signedCheckpoint}`,
    );
  }
  checkSignedCheckpoint(signedCheckpoint);
  const lines = [`old ${oldSize}`, ...consistencyProof.map((h) => base64Encode(h))];
  const body = `${lines.join('\n')}\n\n${signedCheckpoint}`;
  bodyString(body, MAX_ADD_CHECKPOINT_BYTES, (m, d) => requestError('body', m, d));
  return body;
}

/**
 * decideAddCheckpoint returns what a witness answers to an add-checkpoint request (c2sp.org/tlog-witness
 * "add-checkpoint"), given the configured log for request.origin (undefined when none is) and the
 * latest checkpoint it cosigned for that origin (undefined when it never cosigned one: size 0). The
 * checks, in the spec's order: unknown origin (404); the note against the log's keys, ignoring
 * unknown keys (403 when none verifies or a trusted key's line fails); old size larger than the
 * checkpoint size (400); old size other than the cosigned size (409 with that size); a size-0
 * checkpoint whose root is not SHA-256("") (422); then judgeCheckpoint(cosigned tree, checkpoint,
 * proof): a proof where none can be, a proof that fails, or another root at the cosigned size is a 422;
 * the same tree again or a consistent larger one is `cosign` (200). The decision is pure: storing the
 * new state (in the transaction that read the old one) and signing are the caller's. Throws a plain
 * Error when log.origin or the checkpoint's origin is not request.origin, or the cosigned state is
 * malformed (the caller's bug),
 * and KEY_INVALID when two of log.verifiers share a name and key ID (openNote; a configuration error).
 */
export async function decideAddCheckpoint(
  request: ParsedAddCheckpointRequest,
  log: WitnessedLog | undefined,
  cosigned: CosignedTree | undefined,
): Promise<AddCheckpointOutcome> {
  if (log === undefined) {
    return refuse(404, 'unknown-origin', `unknown log origin ${JSON.stringify(request.origin)}`);
  }
  if (log.origin !== request.origin) {
    throw new Error(
      `decideAddCheckpoint: the log passed is ${JSON.stringify(log.origin)}, the request is for ${JSON.stringify(request.origin)}`,
    );
  }
  const kept = keptCheckpoint(log.origin, cosigned);
  const opened = await openSignedCheckpoint(request, log);
  if ('verdict' in opened) return opened;
  return (
    checkOldSize(request.oldSize, kept.treeSize, opened.checkpoint.treeSize) ??
    checkEmptyTreeRoot(opened.checkpoint) ??
    judgeGrowth(kept, opened, request.consistencyProof)
  );
}

/** A refusal of decideAddCheckpoint (AddCheckpointOutcome `refuse`). */
type Refusal = Extract<AddCheckpointOutcome, { verdict: 'refuse' }>;

function refuse(
  status: Refusal['status'],
  reason: AddCheckpointRefusal,
  message: string,
  judgement?: CheckpointJudgement,
): Refusal {
  return judgement === undefined
    ? { verdict: 'refuse', status, reason, message }
    : { verdict: 'refuse', status, reason, message, judgement };
}

/** A signed checkpoint verified by a trusted key of its log: the checkpoint, its note text, the lines. */
interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  text: string;
  logSignatures: NoteSignature[];
}

/**
 * The 403 step: opens request.signedCheckpoint with log.verifiers, ignoring unknown keys. Refuses 403
 * when no trusted key verifies or a trusted key's line fails; throws (the caller's bug) when the
 * checkpoint's origin is not request.origin.
 */
async function openSignedCheckpoint(
  request: ParsedAddCheckpointRequest,
  log: WitnessedLog,
): Promise<OpenedCheckpoint | Refusal> {
  let text: string;
  let logSignatures: NoteSignature[];
  try {
    const opened = await openNote(request.signedCheckpoint, log.verifiers);
    text = opened.text;
    logSignatures = opened.verified;
  } catch (e) {
    if (isLogError(e, 'NOTE_UNVERIFIED')) return refuse(403, 'unverified', e.message);
    if (isLogError(e, 'NOTE_SIGNATURE_INVALID')) return refuse(403, 'signature-invalid', e.message);
    throw e;
  }
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== request.origin) {
    // parseAddCheckpointRequest takes the origin from this very note: a request made by hand is wrong.
    throw new Error(
      `decideAddCheckpoint: request.origin ${JSON.stringify(request.origin)} is not the checkpoint's ${JSON.stringify(checkpoint.origin)}`,
    );
  }
  return { checkpoint, text, logSignatures };
}

/**
 * The 400 and 409 steps: an old size larger than the checkpoint size (400), then an old size other
 * than the cosigned size (409 with that size). Undefined when the old size is the cosigned one.
 */
function checkOldSize(
  oldSize: bigint,
  cosignedSize: bigint,
  treeSize: bigint,
): AddCheckpointOutcome | undefined {
  if (oldSize > treeSize) {
    return refuse(
      400,
      'old-size-too-large',
      `old size ${oldSize} is larger than the checkpoint size ${treeSize}`,
    );
  }
  if (oldSize !== cosignedSize) {
    return {
      verdict: 'conflict',
      status: 409,
      treeSize: cosignedSize,
      message: `old size ${oldSize} is not the size of the latest cosigned checkpoint, ${cosignedSize}`,
    };
  }
  return undefined;
}

/** The first 422 step: a size-0 checkpoint whose root is not SHA-256(""). Undefined otherwise. */
function checkEmptyTreeRoot(checkpoint: Checkpoint): Refusal | undefined {
  if (checkpoint.treeSize === 0n && !bytesEqual(checkpoint.rootHash, emptyRoot())) {
    return refuse(
      422,
      'empty-tree-root',
      `a checkpoint of size 0 has the root SHA-256("") ${base64Encode(emptyRoot())}, found ${base64Encode(checkpoint.rootHash)}`,
    );
  }
  return undefined;
}

/**
 * The last step, judgeCheckpoint(kept, checkpoint, proof): `cosign` for the same tree again or a
 * consistent larger one; 422 for a proof where none can be, a proof that fails, or another root at the
 * cosigned size. The old size is the kept size, at most the checkpoint's (checkOldSize).
 */
function judgeGrowth(
  kept: Checkpoint,
  opened: OpenedCheckpoint,
  consistencyProof: Uint8Array[],
): AddCheckpointOutcome {
  const { checkpoint, text, logSignatures } = opened;
  let judgement: CheckpointJudgement;
  try {
    judgement = judgeCheckpoint(kept, checkpoint, consistencyProof);
  } catch (e) {
    // Sizes and hashes were checked; the one refusal left is a proof where none can be (old size 0,
    // or equal sizes and roots).
    if (!isLogError(e, 'CONSISTENCY_PROOF_INVALID')) throw e;
    return refuse(422, 'proof-not-empty', e.message);
  }
  switch (judgement.verdict) {
    case 'same':
    case 'consistent':
      return {
        verdict: 'cosign',
        status: 200,
        checkpoint,
        text,
        logSignatures,
        judgement: judgement.verdict,
      };
    case 'fork':
      return judgement.reason === 'root-mismatch'
        ? refuse(422, 'root-mismatch', judgement.message, judgement)
        : refuse(422, 'proof-invalid', judgement.message, judgement);
    case 'rollback':
      // oldSize = kept size <= checkpoint size was checked above.
      throw new Error(`decideAddCheckpoint: rollback after the size checks: ${judgement.message}`);
  }
}

/** The cosigned tree as a checkpoint of the origin (size 0 and SHA-256("") when there is none). */
function keptCheckpoint(origin: string, cosigned: CosignedTree | undefined): Checkpoint {
  if (cosigned === undefined) return { origin, treeSize: 0n, rootHash: emptyRoot(), extensions: [] };
  const { treeSize, rootHash } = cosigned;
  if (typeof treeSize !== 'bigint' || treeSize < 0n || treeSize > MAX_TREE_SIZE) {
    throw new Error(`decideAddCheckpoint: stored tree size ${String(treeSize)} is not a uint64 bigint`);
  }
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== 32) {
    throw new Error(`decideAddCheckpoint: stored root hash is not 32 bytes`);
  }
  if (treeSize === 0n && !bytesEqual(rootHash, emptyRoot())) {
    throw new Error('decideAddCheckpoint: stored tree of size 0 with a root other than SHA-256("")');
  }
  return { origin, treeSize, rootHash, extensions: [] };
}

/**
 * cosignCheckpoint returns the 200 add-checkpoint response body: one cosignature line per cosigner,
 * in order, over the checkpoint note text (c2sp.org/tlog-witness; the cosigners are
 * log/cosignature.ts cosignatureSigner). Throws NOTE_INVALID like signNote, and the cosigners' errors
 * (CHECKPOINT_INVALID when text is not a checkpoint).
 */
export async function cosignCheckpoint(text: string, cosigners: readonly Signer[]): Promise<string> {
  const signed = await signNote(text, cosigners);
  return signed.slice(text.length + 1);
}

/**
 * formatAddCheckpointResponse returns the 200 add-checkpoint response body for the signature lines:
 * `— <name> base64(key ID || signature)\n` each (c2sp.org/signed-note). Throws NOTE_INVALID like
 * formatNote (no signatures, more than MAX_NOTE_SIGNATURES, an invalid name, key ID or signature).
 */
export function formatAddCheckpointResponse(signatures: readonly NoteSignature[]): string {
  // formatNote checks and writes the lines; the one-line text before them is cut off again.
  return formatNote({ text: '-\n', signatures: [...signatures] }).slice('-\n\n'.length);
}

/**
 * parseAddCheckpointResponse returns the signature lines of a 200 add-checkpoint response body
 * (c2sp.org/tlog-witness): one or more c2sp.org/signed-note signature lines, each ending in a newline,
 * nothing else; at most MAX_ADD_CHECKPOINT_RESPONSE_BYTES and MAX_NOTE_SIGNATURES lines. Nothing is
 * verified: append the body to the signed checkpoint that was sent and openNote it with the witness
 * keys (cosignatureVerifier), as the spec suggests; lines of unknown keys are to be ignored. Throws
 * WITNESS_RESPONSE_INVALID otherwise.
 */
export function parseAddCheckpointResponse(body: string | Uint8Array): NoteSignature[] {
  const s = bodyString(body, MAX_ADD_CHECKPOINT_RESPONSE_BYTES, (m, d) => responseError('body', m, d));
  if (s.length === 0 || s.startsWith('\n') || s.includes('\n\n') || !s.endsWith('\n')) {
    throw responseError(
      'body',
      'expected one or more signature lines ("\u2014 <name> <base64>\\n"), with no empty line, ending in a newline',
    );
  }
  try {
    // A note with a one-line text and these lines: parseNote checks each line (and the count).
    return parseNote(`-\n\n${s}`).signatures;
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw responseError('signatures', e.message, { ...e.details, max: MAX_NOTE_SIGNATURES });
  }
}

/**
 * formatTreeSizeBody returns a 409 add-checkpoint body (`text/x.tlog.size`): the size in decimal and a
 * newline.
 */
export function formatTreeSizeBody(treeSize: bigint): string {
  if (typeof treeSize !== 'bigint' || treeSize < 0n || treeSize > MAX_TREE_SIZE) {
    throw responseError('size', `a tree size is a bigint in 0..2^64-1, got ${String(treeSize)}`);
  }
  return `${treeSize}\n`;
}

/**
 * parseTreeSizeBody returns the tree size in a 409 add-checkpoint body (`text/x.tlog.size`,
 * c2sp.org/tlog-witness): exactly a canonical decimal of at most 2^64 - 1 and a newline. Throws
 * WITNESS_RESPONSE_INVALID otherwise.
 */
export function parseTreeSizeBody(body: string | Uint8Array): bigint {
  const s = bodyString(body, 32, (m, d) => responseError('size', m, d));
  const n = s.endsWith('\n') ? treeSizeOf(s.slice(0, -1)) : undefined;
  if (n === undefined) {
    throw responseError(
      'size',
      `a ${TREE_SIZE_CONTENT_TYPE} body is a decimal tree size (no leading zeros, at most 2^64-1) and a newline, found ${JSON.stringify(s)}`,
    );
  }
  return n;
}
