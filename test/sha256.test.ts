/**
 * log/sha256.ts (SHA-256 of a prefix byte and a short message, into the caller's array) against the
 * FIPS 180-4 examples and, for every length it takes, against node:crypto (OpenSSL) and noble: random
 * prefixes, messages, offsets, and the message and result in the same array.
 */
import { createHash } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import test from 'ava';
import fc from 'fast-check';
import { SHORT_MAX, sha256Prefixed } from '../log/sha256.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function ours(message: Uint8Array): string {
  const out = new Uint8Array(32);
  sha256Prefixed(message[0]!, message, 1, message.length - 1, out, 0);
  return hex(out);
}

test('FIPS 180-4 examples: one block ("abc") and two blocks (the 56-byte message)', (t) => {
  const text = new TextEncoder();
  t.is(ours(text.encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.is(
    ours(text.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
});

test('every length 0..SHORT_MAX, at the padding edges: the same bytes as node:crypto and noble', (t) => {
  for (let len = 0; len <= SHORT_MAX; len++) {
    const message = Uint8Array.from({ length: len + 1 }, (_, i) => (i * 131 + len * 7) & 0xff);
    const want = createHash('sha256').update(message).digest('hex');
    t.is(ours(message), want, `length ${len}`);
    t.is(hex(sha256(message)), want);
  }
});

test('random prefix, message, offsets, and the result written over the message: node:crypto agrees', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: SHORT_MAX }),
      fc.nat({ max: 40 }),
      fc.nat({ max: 40 }),
      fc.boolean(),
      (prefix, msg, off, at, inPlace) => {
        const want = createHash('sha256').update(Uint8Array.of(prefix)).update(msg).digest('hex');
        const src = new Uint8Array(off + msg.length + 3);
        src.set(msg, off);
        const out = inPlace ? src : new Uint8Array(at + 32 + 5);
        const where = inPlace ? Math.min(off, Math.max(0, src.length - 32)) : at;
        if (inPlace && src.length < 32) return;
        sha256Prefixed(prefix, src, off, msg.length, out, where);
        t.is(hex(out.subarray(where, where + 32)), want);
      },
    ),
    { numRuns: 2000 },
  );
});

test('out of bounds: a RangeError, nothing written', (t) => {
  const out = new Uint8Array(32).fill(7);
  t.throws(() => sha256Prefixed(1, new Uint8Array(200), 0, SHORT_MAX + 1, out, 0), {
    instanceOf: RangeError,
  });
  t.throws(() => sha256Prefixed(1, new Uint8Array(10), 5, 6, out, 0), { instanceOf: RangeError });
  t.throws(() => sha256Prefixed(1, new Uint8Array(10), 0, 10, out, 1), { instanceOf: RangeError });
  t.deepEqual(out, new Uint8Array(32).fill(7));
});
