/**
 * Bytes and their text forms: comparison, concatenation, hex and base64.
 *
 * Bytes are Uint8Array everywhere in the log; hex and base64 appear only at the edges (HTTP, CLI, files,
 * note and checkpoint text, error messages). base64 is the standard alphabet with padding (RFC 4648 §4),
 * as c2sp.org/signed-note, c2sp.org/tlog-checkpoint and SPEC.md use it, and decoding is strict: one
 * text for one byte string, so a hash or signature cannot be smuggled in under two spellings. This file
 * uses only the web-platform globals atob and TextDecoder (no Buffer), so it runs anywhere. Encoding is
 * table-driven: the server encodes every entry it serves with base64Encode, and btoa over a binary
 * string is ~150x slower than Buffer on a 64 KiB entry (this table ~10x). Pure: no I/O.
 */

/** Canonical-alphabet base64 with padding, as a whole string (no whitespace, no line breaks). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
/** The base64 alphabet (RFC 4648 §4 Table 1) as ASCII codes, and '=' padding. */
const B64_DIGITS = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) =>
  c.charCodeAt(0),
);
const PAD = 0x3d;
/** HEX_PAIRS[x] is the two lower-case hex digits of byte x. */
const HEX_PAIRS = Array.from({ length: 256 }, (_, x) => x.toString(16).padStart(2, '0'));
const ascii = new TextDecoder();

/** bytesEqual reports whether a and b hold the same bytes (not constant time). It never throws. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** concatBytes returns a new array holding the parts one after the other. It never throws. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** hexEncode returns the lower-case hex digits of bytes, two per byte. It never throws. */
export function hexEncode(bytes: Uint8Array): string {
  let s = '';
  for (const x of bytes) s += HEX_PAIRS[x];
  return s;
}

/**
 * hexDecode returns the bytes of a string of hex digit pairs (either case, nothing else: no `0x`, no
 * whitespace), or undefined when s is anything else. Never throws.
 */
export function hexDecode(s: string): Uint8Array | undefined {
  if (typeof s !== 'string' || !HEX.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** base64Encode returns the standard (RFC 4648 §4, padded) base64 encoding of bytes. */
export function base64Encode(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64_DIGITS[n >> 18]!;
    out[o++] = B64_DIGITS[(n >> 12) & 63]!;
    out[o++] = B64_DIGITS[(n >> 6) & 63]!;
    out[o++] = B64_DIGITS[n & 63]!;
  }
  const left = bytes.length - i;
  if (left > 0) {
    // One or two bytes left: their 8 or 16 bits, zero-padded, then '==' or '=' (RFC 4648 §4).
    const n = (bytes[i]! << 16) | (left === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = B64_DIGITS[n >> 18]!;
    out[o++] = B64_DIGITS[(n >> 12) & 63]!;
    out[o++] = left === 2 ? B64_DIGITS[(n >> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}

/**
 * base64DecodeStrict returns the bytes of canonical standard base64 (RFC 4648 §4: padded, no
 * whitespace, zero trailing bits), or undefined when s is anything else. Never throws.
 */
export function base64DecodeStrict(s: string): Uint8Array | undefined {
  if (!BASE64.test(s)) return undefined;
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Non-zero trailing bits ("AB==" vs "AA==") decode to the same bytes: reject all but the canonical one.
  if (base64Encode(out) !== s) return undefined;
  return out;
}
