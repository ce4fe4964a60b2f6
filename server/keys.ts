/**
 * The log's own signing keys (SPEC.md "Checkpoint", "Storage and processes"): the Ed25519 note key
 * (c2sp.org/signed-note, Go sumdb/note text form; its name is the origin) and an OpenPGP key (v4,
 * EdDSA/Ed25519, no passphrase). Made at first start in the data directory (note.key, openpgp.key,
 * mode 0600) or read from the files given. Never logged.
 *
 * Checkpoints are signed with both (SPEC.md: one Ed25519 line for tlog tools and witnesses, one
 * OpenPGP line whose creation time is the checkpoint's timestamp).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as openpgp from 'openpgp';
import { type Checkpoint, formatCheckpoint } from '../log/checkpoint.js';
import {
  ed25519Signer,
  generateEd25519Key,
  openpgpKeyId,
  openpgpSignatureTime,
  openpgpSigner,
  parseNote,
  type Signer,
  signNote,
  vkeyFromSkey,
} from '../log/note.js';
import { fingerprintHex } from '../log/signet.js';
import { ServiceError } from './errors.js';

/** NOTE_KEY_FILE and OPENPGP_KEY_FILE are the key files' names in the data directory. */
export const NOTE_KEY_FILE = 'note.key';
export const OPENPGP_KEY_FILE = 'openpgp.key';

/** ServerKeys are the loaded keys and their public forms. */
export interface ServerKeys {
  origin: string;
  /** vkey is the Ed25519 note verifier key (public). */
  vkey: string;
  openpgpPublicKey: string;
  openpgpFingerprint: string;
  /** signers sign checkpoint notes: Ed25519 first, then OpenPGP. */
  signers: readonly Signer[];
  /** openpgpKeyId is the note key ID of the OpenPGP line (to find its signature in a note). */
  openpgpKeyId: number;
}

/** defaultOrigin returns a fresh origin for a log started without one: `sig.local/<8 hex>`. */
export function defaultOrigin(): string {
  return `sig.local/${randomBytes(4).toString('hex')}`;
}

/**
 * writeFileOnce writes `data` to `path` with mode 0600 unless the file exists, atomically: a temp
 * file is written and fsynced, then hard-linked to `path` (which fails if another process made it
 * first: then the caller reads theirs), then the directory is fsynced. Returns whether it wrote.
 *
 * Crash safety: dying before the link leaves only a temp file (ignored); after the link, the file is
 * complete because its data was fsynced before it got its name.
 */
export function writeFileOnce(path: string, data: string): boolean {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  let wrote = true;
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    wrote = false;
  } finally {
    unlinkSync(tmp);
  }
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return wrote;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function configError(message: string, details: Record<string, unknown> = {}): ServiceError {
  return new ServiceError('CONFIG_INVALID', message, details);
}

/**
 * loadKeys returns the server keys for `origin`: read from noteKeyFile/openpgpKeyFile when given
 * (they must exist), else from dataDir/note.key and dataDir/openpgp.key, made there when missing.
 * Throws CONFIG_INVALID when a given file is missing or unreadable, when the note key's name is not
 * the origin, or when the OpenPGP key is not a v4 key usable without a passphrase.
 */
export async function loadKeys(opts: {
  dataDir: string;
  origin: string;
  noteKeyFile?: string | undefined;
  openpgpKeyFile?: string | undefined;
}): Promise<ServerKeys> {
  const notePath = opts.noteKeyFile ?? join(opts.dataDir, NOTE_KEY_FILE);
  const pgpPath = opts.openpgpKeyFile ?? join(opts.dataDir, OPENPGP_KEY_FILE);

  let skey = readText(notePath)?.trim();
  if (skey === undefined) {
    if (opts.noteKeyFile) throw configError(`note key file ${notePath} does not exist`, { file: notePath });
    writeFileOnce(notePath, `${generateEd25519Key(opts.origin).skey}\n`);
    skey = readText(notePath)!.trim();
  }
  let vkey: string;
  let signer: Signer;
  try {
    vkey = vkeyFromSkey(skey);
    signer = ed25519Signer(skey);
  } catch (e) {
    throw configError(`note key file ${notePath} does not hold a note signing key: ${(e as Error).message}`, {
      file: notePath,
    });
  }
  if (signer.name !== opts.origin) {
    throw configError(
      `note key file ${notePath} is for the log "${signer.name}", but this log's origin is "${opts.origin}": ` +
        'the note key name must be the origin; set the origin to match or give the right key file',
      { file: notePath, found: signer.name, expected: opts.origin },
    );
  }

  let armored = readText(pgpPath);
  if (armored === undefined) {
    if (opts.openpgpKeyFile)
      throw configError(`OpenPGP key file ${pgpPath} does not exist`, { file: pgpPath });
    const made = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [{ name: opts.origin }],
      format: 'armored',
    });
    writeFileOnce(pgpPath, made.privateKey);
    armored = readText(pgpPath)!;
  }
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch (e) {
    throw configError(`OpenPGP key file ${pgpPath} does not hold a private key: ${(e as Error).message}`, {
      file: pgpPath,
    });
  }
  if (!key.isDecrypted()) {
    throw configError(
      `OpenPGP key in ${pgpPath} is protected by a passphrase; the server needs it without one`,
      {
        file: pgpPath,
      },
    );
  }
  const fingerprint = fingerprintHex(key);
  let pgpSigner: Signer;
  try {
    pgpSigner = openpgpSigner(opts.origin, key);
  } catch (e) {
    throw configError(`OpenPGP key in ${pgpPath} cannot sign checkpoints: ${(e as Error).message}`, {
      file: pgpPath,
    });
  }
  return {
    origin: opts.origin,
    vkey,
    openpgpPublicKey: key.toPublic().armor(),
    openpgpFingerprint: fingerprint,
    signers: [signer, pgpSigner],
    openpgpKeyId: openpgpKeyId(opts.origin, Buffer.from(fingerprint, 'hex')),
  };
}

/**
 * signCheckpoint returns the signed note of checkpoint `c` (c2sp.org/tlog-checkpoint body, both
 * signature lines) and its timestamp: the creation time of the OpenPGP signature.
 */
export async function signCheckpoint(
  keys: ServerKeys,
  c: Checkpoint,
): Promise<{ note: string; signedAt: Date }> {
  const note = await signNote(formatCheckpoint(c), keys.signers);
  return { note, signedAt: await checkpointTime(keys, note) };
}

/** checkpointTime returns the creation time of the log's OpenPGP signature line in `note`. */
export async function checkpointTime(keys: ServerKeys, note: string): Promise<Date> {
  const line = parseNote(note).signatures.find(
    (s) => s.name === keys.origin && s.keyId === keys.openpgpKeyId,
  );
  if (!line) throw new Error('checkpoint note has no OpenPGP signature line by this log');
  return openpgpSignatureTime(line.signature);
}
