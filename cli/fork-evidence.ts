/**
 * `sig audit --evidence FILE|URL`: checks the fork evidence a Sig Server publishes about a log it follows
 * (GET /v1/peers, SPEC.md "Gossip: servers that follow each other"; server/peers/status.ts evidenceJson).
 * Nothing in it is taken on trust: both signed checkpoints are verified by the log's pinned Ed25519 key
 * (--vkey, else the vkey of a configured server at the evidence's URL, else the key the evidence names,
 * which is then reported as not pinned by you), and the contradiction is recomputed with log/:
 * - root-mismatch: two checkpoints of one size with different roots;
 * - proof-invalid: the consistency proof (RFC 9162 §2.1.4) verifies from `prefixRoot` at the kept size to
 *   the next checkpoint's root, so the next tree's first kept-size entries have root prefixRoot; it is not
 *   the kept root, so the log signed two trees that cannot both be true (log/consistency.ts judgeCheckpoint
 *   agrees: a fork);
 * - rollback: the log signed a smaller tree than one it had signed (a rollback, shown as such).
 * Input: one evidence object, a peer of /v1/peers, or a whole /v1/peers answer (every evidence in it).
 */
import { readFileSync } from 'node:fs';
import { base64DecodeStrict, base64Encode, bytesEqual } from '../log/bytes.js';
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { judgeCheckpoint } from '../log/consistency.js';
import { isLogError } from '../log/errors.js';
import { ed25519Verifier, openNote } from '../log/note.js';
import { verifyConsistency } from '../log/proof.js';
import { CLIENT_LIMITS, SigClient } from './client.js';
import type { ServerEntry } from './config.js';
import { CliError } from './errors.js';
import { EXIT, type ExitCode, worse } from './exit-codes.js';

/** EvidenceReport is what one piece of evidence proves. */
export interface EvidenceReport {
  peer: string;
  kind: 'root-mismatch' | 'proof-invalid' | 'rollback';
  /** verdict: `fork` (proved), `rollback` (both signed, the later-seen one smaller). */
  verdict: 'fork' | 'rollback';
  origin: string;
  keptSize: bigint;
  nextSize: bigint;
  /** pinned: whether the key that verified both checkpoints was pinned by you (--vkey or sig server add). */
  pinned: boolean;
  vkey: string;
  message: string;
}

function bad(message: string): CliError {
  return new CliError('LOCAL_DATA_INVALID', `fork evidence: ${message}`);
}

/** readEvidenceInput returns the evidence objects of a file or an http(s) URL (a /v1/peers answer or one evidence). */
export async function readEvidenceInput(input: string): Promise<Record<string, unknown>[]> {
  let text: string;
  if (/^https?:\/\//.test(input)) {
    const client = new SigClient(new URL(input).origin);
    const url = new URL(input);
    const res = await client.request(`${url.pathname}${url.search}`);
    text = new TextDecoder().decode(await client.body(res, CLIENT_LIMITS.jsonBytes, input, 'fork evidence'));
  } else {
    try {
      text = readFileSync(input, 'utf8');
    } catch (e) {
      throw bad(`cannot read ${input}: ${(e as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad(`${input} is not JSON`);
  }
  const list: unknown[] = [];
  const take = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.peers)) o.peers.forEach(take);
    else if (Array.isArray(o.evidence)) list.push(...o.evidence);
    else list.push(o);
  };
  take(json);
  const out = list.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
  if (out.length === 0)
    throw bad(`${input} holds no evidence (a peer of GET /v1/peers has "evidence" only when it forked)`);
  return out;
}

function field(e: Record<string, unknown>, name: string): string {
  const v = e[name];
  if (typeof v !== 'string' || v === '') throw bad(`"${name}" must be a non-empty string`);
  return v;
}

async function open(note: string, vkey: string, which: string): Promise<Checkpoint> {
  try {
    return parseCheckpoint((await openNote(note, [ed25519Verifier(vkey)])).text);
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw bad(`the ${which} checkpoint is not a checkpoint signed by ${vkey}: ${e.code}: ${e.message}`);
  }
}

/**
 * checkEvidence verifies one evidence object (see the file comment) and returns what it proves. Throws
 * CliError LOCAL_DATA_INVALID when it is malformed, a checkpoint is not signed by the key, or it proves
 * nothing (e.g. a proof that does not verify, a prefix root equal to the kept root).
 */
export async function checkEvidence(
  e: Record<string, unknown>,
  pinnedVkey: string | undefined,
): Promise<EvidenceReport> {
  const vkey = pinnedVkey ?? field(e, 'vkey');
  const kind = field(e, 'kind');
  const kept = await open(field(e, 'kept'), vkey, 'kept');
  const next = await open(field(e, 'next'), vkey, 'next');
  if (kept.origin !== next.origin)
    throw bad(`the two checkpoints are of two logs (${kept.origin}, ${next.origin})`);
  const proofJson = e.consistencyProof ?? [];
  if (!Array.isArray(proofJson) || proofJson.length > 64)
    throw bad('"consistencyProof" must be an array of at most 64 base64 hashes');
  const proof = proofJson.map((h, i) => {
    const b = typeof h === 'string' ? base64DecodeStrict(h) : undefined;
    if (b?.length !== 32) throw bad(`consistencyProof[${i}] is not a base64 32-byte hash`);
    return b;
  });
  const base = {
    peer: typeof e.peer === 'string' ? e.peer : '(unnamed)',
    origin: kept.origin,
    keptSize: kept.treeSize,
    nextSize: next.treeSize,
    pinned: pinnedVkey !== undefined,
    vkey,
  };
  if (kind === 'rollback') {
    if (next.treeSize >= kept.treeSize)
      throw bad(`a rollback needs a smaller next tree, found sizes ${kept.treeSize} then ${next.treeSize}`);
    return {
      ...base,
      kind,
      verdict: 'rollback',
      message: `${kept.origin} signed a tree of ${next.treeSize} entries after one of ${kept.treeSize}`,
    };
  }
  if (kind === 'root-mismatch') {
    if (kept.treeSize !== next.treeSize || bytesEqual(kept.rootHash, next.rootHash)) {
      throw bad('a root mismatch needs two checkpoints of one size with different roots');
    }
    return {
      ...base,
      kind,
      verdict: 'fork',
      message: `${kept.origin} signed two trees of ${kept.treeSize} entries with roots ${base64Encode(kept.rootHash)} and ${base64Encode(next.rootHash)}`,
    };
  }
  if (kind !== 'proof-invalid') throw bad(`unknown kind ${JSON.stringify(kind)}`);
  const prefix = typeof e.prefixRoot === 'string' ? base64DecodeStrict(e.prefixRoot) : undefined;
  if (prefix?.length !== 32) throw bad('"prefixRoot" must be a base64 32-byte hash');
  if (!(kept.treeSize > 0n && kept.treeSize < next.treeSize))
    throw bad(`sizes ${kept.treeSize} and ${next.treeSize}: a proof needs 0 < kept < next`);
  if (bytesEqual(prefix, kept.rootHash))
    throw bad('the prefix root is the kept root: the trees agree, this proves nothing');
  try {
    verifyConsistency(kept.treeSize, next.treeSize, proof, prefix, next.rootHash);
  } catch (err) {
    if (!isLogError(err)) throw err;
    throw bad(`the consistency proof does not lead from the prefix root to the next root: ${err.message}`);
  }
  const j = judgeCheckpoint(kept, next, proof);
  if (j.verdict !== 'fork')
    throw bad(`log/consistency.ts judges the two checkpoints ${j.verdict}, not a fork`);
  return {
    ...base,
    kind,
    verdict: 'fork',
    message: `${kept.origin}: the tree of ${next.treeSize} entries proves that its first ${kept.treeSize} have root ${base64Encode(prefix)}, but the log signed root ${base64Encode(kept.rootHash)} for them`,
  };
}

/**
 * auditForkEvidence reads `input` and checks every evidence in it; the exit code is FORK when any
 * proves a fork, INVALID when only rollbacks are shown. Lines for people go to `log` (unless --json).
 */
export async function auditForkEvidence(
  input: string,
  opts: { vkey?: string | undefined; servers: readonly ServerEntry[]; log?: (line: string) => void },
): Promise<{ exitCode: ExitCode; evidence: EvidenceReport[] }> {
  const list = await readEvidenceInput(input);
  const evidence: EvidenceReport[] = [];
  let exitCode: ExitCode = EXIT.OK;
  for (const e of list) {
    const peer = typeof e.peer === 'string' ? e.peer.replace(/\/+$/, '') : undefined;
    const pinned = opts.vkey ?? opts.servers.find((s) => s.url === peer)?.vkey;
    const r = await checkEvidence(e, pinned);
    evidence.push(r);
    exitCode = worse(exitCode, r.verdict === 'fork' ? EXIT.FORK : EXIT.INVALID);
    opts.log?.(`${r.verdict.toUpperCase()} (${r.kind}) ${r.peer}: ${r.message}`);
    opts.log?.(
      r.pinned
        ? `        both checkpoints verified by the pinned key ${r.vkey}`
        : `        both checkpoints verified by ${r.vkey}, the key the evidence names: pin it (--vkey, or sig server add) to know it is the log's`,
    );
  }
  return { exitCode, evidence };
}
