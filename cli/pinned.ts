/**
 * pinned: what the CLI checks about a server's checkpoints and entries, with log/ only (the same code
 * the server proves with) and the server's PINNED keys: opening a checkpoint, its freshness, advancing
 * the checkpoint kept for the server, and the evidence of a fork. The trust policy is cli/trust.ts.
 *
 * - Checkpoints (SPEC.md "The log"): a c2sp.org/signed-note whose Ed25519 AND OpenPGP lines by the
 *   pinned keys both verify; the origin is the pinned origin; the OpenPGP signature's creation time is
 *   the checkpoint's timestamp, checked against the server's freshness policy.
 * - Consistency (RFC 9162 §2.1.4): every new checkpoint is judged against the last one kept for that
 *   server with log/consistency.ts judgeCheckpoint (the rule followers and witnesses use too) before it
 *   is kept: same tree, or a larger one proved consistent. A fork (equal sizes with different roots, or
 *   a proof that fails) has both signed checkpoints written as evidence and FORK_DETECTED thrown. A
 *   smaller tree is never accepted (CHECKPOINT_ROLLBACK).
 * - Inclusion (RFC 9162 §2.1.3.2): the entry bytes as received are hashed (RFC 6962 leaf hash) and the
 *   proof is checked against the verified checkpoint; only then is the entry parsed.
 */
import { base64Encode } from '../log/bytes.js';
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { judgeCheckpoint } from '../log/consistency.js';
import { type Entry, parseEntry } from '../log/entry.js';
import { isLogError } from '../log/errors.js';
import { hashLeaf } from '../log/hash.js';
import { INDEX_VERSION, isIndexLeaf, parseIndexLeaf } from '../log/index-map.js';
import {
  ed25519Verifier,
  type NoteSignature,
  openNote,
  openpgpSignatureTime,
  openpgpVerifier,
  type Verifier,
} from '../log/note.js';
import { verifyInclusion } from '../log/proof.js';
import { readPublicKey } from '../log/signet.js';
import type { RawItem, SigClient } from './client.js';
import { MAX_FUTURE_SKEW_SECONDS, type ServerEntry, type SigHome, writeFileAtomic } from './config.js';
import { CliError, withContext } from './errors.js';
import { requireIndexLeaf } from './index-check.js';

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
      `${JSON.stringify({ from: Number(a.checkpoint.treeSize), to: Number(b.checkpoint.treeSize), consistencyProof: proof.map(base64Encode) }, null, 2)}\n`,
    );
  }
  writeFileAtomic(
    `${dir}/README.txt`,
    `Fork evidence for server ${server.name} (${server.url})\norigin: ${server.origin}\nvkey: ${server.vkey}\nOpenPGP fingerprint: ${server.fingerprint}\n\n${why}\n\nBoth checkpoint files are signed by the pinned keys above.\n`,
  );
  return dir;
}

/**
 * judgeNext fetches the consistency proof from `kept` to `next` (two verified checkpoints of the
 * server's log) when one is needed (0 < kept size < next size), and decides with log/consistency.ts
 * judgeCheckpoint, the one rule the CLI, followers and witnesses share. A fork is written as evidence
 * and thrown as FORK_DETECTED; other verdicts are returned.
 */
async function judgeNext(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  kept: VerifiedCheckpoint,
  next: VerifiedCheckpoint,
): Promise<'same' | 'consistent' | 'rollback'> {
  const n1 = kept.checkpoint.treeSize;
  const n2 = next.checkpoint.treeSize;
  const proof =
    n1 > 0n && n1 < n2
      ? await withContext(`server ${server.name}: consistency proof ${n1} -> ${n2}`, () =>
          client.consistencyProof(n1, n2),
        )
      : [];
  const j = await withContext(`server ${server.name}: checkpoint of size ${n2} after size ${n1}`, () =>
    judgeCheckpoint(kept.checkpoint, next.checkpoint, proof),
  );
  if (j.verdict !== 'fork') return j.verdict;
  const r1 = base64Encode(kept.checkpoint.rootHash);
  const r2 = base64Encode(next.checkpoint.rootHash);
  const why =
    j.reason === 'root-mismatch'
      ? `two checkpoints of size ${n1} with different roots (${r1} and ${r2}): the log forked`
      : `the checkpoint of size ${n2} (root ${r2}) is not proved consistent with the checkpoint of size ${n1} (root ${r1}): ${j.cause.code}: ${j.cause.message}`;
  const dir = writeEvidence(home, server, kept, next, why, j.reason === 'proof-invalid' ? proof : undefined);
  throw new CliError('FORK_DETECTED', `server ${server.name}: ${why}; evidence in ${dir}`, {
    evidence: dir,
  });
}

/**
 * proveConsistent checks that checkpoints a and b of one log (both verified with the pinned keys) can
 * both be true, in whichever order they come (a peer's may be older or newer than ours): equal sizes
 * need equal roots; otherwise the server's consistency proof from the smaller to the larger must
 * verify (RFC 9162 §2.1.4.2). On failure it writes evidence and throws FORK_DETECTED.
 */
export async function proveConsistent(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  a: VerifiedCheckpoint,
  b: VerifiedCheckpoint,
): Promise<void> {
  const [older, newer] = a.checkpoint.treeSize <= b.checkpoint.treeSize ? [a, b] : [b, a];
  await judgeNext(home, server, client, older, newer);
}

/** Advance says what happened to the kept checkpoint. */
export interface Advance {
  previousSize?: bigint;
  kept: VerifiedCheckpoint;
}

/**
 * advanceCheckpoint judges a newly received checkpoint against the last one kept for the server
 * (log/consistency.ts judgeCheckpoint, with the server's consistency proof) and keeps it when it is
 * the same tree re-signed later or a consistent larger one. Throws FORK_DETECTED (evidence written) or
 * CHECKPOINT_ROLLBACK (a smaller tree, whatever any proof says), and INDEX_LEAF_INVALID when the server
 * has the index and the checkpoint does not end with a valid index leaf; the kept checkpoint is
 * unchanged then.
 */
export async function advanceCheckpoint(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  fresh: VerifiedCheckpoint,
): Promise<Advance> {
  // An indexed server's checkpoint must end with a valid index leaf before it is kept (cli/index-check.ts).
  await requireIndexLeaf(server, client, fresh);
  const keptNote = home.keptCheckpoint(server.name);
  if (keptNote === undefined) {
    home.keepCheckpoint(server.name, fresh.checkpoint.treeSize, fresh.note);
    return { kept: fresh };
  }
  const kept = await openCheckpoint(server, keptNote, 'kept checkpoint');
  const verdict = await judgeNext(home, server, client, kept, fresh);
  if (verdict === 'rollback') {
    throw new CliError(
      'CHECKPOINT_ROLLBACK',
      `server ${server.name}: sent a checkpoint of size ${fresh.checkpoint.treeSize}, smaller than the size ${kept.checkpoint.treeSize} already kept; a tree never shrinks, so this answer is an old one replayed`,
      { kept: Number(kept.checkpoint.treeSize), received: Number(fresh.checkpoint.treeSize) },
    );
  }
  if (verdict === 'consistent' || fresh.timestamp > kept.timestamp) {
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
export function verifyItem(server: ServerEntry, cp: VerifiedCheckpoint, item: RawItem): Promise<Entry> {
  return verifyIncluded(server, cp, item, parseEntry);
}

/** LogEntryView is one verified log entry by kind: an attestation entry, or an index leaf. */
export type LogEntryView =
  | { kind: 'attestation'; entry: Entry }
  | { kind: 'index'; index: { root: string; size: bigint; version: typeof INDEX_VERSION } };

/**
 * verifyLogEntry checks one entry as verifyItem does and parses it by kind (`sig log entry`): an index
 * leaf (log/index-map.ts parseIndexLeaf), or an attestation entry (log/entry.ts parseEntry).
 */
export function verifyLogEntry(
  server: ServerEntry,
  cp: { checkpoint: Checkpoint },
  item: RawItem,
): Promise<LogEntryView> {
  return verifyIncluded(server, cp, item, (bytes): LogEntryView => {
    if (!isIndexLeaf(bytes)) return { kind: 'attestation', entry: parseEntry(bytes) };
    const leaf = parseIndexLeaf(bytes);
    return {
      kind: 'index',
      index: { root: base64Encode(leaf.root), size: leaf.size, version: INDEX_VERSION },
    };
  });
}

/**
 * verifyIncluded checks the inclusion of an entry's bytes, as received, in a verified checkpoint, then
 * reads them with `read`; errors (of either) name the server, the index and the checkpoint size.
 */
async function verifyIncluded<T>(
  server: ServerEntry,
  cp: { checkpoint: Checkpoint },
  item: RawItem,
  read: (entry: Uint8Array) => T,
): Promise<T> {
  const ctx = `server ${server.name}: entry ${item.index} against checkpoint size ${cp.checkpoint.treeSize}`;
  return await withContext(ctx, () => {
    verifyInclusion(
      item.index,
      cp.checkpoint.treeSize,
      hashLeaf(item.entry),
      item.inclusionProof,
      cp.checkpoint.rootHash,
    );
    return read(item.entry);
  });
}
