/**
 * Spellings of one OpenPGP signature packet: the ways its bytes can change without its signer, for the
 * canonical dedup tests (log/signature-canonical.ts). A naive parser written from RFC 9580 on its own
 * (not the code under test): the packet header in the legacy or OpenPGP format with any length width
 * that fits (§4.2), the unhashed subpacket area with any contents (§5.2.3, subpacket lengths §5.2.3.7),
 * and MPIs with extra leading zero octets and any bit count that reads the same octets (§3.2, as
 * openpgp.js reads them).
 */

/** SignatureParts is a v4 or v6 signature packet split at what a spelling may change. */
export interface SignatureParts {
  version: number;
  /** signed: version octet through the end of the hashed subpacket area (covered by the signature). */
  signed: Uint8Array;
  /** unhashed: the unhashed subpacket area's contents (without its length). */
  unhashed: Uint8Array;
  /** pinned: the 2-octet hash prefix, and for v6 the salt size and salt. */
  pinned: Uint8Array;
  /** values: the signature values: MPI magnitudes without leading zeros, or one native octet string. */
  values: Uint8Array[];
  /** mpi: whether the values are MPIs. */
  mpi: boolean;
}

/** HeaderForm names a packet header: legacy with 1, 2 or 4 length octets, or OpenPGP with 1, 2 or 5. */
export type HeaderForm = 'old1' | 'old2' | 'old4' | 'new1' | 'new2' | 'new5';

/** Spelling says how to write SignatureParts back. */
export interface Spelling {
  header: HeaderForm;
  /** unhashed: the unhashed area's contents (subpackets). */
  unhashed: Uint8Array;
  /** mpiPad: per MPI, leading zero octets to add, and the bit count: (octets-1)*8 + 1 + bits (0-7). */
  mpiPad: { zeros: number; bits: number }[];
}

const MPI_ALGORITHMS = new Set([1, 2, 3, 17, 19, 22]);
const NATIVE_OCTETS: Record<number, number> = { 27: 64, 28: 114 };

const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const be = (n: number, width: number) =>
  Uint8Array.from({ length: width }, (_, i) => Math.floor(n / 256 ** (width - 1 - i)) % 256);

/** splitSignature splits one signature packet (either header format) into its parts; throws if it is not one. */
export function splitSignature(packet: Uint8Array): SignatureParts {
  const b0 = packet[0]!;
  let start: number;
  let length: number;
  if (b0 & 0x40) {
    const l0 = packet[1]!;
    if (l0 < 192) [start, length] = [2, l0];
    else if (l0 < 224) [start, length] = [3, ((l0 - 192) << 8) + packet[2]! + 192];
    else [start, length] = [6, Number(readBe(packet, 2, 4))];
  } else {
    const width = [1, 2, 4][b0 & 3]!;
    [start, length] = [1 + width, Number(readBe(packet, 1, width))];
  }
  if (start + length !== packet.length) throw new Error('splitSignature: not exactly one packet');
  const body = packet.subarray(start);
  const version = body[0]!;
  const areaWidth = version === 6 ? 4 : 2;
  const algorithm = body[2]!;
  let i = 4;
  i += areaWidth + Number(readBe(body, i, areaWidth));
  const signed = body.subarray(0, i);
  const unhashedLength = Number(readBe(body, i, areaWidth));
  const unhashed = body.subarray(i + areaWidth, i + areaWidth + unhashedLength);
  i += areaWidth + unhashedLength;
  const pinnedStart = i;
  i += 2;
  if (version === 6) i += 1 + body[i]!;
  const pinned = body.subarray(pinnedStart, i);
  const values: Uint8Array[] = [];
  const mpi = MPI_ALGORITHMS.has(algorithm);
  if (mpi) {
    while (i < body.length) {
      const n = Math.ceil(Number(readBe(body, i, 2)) / 8);
      let v = body.subarray(i + 2, i + 2 + n);
      while (v.length > 0 && v[0] === 0) v = v.subarray(1);
      values.push(v);
      i += 2 + n;
    }
  } else {
    values.push(body.subarray(i, i + NATIVE_OCTETS[algorithm]!));
    i += NATIVE_OCTETS[algorithm]!;
  }
  if (i !== body.length) throw new Error('splitSignature: octets after the values');
  return { version, signed, unhashed, pinned, values, mpi };
}

/** headerForms returns the header forms that can frame a body of `length` octets. */
export function headerForms(length: number): HeaderForm[] {
  const out: HeaderForm[] = ['old4', 'new5'];
  if (length < 256) out.push('old1');
  if (length < 65536) out.push('old2');
  if (length < 192) out.push('new1');
  if (length >= 192 && length <= 8383) out.push('new2');
  return out;
}

/**
 * header returns the packet header of a signature (tag 2) with a body of `length` octets; throws when
 * `form` cannot frame that length.
 */
export function header(form: HeaderForm, length: number): Uint8Array {
  if (!headerForms(length).includes(form)) throw new Error(`header: ${form} cannot frame ${length} octets`);
  switch (form) {
    case 'old1':
      return concat(Uint8Array.of(0x88), be(length, 1));
    case 'old2':
      return concat(Uint8Array.of(0x89), be(length, 2));
    case 'old4':
      return concat(Uint8Array.of(0x8a), be(length, 4));
    case 'new1':
      return Uint8Array.of(0xc2, length);
    case 'new2':
      return Uint8Array.of(0xc2, ((length - 192) >> 8) + 192, (length - 192) & 0xff);
    case 'new5':
      return concat(Uint8Array.of(0xc2, 0xff), be(length, 4));
  }
}

/** subpacket returns one signature subpacket: its length in `width` octets (1, 2 or 5), type, body. */
export function subpacket(type: number, body: Uint8Array, width: 1 | 2 | 5 = 1): Uint8Array {
  const n = body.length + 1;
  let len: Uint8Array;
  if (width === 1) len = Uint8Array.of(n);
  else if (width === 2) len = Uint8Array.of(((n - 192) >> 8) + 192, (n - 192) & 0xff);
  else len = concat(Uint8Array.of(0xff), be(n, 4));
  return concat(len, Uint8Array.of(type), body);
}

/** subpacketWidths returns the length widths that can frame a subpacket body of `length` octets. */
export function subpacketWidths(length: number): (1 | 2 | 5)[] {
  const n = length + 1;
  return [...(n < 192 ? [1 as const] : []), ...(n >= 192 && n <= 8383 ? [2 as const] : []), 5];
}

/** spell writes the parts back as one packet, spelled as `s` says. */
export function spell(p: SignatureParts, s: Spelling): Uint8Array {
  const areaWidth = p.version === 6 ? 4 : 2;
  const values = p.mpi
    ? p.values.map((v, k) => {
        const pad = s.mpiPad[k] ?? { zeros: 0, bits: 0 };
        const octets = v.length + pad.zeros;
        // Any count from (octets-1)*8+1 to octets*8 reads the same octets, true or not.
        const bits = octets === 0 ? 0 : (octets - 1) * 8 + 1 + pad.bits;
        return concat(be(bits, 2), new Uint8Array(pad.zeros), v);
      })
    : p.values;
  const body = concat(p.signed, be(s.unhashed.length, areaWidth), s.unhashed, p.pinned, ...values);
  return concat(header(s.header, body.length), body);
}

function readBe(b: Uint8Array, at: number, width: number): bigint {
  let n = 0n;
  for (let k = 0; k < width; k++) n = n * 256n + BigInt(b[at + k]!);
  return n;
}
