/**
 * log/bytes.ts against another implementation (Node's Buffer) on random bytes (fast-check), and the
 * spellings the strict decoders must refuse. The base64 cases are RFC 4648 §10 test vectors and their
 * non-canonical variants (non-zero pad bits, missing padding, whitespace, URL-safe alphabet).
 */
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import {
  base64DecodeStrict,
  base64Encode,
  bytesEqual,
  concatBytes,
  hexDecode,
  hexEncode,
} from '../log/bytes.js';

const ascii = (s: string) => new TextEncoder().encode(s);

test('base64: RFC 4648 §10 vectors both ways', (t) => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, b64] of vectors) {
    t.is(base64Encode(ascii(plain)), b64);
    t.deepEqual(base64DecodeStrict(b64), ascii(plain));
  }
});

test('base64DecodeStrict refuses every other spelling', (t) => {
  for (const s of [
    'Zh==',
    'Zm9=',
    'Zg',
    'Zg=',
    'Zm8',
    ' Zm9v',
    'Zm9v\n',
    'Zm9v=',
    'Z===',
    '-_-_',
    'Zm 9v',
    'Zm9v====',
  ]) {
    t.is(base64DecodeStrict(s), undefined, s);
  }
});

test('base64 property: matches Buffer, and decode(encode(x)) = x', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const s = base64Encode(b);
      assert.equal(s, Buffer.from(b).toString('base64'));
      assert.deepEqual(base64DecodeStrict(s), b);
    }),
  );
  // Longer than one 0x8000-byte chunk of base64Encode.
  const big = Uint8Array.from({ length: 0x8000 * 2 + 7 }, (_, i) => (i * 31) & 255);
  t.is(base64Encode(big), Buffer.from(big).toString('base64'));
  t.deepEqual(base64DecodeStrict(base64Encode(big)), big);
});

test('hex: matches Buffer; hexDecode takes either case and refuses anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      const s = hexEncode(b);
      assert.equal(s, Buffer.from(b).toString('hex'));
      assert.deepEqual(hexDecode(s), b);
      assert.deepEqual(hexDecode(s.toUpperCase()), b);
    }),
  );
  t.deepEqual(hexDecode(''), new Uint8Array(0));
  for (const s of ['0', 'abc', '0x00', 'zz', ' 00', '00 ', '0g', '+1', '-1'])
    t.is(hexDecode(s), undefined, s);
});

test('bytesEqual and concatBytes', (t) => {
  t.true(bytesEqual(new Uint8Array(0), new Uint8Array(0)));
  t.true(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
  t.false(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  t.false(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)));
  t.deepEqual(concatBytes(), new Uint8Array(0));
  t.deepEqual(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3));
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 5 }), (parts) => {
      const c = concatBytes(...parts);
      assert.deepEqual(c, new Uint8Array(Buffer.concat(parts)));
      assert.ok(bytesEqual(c, new Uint8Array(Buffer.concat(parts))));
      if (parts.length > 0) assert.notEqual(c, parts[0]); // always a new array
    }),
  );
});
