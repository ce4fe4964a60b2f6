/**
 * verify: every check the explorer shows, computed in the page with the same log/ code the CLI and the
 * server use (no copy): signed notes (log/note.ts), checkpoints (log/checkpoint.ts), inclusion proofs
 * (log/proof.ts, RFC 9162 §2.1.3.2), entries (log/entry.ts, log/index-map.ts), attestation signatures
 * (log/signet.ts) and complete answers (log/index-answer.ts, SPEC.md "The index").
 *
 * Whose keys: the log's Ed25519 vkey and OpenPGP key come from this same server's /v1/server. The page
 * shows them so that a reader can compare them with the ones they pinned (`sig server list`); a server
 * that lies about its own keys is caught there, and by witnesses, not here.
 */
import type { PublicKey } from 'openpgp';
import { base64DecodeStrict, hexEncode } from '../../log/bytes.js';
import { type Checkpoint, parseCheckpoint } from '../../log/checkpoint.js';
import { hashLeaf } from '../../log/hash.js';
import {
  ed25519Verifier,
  openNote,
  openpgpSignatureTime,
  openpgpVerifier,
  parseNote,
} from '../../log/note.js';
import { verifyInclusion } from '../../log/proof.js';
import { type Attestation, fingerprintHex, readPublicKey, verifyAttestation } from '../../log/signet.js';
import { getJson, getText } from './api.js';
import { type Check, errorText } from './dom.js';
import { checkCosignatures } from './witnesses.js';

/** STALE_AFTER_MS: a checkpoint older than this is stale (SPEC.md "The CLI": the default 24 hours). */
export const STALE_AFTER_MS = 24 * 60 * 60 * 1000;
/** MAX_FUTURE_MS: a checkpoint signed further ahead than this is stale too (SPEC.md: 5 minutes). */
export const MAX_FUTURE_MS = 5 * 60 * 1000;

/** LogIdentity is the log as /v1/server describes it, its keys read. */
export interface LogIdentity {
  origin: string;
  vkey: string;
  fingerprint: string;
  openpgpKey: PublicKey;
  /** indexVersion: the index version the server advertises, if any (SPEC.md "The index"). */
  indexVersion: number | undefined;
}

let identity: Promise<LogIdentity> | undefined;

/** loadIdentity returns the log's identity from /v1/server (once per page load). Throws on a bad answer. */
export function loadIdentity(): Promise<LogIdentity> {
  identity ??= (async () => {
    const s = await getJson('/v1/server');
    const openpgp = s.openpgp as { fingerprint?: unknown; publicKey?: unknown } | undefined;
    if (
      typeof s.origin !== 'string' ||
      typeof s.vkey !== 'string' ||
      typeof openpgp?.publicKey !== 'string'
    ) {
      throw new Error('/v1/server lacks origin, vkey or openpgp.publicKey');
    }
    const key = await readPublicKey(openpgp.publicKey);
    const index = s.index as { version?: unknown } | undefined;
    return {
      origin: s.origin,
      vkey: s.vkey,
      fingerprint: fingerprintHex(key),
      openpgpKey: key,
      indexVersion: typeof index?.version === 'number' ? index.version : undefined,
    };
  })();
  return identity;
}

/** CheckpointChecks are the checks of one signed checkpoint. */
export interface CheckpointChecks {
  ed25519: Check;
  openpgp: Check;
  origin: Check;
  freshness: Check;
  cosignatures: Check;
}

/** VerifiedCheckpoint is a checkpoint whose two log signatures and origin held in this page. */
export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  timestamp: Date;
  note: string;
}

async function checkLine(note: string, verifier: Parameters<typeof openNote>[1][number], check: Check) {
  try {
    await openNote(note, [verifier]);
    check.ok(`${verifier.name} key ID ${verifier.keyId.toString(16).padStart(8, '0')}`);
    return true;
  } catch (e) {
    check.fail(errorText(e));
    return false;
  }
}

/**
 * checkCheckpoint verifies a signed checkpoint note with the log's keys: the Ed25519 line, the OpenPGP
 * line (whose creation time is the checkpoint's timestamp), the origin, and freshness. Returns the
 * checkpoint only when the signatures and the origin held; every check is marked either way.
 */
export async function checkCheckpoint(
  note: string,
  id: LogIdentity,
  checks: CheckpointChecks,
  now = new Date(),
): Promise<VerifiedCheckpoint | undefined> {
  const ed = await checkLine(note, ed25519Verifier(id.vkey), checks.ed25519);
  const pgpVerifier = openpgpVerifier(id.origin, id.openpgpKey);
  const pgp = await checkLine(note, pgpVerifier, checks.openpgp);
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(parseNote(note).text);
  } catch (e) {
    checks.origin.fail(errorText(e));
    checks.freshness.skip('the checkpoint could not be read');
    checks.cosignatures.skip('the checkpoint could not be read');
    return undefined;
  }
  if (checkpoint.origin !== id.origin) {
    checks.origin.fail(`the checkpoint names ${checkpoint.origin}, the server says it is ${id.origin}`);
  } else if (ed && pgp) {
    checks.origin.ok(checkpoint.origin);
  } else {
    checks.origin.fail(`${checkpoint.origin}, but the checkpoint's signatures did not verify`);
  }
  await checkCosignatures(note, id.origin, checks.cosignatures);
  if (!pgp) {
    checks.freshness.fail('no verified OpenPGP signature, so no verified time');
    return undefined;
  }
  const line = parseNote(note).signatures.find((s) => s.name === id.origin && s.keyId === pgpVerifier.keyId);
  const timestamp = await openpgpSignatureTime(line!.signature);
  const age = now.getTime() - timestamp.getTime();
  if (age > STALE_AFTER_MS)
    checks.freshness.fail(`stale: signed ${ago(age)} ago (${timestamp.toISOString()})`);
  else if (-age > MAX_FUTURE_MS) checks.freshness.fail(`signed ${ago(-age)} in the future`);
  else checks.freshness.ok(`signed ${ago(age)} ago (${timestamp.toISOString()}); stale after 24 h`);
  if (!ed || checkpoint.origin !== id.origin) return undefined;
  return { checkpoint, timestamp, note };
}

/** ago returns a duration in words ("12 s", "3 min", "5 h", "2 d"). */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** latestCheckpoint fetches /log/checkpoint and checks it. */
export async function latestCheckpoint(
  id: LogIdentity,
  checks: CheckpointChecks,
): Promise<{ note: string; verified: VerifiedCheckpoint | undefined }> {
  const note = await getText('/log/checkpoint');
  return { note, verified: await checkCheckpoint(note, id, checks) };
}

/** decodeB64 returns the bytes of canonical base64 or throws naming the field. */
export function decodeB64(v: unknown, field: string): Uint8Array {
  const b = typeof v === 'string' ? base64DecodeStrict(v) : undefined;
  if (b === undefined) throw new Error(`${field} is not canonical base64`);
  return b;
}

/** decodeProof returns an inclusion proof's hashes (at most 64) or throws naming the field. */
export function decodeProof(v: unknown, field: string): Uint8Array[] {
  if (!Array.isArray(v) || v.length > 64) throw new Error(`${field} is not a list of at most 64 hashes`);
  return v.map((x, i) => decodeB64(x, `${field}[${i}]`));
}

/**
 * checkInclusion verifies that `entry` is leaf `index` of the verified checkpoint's tree with `proof`
 * (log/proof.ts verifyInclusion), and marks `check`. Without a verified checkpoint it fails: a proof
 * against a root nobody signed proves nothing.
 */
export function checkInclusion(
  index: bigint,
  entry: Uint8Array,
  proof: Uint8Array[],
  cp: VerifiedCheckpoint | undefined,
  check: Check,
): boolean {
  if (!cp) {
    check.fail('not trusted: the checkpoint it is against did not verify');
    return false;
  }
  try {
    verifyInclusion(index, cp.checkpoint.treeSize, hashLeaf(entry), proof, cp.checkpoint.rootHash);
    check.ok(
      `leaf ${index} of the ${cp.checkpoint.treeSize}-entry tree signed above (${proof.length} hashes)`,
    );
    return true;
  } catch (e) {
    check.fail(errorText(e));
    return false;
  }
}

const keyCache = new Map<string, Promise<PublicKey>>();

/** signerKey returns the signer's public key from /v1/keys/<fingerprint>, checked to be that key. */
export function signerKey(fingerprint: string): Promise<PublicKey> {
  let p = keyCache.get(fingerprint);
  if (!p) {
    p = (async () => {
      const key = await readPublicKey(await getText(`/v1/keys/${encodeURIComponent(fingerprint)}`));
      if (fingerprintHex(key) !== fingerprint) {
        throw new Error(`/v1/keys/${fingerprint} answered key ${fingerprintHex(key)}`);
      }
      return key;
    })();
    keyCache.set(fingerprint, p);
  }
  return p;
}

/** checkSignature verifies an attestation's OpenPGP signature with its signer's key; returns its time. */
export async function checkSignature(att: Attestation, check: Check): Promise<Date | undefined> {
  try {
    const { signedAt } = await verifyAttestation(att, await signerKey(att.key));
    check.ok(`signed by ${att.key} at ${signedAt.toISOString()}`);
    return signedAt;
  } catch (e) {
    check.fail(errorText(e));
    return undefined;
  }
}

/** hex returns the lower-case hex of bytes. */
export const hex = hexEncode;
