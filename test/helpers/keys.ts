/**
 * Keys and checkpoint checks the test helpers share (child-server.ts, http.ts, service.ts): one place
 * for each, so the three kinds of test server are checked the same way.
 */
import * as openpgp from 'openpgp';
import { type Checkpoint, parseCheckpoint } from '../../log/checkpoint.js';
import { ed25519Verifier, openNote, openpgpVerifier } from '../../log/note.js';

/** newSigningKey returns a fresh v4 Ed25519 OpenPGP key pair (real key, as `sig key generate` makes). */
export async function newSigningKey(
  name: string,
  email?: string,
): Promise<{ privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey; fingerprint: string }> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [email === undefined ? { name } : { name, email }],
    format: 'object',
  });
  return { privateKey, publicKey, fingerprint: privateKey.getFingerprint().toUpperCase() };
}

/** PinnedLogKeys are the keys a client pins for a log (from /v1/server). */
export interface PinnedLogKeys {
  origin: string;
  vkey: string;
  openpgpPublicKey: openpgp.PublicKey;
}

/**
 * openLogCheckpoint verifies both signature lines of a signed checkpoint (Ed25519 and OpenPGP, by the
 * pinned keys) and returns its body. Throws when either line is missing or invalid, or the origin differs.
 */
export async function openLogCheckpoint(note: string, keys: PinnedLogKeys): Promise<Checkpoint> {
  const ed = ed25519Verifier(keys.vkey);
  const pgp = openpgpVerifier(keys.origin, keys.openpgpPublicKey);
  const opened = await openNote(note, [ed, pgp]);
  const ids = new Set(opened.verified.map((s) => s.keyId));
  if (!ids.has(ed.keyId)) throw new Error('checkpoint has no valid Ed25519 line by the log');
  if (!ids.has(pgp.keyId)) throw new Error('checkpoint has no valid OpenPGP line by the log');
  const cp = parseCheckpoint(opened.text);
  if (cp.origin !== keys.origin) throw new Error(`checkpoint origin ${cp.origin}, expected ${keys.origin}`);
  return cp;
}
