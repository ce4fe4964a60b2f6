/**
 * KeyCache parses armored signer public keys once per distinct armor. openpgp.js remembers, inside a
 * key object, which of its self-signatures it has verified; a key parsed afresh for every publish would
 * verify them again each time. A changed key (a merged revocation, say) has different armor, so it is
 * parsed anew and never judged by a stale copy. Used by LogService and by each verify worker.
 */
import type * as openpgp from 'openpgp';
import { readPublicKey } from '../log/signet.js';
import { LruMap } from './lru.js';

export class KeyCache {
  private readonly keys: LruMap<string, openpgp.PublicKey>;

  /** max bounds the number of parsed keys kept (least recently used go first). */
  constructor(max = 1024) {
    this.keys = new LruMap(max);
  }

  /** parse returns the key in `armored` (log/signet.ts readPublicKey: one v4 public key, else KEY_INVALID). */
  async parse(armored: string): Promise<openpgp.PublicKey> {
    const hit = this.keys.get(armored);
    if (hit) return hit;
    const key = await readPublicKey(armored);
    this.keys.set(armored, key);
    return key;
  }
}
