/**
 * SHA-256 (FIPS 180-4) of short domain-separated messages, written into the caller's array: the
 * index map's hashes (SPEC.md "The index": LEAF, NODE and the chain) are all `prefix byte || at most
 * 72 bytes`, and a round makes thousands of them. Hashing into an array the caller already holds (the
 * map top's level arrays, a bucket's records) costs no allocation, no view and no call into the host:
 * about 0.8 µs for a 65-byte node in Node 20 here, against about 1.2 µs through node:crypto's one-shot
 * `hash` with its copies, and 2 µs through noble. log/hash.ts stays the general SHA-256 (any length,
 * fresh result); test/sha256.test.ts checks this one against node:crypto and the FIPS examples.
 * Pure: no I/O. Not constant time, which nothing here needs: every input is public.
 */

/** SHORT_MAX is the longest message part sha256Prefixed takes: prefix + SHORT_MAX + padding fit two blocks. */
export const SHORT_MAX = 118;

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
// §5.3.3: the initial hash value.
const IV = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// One message and state at a time: JavaScript runs a call to the end before the next starts (a worker
// thread has its own module instance).
const W = new Int32Array(64);
const H = new Int32Array(8);
const BLOCKS = new Uint8Array(128);

/** compress runs §6.2.2 on the 64-byte block at BLOCKS[o], updating H. */
function compress(o: number): void {
  const b = BLOCKS;
  for (let t = 0; t < 16; t++, o += 4)
    W[t] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  for (let t = 16; t < 64; t++) {
    const x = W[t - 15]!;
    const y = W[t - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
  }
  let a = H[0]!;
  let c1 = H[1]!;
  let c2 = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & c1) ^ (a & c2) ^ (c1 & c2))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c2;
    c2 = c1;
    c1 = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + c1) | 0;
  H[2] = (H[2]! + c2) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/**
 * sha256Prefixed writes SHA-256(prefix || src[off..off+len)) to out[at..at+32). prefix is one byte, len
 * at most SHORT_MAX; src and out may be the same array (the message is copied before out is written).
 * Throws RangeError when len or the offsets are out of bounds.
 */
export function sha256Prefixed(
  prefix: number,
  src: Uint8Array,
  off: number,
  len: number,
  out: Uint8Array,
  at: number,
): void {
  if (
    !(len >= 0 && len <= SHORT_MAX && off >= 0 && off + len <= src.length && at >= 0 && at + 32 <= out.length)
  ) {
    throw new RangeError(
      `sha256Prefixed: ${len} bytes at ${off} of ${src.length}, out at ${at} of ${out.length}`,
    );
  }
  const b = BLOCKS;
  b[0] = prefix;
  for (let i = 0; i < len; i++) b[1 + i] = src[off + i]!;
  // §5.1.1 padding: 0x80, zeros, then the message length in bits as a 64-bit big-endian number (the
  // high 48 bits are zero at these lengths).
  const n = len + 1;
  const end = n + 9 <= 64 ? 64 : 128;
  b[n] = 0x80;
  b.fill(0, n + 1, end - 2);
  b[end - 2] = (n * 8) >>> 8;
  b[end - 1] = (n * 8) & 0xff;
  H.set(IV);
  compress(0);
  if (end === 128) compress(64);
  for (let i = 0; i < 8; i++) {
    const v = H[i]!;
    out[at + 4 * i] = v >>> 24;
    out[at + 4 * i + 1] = v >>> 16;
    out[at + 4 * i + 2] = v >>> 8;
    out[at + 4 * i + 3] = v;
  }
}
