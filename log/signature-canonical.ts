/**
 * The canonical form of an attestation's signature packet, and the dedup digest built on it.
 *
 * One OpenPGP signature has many byte spellings that verify alike, because some of its bytes are not
 * covered by the signature: a v4 or v6 signature hashes the packet body from the version octet to the
 * end of the hashed subpacket area, plus a trailer (RFC 9580 §5.2.3, §5.2.4). Anyone holding a
 * signature, not only its signer, can therefore change:
 *   - the packet header: legacy or OpenPGP format, and the length in 1, 2, 4 or 5 octets (§4.2);
 *   - the unhashed subpacket area: add, drop or change subpackets (§5.2.3: "not cryptographically
 *     protected by the signature"), e.g. a second Issuer Key ID or a notation;
 *   - the MPI encodings of the signature values: openpgp.js reads ceil(bits/8) octets whatever the
 *     bit count says, and RSA values with leading zero octets verify too (§3.2 says MPIs are minimal).
 * If the server deduplicated on the bytes as sent, each spelling would be logged as a new entry: anyone
 * could replay anyone's attestation as extra entries. canonicalSignature maps every spelling to one:
 * the same fields re-serialised with an OpenPGP-format header of minimal length, an empty unhashed
 * area, and minimal MPIs. Everything signed (version, type, algorithms, hashed area) and everything the
 * verifier pins (the 2-octet hash prefix, the v6 salt, the signature values) is kept.
 *
 * Not normalised: ECDSA (r, s) and (r, n-s) both verify, and telling which is "low" needs the curve
 * order, which is in the signer's key and not in the packet; an ECDSA signature can be replayed once
 * more that way. Ed25519 and RSA (PKCS#1 v1.5) signature values are unique; DSA's s is not malleable.
 *
 * Pure: no I/O.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { base64DecodeStrict, base64Encode, concatBytes } from './bytes.js';
import { canonicalJson } from './canonical-json.js';
import { LogError } from './errors.js';
import { packetFraming, packetHeader } from './openpgp-packet.js';
import type { Attestation } from './signet.js';

/** SIGNATURE_TAG is the packet type ID of a signature (RFC 9580 §5.2). */
const SIGNATURE_TAG = 2;

/**
 * The algorithm-specific signature fields (RFC 9580 §5.2.3.1-§5.2.3.6) of the public-key algorithms
 * openpgp.js can verify: a number of MPIs, or a native octet string of fixed length.
 */
const SIGNATURE_FIELDS: ReadonlyMap<number, { mpis: number } | { octets: number }> = new Map([
  [1, { mpis: 1 }], // RSA (Encrypt or Sign): m^d mod n
  [2, { mpis: 1 }], // RSA Encrypt-Only (deprecated; openpgp.js reads it as RSA)
  [3, { mpis: 1 }], // RSA Sign-Only (deprecated)
  [17, { mpis: 2 }], // DSA: r, s
  [19, { mpis: 2 }], // ECDSA: r, s
  [22, { mpis: 2 }], // EdDSALegacy: r, s
  [27, { octets: 64 }], // Ed25519
  [28, { octets: 114 }], // Ed448
]);

const utf8Encoder = new TextEncoder();

/**
 * canonicalSignature returns the canonical bytes of one OpenPGP v4 or v6 signature packet (the file
 * comment says what changes): the same for every spelling of the same signature, and unchanged by a
 * second pass (canonicalSignature of its own output returns the same bytes). It throws
 * SIGNATURE_MALFORMED (details.field 'sig') unless `packet` is exactly one complete signature packet of
 * version 4 or 6 whose fields fit its body, with a public-key algorithm of SIGNATURE_FIELDS.
 */
export function canonicalSignature(packet: Uint8Array): Uint8Array {
  const f = packetFraming(packet);
  if (typeof f === 'string') malformed(f);
  if (f.tag !== SIGNATURE_TAG)
    malformed(`an OpenPGP packet with tag ${f.tag} where a signature (tag 2) belongs`);
  if (f.end > packet.length) malformed('a truncated signature packet');
  if (f.end < packet.length) malformed(`${packet.length - f.end} bytes after the signature packet`);
  const body = packet.subarray(f.bodyStart, f.end);
  const r = new BodyReader(body);
  const version = r.octet();
  if (version !== 4 && version !== 6) malformed(`a version ${version} signature (4 and 6 are read)`);
  // v4 counts subpacket areas in 2 octets, v6 in 4 (RFC 9580 §5.2.3).
  const areaLength = version === 4 ? 2 : 4;
  r.skip(1); // signature type
  const algorithm = r.octet();
  r.skip(1); // hash algorithm
  r.skip(r.number(areaLength)); // hashed subpackets: signed, kept as they are
  const signedEnd = r.pos;
  r.skip(r.number(areaLength)); // unhashed subpackets: not signed, dropped
  const pinnedStart = r.pos;
  r.skip(2); // the left 16 bits of the signed hash
  if (version === 6) r.skip(r.octet()); // the salt, hashed first (RFC 9580 §5.2.4)
  const pinnedEnd = r.pos;
  const fields = SIGNATURE_FIELDS.get(algorithm);
  if (!fields) malformed(`a signature by public-key algorithm ${algorithm}, which the log cannot verify`);
  const values: Uint8Array[] = [];
  if ('octets' in fields) values.push(r.take(fields.octets));
  else for (let i = 0; i < fields.mpis; i++) values.push(minimalMpi(r));
  if (r.pos !== body.length) malformed(`${body.length - r.pos} octets after the signature values`);
  const canonicalBody = concatBytes(
    body.subarray(0, signedEnd),
    new Uint8Array(areaLength), // an empty unhashed area
    body.subarray(pinnedStart, pinnedEnd),
    ...values,
  );
  return concatBytes(packetHeader(SIGNATURE_TAG, canonicalBody.length), canonicalBody);
}

/**
 * canonicalSig returns the canonical standard base64 of canonicalSignature of `sig` (the base64 of an
 * attestation's signature packet). Throws SIGNATURE_MALFORMED when sig is not canonical base64 of one
 * signature packet canonicalSignature reads.
 */
export function canonicalSig(sig: string): string {
  const bytes = base64DecodeStrict(sig);
  if (bytes === undefined || bytes.length === 0) malformed('text that is not canonical base64');
  return base64Encode(canonicalSignature(bytes));
}

/**
 * dedupDigest returns the dedup key of an attestation (the server takes it through log/entry.ts
 * attestationDigest): SHA-256 of the UTF-8 RFC 8785 canonical JSON of {data, key, sig: canonicalSig(sig)}. Two attestations with the same data and key
 * and the same signature, however its packet is spelled (header format, length encoding, unhashed
 * subpackets, MPI encoding), have the same digest; member order and loggedAt do not matter either.
 *
 * It is a key, not a rewrite: the entry keeps `sig` exactly as the publisher sent it. The entry is the
 * evidence of what was submitted; clients check that the entry in their receipt holds the attestation
 * they sent (the first spelling logged, for a replay) and verify it with their own OpenPGP code, which
 * may need what this form drops (an Issuer Key ID in the unhashed area is where older signers put it);
 * and a bug in this re-serialisation could never make a logged signature stop verifying.
 * Throws SIGNATURE_MALFORMED like canonicalSig (never for an attestation that verifies).
 */
export function dedupDigest(att: Pick<Attestation, 'data' | 'key' | 'sig'>): Uint8Array {
  const json = canonicalJson({ data: att.data, key: att.key, sig: canonicalSig(att.sig) });
  return sha256(utf8Encoder.encode(json));
}

/** BodyReader reads the fields of a packet body in order; running past its end is SIGNATURE_MALFORMED. */
class BodyReader {
  pos = 0;
  constructor(private readonly body: Uint8Array) {}

  take(n: number): Uint8Array {
    if (this.pos + n > this.body.length) malformed('a signature packet whose fields run past its end');
    const out = this.body.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    this.take(n);
  }

  octet(): number {
    return this.take(1)[0]!;
  }

  /** number reads a big-endian unsigned integer of `size` octets (at most 4). */
  number(size: number): number {
    let n = 0;
    for (const x of this.take(size)) n = n * 256 + x;
    return n;
  }
}

/**
 * minimalMpi reads one MPI (RFC 9580 §3.2: a 2-octet bit count, then ceil(bits/8) octets, as openpgp.js
 * reads it) and returns it minimal: no leading zero octets and the exact bit count.
 */
function minimalMpi(r: BodyReader): Uint8Array {
  const value = r.take(Math.ceil(r.number(2) / 8));
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  const digits = value.subarray(start);
  const bits = digits.length === 0 ? 0 : (digits.length - 1) * 8 + (32 - Math.clz32(digits[0]!));
  return concatBytes(Uint8Array.of(bits >> 8, bits & 0xff), digits);
}

function malformed(found: string): never {
  throw new LogError(
    'SIGNATURE_MALFORMED',
    `attestation sig: expected base64 of one binary detached OpenPGP signature, found ${found}`,
    { field: 'sig' },
  );
}
