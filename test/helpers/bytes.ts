/**
 * Decoding for tests: log/bytes.ts decoders that throw instead of returning undefined, for vectors and
 * server answers that must be well formed. Encoding needs no helper: use log/bytes.ts hexEncode and
 * base64Encode.
 */
import { base64DecodeStrict, hexDecode } from '../../log/bytes.js';

/** fromB64 returns the bytes of canonical standard base64 (base64DecodeStrict); throws on anything else. */
export function fromB64(s: unknown): Uint8Array {
  const b = typeof s === 'string' ? base64DecodeStrict(s) : undefined;
  if (!b) throw new Error(`expected canonical standard base64, found ${JSON.stringify(s)?.slice(0, 80)}`);
  return b;
}

/** fromHex returns the bytes of a string of hex digit pairs (hexDecode); throws on anything else. */
export function fromHex(s: unknown): Uint8Array {
  const b = typeof s === 'string' ? hexDecode(s) : undefined;
  if (!b) throw new Error(`expected hex digit pairs, found ${JSON.stringify(s)?.slice(0, 80)}`);
  return b;
}
