/**
 * Signet attestations (SPEC.md "HTTP API", shared/vectors/README.md "Signet attestation format").
 *
 * An attestation is `{"data": {"id", "ok", ...}, "key": "<40 upper-case hex>", "sig": "<base64>"}`. The
 * signature is a detached OpenPGP signature over one of the two byte strings Signet clients sign:
 * - the Python client: `json.dumps(data, sort_keys=True)` (pythonSerialization);
 * - the Node client: `JSON.stringify` of data with its top-level keys sorted (nodeSerialization).
 * `key` is the v4 fingerprint of the primary key; the signature may come from a signing subkey of it.
 *
 * Choices (for the README's API section):
 * - Exactly the members data, key and sig: an unsigned extra member would let anyone log the same signed
 *   attestation many times under different digests.
 * - `key` must be upper case, as GnuPG writes it and as the Python client compares it (byte for byte).
 * - `sig` must be canonical standard base64 (padding, zero pad bits) of exactly one signature packet
 *   (binary or text document signature) and nothing else, for the same reason as above. OpenPGP itself
 *   still lets a signature be re-spelled without the key (unhashed subpackets, packet header format,
 *   MPI bit counts as openpgp.js reads them): the server deduplicates on the canonical form of the
 *   packet (log/signature-canonical.ts dedupDigest), so such a copy gets the first copy's receipt.
 * - A signature whose creation time is more than MAX_SIGNATURE_CLOCK_SKEW_MS ahead of the verifier's
 *   clock is refused (openpgp.js refuses any future signature; we allow that much skew).
 * - Numbers: the Python form writes integral values within ±2^53 as ints and others as Python float
 *   repr; a Python-signed float with an integral value (5.0) cannot be told from 5 after JSON parsing
 *   and will not verify. Signet data in practice holds strings and booleans.
 * - data: JSON only (finite numbers, strings without lone surrogates), at most MAX_DATA_DEPTH deep, and
 *   the whole attestation at most MAX_ATTESTATION_BYTES of canonical JSON. parseAttestation sorts the
 *   keys of nested objects, as the log entry does (RFC 8785), and signatures are checked over exactly
 *   that data: the server accepts a signature only if every later reader of the entry can check it.
 * Pure: no I/O.
 */

import type { Key, PrivateKey, PublicKey, Signature } from 'openpgp';
import * as openpgp from 'openpgp';
import { base64DecodeStrict, base64Encode, hexEncode } from './bytes.js';
import { canonicalJson, freezeCanonical } from './canonical-json.js';
import { LogError } from './errors.js';
import { packetFraming } from './openpgp-packet.js';

/** AttestationData is the signed part: `id` (what it is about), `ok` (good or bad), other fields kept. */
export interface AttestationData {
  id: string;
  ok: boolean;
  [field: string]: unknown;
}

/** Attestation is one Signet attestation as parseAttestation returns it. */
export interface Attestation {
  data: AttestationData;
  /** 40 upper-case hex digits: the v4 fingerprint of the signer's primary key. */
  key: string;
  /** Canonical standard base64 of one binary detached OpenPGP signature. */
  sig: string;
}

/**
 * MAX_ATTESTATION_BYTES bounds the UTF-8 canonical JSON of a whole attestation (data, key and sig).
 * 16 KiB leaves ample room under the 65,535-byte entry limit for the server's fields.
 */
export const MAX_ATTESTATION_BYTES = 16384;

/** MAX_DATA_DEPTH bounds the nesting of data: data itself is depth 1. */
export const MAX_DATA_DEPTH = 8;

/**
 * MAX_SIGNATURE_CLOCK_SKEW_MS is how far in the future (by our clock) a signature's creation time may
 * be and still verify: 5 minutes, the freshness slack SPEC.md gives `sig verify --remote`.
 */
export const MAX_SIGNATURE_CLOCK_SKEW_MS = 5 * 60 * 1000;

const FINGERPRINT = /^[0-9A-F]{40}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const utf8Encoder = new TextEncoder();

/**
 * parseAttestation returns a fresh copy of `value` if it has the shape of a Signet attestation:
 * exactly the members `data` (an object with a non-empty string `id` and a boolean `ok`; other fields
 * kept, JSON values only, nested keys sorted), `key` (40 upper-case hex) and `sig` (canonical standard
 * base64). It throws ATTESTATION_INVALID with details.field naming the field (e.g. 'data.id', 'key',
 * 'sig'), SIGNATURE_MALFORMED (details.field 'sig') when sig is a string but not canonical base64, and
 * ATTESTATION_TOO_LARGE when the canonical JSON exceeds MAX_ATTESTATION_BYTES. It checks no signature.
 * The copy's data is deep-frozen (log/canonical-json.ts freezeCanonical: its canonical text is made once
 * and reused by the entry and the dedup key); parsing a parsed attestation again reuses its data.
 */
export function parseAttestation(value: unknown): Attestation {
  if (!isPlainObject(value)) invalid('attestation', 'an object {"data", "key", "sig"}', describe(value));
  for (const k of Object.keys(value)) {
    if (k !== 'data' && k !== 'key' && k !== 'sig') {
      invalid(fieldName('', k), 'only the members "data", "key" and "sig"', `an extra member "${k}"`);
    }
  }
  const { data, key, sig } = value;
  if (!isPlainObject(data)) invalid('data', 'an object with "id" and "ok"', describe(data));
  if (typeof data.id !== 'string' || data.id.length === 0) {
    invalid('data.id', 'a non-empty string naming what is attested', describe(data.id));
  }
  if (typeof data.ok !== 'boolean') invalid('data.ok', 'true or false', describe(data.ok));
  if (typeof key !== 'string') invalid('key', 'a 40-digit hex fingerprint string', describe(key));
  if (!FINGERPRINT.test(key)) {
    const hint = /^[0-9A-Fa-f]{40}$/.test(key)
      ? ' (upper-case it: Signet compares fingerprints exactly)'
      : '';
    invalid('key', 'the signer primary key fingerprint as 40 upper-case hex digits', `"${clip(key)}"${hint}`);
  }
  if (typeof sig !== 'string') invalid('sig', 'a base64 string', describe(sig));
  if (sig.length === 0 || base64DecodeStrict(sig) === undefined) {
    throw new LogError(
      'SIGNATURE_MALFORMED',
      `attestation sig: expected canonical standard base64 of a binary OpenPGP signature, found "${clip(sig)}"`,
      { field: 'sig' },
    );
  }
  // data that parseAttestation already returned is checked, sorted and frozen: it is its own copy.
  let copy = data as AttestationData;
  if (!checkedData.has(data)) {
    copy = copyJson(data, 'data', 1, { left: MAX_ATTESTATION_BYTES }) as AttestationData;
    // Canonicalised once: the size below, the entry (log/entry.ts) and the dedup key reuse the text.
    freezeCanonical(copy);
  }
  const att: Attestation = { data: copy, key, sig };
  const size = utf8Length(canonicalJson(att));
  if (size > MAX_ATTESTATION_BYTES) tooLarge(size);
  checkedData.add(copy);
  return att;
}

/** checkedData: the data objects parseAttestation returned (deep-frozen, so still as checked). */
const checkedData = new WeakSet<object>();

/** utf8Length is the UTF-8 length of a string without lone surrogates (canonicalJson has none). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 1 : 2;
  }
  return n;
}

/**
 * copyJson copies a JSON value, sorting object keys, and throws ATTESTATION_INVALID for anything that
 * is not JSON data. `budget` counts UTF-16 units of strings (a lower bound on their UTF-8 size), so a
 * huge input is refused with ATTESTATION_TOO_LARGE before it is serialised.
 */
function copyJson(v: unknown, path: string, depth: number, budget: { left: number }): unknown {
  budget.left -= 1;
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) invalid(path, 'a finite number', String(v));
    return v;
  }
  if (typeof v === 'string') {
    budget.left -= v.length;
    if (budget.left < 0) tooLarge();
    if (LONE_SURROGATE.test(v)) invalid(path, 'a string of Unicode characters', 'a lone UTF-16 surrogate');
    return v;
  }
  if (typeof v !== 'object') invalid(path, 'a JSON value', typeof v);
  if (depth > MAX_DATA_DEPTH) invalid(path, `data nested at most ${MAX_DATA_DEPTH} deep`, 'deeper nesting');
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) invalid(`${path}[${i}]`, 'a JSON value', 'a hole in a sparse array');
      out.push(copyJson(v[i], `${path}[${i}]`, depth + 1, budget));
    }
    return out;
  }
  if (!isPlainObject(v)) invalid(path, 'a plain JSON object', describe(v));
  const entries: [string, unknown][] = [];
  for (const k of Object.keys(v).sort()) {
    budget.left -= k.length;
    if (budget.left < 0) tooLarge();
    const p = fieldName(path, k);
    if (LONE_SURROGATE.test(k)) invalid(p, 'a member name of Unicode characters', 'a lone UTF-16 surrogate');
    entries.push([k, copyJson(v[k], p, depth + 1, budget)]);
  }
  // fromEntries defines own data properties, so a member named "__proto__" stays a member.
  return Object.fromEntries(entries);
}

/**
 * pythonSerialization returns the bytes the Python Signet client signs: `json.dumps(data,
 * sort_keys=True)` (CPython json): keys sorted by code point at every level, separators ", " and ": ",
 * everything outside printable ASCII escaped (\" \\ \n \r \t \b \f, else \uXXXX in lower-case hex,
 * surrogate pairs above U+FFFF). Integral numbers within ±2^53 are written as Python ints; other numbers
 * as Python float repr (1e-05, 1e+16, 0.1). It never throws for data from parseAttestation.
 */
export function pythonSerialization(data: AttestationData): Uint8Array {
  const out: string[] = [];
  writePython(data, out);
  return utf8Encoder.encode(out.join(''));
}

function writePython(v: unknown, out: string[]): void {
  if (v === null) out.push('null');
  else if (v === true) out.push('true');
  else if (v === false) out.push('false');
  else if (typeof v === 'number') out.push(pythonNumber(v));
  else if (typeof v === 'string') out.push(pythonString(v));
  else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((x, i) => {
      if (i > 0) out.push(', ');
      writePython(x, out);
    });
    out.push(']');
  } else if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort(compareCodePoints);
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(', ');
      out.push(pythonString(k), ': ');
      writePython(obj[k], out);
    });
    out.push('}');
  } else {
    throw new Error(`pythonSerialization: not JSON data: ${typeof v}`);
  }
}

/** pythonString is CPython's json ensure_ascii string encoder (py_encode_basestring_ascii). */
function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += `\\u${c.toString(16).padStart(4, '0')}`; // UTF-16 units: astral characters become pairs
  }
  return `${out}"`;
}

/**
 * pythonNumber writes a number as CPython's json does: int for integral values within ±2^53 (a JSON
 * number without fraction or exponent parses to a Python int), otherwise float repr: the shortest
 * round-trip digits (the same digits as ECMAScript), in exponent form when the decimal exponent is
 * < -4 or >= 16, with a sign and at least two exponent digits, and ".0" on integral fixed-point values.
 */
function pythonNumber(x: number): string {
  if (Number.isSafeInteger(x)) return String(x);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (!m) throw new Error(`pythonNumber: unexpected toExponential form for ${x}`);
  const sign = m[1]!;
  const digits = m[2]! + (m[3] ?? '');
  const exp = Number(m[4]);
  if (exp < -4 || exp >= 16) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${e}`;
  }
  const point = exp + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** compareCodePoints orders strings by Unicode code point (as Python 3 sorts str), not UTF-16 unit. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (U+D800..DFFF, which start characters above U+FFFF) rank above U+E000..FFFF. */
function codePointRank(u: number): number {
  if (u < 0xd800) return u;
  return u >= 0xe000 ? u - 0x800 : u + 0x2000;
}

/**
 * nodeSerialization returns the bytes the Node Signet client signs: UTF-8 of `JSON.stringify` of data
 * with its top-level keys sorted (compact, non-ASCII unescaped). Nested objects keep their key order
 * (sorted, for data from parseAttestation). It never throws for data from parseAttestation.
 */
export function nodeSerialization(data: AttestationData): Uint8Array {
  const sorted = Object.fromEntries(
    Object.keys(data)
      .sort()
      .map((k) => [k, data[k]]),
  );
  return utf8Encoder.encode(JSON.stringify(sorted));
}

/**
 * readPublicKey returns the one OpenPGP public key in `input`: armored text (a PUBLIC KEY BLOCK) or
 * binary packets. It throws KEY_INVALID for garbage, several keys, a private key (send the public key:
 * `sig key export`), or a primary key that is not version 4 (Signet names keys by v4 fingerprint);
 * details.rule names which (log/keys.ts rules). It parses packets only: no signature is verified.
 */
export async function readPublicKey(input: string | Uint8Array): Promise<PublicKey> {
  let keys: Key[];
  try {
    keys =
      typeof input === 'string'
        ? await openpgp.readKeys({ armoredKeys: input })
        : await openpgp.readKeys({ binaryKeys: input });
  } catch (err) {
    throw new LogError(
      'KEY_INVALID',
      `expected an OpenPGP public key (armored "-----BEGIN PGP PUBLIC KEY BLOCK-----" or binary), found something unreadable: ${(err as Error).message}`,
      { rule: 'unreadable' },
    );
  }
  if (keys.length !== 1) {
    throw new LogError('KEY_INVALID', `expected exactly one OpenPGP public key, found ${keys.length}`, {
      count: keys.length,
      rule: 'one-key',
    });
  }
  const key = keys[0]!;
  if (key.isPrivate()) {
    throw new LogError(
      'KEY_INVALID',
      'expected an OpenPGP public key, found a private key: send only the public part (sig key export)',
      { rule: 'public' },
    );
  }
  if (key.keyPacket.version !== 4) {
    throw new LogError(
      'KEY_INVALID',
      `expected a version 4 OpenPGP key (Signet names keys by 40-hex v4 fingerprint), found version ${key.keyPacket.version}`,
      { version: key.keyPacket.version, rule: 'version' },
    );
  }
  return key as PublicKey;
}

/** fingerprintHex returns the fingerprint of the key's primary key as upper-case hex (40 digits for v4). */
export function fingerprintHex(key: Key): string {
  return key.getFingerprint().toUpperCase();
}

/**
 * signatureIssuer returns who made the attestation's signature, to find the key: the issuer
 * fingerprint subpacket (upper-case hex) when present, and the 16-hex-digit upper-case key ID (which
 * may name a subkey). These are unauthenticated hints until verifyAttestation succeeds. It throws
 * SIGNATURE_MALFORMED when sig is not one binary OpenPGP document signature naming its issuer.
 */
export async function signatureIssuer(att: Attestation): Promise<SignatureIssuer> {
  return issuerOf(await readAttestationSignature(att.sig));
}

/** SignatureIssuer names who made a signature: unauthenticated hints to find the key. */
export interface SignatureIssuer {
  fingerprint?: string;
  keyId: string;
}

/**
 * ReadAttestation is an attestation read once for admission: the parsed attestation (parseAttestation),
 * its signature packet read (as verifyAttestation reads it) and its issuer (signatureIssuer).
 */
export interface ReadAttestation {
  att: Attestation;
  signature: Signature;
  issuer: SignatureIssuer;
}

/**
 * readAttestation is parseAttestation then signatureIssuer, keeping what they read: it throws exactly
 * what they throw, in that order, and its result verifies with verifyReadAttestation without parsing
 * anything again.
 */
export async function readAttestation(value: unknown): Promise<ReadAttestation> {
  const att = parseAttestation(value);
  const signature = await readAttestationSignature(att.sig);
  return { att, signature, issuer: issuerOf(signature) };
}

function issuerOf(signature: Signature): SignatureIssuer {
  const packet = signature.packets[0]!;
  const keyId = packet.issuerKeyID.toHex().toUpperCase();
  const fingerprint = packet.issuerFingerprint ? hexEncode(packet.issuerFingerprint) : '';
  if (keyId === '0000000000000000' && fingerprint === '') {
    throw new LogError(
      'SIGNATURE_MALFORMED',
      'attestation sig: expected a signature naming its issuer, found none',
      {
        field: 'sig',
      },
    );
  }
  return fingerprint === '' ? { keyId } : { fingerprint: fingerprint.toUpperCase(), keyId };
}

/**
 * verifyAttestation checks that `att` (re-checked with parseAttestation) was signed by `key` and
 * returns the signature's creation time. `att.key` must be the primary fingerprint of `key`, and the
 * signature's issuer must be that key or one of its subkeys (else KEY_MISMATCH). The signature must
 * verify over pythonSerialization or nodeSerialization of the data, with the signing (sub)key valid
 * at the signature's creation time, and that time at most MAX_SIGNATURE_CLOCK_SKEW_MS after `now`
 * (else SIGNATURE_INVALID). SIGNATURE_MALFORMED when sig is not one binary OpenPGP document signature.
 */
export async function verifyAttestation(
  att: Attestation,
  key: PublicKey,
  opts: { now?: Date } = {},
): Promise<{ signedAt: Date }> {
  const a = parseAttestation(att);
  const fingerprint = checkSigner(a, key);
  return verifySignature(a, await readAttestationSignature(a.sig), key, fingerprint, opts);
}

/**
 * verifyReadAttestation is verifyAttestation for an attestation readAttestation returned (so nothing is
 * parsed again): the same checks, in the same order, with the same errors.
 */
export async function verifyReadAttestation(
  r: ReadAttestation,
  key: PublicKey,
  opts: { now?: Date } = {},
): Promise<{ signedAt: Date }> {
  return verifySignature(r.att, r.signature, key, checkSigner(r.att, key), opts);
}

/** checkSigner returns the key's primary fingerprint, or throws KEY_MISMATCH unless `att.key` names it. */
function checkSigner(a: Attestation, key: PublicKey): string {
  const fingerprint = fingerprintHex(key);
  if (a.key !== fingerprint) {
    throw new LogError(
      'KEY_MISMATCH',
      `attestation names key ${a.key} but is being checked with key ${fingerprint}: "key" must be the signer's primary key fingerprint`,
      { field: 'key', expected: fingerprint, found: a.key },
    );
  }
  return fingerprint;
}

/** verifySignature is the rest of verifyAttestation, once the attestation and its signature are read. */
async function verifySignature(
  a: Attestation,
  signature: Signature,
  key: PublicKey,
  fingerprint: string,
  opts: { now?: Date },
): Promise<{ signedAt: Date }> {
  const packet = signature.packets[0]!;
  const signers = key.getKeys(packet.issuerKeyID);
  const issuerFpr = packet.issuerFingerprint ? hexEncode(packet.issuerFingerprint) : undefined;
  if (signers.length === 0 || (issuerFpr !== undefined && signers[0]!.getFingerprint() !== issuerFpr)) {
    const by = (issuerFpr ?? packet.issuerKeyID.toHex()).toUpperCase();
    throw new LogError(
      'KEY_MISMATCH',
      `the signature was made by key ${by}, which is neither ${fingerprint} nor one of its subkeys`,
      { field: 'sig', issuer: by, key: fingerprint },
    );
  }
  const date = new Date((opts.now ?? new Date()).getTime() + MAX_SIGNATURE_CLOCK_SKEW_MS);
  const failures: string[] = [];
  // The Node form is made only when the Python form (what most signers sign) did not verify.
  for (const serialise of [pythonSerialization, nodeSerialization]) {
    const message = await openpgp.createMessage({ binary: serialise(a.data) });
    const result = await openpgp.verify({
      message,
      signature,
      verificationKeys: key,
      date,
      format: 'binary',
    });
    const one = result.signatures[0];
    if (!one) throw new Error('openpgp.verify returned no result for a document signature');
    try {
      await one.verified;
      return { signedAt: packet.created! };
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  // A wrong serialisation fails on the 16-bit digest prefix; any other reason says more.
  const reason = failures.find((m) => !/digest did not match/i.test(m)) ?? failures[0];
  throw new LogError(
    'SIGNATURE_INVALID',
    `the signature by ${fingerprint} does not verify over either Signet serialisation of data (${reason})`,
    { field: 'sig', reason },
  );
}

/**
 * signAttestation signs the Python serialisation of `data` (which every Signet tool accepts) with a
 * decrypted private key (openpgp picks its signing subkey if it has one), as a binary detached
 * signature made at `date` (default now), and returns the attestation with `key` the primary
 * fingerprint. It throws ATTESTATION_INVALID / ATTESTATION_TOO_LARGE for bad data and KEY_INVALID when
 * the key cannot sign (encrypted, no signing key).
 */
export async function signAttestation(
  data: AttestationData,
  key: PrivateKey,
  date?: Date,
): Promise<Attestation> {
  const fingerprint = fingerprintHex(key);
  // Check the data (and its size, with a sig of typical size) before signing anything.
  const checked = parseAttestation({ data, key: fingerprint, sig: 'AAAA' }).data;
  let sigBytes: Uint8Array;
  try {
    const message = await openpgp.createMessage({ binary: pythonSerialization(checked) });
    sigBytes = await openpgp.sign({
      message,
      signingKeys: key,
      detached: true,
      format: 'binary',
      ...(date ? { date } : {}),
    });
  } catch (err) {
    throw new LogError('KEY_INVALID', `key ${fingerprint} cannot sign: ${(err as Error).message}`, {
      key: fingerprint,
    });
  }
  return parseAttestation({ data: checked, key: fingerprint, sig: base64Encode(sigBytes) });
}

/** readAttestationSignature decodes sig into exactly one binary or text document signature packet. */
async function readAttestationSignature(sig: string): Promise<Signature> {
  if (sig.length === 0 || !BASE64.test(sig)) malformed('not base64');
  // atob, not Buffer: log/ runs in the browser explorer too (web/). BASE64 above checked the form.
  const bin = atob(sig);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  // openpgp.js skips packets it does not expect (a trailing trust or marker packet, say), which would
  // give one signature many spellings: require exactly one signature packet spanning all the bytes.
  const framing = packetFraming(bytes);
  if (typeof framing === 'string') malformed(framing);
  if (framing.tag !== 2)
    malformed(`an OpenPGP packet with tag ${framing.tag} where a signature (tag 2) belongs`);
  if (framing.end !== bytes.length)
    malformed(`${bytes.length - framing.end} bytes after the signature packet`);
  let signature: Signature;
  try {
    signature = await openpgp.readSignature({ binarySignature: bytes });
  } catch (err) {
    malformed((err as Error).message);
  }
  const packets = signature.packets;
  if (packets.length !== 1) malformed(`${packets.length} signature packets instead of one`);
  const type = packets[0]!.signatureType;
  if (type !== openpgp.enums.signature.binary && type !== openpgp.enums.signature.text) {
    malformed(`a signature of type ${type}, not over a document`);
  }
  if (!packets[0]!.created) malformed('no creation time');
  return signature;
}

function malformed(found: string): never {
  throw new LogError(
    'SIGNATURE_MALFORMED',
    `attestation sig: expected base64 of one binary detached OpenPGP signature, found ${found}`,
    { field: 'sig' },
  );
}

function invalid(field: string, expected: string, found: string): never {
  throw new LogError('ATTESTATION_INVALID', `attestation ${field}: expected ${expected}, found ${found}`, {
    field,
  });
}

function tooLarge(size?: number): never {
  const what = size === undefined ? `more than ${MAX_ATTESTATION_BYTES}` : String(size);
  throw new LogError(
    'ATTESTATION_TOO_LARGE',
    `attestation is ${what} bytes of canonical JSON; the limit is ${MAX_ATTESTATION_BYTES}: shorten data`,
    { limit: MAX_ATTESTATION_BYTES, ...(size === undefined ? {} : { size }) },
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string "${clip(v)}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function clip(s: string): string {
  return s.length > 48 ? `${s.slice(0, 45)}...` : s;
}

function fieldName(path: string, key: string): string {
  const k = IDENTIFIER.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === '') return k;
  return k.startsWith('[') ? `${path}${k}` : `${path}.${k}`;
}
