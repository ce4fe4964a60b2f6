/**
 * The witness's cosigner key (SPEC.md "Witnesses"): an Ed25519 key of c2sp.org/tlog-cosignature
 * cosignature/v1 (signature type 0x04), in the text form of log/cosignature.ts
 * (`PRIVATE+KEY+<name>+<hex8>+<base64(0x04 || seed)>`). Read from WITNESS_KEY_FILE, or made at first
 * start in the data directory (witness.key, mode 0600, written once and atomically by server/keys.ts
 * writeFileOnce). Its name is WITNESS_NAME. Never logged. It is not the log's note key: a witness key
 * signs statements about other logs, and tlog-cosignature keys have their own type and key IDs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cosignatureSigner, cosignatureVkeyFromSkey, generateCosignatureKey } from '../../log/cosignature.js';
import type { Signer } from '../../log/note.js';
import { ServiceError } from '../errors.js';
import { writeFileOnce } from '../keys.js';

/** WITNESS_KEY_FILE_NAME is the cosigner key file's name in the data directory. */
export const WITNESS_KEY_FILE_NAME = 'witness.key';

/** CosignerKey is the loaded cosigner key: its name, public vkey and signer. */
export interface CosignerKey {
  name: string;
  /** vkey is `<name>+<hex8>+<base64(0x04 || public key)>`, what logs put in their policy. */
  vkey: string;
  signer: Signer;
}

function configError(message: string, details: Record<string, unknown>): ServiceError {
  return new ServiceError('CONFIG_INVALID', message, details);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw configError(`witness key file ${path} cannot be read: ${(e as Error).message}`, { file: path });
  }
}

/**
 * loadCosignerKey returns the cosigner key: read from keyFile when given (it must exist), else from
 * `<dataDir>/witness.key`, made there when missing with the name `name` (or defaultName() when name is
 * unset). Throws ServiceError CONFIG_INVALID when a given file is missing or unreadable, does not hold
 * a cosigner skey (e.g. a log note key, type 0x01), or holds a key whose name is not `name`.
 */
export function loadCosignerKey(opts: {
  dataDir: string;
  keyFile?: string | undefined;
  name?: string | undefined;
  defaultName: () => string;
}): CosignerKey {
  const path = opts.keyFile ?? join(opts.dataDir, WITNESS_KEY_FILE_NAME);
  let skey = readText(path)?.trim();
  if (skey === undefined) {
    if (opts.keyFile !== undefined) {
      throw configError(
        `witness key file ${path} (WITNESS_KEY_FILE) does not exist: give an existing cosigner key, or unset WITNESS_KEY_FILE to make one in DATA_DIR`,
        { file: path },
      );
    }
    const name = opts.name ?? opts.defaultName();
    let made: string;
    try {
      made = generateCosignatureKey(name).skey;
    } catch (e) {
      throw configError(`WITNESS_NAME ${JSON.stringify(name)} is not a key name: ${(e as Error).message}`, {
        name,
      });
    }
    // Crash safety: writeFileOnce links a complete, fsynced file into place or nothing; two processes
    // starting at once both read the one that won.
    writeFileOnce(path, `${made}\n`);
    skey = readText(path)!.trim();
  }
  let signer: Signer;
  let vkey: string;
  try {
    signer = cosignatureSigner(skey);
    vkey = cosignatureVkeyFromSkey(skey);
  } catch (e) {
    throw configError(
      `witness key file ${path} does not hold a cosigner key (cosignature/v1, type 0x04): ${(e as Error).message}`,
      { file: path },
    );
  }
  if (opts.name !== undefined && signer.name !== opts.name) {
    throw configError(
      `witness key file ${path} is for the cosigner "${signer.name}", but WITNESS_NAME is "${opts.name}": ` +
        "the name is part of the key ID, so set WITNESS_NAME to the key's name or give the key made for this name",
      { file: path, found: signer.name, expected: opts.name },
    );
  }
  return { name: signer.name, vkey, signer };
}
