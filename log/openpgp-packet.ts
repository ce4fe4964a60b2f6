/**
 * OpenPGP packet framing (RFC 9580 §4.2): reading the header of one packet in either format, and
 * writing the one canonical header (OpenPGP format, shortest length encoding). Pure: no I/O.
 *
 * The same packet body can be framed in several ways: the legacy format (§4.2.2) with a 1, 2 or 4
 * octet length, and the OpenPGP format (§4.2.1) with a 1, 2 or 5 octet length, each long enough for
 * many bodies. None of it is covered by a signature, so anyone can re-frame a signature packet.
 */

/** PacketFraming is where one packet's header and body lie in its bytes. */
export interface PacketFraming {
  /** tag: the packet type ID (2 is a signature). */
  tag: number;
  /** bodyStart: the offset of the body (the header's length). */
  bodyStart: number;
  /** end: the offset just past the body. */
  end: number;
}

/**
 * packetFraming reads the header of the first OpenPGP packet in `b` (RFC 9580 §4.2: OpenPGP and legacy
 * formats) and returns its tag and where its body lies, or a description of what is wrong. Partial and
 * indeterminate lengths are refused: a signature packet never needs them. It does not check that `b`
 * holds the whole body (compare `end` with b.length).
 */
export function packetFraming(b: Uint8Array): PacketFraming | string {
  const b0 = b[0] ?? 0;
  if ((b0 & 0x80) === 0) return 'bytes that do not start an OpenPGP packet';
  let tag: number;
  let header: number;
  let length: number;
  if (b0 & 0x40) {
    tag = b0 & 0x3f;
    const l0 = b[1];
    if (l0 === undefined) return 'a truncated packet header';
    if (l0 < 192) [header, length] = [2, l0];
    else if (l0 < 224) [header, length] = [3, ((l0 - 192) << 8) + (b[2] ?? 0) + 192];
    else if (l0 === 255)
      [header, length] = [6, (b[2] ?? 0) * 2 ** 24 + ((b[3] ?? 0) << 16) + ((b[4] ?? 0) << 8) + (b[5] ?? 0)];
    else return 'a packet with a partial body length';
  } else {
    tag = (b0 >> 2) & 0x0f;
    const lengthType = b0 & 0x03;
    if (lengthType === 3) return 'a packet of indeterminate length';
    header = 1 + 2 ** lengthType;
    length = 0;
    for (let i = 1; i < header; i++) length = length * 256 + (b[i] ?? 0);
  }
  if (b.length < header) return 'a truncated packet header';
  return { tag, bodyStart: header, end: header + length };
}

/**
 * packetHeader returns the canonical header of a packet with `tag` and a body of `length` octets:
 * the OpenPGP format (RFC 9580 §4.2.1) with the shortest length that holds it (1 octet below 192,
 * 2 octets up to 8383, else 0xFF and 4 octets). Throws a plain Error for a tag over 63 or a length
 * that is not a 32-bit unsigned integer (our own bug: callers frame bodies they built).
 */
export function packetHeader(tag: number, length: number): Uint8Array {
  if (!Number.isInteger(tag) || tag < 0 || tag > 63) throw new Error(`packetHeader: tag ${tag}`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffffffff)
    throw new Error(`packetHeader: length ${length}`);
  const first = 0xc0 | tag;
  if (length < 192) return Uint8Array.of(first, length);
  if (length <= 8383) {
    const l = length - 192;
    return Uint8Array.of(first, (l >> 8) + 192, l & 0xff);
  }
  return Uint8Array.of(
    first,
    0xff,
    length >>> 24,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
  );
}
