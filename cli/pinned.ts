/**
 * pinned: what the CLI checks about a server's checkpoints and entries, with log/ only (the same code
 * the server proves with) and the server's PINNED keys: opening a checkpoint, its freshness, advancing
 * the checkpoint kept for the server, and the evidence of a fork. The trust policy is cli/trust.ts.
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
 */
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { type Entry, parseEntry } from '../log/entry.js';
import { isLogError } from '../log/errors.js';
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
import { readPublicKey } from '../log/signet.js';
import type { RawItem, SigClient } from './client.js';
import { MAX_FUTURE_SKEW_SECONDS, type ServerEntry, type SigHome, writeFileAtomic } from './config.js';
import { CliError, withContext } from './errors.js';

/** VerifiedCheckpoint is a checkpoint whose signatures by the pinned keys verified. */
export interface VerifiedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  /** timestamp is the creation time of the OpenPGP signature line (SPEC.md). */
  timestamp: Date;
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
  const dir = home.evidenceDir(server.name, stamp(new Date()));
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
