/**
 * The stored form of entries.entry (schema 9, sql/009_packed_entries.sql): the entry bytes compressed
 * with raw DEFLATE (RFC 1951, node:zlib) and a preset dictionary, in the server's storage layer only.
 * Nothing that leaves the database changes: every reader gets the exact entry bytes back (unpackEntry),
 * and the leaf hashes, tiles, entry bundles and receipts are made from those. pending.entry stays raw
 * (its rows live one round).
 *
 * Stored form, by its first byte:
 * - 0xF5 (PACKED_V1): the rest is the raw DEFLATE stream of the entry made with dictionary 1
 *   (ENTRY_DICTIONARY_V1 below). A byte from 0xF5 to 0xFF never occurs in UTF-8, and an entry is UTF-8
 *   JSON (an attestation entry and an index leaf both start with '{', 0x7B), so no raw entry starts with
 *   one; 0xF6..0xFF are kept for later dictionaries or codecs, one byte per version.
 * - anything else: the entry bytes themselves. Rows written before schema 9, and rows that DEFLATE
 *   does not make smaller, are stored so.
 *
 * The dictionary is part of the storage format forever: a row packed with it must inflate with the same
 * bytes for as long as the row exists. Never edit ENTRY_DICTIONARY_V1; a better dictionary is a new
 * format byte (0xF6) with its own constant, and unpackEntry keeps reading both. It holds the fixed text
 * of an entry (log/entry.ts encodeEntry: the RFC 8785 JSON of {"attestation": {data, key, sig},
 * "loggedAt"}, and log/index-map.ts encodeIndexLeaf) and the fixed base64 runs of the signature packet
 * openpgp.js v6 makes with an Ed25519 key (what `sig` signs with): the packet header and the start of
 * its hashed subpackets (`wrsEABYKAG0Fgm`), the salt notation (`RRQAAAAAABwAIHNhbHRAbm90YXRpb25zLm9w
 * ZW5wZ3Bqcy5vcm`), the issuer fingerprint's subpacket header (`YhB`). No key, id or signature of anyone
 * is in it. The most frequent strings come last (DEFLATE codes a nearer match with fewer bits).
 *
 * Measured on 240 real 463-byte entries (ids sha256:<64 hex>, three Ed25519 signers): 281 bytes of
 * DEFLATE with the dictionary (61 %), 375 without. About 20 us to pack and 7 us to unpack an entry
 * (BENCHMARKS.md "Packed entries").
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { MAX_ENTRY_BYTES } from '../log/entry.js';

/** PACKED_V1 is the first byte of an entry stored as raw DEFLATE with ENTRY_DICTIONARY_V1. */
export const PACKED_V1 = 0xf5;

/** The first byte from which stored values are not raw entries (0xF5..0xFF never occur in UTF-8). */
const RESERVED_FROM = 0xf5;

/** ENTRY_DICTIONARY_V1: the preset dictionary of PACKED_V1. Part of the storage format: never edit. */
export const ENTRY_DICTIONARY_V1: Uint8Array = new TextEncoder().encode(
  [
    // An index leaf (log/index-map.ts encodeIndexLeaf): one per checkpoint, so first (farthest).
    '{"index":{"root":"',
    '","size":',
    ',"version":1}}',
    // Attestation data members (sorted: "comment" before "id" before "ok").
    '"comment":"',
    '","ok":false},"key":"',
    // In the signature: the issuer fingerprint subpacket (0x16 0x21 0x04) and empty unhashed area.
    'YhB',
    'AA',
    '"},"loggedAt":"20',
    '","ok":true},"key":"',
    // The signature packet's header and first hashed subpackets, then the salt notation.
    '","sig":"wrsEABYKAG0Fgm',
    'RRQAAAAAABwAIHNhbHRAbm90YXRpb25zLm9wZW5wZ3Bqcy5vcm',
    '{"attestation":{"data":{"id":"sha256:',
  ].join(''),
);

/** StoredEntryError: a stored entries.entry value that is not a valid stored form (fsck reports it). */
export class StoredEntryError extends Error {
  readonly code = 'STORED_ENTRY_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'StoredEntryError';
  }
}

// chunkSize: zlib's output buffer (16 KiB by default) is allocated per call; an entry is a few hundred
// bytes, and the allocation was a third of unpackEntry's time. Longer outputs take more chunks.
const DEFLATE = {
  level: constants.Z_BEST_COMPRESSION,
  dictionary: ENTRY_DICTIONARY_V1,
  chunkSize: 1024,
} as const;
const INFLATE = {
  dictionary: ENTRY_DICTIONARY_V1,
  maxOutputLength: MAX_ENTRY_BYTES,
  chunkSize: 2048,
  info: true,
} as const;

/**
 * packEntry returns the stored form of entry bytes: PACKED_V1 and the DEFLATE stream when that is
 * smaller, else the bytes themselves (a new Uint8Array is not made then). Bytes that start with a
 * reserved byte (never an entry: not UTF-8) are always packed, so that unpackEntry reads every value
 * packEntry returns back.
 */
export function packEntry(entry: Uint8Array): Uint8Array {
  const reserved = entry.length > 0 && entry[0]! >= RESERVED_FROM;
  if (entry.length === 0) return entry;
  const deflated = deflateRawSync(entry, DEFLATE);
  if (!reserved && deflated.length + 1 >= entry.length) return entry;
  const out = new Uint8Array(deflated.length + 1);
  out[0] = PACKED_V1;
  out.set(deflated, 1);
  return out;
}

/**
 * unpackEntry returns the entry bytes of a stored value: inflated when it starts with PACKED_V1, the
 * value itself when it starts with any byte below 0xF5 (raw; rows from before schema 9), and throws
 * StoredEntryError for a value that starts with another reserved byte, does not inflate, inflates to
 * more than MAX_ENTRY_BYTES, or has bytes after the end of its DEFLATE stream.
 */
export function unpackEntry(stored: Uint8Array): Uint8Array {
  if (stored.length === 0 || stored[0]! < RESERVED_FROM) return stored;
  if (stored[0] !== PACKED_V1) {
    throw new StoredEntryError(
      `stored entry starts with 0x${stored[0]!.toString(16)}: neither a raw entry nor a known packed form (0xf5)`,
    );
  }
  let r: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    r = inflateRawSync(stored.subarray(1), INFLATE) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
  } catch (e) {
    const why =
      (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
        ? `more than ${MAX_ENTRY_BYTES} bytes`
        : (e as Error).message;
    throw new StoredEntryError(`stored entry (packed, ${stored.length} bytes) does not inflate: ${why}`);
  }
  if (r.engine.bytesWritten !== stored.length - 1) {
    throw new StoredEntryError(
      `stored entry (packed, ${stored.length} bytes) has ${stored.length - 1 - r.engine.bytesWritten} bytes after its DEFLATE stream`,
    );
  }
  return new Uint8Array(r.buffer.buffer, r.buffer.byteOffset, r.buffer.length);
}
