/**
 * fsck class 4, SIGNATURES: every attestation verifies (log/signet.ts verifyAttestation) with the
 * signer's stored key, as of its loggedAt (the server's acceptance rule). Stored keys are read the way
 * the server reads them (server/key-cache.ts KeyCache: log/keys.ts readSignerKey with STORED_KEY_LIMITS,
 * no user ID required): bounds and algorithms before any math, then only the parts that verify. So fsck
 * judges each attestation as the server does, and a hostile key in an old database (DSA-16384, say) is
 * refused at once instead of stalling the check.
 */
import type * as openpgp from 'openpgp';
import { isLogError, type LogError } from '../../log/errors.js';
import { verifyAttestation } from '../../log/signet.js';
import { KeyCache } from '../key-cache.js';
import type { FsckCheck, FsckScan, ScannedEntry } from './scan.js';

/** StoredKey is what fsck knows of one signer's key: its armor, why it was refused, or null (not stored). */
type StoredKey = { armored: string } | { refused: LogError } | null;

/**
 * checkSignatures returns the SIGNATURES check (a no-op when s.opts.signatures is false): for each
 * batch of the pass it reads the keys of the batch's signers it has not seen (one read), then verifies
 * each parsed entry's attestation. A key that is not stored is KEY_MISSING; a key the signer-key rules
 * refuse is KEY_REFUSED (details.cause: the log/ code, details.rule: the rule); a signature that does
 * not verify is ATTESTATION_SIGNATURE_INVALID (details.cause: the log/ code).
 */
export function checkSignatures(s: FsckScan): FsckCheck {
  const keys = new Map<string, StoredKey>();
  const cache = new KeyCache();
  return {
    async batch(entries) {
      if (!s.opts.signatures) return;
      await loadKeys(s, keys, entries);
      for (const e of entries) if (e.parsed) await checkSignature(s, keys, cache, e);
    },
  };
}

async function loadKeys(
  s: FsckScan,
  keys: Map<string, StoredKey>,
  entries: readonly ScannedEntry[],
): Promise<void> {
  const want = [...new Set(entries.flatMap((e) => (e.signer === null ? [] : [e.signer])))].filter(
    (f) => !keys.has(f),
  );
  if (want.length === 0) return;
  for (const k of await s.reader.keys(want)) keys.set(k.fingerprint, { armored: k.armored });
  for (const f of want) if (!keys.has(f)) keys.set(f, null);
}

/**
 * readKey returns the checked key of `fingerprint`, or undefined after recording why there is none: a
 * refusal is kept in place of the armor, so a refused key is read once however many entries it signed.
 */
async function readKey(
  keys: Map<string, StoredKey>,
  cache: KeyCache,
  fingerprint: string,
): Promise<openpgp.PublicKey | undefined> {
  const stored = keys.get(fingerprint);
  if (!stored || 'refused' in stored) return undefined;
  try {
    return await cache.read(stored.armored);
  } catch (e) {
    if (!isLogError(e)) throw e;
    keys.set(fingerprint, { refused: e });
    return undefined;
  }
}

async function checkSignature(
  s: FsckScan,
  keys: Map<string, StoredKey>,
  cache: KeyCache,
  e: ScannedEntry,
): Promise<void> {
  const att = e.parsed!.attestation;
  const idx = e.index.toString();
  const key = await readKey(keys, cache, att.key);
  if (!key) {
    const stored = keys.get(att.key);
    if (stored && 'refused' in stored) {
      const { code, message, details } = stored.refused;
      s.problems.add(
        'SIGNATURES',
        'KEY_REFUSED',
        `entry ${idx}: the signer's key ${att.key} in signer_keys is refused by the signer-key rules (${code}, rule ${String(details.rule)}): ${message}`,
        { index: idx, key: att.key, cause: code, rule: details.rule },
      );
    } else {
      s.problems.add(
        'SIGNATURES',
        'KEY_MISSING',
        `entry ${idx}: the signer's key ${att.key} is not in signer_keys`,
        { index: idx, key: att.key },
      );
    }
    return;
  }
  try {
    await verifyAttestation(att, key, { now: new Date(e.parsed!.loggedAt) });
    s.report.signaturesVerified++;
  } catch (e2) {
    s.problems.add('SIGNATURES', 'ATTESTATION_SIGNATURE_INVALID', `entry ${idx}: ${(e2 as Error).message}`, {
      index: idx,
      cause: (e2 as { code?: string }).code,
    });
  }
}
