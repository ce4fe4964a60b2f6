/**
 * verify: everything the CLI checks about what a server sends, with log/ only (the same code the
 * server proves with) and the server's PINNED keys; and the Signet trust policy.
 *
 * - Checkpoints (SPEC.md "The log"): a c2sp.org/signed-note whose Ed25519 AND OpenPGP lines by the
 *   pinned keys both verify; the origin is the pinned origin; the OpenPGP signature's creation time is
 *   the checkpoint's timestamp, checked against the server's freshness policy.
 * - Consistency (RFC 9162 §2.1.4): every new checkpoint is proved consistent with the last one kept for
 *   that server before it is kept; equal sizes must have equal roots. Anything else is a fork: both
 *   signed checkpoints are written as evidence and FORK_DETECTED is thrown. A smaller tree is never
 *   accepted (CHECKPOINT_ROLLBACK).
 * - Inclusion (RFC 9162 §2.1.3.2): the entry bytes as received are hashed (RFC 6962 leaf hash) and the
 *   proof is checked against the verified checkpoint; only then is the entry parsed.
 * - Trust (shared/vectors/README.md): the newest attestation (by OpenPGP signature time) of each key
 *   for an identifier wins; at least policy.minOk trusted ok and at most policy.maxNotOk trusted not-ok.
 */
import type { PublicKey } from 'openpgp';
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { canonicalJson, type Entry, parseEntry } from '../log/entry.js';
import { isLogError, LogError } from '../log/errors.js';
import { hashLeaf } from '../log/hash.js';
import {
  ed25519Verifier,
  type NoteSignature,
  openNote,
  openpgpSignatureTime,
  openpgpVerifier,
  type Verifier,
} from '../log/note.js';
import { verifyConsistency, verifyInclusion } from '../log/proof.js';
import { type Attestation, fingerprintHex, readPublicKey, verifyAttestation } from '../log/signet.js';
import type { RawItem, SigClient } from './client.js';
import {
  MAX_FUTURE_SKEW_SECONDS,
  type ServerEntry,
  type SigHome,
  type TrustPolicy,
  writeFileAtomic,
} from './config.js';
import { CliError } from './errors.js';

/** VerifiedCheckpoint is a checkpoint whose signatures by the pinned keys verified. */
export interface VerifiedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  /** timestamp is the creation time of the OpenPGP signature line (SPEC.md). */
  timestamp: Date;
}

/**
 * withContext runs fn and, when it throws a LogError or CliError, rethrows the same code with `context`
 * in front of the message, so the user reads what failed where ("server a: inclusion proof of entry 3
 * against checkpoint size 7: ...").
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

const verifierCache = new Map<string, Promise<{ ed: Verifier; pgp: Verifier }>>();

/** pinnedVerifiers returns the note verifiers of a server's pinned keys; KEY_INVALID if the pinned keys do not parse. */
export function pinnedVerifiers(server: ServerEntry): Promise<{ ed: Verifier; pgp: Verifier }> {
  const k = `${server.origin}\n${server.vkey}\n${server.openpgpPublicKey}`;
  let p = verifierCache.get(k);
  if (!p) {
    p = (async () => {
      const key = await readPublicKey(server.openpgpPublicKey);
      return { ed: ed25519Verifier(server.vkey), pgp: openpgpVerifier(server.origin, key) };
    })();
    verifierCache.set(k, p);
  }
  return p;
}

function describeLines(sigs: readonly NoteSignature[]): string {
  return sigs.map((s) => `${s.name}+${s.keyId.toString(16).padStart(8, '0')}`).join(', ') || 'none';
}

/**
 * openCheckpoint verifies a signed checkpoint with the server's pinned keys and returns it with its
 * timestamp. Throws SERVER_KEY_MISMATCH when a pinned key did not sign it, NOTE_SIGNATURE_INVALID when
 * a pinned key's line does not verify (altered), NOTE_INVALID/CHECKPOINT_INVALID when it does not parse,
 * SERVER_RESPONSE_INVALID when the origin is not the pinned one.
 */
export async function openCheckpoint(
  server: ServerEntry,
  note: string,
  what = 'checkpoint',
): Promise<VerifiedCheckpoint> {
  const ctx = `${what} from server ${server.name} (${server.url})`;
  const { ed, pgp } = await pinnedVerifiers(server);
  const opened = await withContext(ctx, async () => {
    try {
      return await openNote(note, [ed, pgp]);
    } catch (e) {
      if (isLogError(e, 'NOTE_UNVERIFIED')) {
        throw new CliError(
          'SERVER_KEY_MISMATCH',
          `not signed by the pinned keys (origin ${server.origin}, OpenPGP ${server.fingerprint}); a different server or key answered. If the operator really changed keys, check out of band, then \`sig server remove ${server.name}\` and add it again`,
        );
      }
      throw e;
    }
  });
  const edLine = opened.verified.find((s) => s.keyId === ed.keyId && s.name === ed.name);
  const pgpLine = opened.verified.find((s) => s.keyId === pgp.keyId && s.name === pgp.name);
  if (!edLine || !pgpLine) {
    throw new CliError(
      'SERVER_KEY_MISMATCH',
      `${ctx}: expected signatures by both pinned keys (Ed25519 ${ed.name}+${ed.keyId.toString(16).padStart(8, '0')} and OpenPGP ${pgp.name}+${pgp.keyId.toString(16).padStart(8, '0')}), found verified lines: ${describeLines(opened.verified)}`,
    );
  }
  const checkpoint = await withContext(ctx, () => parseCheckpoint(opened.text));
  if (checkpoint.origin !== server.origin) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `${ctx}: expected origin ${JSON.stringify(server.origin)}, found ${JSON.stringify(checkpoint.origin)}`,
    );
  }
  const timestamp = await withContext(`${ctx}: OpenPGP signature line`, () =>
    openpgpSignatureTime(pgpLine.signature),
  );
  return { note, checkpoint, timestamp };
}

/** Freshness says whether a checkpoint is fresh under a server's policy, and why not. */
export interface Freshness {
  fresh: boolean;
  ageSeconds: number;
  reason?: string;
}

/**
 * freshness returns whether a checkpoint's timestamp is within the server's max age and no more than
 * 5 minutes in the future (SPEC.md "The CLI").
 */
export function freshness(server: ServerEntry, timestamp: Date, now: Date = new Date()): Freshness {
  const ageSeconds = Math.round((now.getTime() - timestamp.getTime()) / 1000);
  if (ageSeconds > server.maxAgeSeconds) {
    return {
      fresh: false,
      ageSeconds,
      reason: `checkpoint signed ${timestamp.toISOString()} is ${ageSeconds}s old; the policy for ${server.name} allows ${server.maxAgeSeconds}s (the server has stopped re-signing, or something replays an old answer)`,
    };
  }
  if (-ageSeconds > MAX_FUTURE_SKEW_SECONDS) {
    return {
      fresh: false,
      ageSeconds,
      reason: `checkpoint signed ${timestamp.toISOString()} is ${-ageSeconds}s in the future (more than ${MAX_FUTURE_SKEW_SECONDS}s): check this machine's clock or the server's`,
    };
  }
  return { fresh: true, ageSeconds };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-');
}

/**
 * writeEvidence keeps two signed checkpoints that cannot both be true (and the proof that failed) in
 * $SIG_DIR/evidence/<server>-<time>/ and returns the folder. Anyone holding the pinned keys can check
 * them: both verify, and they are not consistent.
 */
export function writeEvidence(
  home: SigHome,
  server: ServerEntry,
  a: VerifiedCheckpoint,
  b: VerifiedCheckpoint,
  why: string,
  proof?: Uint8Array[],
): string {
  const dir = home.path('evidence', `${server.name}-${stamp(new Date())}`);
  writeFileAtomic(`${dir}/checkpoint.${a.checkpoint.treeSize}.a`, a.note);
  writeFileAtomic(`${dir}/checkpoint.${b.checkpoint.treeSize}.b`, b.note);
  if (proof) {
    writeFileAtomic(
      `${dir}/consistency-proof.json`,
      `${JSON.stringify({ from: Number(a.checkpoint.treeSize), to: Number(b.checkpoint.treeSize), consistencyProof: proof.map((h) => Buffer.from(h).toString('base64')) }, null, 2)}\n`,
    );
  }
  writeFileAtomic(
    `${dir}/README.txt`,
    `Fork evidence for server ${server.name} (${server.url})\norigin: ${server.origin}\nvkey: ${server.vkey}\nOpenPGP fingerprint: ${server.fingerprint}\n\n${why}\n\nBoth checkpoint files are signed by the pinned keys above.\n`,
  );
  return dir;
}

/**
 * proveConsistent checks that checkpoints a and b of one log (both verified with the pinned keys) can
 * both be true: equal sizes need equal roots; otherwise the server's consistency proof from the smaller
 * to the larger must verify (RFC 9162 §2.1.4.2). On failure it writes evidence and throws FORK_DETECTED.
 */
export async function proveConsistent(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  a: VerifiedCheckpoint,
  b: VerifiedCheckpoint,
): Promise<void> {
  const [older, newer] = a.checkpoint.treeSize <= b.checkpoint.treeSize ? [a, b] : [b, a];
  const n1 = older.checkpoint.treeSize;
  const n2 = newer.checkpoint.treeSize;
  const r1 = Buffer.from(older.checkpoint.rootHash).toString('base64');
  const r2 = Buffer.from(newer.checkpoint.rootHash).toString('base64');
  if (n1 === n2) {
    if (r1 === r2) return;
    const why = `two checkpoints of size ${n1} with different roots (${r1} and ${r2}): the log forked`;
    const dir = writeEvidence(home, server, older, newer, why);
    throw new CliError('FORK_DETECTED', `server ${server.name}: ${why}; evidence in ${dir}`, {
      evidence: dir,
    });
  }
  if (n1 === 0n) return; // the empty tree is a prefix of every tree
  const proof = await withContext(`server ${server.name}: consistency proof ${n1} -> ${n2}`, () =>
    client.consistencyProof(n1, n2),
  );
  try {
    verifyConsistency(n1, n2, proof, older.checkpoint.rootHash, newer.checkpoint.rootHash);
  } catch (e) {
    if (!isLogError(e)) throw e;
    const why = `the checkpoint of size ${n2} (root ${r2}) is not proved consistent with the checkpoint of size ${n1} (root ${r1}): ${e.code}: ${e.message}`;
    const dir = writeEvidence(home, server, older, newer, why, proof);
    throw new CliError('FORK_DETECTED', `server ${server.name}: ${why}; evidence in ${dir}`, {
      evidence: dir,
    });
  }
}

/** Advance says what happened to the kept checkpoint. */
export interface Advance {
  previousSize?: bigint;
  kept: VerifiedCheckpoint;
}

/**
 * advanceCheckpoint proves a newly received checkpoint consistent with the last one kept for the server
 * (never accepting a smaller tree), then keeps it. Throws FORK_DETECTED (evidence written) or
 * CHECKPOINT_ROLLBACK; the kept checkpoint is unchanged then.
 */
export async function advanceCheckpoint(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  fresh: VerifiedCheckpoint,
): Promise<Advance> {
  const keptNote = home.keptCheckpoint(server.name);
  if (keptNote === undefined) {
    home.keepCheckpoint(server.name, fresh.checkpoint.treeSize, fresh.note);
    return { kept: fresh };
  }
  const kept = await openCheckpoint(server, keptNote, 'kept checkpoint');
  await proveConsistent(home, server, client, kept, fresh);
  if (fresh.checkpoint.treeSize < kept.checkpoint.treeSize) {
    throw new CliError(
      'CHECKPOINT_ROLLBACK',
      `server ${server.name}: sent a checkpoint of size ${fresh.checkpoint.treeSize}, smaller than the size ${kept.checkpoint.treeSize} already kept; a tree never shrinks, so this answer is an old one replayed`,
      { kept: Number(kept.checkpoint.treeSize), received: Number(fresh.checkpoint.treeSize) },
    );
  }
  if (fresh.checkpoint.treeSize > kept.checkpoint.treeSize || fresh.timestamp > kept.timestamp) {
    home.keepCheckpoint(server.name, fresh.checkpoint.treeSize, fresh.note);
    return { previousSize: kept.checkpoint.treeSize, kept: fresh };
  }
  return { previousSize: kept.checkpoint.treeSize, kept };
}

/**
 * verifyItem checks one logged entry against a verified checkpoint: index in range, RFC 6962 leaf hash
 * of the bytes as received, inclusion proof; then parses the entry (ENTRY_INVALID unless canonical).
 * Errors name the server, the index and the checkpoint size.
 */
export async function verifyItem(server: ServerEntry, cp: VerifiedCheckpoint, item: RawItem): Promise<Entry> {
  const ctx = `server ${server.name}: entry ${item.index} against checkpoint size ${cp.checkpoint.treeSize}`;
  return await withContext(ctx, () => {
    verifyInclusion(
      item.index,
      cp.checkpoint.treeSize,
      hashLeaf(item.entry),
      item.inclusionProof,
      cp.checkpoint.rootHash,
    );
    return parseEntry(item.entry);
  });
}

/** Status is the verdict on one attestation, as printed. */
export type Status = 'trusted ok' | 'marked bad' | 'untrusted' | 'unknown' | 'invalid' | 'superseded';

/** Candidate is one attestation found locally or on servers (deduplicated). */
export interface Candidate {
  attestation: Attestation;
  sources: string[];
}

/** Judged is one attestation with its status. */
export interface Judged {
  id: string;
  key: string;
  ok: boolean;
  status: Status;
  signedAt?: string;
  reason?: string;
  sources: string[];
  attestation: Attestation;
}

/** Verdict is the policy's answer for an identifier. */
export type Verdict = 'trusted' | 'marked bad' | 'not trusted';

/** Judgement is the result of judge(). */
export interface Judgement {
  verdict: Verdict;
  trustedOk: number;
  trustedNotOk: number;
  policy: TrustPolicy;
  attestations: Judged[];
}

/** KeyLookup returns the public key of a fingerprint, or undefined when none can be found. */
export type KeyLookup = (fingerprint: string) => Promise<PublicKey | undefined>;

/** addCandidate adds an attestation to a list, merging sources of identical attestations (RFC 8785 bytes). */
export function addCandidate(list: Candidate[], att: Attestation, source: string): void {
  const c = canonicalJson(att);
  const existing = list.find((x) => canonicalJson(x.attestation) === c);
  if (existing) {
    if (!existing.sources.includes(source)) existing.sources.push(source);
  } else list.push({ attestation: att, sources: [source] });
}

/**
 * judge verifies every candidate's signature (verifyAttestation with the signer's key), keeps the
 * newest per key (a newer ok:false revokes an older ok:true; on equal times not-ok wins), and applies
 * the policy to trusted keys. Never throws for a bad attestation: it is reported as invalid.
 */
export async function judge(
  candidates: readonly Candidate[],
  lookup: KeyLookup,
  trusted: readonly string[],
  policy: TrustPolicy,
): Promise<Judgement> {
  const trustedSet = new Set(trusted.map((f) => f.toUpperCase()));
  const judged: (Judged & { time?: number })[] = [];
  for (const c of candidates) {
    const a = c.attestation;
    const base = { id: a.data.id, key: a.key, ok: a.data.ok, sources: c.sources, attestation: a };
    const key = await lookup(a.key);
    if (!key) {
      judged.push({
        ...base,
        status: 'unknown',
        reason: `no public key for ${a.key} (import it with \`sig key import\`)`,
      });
      continue;
    }
    try {
      const { signedAt } = await verifyAttestation(a, key);
      judged.push({
        ...base,
        status: trustedSet.has(a.key) ? (a.data.ok ? 'trusted ok' : 'marked bad') : 'untrusted',
        signedAt: signedAt.toISOString(),
        time: signedAt.getTime(),
      });
    } catch (e) {
      if (!isLogError(e)) throw e;
      judged.push({ ...base, status: 'invalid', reason: `${e.code}: ${e.message}` });
    }
  }
  // Newest per key wins.
  const newest = new Map<string, Judged & { time?: number }>();
  for (const j of judged) {
    if (j.time === undefined) continue;
    const cur = newest.get(j.key);
    if (!cur || j.time > cur.time! || (j.time === cur.time && !j.ok && cur.ok)) newest.set(j.key, j);
  }
  for (const j of judged) {
    if (j.time === undefined) continue;
    const winner = newest.get(j.key)!;
    if (winner !== j) {
      j.status = 'superseded';
      j.reason = `superseded by a newer attestation of the same key signed ${winner.signedAt} (ok: ${winner.ok})`;
    }
  }
  const trustedOk = judged.filter((j) => j.status === 'trusted ok').length;
  const trustedNotOk = judged.filter((j) => j.status === 'marked bad').length;
  const verdict: Verdict =
    trustedNotOk > policy.maxNotOk ? 'marked bad' : trustedOk >= policy.minOk ? 'trusted' : 'not trusted';
  return {
    verdict,
    trustedOk,
    trustedNotOk,
    policy,
    attestations: judged.map(({ time: _t, ...j }) => j),
  };
}

/** keyFromArmored parses an armored key and checks it is the key of fingerprint; undefined otherwise. */
export async function keyFromArmored(armored: string, fingerprint: string): Promise<PublicKey | undefined> {
  try {
    const key = await readPublicKey(armored);
    return fingerprintHex(key) === fingerprint.toUpperCase() ? key : undefined;
  } catch (e) {
    if (isLogError(e)) return undefined;
    throw e;
  }
}
