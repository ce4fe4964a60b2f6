/**
 * log/entry.ts: RFC 8785 canonical JSON and the log's entry bytes.
 *
 * Vectors: RFC 8785 Appendix B (IEEE 754 bit patterns and their ECMAScript serialisations), §3.2.3
 * (member sorting by UTF-16 code units) and §3.2.4 (the whole-transformation example), copied from the
 * RFC text. Property tests use JSON.stringify/JSON.parse as the independent reference for values.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { canonicalJson } from '../log/canonical-json.js';
import { attestationDigest, type Entry, encodeEntry, MAX_ENTRY_BYTES, parseEntry } from '../log/entry.js';
import { type ErrorCode, LogError } from '../log/errors.js';
import type { Attestation } from '../log/signet.js';
import { fromHex } from './helpers/bytes.js';

function f64(hex: string): number {
  return new DataView(fromHex(hex).buffer).getFloat64(0, false);
}

function codeOf(fn: () => unknown): ErrorCode | string {
  try {
    fn();
  } catch (e) {
    return e instanceof LogError ? e.code : `not a LogError: ${String(e)}`;
  }
  return 'no error';
}

const utf8 = (s: string) => new TextEncoder().encode(s);

// RFC 8785 Appendix B: IEEE 754 double (big-endian hex) -> JSON number text.
const APPENDIX_B: [string, string][] = [
  ['0000000000000000', '0'],
  ['8000000000000000', '0'], // -0
  ['0000000000000001', '5e-324'],
  ['8000000000000001', '-5e-324'],
  ['7fefffffffffffff', '1.7976931348623157e+308'],
  ['ffefffffffffffff', '-1.7976931348623157e+308'],
  ['4340000000000000', '9007199254740992'],
  ['c340000000000000', '-9007199254740992'],
  ['4430000000000000', '295147905179352830000'],
  ['44b52d02c7e14af5', '9.999999999999997e+22'],
  ['44b52d02c7e14af6', '1e+23'],
  ['44b52d02c7e14af7', '1.0000000000000001e+23'],
  ['444b1ae4d6e2ef4e', '999999999999999700000'],
  ['444b1ae4d6e2ef4f', '999999999999999900000'],
  ['444b1ae4d6e2ef50', '1e+21'],
  ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
  ['3eb0c6f7a0b5ed8d', '0.000001'],
  ['41b3de4355555553', '333333333.3333332'],
  ['41b3de4355555554', '333333333.33333325'],
  ['41b3de4355555555', '333333333.3333333'],
  ['41b3de4355555556', '333333333.3333334'],
  ['41b3de4355555557', '333333333.33333343'],
  ['becbf647612f3696', '-0.0000033333333333333333'],
  ['43143ff3c1cb0959', '1424953923781206.2'],
];

test(`canonicalJson: RFC 8785 Appendix B numbers (${APPENDIX_B.length} cases)`, (t) => {
  for (const [hex, want] of APPENDIX_B) t.is(canonicalJson(f64(hex)), want, hex);
  // Further ES Number::toString forms the task names (RFC 8785 §3.2.2.3).
  t.is(canonicalJson([1e21, 0.1, -0, 1e-7, 1e20, 100]), '[1e+21,0.1,0,1e-7,100000000000000000000,100]');
});

test('canonicalJson: NaN and the infinities (Appendix B 7fffffffffffffff, 7ff0000000000000) are refused', (t) => {
  for (const x of [f64('7fffffffffffffff'), f64('7ff0000000000000'), f64('fff0000000000000')]) {
    t.is(
      codeOf(() => canonicalJson({ a: [x] })),
      'ENTRY_INVALID',
      String(x),
    );
  }
});

test('canonicalJson: RFC 8785 §3.2.3 sorting by UTF-16 code units, non-ASCII keys', (t) => {
  const input = JSON.parse(
    '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",' +
      '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
  );
  t.is(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\u{1F600}":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('canonicalJson: RFC 8785 §3.2.4 example', (t) => {
  const input = JSON.parse(String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`);
  t.is(
    canonicalJson(input),
    String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
  );
});

test('canonicalJson: nested containers, empty containers and control characters', (t) => {
  t.is(canonicalJson({ b: [{}, [], { z: 1, a: -0 }], a: '' }), '{"a":"","b":[{},[],{"a":0,"z":1}]}');
  t.is(canonicalJson('\u0001\b\f\t\u001f\u007f'), '"\\u0001\\b\\f\\t\\u001f\u007f"');
});

test('canonicalJson refuses what is not JSON data (lone surrogates, undefined, bigint, class instances, holes)', (t) => {
  const bad: unknown[] = [
    'a\ud800b',
    { '\udc00': 1 },
    { a: undefined },
    [undefined],
    10n,
    () => 1,
    Symbol('s'),
    new Date(0),
    new Map(),
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is being refused
    [1, , 2],
  ];
  for (const v of bad)
    t.is(
      codeOf(() => canonicalJson(v)),
      'ENTRY_INVALID',
      String(typeof v),
    );
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  t.is(
    codeOf(() => canonicalJson(deep)),
    'ENTRY_INVALID',
  );
  // A paired surrogate is a character, not a lone surrogate.
  t.is(canonicalJson('\ud83d\ude00'), '"\u{1F600}"');
  // A member named __proto__ is a member like any other.
  t.is(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}')), '{"__proto__":{"x":1},"a":2}');
});

const json = fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 });

test('canonicalJson property: JSON.parse(canonicalJson(x)) equals x as JSON.stringify sees it', (t) => {
  fc.assert(
    fc.property(json, (x) => {
      assert.deepEqual(JSON.parse(canonicalJson(x)), JSON.parse(JSON.stringify(x)));
    }),
    { numRuns: 300 },
  );
  t.pass('300 random JSON values (fast-check; assert throws on the first counterexample)');
});

test('canonicalJson property: idempotent, and independent of member order', (t) => {
  const reverseKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(reverseKeys);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .reverse()
          .map((k) => [k, reverseKeys((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  fc.assert(
    fc.property(json, (x) => {
      const c = canonicalJson(x);
      assert.equal(canonicalJson(JSON.parse(c)), c);
      assert.equal(canonicalJson(reverseKeys(x)), c);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random JSON values');
});

// A shape-valid attestation: parseEntry checks shape and encoding, never the signature, so sig can be
// any canonical base64. (Real signed attestations are exercised in test/signet.test.ts.)
const att: Attestation = {
  data: {
    id: 'sha256:4dca0fd5f424a31b03ab807cbae77eb32bf2d089eed1cee154b3afed458de0dc',
    ok: true,
    comment: 'café 😀',
  },
  key: '9C75CB915794A44DD7697E21571D8816D9886717',
  sig: 'iQEzBAABCAAd',
};
const entry: Entry = { attestation: att, loggedAt: '2026-11-25T12:00:00.000Z' };

test('encodeEntry writes the canonical JSON by hand; parseEntry reads it back', (t) => {
  const bytes = encodeEntry(entry);
  const want =
    '{"attestation":{"data":{"comment":"café 😀","id":"sha256:4dca0fd5f424a31b03ab807cbae77eb32bf2d089eed1cee154b3afed458de0dc","ok":true},' +
    '"key":"9C75CB915794A44DD7697E21571D8816D9886717","sig":"iQEzBAABCAAd"},"loggedAt":"2026-11-25T12:00:00.000Z"}';
  t.deepEqual(bytes, utf8(want));
  t.deepEqual(parseEntry(bytes), entry);
});

test('encodeEntry/parseEntry property: round trip over random data fields', (t) => {
  const extra = fc.dictionary(
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }),
    { maxKeys: 5, noNullPrototype: true },
  );
  fc.assert(
    fc.property(
      extra,
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.boolean(),
      fc.date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59Z'),
        noInvalidDate: true,
      }),
      (fields, id, ok, when) => {
        const e: Entry = {
          attestation: { ...att, data: { ...fields, id, ok } },
          loggedAt: when.toISOString(),
        };
        const bytes = encodeEntry(e);
        const back = parseEntry(bytes);
        assert.deepEqual(encodeEntry(back), bytes);
        assert.equal(back.attestation.data.id, id);
        assert.equal(back.attestation.data.ok, ok);
        assert.equal(back.loggedAt, e.loggedAt);
        assert.equal(
          canonicalJson(back.attestation.data),
          canonicalJson(JSON.parse(JSON.stringify({ ...fields, id, ok }))),
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass('200 random entries');
});

test('parseEntry rejects non-canonical encodings of a valid entry (8 mutations)', (t) => {
  const canonical = new TextDecoder().decode(encodeEntry(entry));
  const obj = JSON.parse(canonical);
  const mutations: [string, string][] = [
    ['pretty printed', JSON.stringify(obj, null, 1)],
    ['space after colon', canonical.replace('"loggedAt":', '"loggedAt": ')],
    ['trailing newline', `${canonical}\n`],
    ['members reordered', JSON.stringify({ loggedAt: obj.loggedAt, attestation: obj.attestation })],
    ['non-ASCII escaped', canonical.replace('é', '\\u00e9')],
    ['solidus escaped', canonical.replace('sha256:', 'sha256:\\/')],
    ['duplicate member', canonical.replace('"ok":true', '"ok":false,"ok":true')],
    ['number written 1.0', canonical.replace('"ok":true', '"ok":true,"n":1.0')],
  ];
  for (const [name, text] of mutations) {
    t.not(text, canonical, name);
    t.is(
      codeOf(() => parseEntry(utf8(text))),
      'ENTRY_INVALID',
      name,
    );
  }
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(canonical)]);
  t.is(
    codeOf(() => parseEntry(withBom)),
    'ENTRY_INVALID',
    'byte-order mark',
  );
});

test('parseEntry rejects invalid UTF-8 (4 byte sequences)', (t) => {
  const canonical = encodeEntry(entry);
  const at = new TextDecoder().decode(canonical).indexOf('café') + 3; // byte offset of é (ASCII before it)
  const bad: [string, number[]][] = [
    ['0xff', [0xff]],
    ['overlong /', [0xc0, 0xaf]],
    ['encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['truncated é', [0xc3]],
  ];
  for (const [name, seq] of bad) {
    const b = new Uint8Array([...canonical.slice(0, at), ...seq, ...canonical.slice(at + 2)]);
    t.is(
      codeOf(() => parseEntry(b)),
      'ENTRY_INVALID',
      name,
    );
  }
});

test('parseEntry rejects extra or missing members, bad loggedAt, bad attestations, non-JSON', (t) => {
  const enc = (v: unknown) => utf8(canonicalJson(v));
  const cases: [string, unknown, string][] = [
    ['extra member', { ...entry, index: 5 }, 'index'],
    ['no loggedAt', { attestation: att }, 'loggedAt'],
    ['no attestation', { loggedAt: entry.loggedAt }, 'attestation'],
    ['loggedAt without ms', { ...entry, loggedAt: '2026-11-25T12:00:00Z' }, 'loggedAt'],
    ['loggedAt with offset', { ...entry, loggedAt: '2026-11-25T12:00:00.000+00:00' }, 'loggedAt'],
    ['loggedAt not a date', { ...entry, loggedAt: '2026-02-30T12:00:00.000Z' }, 'loggedAt'],
    ['loggedAt a number', { ...entry, loggedAt: 1764072000000 }, 'loggedAt'],
    [
      'attestation key lower case',
      { ...entry, attestation: { ...att, key: att.key.toLowerCase() } },
      'attestation.key',
    ],
    ['attestation extra member', { ...entry, attestation: { ...att, note: 'x' } }, 'attestation.note'],
    [
      'attestation ok missing',
      { ...entry, attestation: { ...att, data: { id: 'x' } } },
      'attestation.data.ok',
    ],
    ['an array', [entry], '$'],
  ];
  for (const [name, v, field] of cases) {
    const err = t.throws(() => parseEntry(enc(v)), { instanceOf: LogError }, name);
    t.is(err?.code, 'ENTRY_INVALID', name);
    t.is(err?.details.field, field, name);
  }
  t.is(
    codeOf(() => parseEntry(utf8('{"attestation":'))),
    'ENTRY_INVALID',
  );
  t.is(
    codeOf(() => parseEntry(new Uint8Array(0))),
    'ENTRY_INVALID',
  );
  t.is(
    codeOf(() => parseEntry('{}' as unknown as Uint8Array)),
    'ENTRY_INVALID',
  );
  // The attestation error's own code travels in details.cause.
  const e = t.throws(() => parseEntry(enc({ ...entry, attestation: { ...att, sig: 'iQ=' } })));
  t.is((e as LogError).details.cause, 'SIGNATURE_MALFORMED');
});

test('parseEntry refuses more than MAX_ENTRY_BYTES before decoding; encodeEntry re-checks its input', (t) => {
  t.is(MAX_ENTRY_BYTES, 65535);
  const big = new Uint8Array(MAX_ENTRY_BYTES + 1).fill(0x20);
  t.is(
    codeOf(() => parseEntry(big)),
    'ENTRY_TOO_LARGE',
  );
  t.is(
    codeOf(() => parseEntry(new Uint8Array(MAX_ENTRY_BYTES).fill(0x20))),
    'ENTRY_INVALID',
  );
  t.is(
    codeOf(() => encodeEntry({ ...entry, loggedAt: 'yesterday' })),
    'ENTRY_INVALID',
  );
  t.is(
    codeOf(() => encodeEntry({ ...entry, attestation: { ...att, key: 'nope' } })),
    'ATTESTATION_INVALID',
  );
  t.is(
    codeOf(() =>
      encodeEntry({ ...entry, attestation: { ...att, data: { ...att.data, pad: 'x'.repeat(20000) } } }),
    ),
    'ATTESTATION_TOO_LARGE',
  );
});

test('attestationDigest is SHA-256 of the canonical attestation: member order and loggedAt do not matter', (t) => {
  const d = attestationDigest(att);
  const reference = createHash('sha256')
    .update(canonicalJson({ data: att.data, key: att.key, sig: att.sig }))
    .digest();
  t.deepEqual(d, new Uint8Array(reference));
  const reordered: Attestation = {
    sig: att.sig,
    key: att.key,
    data: { comment: att.data.comment, ok: true, id: att.data.id },
  };
  t.deepEqual(attestationDigest(reordered), d);
  const e1 = parseEntry(encodeEntry({ attestation: att, loggedAt: '2026-11-25T12:00:00.000Z' }));
  const e2 = parseEntry(encodeEntry({ attestation: reordered, loggedAt: '2027-01-01T00:00:00.000Z' }));
  t.deepEqual(attestationDigest(e1.attestation), attestationDigest(e2.attestation));
  t.notDeepEqual(attestationDigest({ ...att, sig: 'iQEzBAABCAAe' }), d);
  t.notDeepEqual(attestationDigest({ ...att, data: { ...att.data, ok: false } }), d);
});
