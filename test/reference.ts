/**
 * A naive reference implementation of the Merkle tree, written straight from the definitions in
 * RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF) and c2sp.org/tlog-tiles (the
 * tile contents), recursive and slow on purpose. It hashes with node:crypto rather than
 * @noble/hashes, so the tests compare log/ against a second SHA-256 implementation too.
 *
 * Also: in-memory tile stores and node readers that tests use as "storage" for log/ code.
 */
import { createHash } from 'node:crypto';
import type { HashReader, NodeId, TileCoord, TileFetcher } from '../log/tiles.js';
import { appendLeaves, tilePath } from '../log/tiles.js';

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** refLeafHash is SHA-256(0x00 || entry), RFC 9162 §2.1.1. */
export function refLeafHash(entry: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0), entry);
}

/** refNodeHash is SHA-256(0x01 || left || right), RFC 9162 §2.1.1. */
export function refNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(1), left, right);
}

/** The largest power of two smaller than n (n > 1). */
function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

/**
 * refMth is MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1): SHA-256() for n = 0, the leaf hash for
 * n = 1, else H(MTH(D[0:k]) || MTH(D[k:n])) with k the largest power of two below n.
 */
export function refMth(leafHashes: readonly Uint8Array[]): Uint8Array {
  const n = leafHashes.length;
  if (n === 0) return sha256();
  if (n === 1) return leafHashes[0]!;
  const s = k(n);
  return refNodeHash(refMth(leafHashes.slice(0, s)), refMth(leafHashes.slice(s)));
}

/** refPath is PATH(m, D[n]) (RFC 9162 §2.1.3.1). */
export function refPath(m: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  const n = leafHashes.length;
  if (n <= 1) return [];
  const s = k(n);
  if (m < s) return [...refPath(m, leafHashes.slice(0, s)), refMth(leafHashes.slice(s))];
  return [...refPath(m - s, leafHashes.slice(s)), refMth(leafHashes.slice(0, s))];
}

/** refSubproof is SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1). */
function refSubproof(m: number, leafHashes: readonly Uint8Array[], b: boolean): Uint8Array[] {
  const n = leafHashes.length;
  if (m === n) return b ? [] : [refMth(leafHashes)];
  const s = k(n);
  if (m <= s) return [...refSubproof(m, leafHashes.slice(0, s), b), refMth(leafHashes.slice(s))];
  return [...refSubproof(m - s, leafHashes.slice(s), false), refMth(leafHashes.slice(0, s))];
}

/** refProof is PROOF(m, D[n]) = SUBPROOF(m, D[n], true) for 0 < m < n (RFC 9162 §2.1.4.1). */
export function refProof(m: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  return refSubproof(m, leafHashes, true);
}

/**
 * refTiles returns every hash tile of the tree straight from c2sp.org/tlog-tiles: the n-th tile at
 * level l holds MTH(D[(n*256 + i) * 256^l : (n*256 + i + 1) * 256^l]) for i in 0..255, full tiles of
 * 256 and the partial one of floor(s / 256^l) mod 256 hashes. Keyed by tile path.
 */
export function refTiles(leafHashes: readonly Uint8Array[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const s = leafHashes.length;
  for (let l = 0, span = 1; Math.floor(s / span) > 0; l++, span *= 256) {
    const count = Math.floor(s / span); // hashes at this level
    for (let n = 0; n * 256 < count; n++) {
      const width = Math.min(256, count - n * 256);
      const hashes: Uint8Array[] = [];
      for (let i = 0; i < width; i++) {
        const start = (n * 256 + i) * span;
        hashes.push(refMth(leafHashes.slice(start, start + span)));
      }
      const data = new Uint8Array(width * 32);
      hashes.forEach((h, i) => {
        data.set(h, i * 32);
      });
      out.set(tilePath({ level: l, index: BigInt(n), width }), data);
    }
  }
  return out;
}

/** leafHashesFor returns n distinct, reproducible leaf hashes: refLeafHash of "<seed>/<i>". */
export function leafHashesFor(n: number, seed = 0): Uint8Array[] {
  const enc = new TextEncoder();
  return Array.from({ length: n }, (_, i) => refLeafHash(enc.encode(`${seed}/${i}`)));
}

/**
 * nodeReader returns a HashReader that computes each requested complete subtree from the leaf hashes
 * with refMth (no tiles involved), and counts its calls in `calls.n`.
 */
export function nodeReader(leafHashes: readonly Uint8Array[], calls = { n: 0 }): HashReader {
  const memo = new Map<string, Uint8Array>();
  return async (ids: readonly NodeId[]) => {
    calls.n++;
    return ids.map((id) => {
      const key = `${id.level}/${id.index}`;
      let h = memo.get(key);
      if (!h) {
        const size = 2 ** id.level;
        const start = Number(id.index) * size;
        if (start + size > leafHashes.length) throw new Error(`node ${key} is not in the tree`);
        h = refMth(leafHashes.slice(start, start + size));
        memo.set(key, h);
      }
      return h;
    });
  };
}

/**
 * MemoryTiles is a tile store the way a server keeps one: every tile version appendLeaves produced,
 * keyed by path (so partial tiles of every size stay readable), plus a count of fetch calls.
 */
export class MemoryTiles {
  readonly tiles = new Map<string, Uint8Array>();
  treeSize = 0n;
  fetchCalls = 0;

  /** fetch is a TileFetcher over the stored tiles; a missing tile is a test failure. */
  readonly fetch: TileFetcher = async (coords: readonly TileCoord[]) => {
    this.fetchCalls++;
    return coords.map((c) => {
      const data = this.tiles.get(tilePath(c));
      if (!data) throw new Error(`tile ${tilePath(c)} not stored`);
      return data;
    });
  };

  /** append runs appendLeaves and stores its tiles; returns the new root. */
  async append(leafHashes: readonly Uint8Array[]): Promise<Uint8Array> {
    const r = await appendLeaves(this.treeSize, leafHashes, this.fetch);
    for (const { tile, data } of r.tiles) this.tiles.set(tilePath(tile), data);
    this.treeSize = r.treeSize;
    return r.rootHash;
  }

  /** latest returns, per tile index, only the widest stored version: the tiles of the current tree. */
  latest(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [path, data] of this.tiles) {
      const base = path.replace(/\.p\/\d+$/, '');
      const prev = out.get(base);
      if (!prev || prev.length < data.length) out.set(base, data);
    }
    return out;
  }
}

/**
 * refPathShape describes PATH(m, D[n]) (RFC 9162 §2.1.3.1) without hashes: for each element, leaf
 * side first, whether it is the right sibling (R) or the left one (L). The verifier's computation
 * depends only on this, so a proof verifies for another (index, size) exactly when the shapes match.
 */
export function refPathShape(m: number, n: number): string {
  if (n <= 1) return '';
  const s = k(n);
  return m < s ? `${refPathShape(m, s)}R` : `${refPathShape(m - s, n - s)}L`;
}

/**
 * refProofShape describes PROOF(m, D[n]) (RFC 9162 §2.1.4.1) without hashes: S for the old subtree's
 * hash, R for a right sibling (new leaves only), L for a left sibling (in both trees). For 0 < m <= n.
 */
export function refProofShape(m: number, n: number): string {
  const sub = (m: number, n: number, b: boolean): string => {
    if (m === n) return b ? '' : 'S';
    const s = k(n);
    return m <= s ? `${sub(m, s, b)}R` : `${sub(m - s, n - s, false)}L`;
  };
  return sub(m, n, true);
}
