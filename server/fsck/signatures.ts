/**
 * fsck class 4, SIGNATURES: every attestation verifies (log/signet.ts verifyAttestation) with the
 * signer's stored key, as of its loggedAt (the server's acceptance rule).
 */
import * as openpgp from 'openpgp';
import { verifyAttestation } from '../../log/signet.js';
import type { FsckCheck, FsckScan, ScannedEntry } from './scan.js';

/**
 * checkSignatures returns the SIGNATURES check (a no-op when s.opts.signatures is false): for each
 * batch of the pass it reads the keys of the batch's signers it has not seen (one read), then verifies
 * each parsed entry's attestation. A key that is not stored or does not load is KEY_MISSING; a
 * signature that does not verify is ATTESTATION_SIGNATURE_INVALID (details.cause: the log/ code).
 */
export function checkSignatures(s: FsckScan): FsckCheck {
  // Parsed keys by fingerprint; null: not stored, or does not load.
  const keys = new Map<string, openpgp.PublicKey | null>();
  return {
    async batch(entries) {
      if (!s.opts.signatures) return;
      await loadKeys(s, keys, entries);
      for (const e of entries) if (e.parsed) await checkSignature(s, keys, e);
    },
  };
}

async function loadKeys(
  s: FsckScan,
  keys: Map<string, openpgp.PublicKey | null>,
  entries: readonly ScannedEntry[],
): Promise<void> {
  const want = [...new Set(entries.map((e) => e.signer))].filter((f) => !keys.has(f));
  if (want.length === 0) return;
  for (const k of await s.reader.keys(want)) {
    try {
      keys.set(k.fingerprint, await openpgp.readKey({ armoredKey: k.armored }));
    } catch {
      keys.set(k.fingerprint, null);
    }
  }
  for (const f of want) if (!keys.has(f)) keys.set(f, null);
}

async function checkSignature(
  s: FsckScan,
  keys: Map<string, openpgp.PublicKey | null>,
  e: ScannedEntry,
): Promise<void> {
  const att = e.parsed!.attestation;
  const idx = e.index.toString();
  const key = keys.get(att.key);
  if (!key) {
    s.problems.add(
      'SIGNATURES',
      'KEY_MISSING',
      `entry ${idx}: the signer's key ${att.key} is not in signer_keys (or does not load)`,
      { index: idx, key: att.key },
    );
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
