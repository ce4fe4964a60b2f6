/**
 * Cosignatures: c2sp.org/tlog-cosignature, cosignature/v1 (Ed25519, signature type 0x04).
 *
 * A cosignature is a c2sp.org/signed-note signature line on a checkpoint by a witness (a "cosigner"):
 *
 * ```
 * — <cosigner name> base64(key ID || uint64be(timestamp) || Ed25519 signature)
 * ```
 *
 * - key ID = `SHA-256(<name> || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]` (tlog-cosignature
 *   "Format");
 * - the signed message is `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint note
 *   text, final newline included, signature lines excluded (tlog-cosignature "Ed25519 signed message");
 *   the timestamp is POSIX seconds, ASCII decimal without leading zeros, at most 2^63 - 1;
 * - the statement: as of that time, the consistent tree head with the largest size the cosigner has
 *   seen for the origin has this root hash (extension lines are signed but asserted nothing about).
 *
 * Key text forms, as log/note.ts has them for type 0x01 (Go sumdb/note layout, signature type 0x04):
 * verifier key `<name>+<hex8 key ID>+<base64(0x04 || 32-byte public key)>` (a c2sp.org/signed-note
 * vkey, as tlog-cosignature allows) and signer key `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x04 ||
 * 32-byte seed)>` (our own: the specs define no cosigner skey text; Go's note.NewSigner only reads
 * type 0x01). The verifier plugs into openNote next to the log's own verifiers, so one call checks a
 * checkpoint's log signature and its cosignatures. Only valid checkpoint texts (parseCheckpoint, which
 * is strict: one text per checkpoint) are cosigned or accepted as cosigned, as Go's
 * filippo.io/torchwood does. Pure: no I/O (the signer's clock is injected).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64Encode, concatBytes } from './bytes.js';
import { parseCheckpoint } from './checkpoint.js';
import { isLogError, LogError } from './errors.js';
import { isValidKeyName, noteKeyId, type Signer, splitNoteKey, type Verifier } from './note.js';

/** SIGNATURE_TYPE_COSIGNATURE_V1 is the c2sp.org/signed-note signature type of cosignature/v1: 0x04. */
export const SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04;

/**
 * COSIGNATURE_V1_HEADER is the first line of every cosignature/v1 signed message
 * (c2sp.org/tlog-cosignature).
 */
export const COSIGNATURE_V1_HEADER = 'cosignature/v1';

/**
 * MAX_COSIGNATURE_TIMESTAMP is the largest cosignature timestamp allowed: 2^63 - 1
 * (c2sp.org/tlog-cosignature).
 */
export const MAX_COSIGNATURE_TIMESTAMP = (1n << 63n) - 1n;

/**
 * COSIGNATURE_V1_BYTES is the length of a cosignature/v1 after the key ID: 8 timestamp + 64 Ed25519 bytes.
 */
export const COSIGNATURE_V1_BYTES = 72;

/**
 * CosignatureVerifier is a Verifier of cosignature/v1 lines, with the key it holds (for reports and
 * duplicate checks).
 */
export interface CosignatureVerifier extends Verifier {
  /** The verifier key text `<name>+<hex8>+<base64(0x04 || public key)>`. */
  readonly vkey: string;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function keyError(what: string, why: string): LogError {
  return new LogError('KEY_INVALID', `${what}: ${why}`, { field: what });
}

function typeAndKey(key: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(SIGNATURE_TYPE_COSIGNATURE_V1), key);
}

/**
 * cosignatureKeyId returns the cosignature/v1 key ID `SHA-256(name || 0x0A || 0x04 || publicKey)[:4]`
 * as a big-endian uint32 (c2sp.org/tlog-cosignature "Format"). Throws KEY_INVALID when the name is not
 * a valid key name or the public key is not 32 bytes.
 */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): number {
  if (!isValidKeyName(name)) {
    throw keyError('name', `invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw keyError('publicKey', `expected a 32-byte Ed25519 public key, got ${publicKey?.length} bytes`);
  }
  return noteKeyId(name, typeAndKey(publicKey));
}

/** splitKey splits a cosigner key text (note.ts splitNoteKey), then checks 33 bytes of type 0x04. */
function splitKey(what: 'vkey' | 'skey', s: string): { name: string; keyId: number; key: Uint8Array } {
  const { name, keyId, data } = splitNoteKey(what, s);
  if (data.length === 0 || data[0] !== SIGNATURE_TYPE_COSIGNATURE_V1) {
    const type = data.length === 0 ? 'none' : `0x${data[0]!.toString(16).padStart(2, '0')}`;
    const hint = data[0] === 0x01 ? ' (0x01 is a log key: Ed25519 signed-note signatures)' : '';
    throw keyError(
      what,
      `key type ${type}${hint}; a cosigner key has type 0x04 (cosignature/v1, c2sp.org/tlog-cosignature)`,
    );
  }
  if (data.length !== 33) {
    throw keyError(what, `key data is ${data.length} bytes; expected 33 (type 0x04 and 32 key bytes)`);
  }
  return { name, keyId, key: data.slice(1) };
}

function vkeyOf(name: string, publicKey: Uint8Array): string {
  return `${name}+${hex8(cosignatureKeyId(name, publicKey))}+${base64Encode(typeAndKey(publicKey))}`;
}

function parseSkey(skey: string): { name: string; seed: Uint8Array; publicKey: Uint8Array } {
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) {
    throw keyError('skey', 'expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>');
  }
  const { name, keyId, key: seed } = splitKey('skey', skey.slice('PRIVATE+KEY+'.length));
  const publicKey = ed25519.getPublicKey(seed);
  // The key ID is the hash of the public key: check it after deriving the public key.
  const want = cosignatureKeyId(name, publicKey);
  if (want !== keyId) {
    throw keyError('skey', `key ID ${hex8(keyId)} does not match the name and key (expected ${hex8(want)})`);
  }
  return { name, seed, publicKey };
}

/**
 * generateCosignatureKey returns a new random cosigner key pair for the key name (c2sp.org/tlog-cosignature
 * recommends a schema-less URL, e.g. `witness.example.com/w1`): skey `PRIVATE+KEY+<name>+<hex8>+<base64(0x04
 * || seed)>` (secret) and vkey `<name>+<hex8>+<base64(0x04 || public key)>`. Throws KEY_INVALID when the
 * name is invalid.
 */
export function generateCosignatureKey(name: string): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) {
    throw keyError('name', `invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  const seed = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(seed);
  const keyId = cosignatureKeyId(name, publicKey);
  return {
    skey: `PRIVATE+KEY+${name}+${hex8(keyId)}+${base64Encode(typeAndKey(seed))}`,
    vkey: vkeyOf(name, publicKey),
  };
}

/**
 * cosignatureVkeyFromSkey returns the verifier key of a cosigner signer key. Throws KEY_INVALID like
 * cosignatureSigner.
 */
export function cosignatureVkeyFromSkey(skey: string): string {
  const { name, publicKey } = parseSkey(skey);
  return vkeyOf(name, publicKey);
}

/** Throws unless timestamp is a bigint in 0..2^63-1. */
function checkTimestamp(timestamp: bigint): void {
  if (typeof timestamp !== 'bigint' || timestamp < 0n || timestamp > MAX_COSIGNATURE_TIMESTAMP) {
    throw new LogError(
      'NOTE_INVALID',
      `a cosignature timestamp is a bigint of POSIX seconds in 0..2^63-1 (c2sp.org/tlog-cosignature), got ${String(timestamp)}`,
      { field: 'timestamp' },
    );
  }
}

/**
 * Throws CHECKPOINT_INVALID unless text is a checkpoint note text. parseCheckpoint is strict (canonical
 * decimal and base64, every line non-empty, final newline), so one checkpoint has exactly one text.
 */
function checkCheckpointText(text: string): void {
  parseCheckpoint(text);
}

/**
 * cosignatureMessage returns the bytes a cosignature/v1 signs (c2sp.org/tlog-cosignature "Ed25519 signed
 * message"): `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint note text. Throws
 * NOTE_INVALID when the timestamp is not a bigint in 0..2^63-1, CHECKPOINT_INVALID when the text is not
 * a valid checkpoint note text (c2sp.org/tlog-checkpoint, parseCheckpoint's rules).
 */
export function cosignatureMessage(timestamp: bigint, checkpointText: string): Uint8Array {
  checkTimestamp(timestamp);
  checkCheckpointText(checkpointText);
  return utf8Encoder.encode(`${COSIGNATURE_V1_HEADER}\ntime ${timestamp.toString(10)}\n${checkpointText}`);
}

/**
 * cosignatureTimestamp returns the timestamp (POSIX seconds) of a cosignature/v1: the first 8 bytes,
 * big-endian, of the signature after the key ID (NoteSignature.signature). It does not verify the
 * signature: call it on a line openNote has verified with a cosignatureVerifier. Throws NOTE_INVALID
 * unless the bytes are 72 long with a timestamp of at most 2^63 - 1. `new Date(Number(t) * 1000)` is
 * exact for every t up to 8.64e12 (the largest Date).
 */
export function cosignatureTimestamp(signature: Uint8Array): bigint {
  if (!(signature instanceof Uint8Array) || signature.length !== COSIGNATURE_V1_BYTES) {
    throw new LogError(
      'NOTE_INVALID',
      `a cosignature/v1 is ${COSIGNATURE_V1_BYTES} bytes after the key ID (8 timestamp, 64 Ed25519), got ${signature?.length}`,
      { field: 'signature' },
    );
  }
  const t = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
  if (t > MAX_COSIGNATURE_TIMESTAMP) {
    throw new LogError(
      'NOTE_INVALID',
      `cosignature timestamp ${t} is over 2^63-1 (c2sp.org/tlog-cosignature)`,
      {
        field: 'signature',
      },
    );
  }
  return t;
}

/**
 * cosignatureVerifier returns the Verifier of a cosigner vkey `<name>+<hex8>+<base64(0x04 || public
 * key)>`, for openNote. verify(text, signature) is true only when the signature is 72 bytes (timestamp
 * at most 2^63 - 1, then 64 bytes), the text is a valid checkpoint (parseCheckpoint), and the Ed25519
 * signature verifies (RFC 8032, strict: no ZIP-215 leniency) over cosignatureMessage(timestamp, text).
 * Freshness is the caller's policy (cosignatureTimestamp; verifiers MAY reject future timestamps).
 * Throws KEY_INVALID when the text is malformed, the type is not 0x04, or the key ID does not match
 * the name and key.
 */
export function cosignatureVerifier(vkey: string): CosignatureVerifier {
  if (typeof vkey !== 'string') throw keyError('vkey', `expected a string, got ${typeof vkey}`);
  const { name, keyId, key: publicKey } = splitKey('vkey', vkey);
  const want = cosignatureKeyId(name, publicKey);
  if (want !== keyId) {
    throw keyError('vkey', `key ID ${hex8(keyId)} does not match the name and key (expected ${hex8(want)})`);
  }
  return {
    name,
    keyId,
    vkey: vkeyOf(name, publicKey),
    publicKey,
    async verify(message: Uint8Array, signature: Uint8Array): Promise<boolean> {
      try {
        const timestamp = cosignatureTimestamp(signature);
        const m = cosignatureMessage(timestamp, utf8Decoder.decode(message));
        return ed25519.verify(signature.subarray(8), m, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

/**
 * cosignatureSigner returns the Signer of a cosigner skey `PRIVATE+KEY+<name>+<hex8>+<base64(0x04 ||
 * seed)>`: sign(text) returns uint64be(T) || Ed25519(cosignatureMessage(T, text)), T = now() in whole
 * POSIX seconds (default clock: the current time), so signNote makes the line
 * `— <name> base64(key ID || T || signature)`. Signatures are deterministic for a given T (RFC 8032).
 * Throws KEY_INVALID when the text is malformed, the type is not 0x04, or the key ID does not match
 * the name and derived public key; sign() throws CHECKPOINT_INVALID when the text is not a checkpoint
 * and NOTE_INVALID when the clock is before 1970 or not a valid Date.
 */
export function cosignatureSigner(skey: string, now: () => Date = () => new Date()): Signer {
  const { name, seed, publicKey } = parseSkey(skey);
  return {
    name,
    keyId: cosignatureKeyId(name, publicKey),
    async sign(message: Uint8Array): Promise<Uint8Array> {
      let text: string;
      try {
        text = utf8Decoder.decode(message);
      } catch {
        throw new LogError('CHECKPOINT_INVALID', 'the text to cosign is not valid UTF-8', { field: 'text' });
      }
      const ms = now().getTime();
      if (!Number.isFinite(ms)) {
        throw new LogError('NOTE_INVALID', 'the cosigner clock returned an invalid Date', {
          field: 'timestamp',
        });
      }
      const timestamp = BigInt(Math.floor(ms / 1000));
      let m: Uint8Array;
      try {
        m = cosignatureMessage(timestamp, text);
      } catch (e) {
        if (!isLogError(e)) throw e;
        throw new LogError(e.code, `cannot cosign: ${e.message}`, e.details);
      }
      const out = new Uint8Array(COSIGNATURE_V1_BYTES);
      new DataView(out.buffer).setBigUint64(0, timestamp);
      out.set(ed25519.sign(m, seed), 8);
      return out;
    },
  };
}
