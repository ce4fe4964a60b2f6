/**
 * Signed notes: c2sp.org/signed-note, compatible with Go's golang.org/x/mod/sumdb/note.
 *
 * A signed note is a text ending in a newline, a blank line, and one or more signature lines
 * `— <key name> <base64(uint32 key ID || signature)>\n` (em dash U+2014, space). The signature covers
 * the UTF-8 bytes of the text, final newline included, blank line excluded. The text is separated from
 * the signatures by the LAST blank line, so the text may itself contain empty lines.
 *
 * Two signature types:
 * - Ed25519 (type 0x01, c2sp.org/signed-note "Ed25519 signatures"), with Go's text key formats:
 *   verifier key `<name>+<hex8 key ID>+<base64(0x01 || 32-byte public key)>` and signer key
 *   `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>`. Ed25519 is deterministic, so a
 *   note signed here is byte-identical to one signed by Go with the same key.
 * - OpenPGP (type 0xff followed by ASCII `openpgp`, SPEC.md "Checkpoint"): key ID =
 *   `SHA-256(name || 0x0A || 0xff || "openpgp" || 20-byte v4 fingerprint)[:4]`, signature = a binary
 *   detached OpenPGP signature (binary document) over the note text. Its creation time is the note's
 *   timestamp (openpgpSignatureTime).
 *
 * Bounds (c2sp.org/signed-note asks for at least 16 signatures): MAX_NOTE_BYTES and MAX_NOTE_SIGNATURES.
 * Everything here is pure: no I/O.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as openpgp from 'openpgp';
import { base64DecodeStrict, base64Encode, concatBytes } from './bytes.js';
import { LogError } from './errors.js';

/** MAX_NOTE_BYTES is the largest signed note (text and signature lines, UTF-8 bytes) accepted: 1 MiB. */
export const MAX_NOTE_BYTES = 1024 * 1024;

/**
 * MAX_NOTE_SIGNATURES is the most signature lines a note may carry: 100, Go sumdb/note's bound
 * (c2sp.org/signed-note requires at least 16).
 */
export const MAX_NOTE_SIGNATURES = 100;

/** SIGNATURE_TYPE_ED25519 is the c2sp.org/signed-note signature type byte of Ed25519 signatures. */
export const SIGNATURE_TYPE_ED25519 = 0x01;

/** OPENPGP_SIGNATURE_TYPE is the type identifier of OpenPGP lines: 0xff then ASCII 'openpgp' (SPEC.md). */
export const OPENPGP_SIGNATURE_TYPE: Uint8Array = Uint8Array.of(
  0xff,
  0x6f,
  0x70,
  0x65,
  0x6e,
  0x70,
  0x67,
  0x70,
);

/** One signature line: key name, key ID (uint32) and the signature bytes after the key ID. */
export interface NoteSignature {
  name: string;
  keyId: number /* uint32 */;
  signature: Uint8Array;
}

/** A note: its text (ending in '\n') and its signature lines in order. */
export interface Note {
  text: string;
  signatures: NoteSignature[];
}

/** A known key that can check signatures on notes. */
export interface Verifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** A key that can sign notes. */
export interface Signer {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** The text of a note and its signatures, split by whether a known key verified them. */
export interface OpenedNote {
  text: string;
  verified: NoteSignature[];
  unverified: NoteSignature[];
}

const EM_DASH_PREFIX = '\u2014 ';
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// ASCII control characters other than newline (c2sp.org/signed-note "Format").
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const WHITE_SPACE = /\p{White_Space}/u; // the set Go's unicode.IsSpace reports

/**
 * isValidKeyName reports whether name is a valid c2sp.org/signed-note key name: non-empty, well-formed
 * Unicode, no Unicode white space (Go's unicode.IsSpace), no '+', and (stricter than Go, since a note
 * may not contain them anyway) no ASCII control characters.
 */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('+') &&
    !WHITE_SPACE.test(name) &&
    !CONTROL.test(name) &&
    !LONE_SURROGATE.test(name)
  );
}

/**
 * noteKeyId returns the c2sp.org/signed-note key ID `SHA-256(name || 0x0A || typeAndKey)[:4]` as a
 * big-endian uint32, where typeAndKey is the signature type identifier followed by the public key.
 */
export function noteKeyId(name: string, typeAndKey: Uint8Array): number {
  const h = sha256(concatBytes(utf8Encoder.encode(name), Uint8Array.of(0x0a), typeAndKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function utf8Length(s: string): number {
  // Each UTF-16 code unit is at least one UTF-8 byte, so a long string is rejected without encoding it.
  return s.length > MAX_NOTE_BYTES ? s.length : utf8Encoder.encode(s).length;
}

/** Decodes note input to a string, checking UTF-8, size and characters (c2sp.org/signed-note "Format"). */
function noteString(note: string | Uint8Array): string {
  let s: string;
  if (typeof note === 'string') {
    const n = utf8Length(note);
    if (n > MAX_NOTE_BYTES) {
      throw new LogError('NOTE_INVALID', `note is ${n} bytes; at most ${MAX_NOTE_BYTES} are accepted`, {
        field: 'note',
        size: n,
        max: MAX_NOTE_BYTES,
      });
    }
    if (LONE_SURROGATE.test(note)) {
      throw new LogError('NOTE_INVALID', 'note is not well-formed Unicode (lone surrogate)', {
        field: 'note',
      });
    }
    s = note;
  } else {
    if (!(note instanceof Uint8Array)) {
      throw new LogError('NOTE_INVALID', `note must be a string or Uint8Array, got ${typeof note}`, {
        field: 'note',
      });
    }
    if (note.length > MAX_NOTE_BYTES) {
      throw new LogError(
        'NOTE_INVALID',
        `note is ${note.length} bytes; at most ${MAX_NOTE_BYTES} are accepted`,
        { field: 'note', size: note.length, max: MAX_NOTE_BYTES },
      );
    }
    try {
      s = utf8Decoder.decode(note);
    } catch {
      throw new LogError('NOTE_INVALID', 'note is not valid UTF-8', { field: 'note' });
    }
  }
  const m = CONTROL.exec(s);
  if (m) {
    const code = m[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new LogError(
      'NOTE_INVALID',
      `note contains the control character 0x${code} at offset ${m.index}; only newline is allowed`,
      { field: 'note', offset: m.index },
    );
  }
  return s;
}

function checkText(text: string): void {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n')) {
    throw new LogError('NOTE_INVALID', 'note text must be non-empty and end with a newline', {
      field: 'text',
    });
  }
}

/**
 * parseNote returns the text and signature lines of a signed note (c2sp.org/signed-note "Format"),
 * without verifying anything. Throws NOTE_INVALID when the note is over MAX_NOTE_BYTES, is not valid
 * UTF-8, contains ASCII control characters other than newline, has no blank line before the signature
 * block, has a malformed signature line (no em dash prefix, bad key name, non-canonical base64, fewer
 * than 5 bytes), no signatures, or more than MAX_NOTE_SIGNATURES.
 */
export function parseNote(note: string | Uint8Array): Note {
  const s = noteString(note);
  const split = s.lastIndexOf('\n\n');
  if (split < 0) {
    throw new LogError(
      'NOTE_INVALID',
      'note has no blank line separating the text from the signatures (expected text, "\\n", signature lines)',
      { field: 'note' },
    );
  }
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) {
    throw new LogError(
      'NOTE_INVALID',
      block.length === 0
        ? 'note has no signature lines after the blank line'
        : 'note does not end with a newline after its last signature line',
      { field: 'signatures' },
    );
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new LogError(
      'NOTE_INVALID',
      `note has ${lines.length} signature lines; at most ${MAX_NOTE_SIGNATURES} are accepted`,
      { field: 'signatures', count: lines.length, max: MAX_NOTE_SIGNATURES },
    );
  }
  const signatures = lines.map((line, i) => parseSignatureLine(line, i));
  return { text, signatures };
}

function parseSignatureLine(line: string, i: number): NoteSignature {
  const bad = (why: string): LogError =>
    new LogError('NOTE_INVALID', `signature line ${i + 1}: ${why}`, { field: 'signatures', index: i });
  if (!line.startsWith(EM_DASH_PREFIX)) {
    throw bad('expected "\u2014 <key name> <base64 signature>" (em dash U+2014, space)');
  }
  const rest = line.slice(EM_DASH_PREFIX.length);
  const sp = rest.indexOf(' ');
  const name = sp < 0 ? rest : rest.slice(0, sp);
  const b64 = sp < 0 ? '' : rest.slice(sp + 1);
  if (!isValidKeyName(name)) {
    throw bad(`invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  const raw = base64DecodeStrict(b64);
  if (raw === undefined) throw bad('signature is not canonical standard base64');
  if (raw.length < 5) {
    throw bad(`signature is ${raw.length} bytes; expected a 4-byte key ID and at least one signature byte`);
  }
  const keyId = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
  return { name, keyId, signature: raw.slice(4) };
}

/**
 * formatNote returns the signed note text of note: text, blank line, one line per signature. Throws
 * NOTE_INVALID when the result would not parse back to the same note (text empty or not ending in
 * newline, control characters, invalid key name, key ID not a uint32, empty signature, no signatures,
 * more than MAX_NOTE_SIGNATURES, over MAX_NOTE_BYTES).
 */
export function formatNote(note: Note): string {
  checkText(note.text);
  if (note.signatures.length === 0) {
    throw new LogError('NOTE_INVALID', 'a signed note needs at least one signature', { field: 'signatures' });
  }
  if (note.signatures.length > MAX_NOTE_SIGNATURES) {
    throw new LogError(
      'NOTE_INVALID',
      `note has ${note.signatures.length} signatures; at most ${MAX_NOTE_SIGNATURES} are allowed`,
      { field: 'signatures', count: note.signatures.length, max: MAX_NOTE_SIGNATURES },
    );
  }
  let out = `${note.text}\n`;
  note.signatures.forEach((sig, i) => {
    out += signatureLine(sig.name, sig.keyId, sig.signature, i);
  });
  noteString(out); // size, characters, well-formedness
  return out;
}

function signatureLine(name: string, keyId: number, signature: Uint8Array, i: number): string {
  if (!isValidKeyName(name)) {
    throw new LogError(
      'NOTE_INVALID',
      `signature ${i + 1}: invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`,
      { field: 'signatures', index: i },
    );
  }
  if (!isUint32(keyId)) {
    throw new LogError('NOTE_INVALID', `signature ${i + 1}: key ID ${keyId} is not a uint32`, {
      field: 'signatures',
      index: i,
    });
  }
  if (!(signature instanceof Uint8Array) || signature.length === 0) {
    throw new LogError('NOTE_INVALID', `signature ${i + 1}: signature bytes are empty`, {
      field: 'signatures',
      index: i,
    });
  }
  const raw = new Uint8Array(4 + signature.length);
  new DataView(raw.buffer).setUint32(0, keyId);
  raw.set(signature, 4);
  return `${EM_DASH_PREFIX}${name} ${base64Encode(raw)}\n`;
}

/**
 * signNote returns text signed by each signer, in order, as a signed note (c2sp.org/signed-note).
 * Throws NOTE_INVALID when the text is empty, does not end in a newline, contains control characters
 * other than newline, when a signer's name is invalid, when there are no signers or more than
 * MAX_NOTE_SIGNATURES, or when the note would exceed MAX_NOTE_BYTES. Errors of a signer propagate.
 */
export async function signNote(text: string, signers: readonly Signer[]): Promise<string> {
  checkText(text);
  noteString(text);
  const message = utf8Encoder.encode(text);
  const signatures: NoteSignature[] = [];
  for (const s of signers) {
    signatures.push({ name: s.name, keyId: s.keyId, signature: await s.sign(message) });
  }
  return formatNote({ text, signatures });
}

/**
 * openNote parses a signed note and checks its signatures against the known verifiers
 * (c2sp.org/signed-note "Signatures"). A line whose (name, key ID) matches no verifier is returned in
 * `unverified` (exact duplicate lines once); a line that matches one is verified and returned in
 * `verified` (exact duplicates once). Throws NOTE_INVALID (see parseNote), NOTE_SIGNATURE_INVALID when
 * a known key's line does not verify, NOTE_UNVERIFIED when no known key signed, and KEY_INVALID when a
 * line matches two verifiers with the same name and key ID (ambiguous, as Go's sumdb/note rejects).
 */
export async function openNote(
  note: string | Uint8Array,
  verifiers: readonly Verifier[],
): Promise<OpenedNote> {
  const parsed = parseNote(note);
  const known = new Map<string, Verifier[]>();
  for (const v of verifiers) {
    const k = `${v.name} ${v.keyId}`;
    const list = known.get(k);
    if (list) list.push(v);
    else known.set(k, [v]);
  }
  const message = utf8Encoder.encode(parsed.text);
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const [i, sig] of parsed.signatures.entries()) {
    const line = `${sig.name} ${sig.keyId} ${base64Encode(sig.signature)}`;
    if (seen.has(line)) continue;
    seen.add(line);
    const list = known.get(`${sig.name} ${sig.keyId}`);
    if (!list) {
      unverified.push(sig);
      continue;
    }
    if (list.length > 1) {
      throw new LogError(
        'KEY_INVALID',
        `ambiguous verifiers: ${list.length} known keys are named ${sig.name} with key ID ${hex8(sig.keyId)}; remove all but one`,
        { name: sig.name, keyId: hex8(sig.keyId) },
      );
    }
    if (!(await list[0]!.verify(message, sig.signature))) {
      throw new LogError(
        'NOTE_SIGNATURE_INVALID',
        `signature line ${i + 1} by known key ${sig.name}+${hex8(sig.keyId)} does not verify over the note text`,
        { name: sig.name, keyId: hex8(sig.keyId), index: i },
      );
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    const names = verifiers.map((v) => `${v.name}+${hex8(v.keyId)}`).join(', ') || 'none';
    const found = parsed.signatures.map((s) => `${s.name}+${hex8(s.keyId)}`).join(', ');
    throw new LogError(
      'NOTE_UNVERIFIED',
      `note is not signed by any known key (known: ${names}; found: ${found})`,
      {
        found,
      },
    );
  }
  return { text: parsed.text, verified, unverified };
}

// --- Ed25519 (c2sp.org/signed-note "Ed25519 signatures"; Go sumdb/note key formats) ---

function keyError(what: string, why: string): LogError {
  return new LogError('KEY_INVALID', `${what}: ${why}`, { field: what });
}

/**
 * splitNoteKey splits a signed-note key text "<name>+<hex8>+<base64>" (c2sp.org/signed-note; the base64
 * may itself contain '+') into its name, key ID and key data (the type byte first), checking the name,
 * the 8 hex digits and canonical base64, but not the type or length of the data: each key type checks
 * its own. Throws KEY_INVALID with details.field = `what`.
 */
export function splitNoteKey(what: string, s: string): { name: string; keyId: number; data: Uint8Array } {
  if (typeof s !== 'string') throw keyError(what, `expected a string, got ${typeof s}`);
  const a = s.indexOf('+');
  const b = a < 0 ? -1 : s.indexOf('+', a + 1);
  if (b < 0) throw keyError(what, 'expected <name>+<8 hex digits>+<base64 key>');
  const name = s.slice(0, a);
  const hash = s.slice(a + 1, b);
  if (!isValidKeyName(name)) {
    throw keyError(what, `invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  if (!/^[0-9a-fA-F]{8}$/.test(hash)) {
    throw keyError(what, `key ID ${JSON.stringify(hash)} is not 8 hex digits`);
  }
  const data = base64DecodeStrict(s.slice(b + 1));
  if (data === undefined) throw keyError(what, 'key data is not canonical standard base64');
  return { name, keyId: Number.parseInt(hash, 16), data };
}

/** splitKey splits an Ed25519 (type 0x01) note key text: splitNoteKey, then 33 bytes of type 0x01. */
function splitKey(what: string, s: string): { name: string; keyId: number; data: Uint8Array } {
  const { name, keyId, data } = splitNoteKey(what, s);
  if (data.length !== 33)
    throw keyError(what, `key data is ${data.length} bytes; expected 33 (type 0x01 and 32 key bytes)`);
  if (data[0] !== SIGNATURE_TYPE_ED25519) {
    throw keyError(
      what,
      `unsupported key type 0x${data[0]!.toString(16).padStart(2, '0')}; expected 0x01 (Ed25519)`,
    );
  }
  return { name, keyId, data };
}

function ed25519TypeAndKey(publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = SIGNATURE_TYPE_ED25519;
  out.set(publicKey, 1);
  return out;
}

function vkeyOf(name: string, publicKey: Uint8Array): string {
  const typeAndKey = ed25519TypeAndKey(publicKey);
  return `${name}+${hex8(noteKeyId(name, typeAndKey))}+${base64Encode(typeAndKey)}`;
}

/**
 * generateEd25519Key returns a new random Ed25519 key pair for the key name, as Go sumdb/note text
 * keys: skey `PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>` (secret) and vkey
 * `<name>+<hex8>+<base64(0x01 || public key)>`. Throws KEY_INVALID when the name is invalid.
 */
export function generateEd25519Key(name: string): { skey: string; vkey: string } {
  if (!isValidKeyName(name)) {
    throw keyError('name', `invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  const seed = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(seed);
  const keyId = noteKeyId(name, ed25519TypeAndKey(publicKey));
  const skey = `PRIVATE+KEY+${name}+${hex8(keyId)}+${base64Encode(ed25519TypeAndKey(seed))}`;
  return { skey, vkey: vkeyOf(name, publicKey) };
}

/**
 * ed25519Verifier returns the Verifier of a Go sumdb/note verifier key `<name>+<hex8>+<base64>`.
 * Throws KEY_INVALID when the text is malformed, the type is not Ed25519, or the key ID does not match
 * the name and key.
 */
export function ed25519Verifier(vkey: string): Verifier {
  const { name, keyId, data } = splitKey('vkey', vkey);
  if (noteKeyId(name, data) !== keyId) {
    throw keyError(
      'vkey',
      `key ID ${hex8(keyId)} does not match the name and key (expected ${hex8(noteKeyId(name, data))})`,
    );
  }
  const publicKey = data.slice(1);
  return {
    name,
    keyId,
    async verify(message: Uint8Array, signature: Uint8Array): Promise<boolean> {
      if (signature.length !== 64) return false;
      try {
        return ed25519.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

function parseSkey(skey: string): { name: string; keyId: number; seed: Uint8Array; publicKey: Uint8Array } {
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) {
    throw keyError('skey', 'expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>');
  }
  const { name, keyId, data } = splitKey('skey', skey.slice('PRIVATE+KEY+'.length));
  const seed = data.slice(1);
  const publicKey = ed25519.getPublicKey(seed);
  // The key ID is the hash of the public key: check it after deriving the public key.
  const want = noteKeyId(name, ed25519TypeAndKey(publicKey));
  if (want !== keyId) {
    throw keyError('skey', `key ID ${hex8(keyId)} does not match the name and key (expected ${hex8(want)})`);
  }
  return { name, keyId, seed, publicKey };
}

/**
 * ed25519Signer returns the Signer of a Go sumdb/note signer key `PRIVATE+KEY+<name>+<hex8>+<base64>`.
 * Signatures are deterministic (RFC 8032). Throws KEY_INVALID when the text is malformed, the type is
 * not Ed25519, or the key ID does not match the name and derived public key.
 */
export function ed25519Signer(skey: string): Signer {
  const { name, keyId, seed } = parseSkey(skey);
  return {
    name,
    keyId,
    async sign(message: Uint8Array): Promise<Uint8Array> {
      return ed25519.sign(message, seed);
    },
  };
}

/** vkeyFromSkey returns the verifier key of a signer key. Throws KEY_INVALID like ed25519Signer. */
export function vkeyFromSkey(skey: string): string {
  const { name, publicKey } = parseSkey(skey);
  return vkeyOf(name, publicKey);
}

// --- OpenPGP (SPEC.md "Checkpoint": type 0xff 'openpgp') ---

/**
 * openpgpKeyId returns the key ID of an OpenPGP signature line:
 * `SHA-256(name || 0x0A || 0xff || "openpgp" || fingerprint)[:4]` as a big-endian uint32. Throws
 * KEY_INVALID unless fingerprint is a 20-byte v4 fingerprint.
 */
export function openpgpKeyId(name: string, fingerprint: Uint8Array): number {
  if (!(fingerprint instanceof Uint8Array) || fingerprint.length !== 20) {
    throw keyError(
      'fingerprint',
      `expected a 20-byte OpenPGP v4 fingerprint, got ${fingerprint?.length} bytes`,
    );
  }
  return noteKeyId(name, concatBytes(OPENPGP_SIGNATURE_TYPE, fingerprint));
}

function openpgpLineKey(name: string, key: openpgp.Key): number {
  if (!isValidKeyName(name)) {
    throw keyError('name', `invalid key name ${JSON.stringify(name)} (non-empty, no spaces, no '+')`);
  }
  if (!key || typeof key.getFingerprint !== 'function')
    throw keyError('key', 'expected an openpgp key object');
  if (key.keyPacket.version !== 4) {
    throw keyError(
      'key',
      `OpenPGP key version ${key.keyPacket.version}; note lines need a v4 key (20-byte fingerprint)`,
    );
  }
  return openpgpKeyId(name, key.keyPacket.getFingerprintBytes()!);
}

async function readOneSignature(signature: Uint8Array): Promise<openpgp.Signature> {
  const sig = await openpgp.readSignature({ binarySignature: signature });
  if (sig.packets.length !== 1) throw new Error(`expected one signature packet, found ${sig.packets.length}`);
  return sig;
}

/**
 * openpgpVerifier returns a Verifier for OpenPGP lines signed by key (its primary key or one of its
 * signing subkeys). verify() is true only when the bytes are exactly one binary-document (type 0x00)
 * OpenPGP signature that verifies over the message with this key. Validity is judged at the
 * signature's own creation time (the key must have been valid then), not at the current time:
 * freshness is the caller's policy (compare openpgpSignatureTime with the clock), and old checkpoints
 * stay verifiable as evidence. Throws KEY_INVALID for an invalid name or a key that is not v4.
 */
export function openpgpVerifier(name: string, key: openpgp.PublicKey): Verifier {
  const keyId = openpgpLineKey(name, key);
  return {
    name,
    keyId,
    async verify(message: Uint8Array, signature: Uint8Array): Promise<boolean> {
      try {
        const sig = await readOneSignature(signature);
        if (sig.packets[0]!.signatureType !== openpgp.enums.signature.binary) return false;
        const result = await openpgp.verify({
          message: await openpgp.createMessage({ binary: message }),
          signature: sig,
          verificationKeys: key,
          expectSigned: true,
          format: 'binary',
          date: null,
        });
        if (result.signatures.length !== 1) return false;
        return (await result.signatures[0]!.verified) === true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * openpgpSigner returns a Signer that makes binary detached OpenPGP signatures (binary document) with
 * key, dated now() (default: the current time; pass a clock to date signatures, e.g. in tests; the
 * date must not be before the key's creation). Throws KEY_INVALID for an invalid name, a key that is
 * not v4, or a key that is not decrypted.
 */
export function openpgpSigner(
  name: string,
  key: openpgp.PrivateKey,
  now: () => Date = () => new Date(),
): Signer {
  const keyId = openpgpLineKey(name, key);
  if (typeof key.isDecrypted !== 'function' || !key.isPrivate() || !key.isDecrypted()) {
    throw keyError(
      'key',
      'expected a decrypted OpenPGP private key (decrypt it with openpgp.decryptKey first)',
    );
  }
  return {
    name,
    keyId,
    async sign(message: Uint8Array): Promise<Uint8Array> {
      return openpgp.sign({
        message: await openpgp.createMessage({ binary: message }),
        signingKeys: key,
        detached: true,
        format: 'binary',
        date: now(),
      });
    },
  };
}

/**
 * openpgpSignatureTime returns the creation time of a binary detached OpenPGP signature (the
 * checkpoint's timestamp, SPEC.md). It does not verify the signature: call it on a line openNote has
 * verified. Throws NOTE_INVALID when the bytes are not exactly one OpenPGP signature with a creation
 * time.
 */
export async function openpgpSignatureTime(signature: Uint8Array): Promise<Date> {
  let created: Date | null | undefined;
  try {
    created = (await readOneSignature(signature)).packets[0]!.created;
  } catch (e) {
    throw new LogError('NOTE_INVALID', `not a binary OpenPGP signature: ${(e as Error).message}`, {
      field: 'signature',
    });
  }
  if (!(created instanceof Date) || Number.isNaN(created.getTime())) {
    throw new LogError('NOTE_INVALID', 'OpenPGP signature has no creation time', { field: 'signature' });
  }
  return created;
}
