/**
 * keys: OpenPGP keys as armored files under $SIG_DIR/keys (openpgp.js, no gpg). Keys exported from
 * GnuPG (`gpg --armor --export[-secret-keys]`) import as they are; a secret key with a passphrase is
 * decrypted at use with $SIG_PASSPHRASE.
 */

import type { PrivateKey, PublicKey } from 'openpgp';
import * as openpgp from 'openpgp';
import { fingerprintHex } from '../log/signet.js';
import { normalizeFingerprint, type SigHome, writeFileAtomic } from './config.js';
import { CliError } from './errors.js';

/** KeyInfo describes one key for `sig key list`. */
export interface KeyInfo {
  fingerprint: string;
  userIds: string[];
  algorithm: string;
  created: string;
  secret: boolean;
  default: boolean;
}

/** describeKey returns the KeyInfo of a key. */
export function describeKey(key: openpgp.Key, secret: boolean, defaultFp: string | undefined): KeyInfo {
  const fp = fingerprintHex(key);
  const info = key.getAlgorithmInfo() as { algorithm: string; curve?: string; bits?: number };
  return {
    fingerprint: fp,
    userIds: key.getUserIDs(),
    algorithm: `${info.algorithm}${info.curve ? ` ${info.curve}` : ''}${info.bits ? ` ${info.bits}` : ''}`,
    created: key.getCreationTime().toISOString(),
    secret,
    default: fp === defaultFp,
  };
}

/**
 * importKeys stores every key in an armored (or binary) block: the public part always, the secret part
 * (mode 0600) when present. Returns their fingerprints. Throws KEY_INVALID when nothing parses. The
 * first secret key becomes the default signing key when none is set.
 */
export async function importKeys(
  home: SigHome,
  data: string | Uint8Array,
): Promise<{ fingerprint: string; secret: boolean }[]> {
  let keys: openpgp.Key[];
  try {
    keys =
      typeof data === 'string'
        ? await openpgp.readKeys({ armoredKeys: data })
        : await openpgp.readKeys({ binaryKeys: data });
  } catch (e) {
    throw new CliError(
      'USAGE',
      `expected an OpenPGP key (armored or binary), found something else: ${(e as Error).message}`,
    );
  }
  const out: { fingerprint: string; secret: boolean }[] = [];
  for (const key of keys) {
    const fp = fingerprintHex(key);
    const pub = key.isPrivate() ? key.toPublic() : key;
    // Merge with a public key already kept (new user IDs or signatures), else store it.
    const existing = home.readPublicKeyArmored(fp);
    let merged = pub as PublicKey;
    if (existing) {
      const old = await openpgp.readKey({ armoredKey: existing });
      merged = (await old.update(pub)) as PublicKey;
    }
    writeFileAtomic(home.publicKeyPath(fp), merged.armor());
    if (key.isPrivate()) {
      writeFileAtomic(home.secretKeyPath(fp), key.armor(), 0o600);
      if (!home.defaultKey()) home.setDefaultKey(fp);
    }
    out.push({ fingerprint: fp, secret: key.isPrivate() });
  }
  return out;
}

/** KEY_TYPES are the key types `sig key generate --type` makes. */
export const KEY_TYPES = ['ed25519', 'rsa'] as const;

/**
 * generateKey makes a key pair (default Ed25519/EdDSA, which GnuPG 2.2 and every Signet client read;
 * 'rsa' makes RSA-3072), stores it and returns its fingerprint.
 */
export async function generateKey(
  home: SigHome,
  name: string,
  email?: string,
  type: (typeof KEY_TYPES)[number] = 'ed25519',
): Promise<string> {
  const userIDs = [email ? { name, email } : { name }];
  const { privateKey } =
    type === 'rsa'
      ? await openpgp.generateKey({ type: 'rsa', rsaBits: 3072, userIDs, format: 'object' })
      : await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs, format: 'object' });
  const fp = fingerprintHex(privateKey);
  writeFileAtomic(home.publicKeyPath(fp), privateKey.toPublic().armor());
  writeFileAtomic(home.secretKeyPath(fp), privateKey.armor(), 0o600);
  if (!home.defaultKey()) home.setDefaultKey(fp);
  return fp;
}

/** localPublicKey returns the kept public key of fp, or undefined. */
export async function localPublicKey(home: SigHome, fp: string): Promise<PublicKey | undefined> {
  const armored = home.readPublicKeyArmored(fp.toUpperCase());
  if (!armored) return undefined;
  const key = await openpgp.readKey({ armoredKey: armored });
  return key.isPrivate() ? key.toPublic() : (key as PublicKey);
}

/** signingKeyFingerprint returns the fingerprint to sign with: the given one, or the default; USAGE when none. */
export function signingKeyFingerprint(home: SigHome, given?: string): string {
  if (given) return normalizeFingerprint(given);
  const d = home.defaultKey();
  if (d) return d;
  const secrets = home.keyFiles().filter((k) => k.secret);
  if (secrets.length === 1) return secrets[0]!.fingerprint;
  throw new CliError(
    'USAGE',
    secrets.length === 0
      ? 'no secret key: make one with `sig key generate --name "Your Name"` or import one with `sig key import <file>`'
      : `several secret keys and no default: pass --key <fingerprint> (one of ${secrets.map((s) => s.fingerprint).join(', ')})`,
  );
}

/** secretKey returns the decrypted secret key of fp; USAGE when there is none or it cannot be decrypted. */
export async function secretKey(home: SigHome, fp: string): Promise<PrivateKey> {
  const armored = home.readSecretKeyArmored(fp);
  if (!armored) {
    throw new CliError(
      'USAGE',
      `no secret key ${fp} in ${home.path('keys')}: import it with \`sig key import <file>\``,
    );
  }
  const key = await openpgp.readPrivateKey({ armoredKey: armored });
  if (key.isDecrypted()) return key;
  const passphrase = process.env.SIG_PASSPHRASE;
  if (!passphrase) {
    throw new CliError('USAGE', `secret key ${fp} is protected by a passphrase: set SIG_PASSPHRASE`);
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (e) {
    throw new CliError(
      'USAGE',
      `cannot decrypt secret key ${fp} with $SIG_PASSPHRASE: ${(e as Error).message}`,
    );
  }
}

/** asKeyData returns a key file's content as text when armored, else as bytes (binary keys). */
export function asKeyData(buf: Buffer): string | Uint8Array {
  const text = buf.toString('utf8');
  return text.includes('-----BEGIN PGP') ? text : new Uint8Array(buf);
}
