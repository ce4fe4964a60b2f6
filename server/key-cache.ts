/**
 * KeyCache keeps signer keys read through log/keys.ts readSignerKey, once per distinct armor. Reading a
 * key verifies every self-signature on it, and openpgp.js remembers inside a key object which signatures
 * it has verified: a key read afresh for every publish would do all that math again each time. A
 * changed key (a merged revocation, say) has different armor, so it is read anew and never judged by a
 * stale copy.
 *
 * Bounded in bytes, not only in count (issue 8: 21 keys of 1 MB each kept 220 MB alive): each entry
 * weighs its armored length times PARSED_BYTES_PER_ARMOR_BYTE, an upper estimate of what the parsed key
 * costs in memory (measured with keys of 1 to 64 KiB: about 3 to 6 times the armor).
 */
import type * as openpgp from 'openpgp';
import { type KeyLimits, readSignerKey } from '../log/keys.js';
import { LruMap } from './lru.js';

/** PARSED_BYTES_PER_ARMOR_BYTE estimates the memory of a parsed key per byte of its armor. */
export const PARSED_BYTES_PER_ARMOR_BYTE = 8;

/** DEFAULT_KEY_CACHE_BYTES bounds one cache: 32 MiB of parsed keys (4 MiB of armor). */
export const DEFAULT_KEY_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * STORED_KEY_LIMITS read copies this server stored itself: a database written before keys were checked
 * (issue 8) may hold a copy grown past KEY_LIMITS by unverified packets. Such a copy is still verified
 * packet by packet, and what does not verify is dropped; the next merge stores the checked result.
 */
export const STORED_KEY_LIMITS: KeyLimits = {
  maxBytes: 16 * 1024 * 1024,
  maxUserIds: 4096,
  maxSubkeys: 256,
  maxSignaturesPerComponent: 1024,
};

export class KeyCache {
  private readonly keys: LruMap<string, openpgp.PublicKey>;

  /** maxBytes bounds the estimated memory of the keys kept (least recently used go first). */
  constructor(maxBytes = DEFAULT_KEY_CACHE_BYTES) {
    this.keys = new LruMap(100_000, maxBytes);
  }

  /** bytes is the estimated memory of the keys kept. */
  get bytes(): number {
    return this.keys.weight;
  }

  /**
   * read returns the checked key in `armored` (readSignerKey with STORED_KEY_LIMITS and without requiring a
   * user ID: a stored copy is read for what verifies in it). Throws what readSignerKey throws.
   */
  async read(armored: string): Promise<openpgp.PublicKey> {
    const hit = this.keys.get(armored);
    if (hit) return hit;
    const key = await readSignerKey(armored, { limits: STORED_KEY_LIMITS, requireUserId: false });
    this.keys.set(armored, key, armored.length * PARSED_BYTES_PER_ARMOR_BYTE);
    return key;
  }
}
