/**
 * log/index-map.ts, exhaustively on small cases and on hostile input (after the shared vectors in
 * test/index-vectors.test.ts, before the fast-check properties in test/index-property.test.ts):
 * - every subset of three 8-key universes (keys that differ in their first bits, in bits far apart,
 *   and only in their last three bits, so proofs have 256 siblings): the root equals the naive
 *   reference's, every key's proof is the reference's and verifies to the truth, and a flipped bit
 *   in a proof (its key, a sibling, the leaf key or value; every bit of each, in some subsets) is
 *   refused;
 * - every log of up to 5 entries over 4 kinds: the replayer's root at every position equals the
 *   reference's, and each index leaf is judged as the reference judges it;
 * - refusals: each bad input gets its stable code, hostile sizes are refused before any decoding.
 * Keys are built from fixed bytes (SHA-256 of a label, then bits set), so every case is reproducible.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { base64Encode } from '../log/bytes.js';
import { encodeEntry } from '../log/entry.js';
import { type ErrorCode, isLogError } from '../log/errors.js';
import {
  chainOf,
  chainStep,
  classifyEntry,
  emptyChain,
  encodeIndexLeaf,
  encodeLookupProof,
  encodeMapValue,
  IndexMap,
  IndexReplayer,
  identifierMapKey,
  isIndexLeaf,
  type LookupProof,
  MAX_INDEX_LEAF_SIZE,
  parseIndexLeaf,
  parseLookupProof,
  parseMapValue,
  queryMapKey,
  signerMapKey,
  verifyLookup,
} from '../log/index-map.js';
import {
  type RefItem,
  refEntryKeys,
  refProve,
  refRoot,
  refRootAt,
  refSignerKey,
  refValue,
} from './index-reference.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const label = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());

/** A copy of key with bit d set to v (bit 0 = the most significant bit of byte 0). */
function withBit(key: Uint8Array, d: number, v: number): Uint8Array {
  const out = key.slice();
  const mask = 1 << (7 - (d % 8));
  out[d >> 3] = v ? out[d >> 3]! | mask : out[d >> 3]! & ~mask;
  return out;
}

/** The 8 keys that take every value of the three given bits of a base key. */
function universe(name: string, bits: [number, number, number]): Uint8Array[] {
  const base = label(name);
  return Array.from({ length: 8 }, (_, i) =>
    bits.reduce((k, d, j) => withBit(k, d, (i >> (2 - j)) & 1), base),
  );
}

/** A distinct value per key of a universe: the chain of indexes [i, i + 8]. */
const valueFor = (i: number): Uint8Array => refValue([BigInt(i), BigInt(i + 8)]);

/** Copies a proof and flips one bit of one of its byte strings. */
function flipped(p: LookupProof, where: 'key' | 'leafKey' | 'leafValue' | number, bit: number): LookupProof {
  const q: LookupProof = {
    key: p.key.slice(),
    siblings: p.siblings.map((s) => s.slice()),
    leaf: p.leaf && { key: p.leaf.key.slice(), value: p.leaf.value.slice() },
  };
  const target =
    where === 'key'
      ? q.key
      : where === 'leafKey'
        ? q.leaf!.key
        : where === 'leafValue'
          ? q.leaf!.value
          : q.siblings[where]!;
  target[bit >> 3]! ^= 1 << (bit & 7);
  return q;
}

function throwsCode(
  t: import('ava').ExecutionContext,
  code: ErrorCode,
  f: () => unknown,
  what: string,
): void {
  const e = t.throws(f, undefined, what);
  t.true(isLogError(e, code), `${what}: expected ${code}, got ${String(e)}`);
}

const UNIVERSES: { name: string; bits: [number, number, number]; flipEveryBit: boolean }[] = [
  { name: 'first bits', bits: [0, 1, 2], flipEveryBit: true },
  { name: 'far apart', bits: [0, 100, 255], flipEveryBit: false },
  { name: 'last bits', bits: [253, 254, 255], flipEveryBit: false },
];

/**
 * Checks that count instead of asserting: ava's assertions cost too much for hundreds of thousands of
 * cases, so only a failure reaches t.fail.
 */
function checker(t: import('ava').ExecutionContext) {
  const counts = { equal: 0, refused: 0 };
  const same = (a: unknown, b: unknown, what: string) => {
    if (a === b) counts.equal++;
    else t.fail(`${what}: ${String(a)} !== ${String(b)}`);
  };
  const refused = (f: () => unknown, code: ErrorCode, what: string) => {
    try {
      f();
    } catch (e) {
      if (isLogError(e, code)) counts.refused++;
      else t.fail(`${what}: expected ${code}, got ${String(e)}`);
      return;
    }
    t.fail(`${what}: accepted`);
  };
  return { same, refused, counts };
}

for (const u of UNIVERSES) {
  test(`every subset of 8 keys differing in bits ${u.bits.join(', ')}: roots, proofs, verdicts, flipped bits`, (t) => {
    const keys = universe(u.name, u.bits);
    const { same, refused, counts } = checker(t);
    const absent = hex(encodeMapValue({ count: 0n, chain: emptyChain() }));
    let proofs = 0;
    for (let subset = 0; subset < 256; subset++) {
      const members = keys.map((_, i) => i).filter((i) => (subset >> i) & 1);
      const items: RefItem[] = members.map((i) => ({ key: keys[i]!, value: valueFor(i) }));
      const map = new IndexMap();
      // Insert in a subset-dependent order: the root must not depend on it.
      const order = subset % 2 === 0 ? members : [...members].reverse();
      for (const i of order) map.set(keys[i]!, parseMapValue(valueFor(i)));
      const root = map.root();
      same(hex(root), hex(refRoot(items)), `subset ${subset}: root`);
      same(map.size, members.length, `subset ${subset}: size`);
      for (let i = 0; i < 8; i++) {
        const what = `subset ${subset}, key ${i}`;
        const key = keys[i]!;
        const proof = map.proveLookup(key);
        same(
          JSON.stringify(encodeLookupProof(proof)),
          JSON.stringify(encodeLookupProof(refProve(items, key))),
          `${what}: proof`,
        );
        const present = members.includes(i);
        const r = verifyLookup(key, proof, root);
        same(r.present, present, `${what}: verdict`);
        same(hex(encodeMapValue(r)), present ? hex(valueFor(i)) : absent, `${what}: value`);
        const got = map.get(key);
        same(got && hex(encodeMapValue(got)), present ? hex(valueFor(i)) : undefined, `${what}: get`);
        proofs++;
        // Flip bits. First universe: one bit of every part, and every bit of every part in 7 subsets.
        // The others (proofs of up to 256 siblings, each verification 256 hashes): in every fifth
        // subset, one bit of the key, the leaf, the first and last siblings and every non-EMPTY one.
        const parts: ('key' | 'leafKey' | 'leafValue' | number)[] = u.flipEveryBit
          ? ['key', ...proof.siblings.map((_, j) => j)]
          : subset % 5 === 0
            ? [
                'key',
                ...proof.siblings
                  .map((_, j) => j)
                  .filter(
                    (j) =>
                      j === 0 || j === proof.siblings.length - 1 || proof.siblings[j]!.some((x) => x !== 0),
                  ),
              ]
            : [];
        if (proof.leaf && parts.length > 0) parts.push('leafKey', 'leafValue');
        const everyBit = u.flipEveryBit && subset % 37 === 0;
        for (const part of parts) {
          const size = part === 'leafValue' ? 320 : 256;
          const bits = everyBit ? Array.from({ length: size }, (_, b) => b) : [(subset * 7 + i) % size];
          for (const b of bits) {
            const bad = flipped(proof, part, b);
            refused(() => verifyLookup(key, bad, root), 'LOOKUP_PROOF_INVALID', `${what}: ${part} bit ${b}`);
          }
        }
      }
    }
    t.log(`${proofs} proofs, ${counts.equal} equalities, ${counts.refused} flipped bits refused`);
    t.true(counts.refused > 0);
  });
}

test('keys set one at a time, then updated: the root after every step equals the reference', (t) => {
  const map = new IndexMap();
  const state = new Map<string, RefItem>();
  for (let step = 0; step < 150; step++) {
    // Keys 0..99, with every third step revisiting an earlier key (an update, not an insert).
    const n = step % 3 === 2 ? (step * 37) % Math.max(1, state.size) : state.size;
    const key = label(`incremental ${n}`);
    const value = refValue([BigInt(step)]);
    map.set(key, parseMapValue(value));
    state.set(hex(key), { key, value });
    t.is(hex(map.root()), hex(refRoot([...state.values()])), `step ${step}`);
    t.is(map.size, state.size);
  }
});

/** The four entries of the exhaustive logs: three attestations and an index leaf (made at its position). */
const SIGNER_1 = '9C75CB915794A44DD7697E21571D8816D9886717';
const SIGNER_2 = '110F6BBB5376C66091288CCB36C5307DBBA1ACA3';
const attestationEntry = (id: string, key: string): Uint8Array =>
  encodeEntry({
    attestation: { data: { id, ok: true }, key, sig: 'AAAA' },
    loggedAt: '2026-01-01T00:00:00.000Z',
  });
const KINDS = [
  attestationEntry('sha256:a', SIGNER_1),
  attestationEntry('sha256:b', SIGNER_1),
  attestationEntry('sha256:a', SIGNER_2),
  'index',
] as const;

test('every log of up to 5 entries over 4 kinds: roots at every position, index leaves judged', (t) => {
  const { same, counts } = checker(t);
  let logs = 0;
  for (let len = 0; len <= 5; len++) {
    for (let code = 0; code < 4 ** len; code++) {
      const entries: Uint8Array[] = [];
      const replayer = new IndexReplayer();
      for (let i = 0; i < len; i++) {
        const what = `log ${code} of length ${len}, position ${i}`;
        const kind = KINDS[Math.floor(code / 4 ** i) % 4]!;
        const truth = refRootAt(entries, i);
        same(hex(replayer.root()), hex(truth), `${what}: root`);
        // Index leaves at even positions hold the true root; at odd ones the root of one entry fewer.
        const entry =
          kind === 'index'
            ? encodeIndexLeaf({
                root: i % 2 === 0 ? truth : refRootAt(entries, Math.max(0, i - 1)),
                size: BigInt(i),
              })
            : kind;
        entries.push(entry);
        const step = replayer.append(entry);
        same(step.index, BigInt(i), `${what}: index`);
        if (step.kind === 'index') {
          same(step.sizeMatches, true, `${what}: size`);
          same(step.rootMatches, hex(step.leaf.root) === hex(truth), `${what}: judged`);
          same(hex(step.root), hex(truth), `${what}: recomputed root`);
        } else {
          same(
            [hex(step.keys.identifier), hex(step.keys.signer)].join(),
            refEntryKeys(entry).map(hex).join(),
            `${what}: keys`,
          );
        }
      }
      same(replayer.size, BigInt(len), `log ${code} of length ${len}: size`);
      same(hex(replayer.root()), hex(refRootAt(entries, len)), `log ${code} of length ${len}: final root`);
      logs++;
    }
  }
  t.log(`${logs} logs, ${counts.equal} equalities`);
  t.is(logs, 1365);
});

test('an index leaf that names another position is judged, not thrown', (t) => {
  const r = new IndexReplayer();
  r.append(KINDS[0]);
  const step = r.append(encodeIndexLeaf({ root: r.root(), size: 2n }));
  t.is(step.kind, 'index');
  if (step.kind !== 'index') return;
  t.false(step.sizeMatches);
  t.true(step.rootMatches);
});

test('refusals: map keys', (t) => {
  t.is(hex(identifierMapKey('')), hex(queryMapKey('id', '')));
  t.is(hex(signerMapKey(SIGNER_1.toLowerCase())), hex(refSignerKey(SIGNER_1)));
  throwsCode(t, 'ATTESTATION_INVALID', () => identifierMapKey('lone \uD800 surrogate'), 'lone surrogate');
  throwsCode(t, 'ATTESTATION_INVALID', () => identifierMapKey(5 as unknown as string), 'not a string');
  for (const fpr of [
    '',
    SIGNER_1.slice(1),
    `${SIGNER_1}0`,
    `0x${SIGNER_1.slice(2)}`,
    ` ${SIGNER_1.slice(1)}`,
    'G'.repeat(40),
  ]) {
    throwsCode(t, 'ATTESTATION_INVALID', () => signerMapKey(fpr), JSON.stringify(fpr));
  }
  throwsCode(t, 'ATTESTATION_INVALID', () => queryMapKey('fingerprint' as 'key', SIGNER_1), 'by');
});

test('refusals: chains and values', (t) => {
  t.is(hex(chainOf([])), hex(emptyChain()));
  t.is(hex(chainOf([0n, (1n << 64n) - 1n])), hex(chainStep(chainStep(emptyChain(), 0n), (1n << 64n) - 1n)));
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => chainOf([1n, 1n]), 'repeated index');
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => chainOf([2n, 1n]), 'decreasing');
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => chainOf([-1n]), 'negative');
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => chainOf([1n << 64n]), 'over 2^64-1');
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => chainOf([1 as unknown as bigint]), 'a number');
  throwsCode(t, 'HASH_INVALID', () => chainStep(new Uint8Array(31), 0n), 'short chain');
  throwsCode(t, 'HASH_INVALID', () => parseMapValue(new Uint8Array(39)), '39-byte value');
  throwsCode(t, 'HASH_INVALID', () => parseMapValue(new Uint8Array(41)), '41-byte value');
  throwsCode(
    t,
    'INDEX_OUT_OF_RANGE',
    () => encodeMapValue({ count: 1n << 64n, chain: emptyChain() }),
    'count',
  );
  const v = parseMapValue(encodeMapValue({ count: (1n << 64n) - 1n, chain: label('c') }));
  t.is(v.count, (1n << 64n) - 1n);
});

test('refusals: the map refuses bad keys and values and is unchanged', (t) => {
  const map = new IndexMap();
  map.set(label('a'), { count: 1n, chain: label('c') });
  const root = hex(map.root());
  throwsCode(
    t,
    'INDEX_OUT_OF_RANGE',
    () => map.set(label('b'), { count: 0n, chain: emptyChain() }),
    'count 0',
  );
  throwsCode(
    t,
    'INDEX_OUT_OF_RANGE',
    () => map.set(label('a'), { count: -1n, chain: label('c') }),
    'negative',
  );
  throwsCode(t, 'HASH_INVALID', () => map.set(label('b'), { count: 1n, chain: new Uint8Array(33) }), 'chain');
  throwsCode(t, 'HASH_INVALID', () => map.set(new Uint8Array(31), { count: 1n, chain: label('c') }), 'key');
  throwsCode(t, 'HASH_INVALID', () => map.get(new Uint8Array(33)), 'get');
  throwsCode(t, 'HASH_INVALID', () => map.proveLookup(new Uint8Array(0)), 'prove');
  t.is(hex(map.root()), root);
  t.is(map.size, 1);
});

test('refusals: lookup proofs on the wire, hostile sizes refused before decoding', (t) => {
  const map = new IndexMap();
  for (const s of ['a', 'b', 'c']) map.set(label(s), { count: 1n, chain: label(s) });
  const good = encodeLookupProof(map.proveLookup(label('a')));
  t.deepEqual(encodeLookupProof(parseLookupProof(good)), good);
  const k = base64Encode(label('a'));
  const zero = base64Encode(new Uint8Array(32));
  const v0 = base64Encode(new Uint8Array(40));
  const cases: [string, unknown][] = [
    ['null', null],
    ['an array', [good]],
    ['a string', JSON.stringify(good)],
    ['an extra member', { ...good, root: zero }],
    ['no leaf member', { key: good.key, siblings: good.siblings }],
    ['no siblings member', { key: good.key, leaf: good.leaf }],
    ['siblings an object', { ...good, siblings: { 0: zero, length: 1 } }],
    ['a sibling a number', { ...good, siblings: [1] }],
    ['a sibling of 33 bytes', { ...good, siblings: [base64Encode(new Uint8Array(33))] }],
    ['a hole in siblings', { ...good, siblings: new Array(3) }],
    ['key of 31 bytes', { ...good, key: base64Encode(new Uint8Array(31)) }],
    ['key in hex', { ...good, key: '00'.repeat(32) }],
    ['key with whitespace', { ...good, key: ` ${k.slice(1)}` }],
    ['a million siblings', { ...good, siblings: new Array(1_000_000).fill(zero) }],
    ['a huge key string', { ...good, key: 'A'.repeat(10_000_000) }],
    ['leaf an array', { ...good, leaf: [k, v0] }],
    ['leaf with an extra member', { ...good, leaf: { key: k, value: v0, count: 1 } }],
    ['leaf without value', { ...good, leaf: { key: k } }],
    ['leaf value with count 0', { ...good, leaf: { key: k, value: v0 } }],
    ['leaf an instance of a class', { ...good, leaf: new (class {})() }],
  ];
  for (const [what, json] of cases) throwsCode(t, 'LOOKUP_PROOF_INVALID', () => parseLookupProof(json), what);
});

test('refusals: verifyLookup checks its arguments and the proof it is given as bytes', (t) => {
  const map = new IndexMap();
  for (const s of ['a', 'b', 'c']) map.set(label(s), { count: 1n, chain: label(s) });
  const root = map.root();
  const key = label('a');
  const proof = map.proveLookup(key);
  t.true(verifyLookup(key, proof, root).present);
  throwsCode(t, 'HASH_INVALID', () => verifyLookup(new Uint8Array(31), proof, root), 'key');
  throwsCode(t, 'HASH_INVALID', () => verifyLookup(key, proof, new Uint8Array(33)), 'root');
  throwsCode(t, 'HASH_INVALID', () => verifyLookup(key, proof, 'root' as unknown as Uint8Array), 'root type');
  const bad: [string, unknown][] = [
    ['null', null],
    ['siblings not an array', { ...proof, siblings: 'x' }],
    ['257 siblings', { ...proof, siblings: new Array(257).fill(new Uint8Array(32)) }],
    ['a sibling of 31 bytes', { ...proof, siblings: [new Uint8Array(31)] }],
    ['a sibling as base64', { ...proof, siblings: [base64Encode(new Uint8Array(32))] }],
    ['leaf key of 33 bytes', { ...proof, leaf: { key: new Uint8Array(33), value: proof.leaf!.value } }],
    ['leaf value of 39 bytes', { ...proof, leaf: { key: proof.leaf!.key, value: new Uint8Array(39) } }],
    ['leaf value with count 0', { ...proof, leaf: { key: proof.leaf!.key, value: new Uint8Array(40) } }],
    ['leaf a string', { ...proof, leaf: 'leaf' }],
    ['no key', { ...proof, key: undefined }],
    ['another key', { ...proof, key: label('b') }],
  ];
  for (const [what, p] of bad) {
    throwsCode(t, 'LOOKUP_PROOF_INVALID', () => verifyLookup(key, p as LookupProof, root), what);
  }
  throwsCode(t, 'LOOKUP_PROOF_INVALID', () => encodeLookupProof(bad[2]![1] as LookupProof), 'encode 257');
});

test('refusals: index leaves', (t) => {
  const root = label('root');
  const max = encodeIndexLeaf({ root, size: MAX_INDEX_LEAF_SIZE });
  t.is(parseIndexLeaf(max).size, MAX_INDEX_LEAF_SIZE);
  t.is(max.length, 101, 'the longest index leaf');
  throwsCode(
    t,
    'INDEX_OUT_OF_RANGE',
    () => encodeIndexLeaf({ root, size: MAX_INDEX_LEAF_SIZE + 1n }),
    '2^53',
  );
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => encodeIndexLeaf({ root, size: -1n }), 'negative');
  throwsCode(
    t,
    'INDEX_OUT_OF_RANGE',
    () => encodeIndexLeaf({ root, size: 5 as unknown as bigint }),
    'number',
  );
  throwsCode(t, 'HASH_INVALID', () => encodeIndexLeaf({ root: new Uint8Array(31), size: 5n }), 'root');
  const text = (s: string) => new TextEncoder().encode(s);
  const r64 = base64Encode(root);
  const bad = [
    `{"index":{"root":"${r64}","size":9007199254740992,"version":1}}`,
    `{"index":{"root":"${r64}","size":10000000000000000,"version":1}}`,
    `{"index":{"root":"${r64}","size":1e3,"version":1}}`,
    `{"index":{"root":"${r64}","size":-0,"version":1}}`,
    `{"index":{"root":"${r64}","size":0,"version":1.0}}`,
    `{"index":{"root":"${r64}","size":0,"version":1}} `,
    `{"index":{"root":null,"size":0,"version":1}}`,
    `{"index":null}`,
    `{"index":{"root":"${r64}","size":0,"version":1}`,
    '',
  ];
  for (const s of bad) {
    throwsCode(t, 'ENTRY_INVALID', () => parseIndexLeaf(text(s)), s);
    t.false(isIndexLeaf(text(s)));
  }
  throwsCode(t, 'ENTRY_INVALID', () => parseIndexLeaf(new Uint8Array(10_000_000)), 'ten megabytes');
  throwsCode(t, 'ENTRY_INVALID', () => parseIndexLeaf(new Uint8Array([0xff, 0xfe])), 'not UTF-8');
  throwsCode(t, 'ENTRY_INVALID', () => parseIndexLeaf('{}' as unknown as Uint8Array), 'a string');
  t.false(isIndexLeaf(null as unknown as Uint8Array));
});

test("entry kinds: attestation entries (ours and other servers' fields), index leaves, the rest refused", (t) => {
  const ours = attestationEntry('sha256:a', SIGNER_1);
  const k = classifyEntry(ours);
  t.is(k.kind, 'attestation');
  if (k.kind === 'attestation') {
    t.is(hex(k.keys.identifier), hex(identifierMapKey('sha256:a')));
    t.is(hex(k.keys.signer), hex(signerMapKey(SIGNER_1)));
    t.is(k.attestation.data.id, 'sha256:a');
  }
  const text = (s: string) => new TextEncoder().encode(s);
  const att = `{"data":{"id":"x","ok":true},"key":"${SIGNER_1}","sig":"AAAA"}`;
  // Server fields are not read: another server's fields, or none, still make an attestation entry.
  for (const s of [
    `{"attestation":${att}}`,
    `{"attestation":${att},"loggedAt":"2025-01-01T00:00:00Z","z":[1,2]}`,
  ]) {
    t.is(classifyEntry(text(s)).kind, 'attestation', s);
  }
  t.is(classifyEntry(encodeIndexLeaf({ root: label('r'), size: 3n })).kind, 'index');
  const refused: [string, string | Uint8Array, ErrorCode][] = [
    ['a reserved kind', '{"other":{}}', 'ENTRY_INVALID'],
    ['an empty object', '{}', 'ENTRY_INVALID'],
    [
      'both kinds',
      `{"attestation":${att},"index":{"root":"${base64Encode(label('r'))}","size":0,"version":1}}`,
      'ENTRY_INVALID',
    ],
    ['an array', `[${att}]`, 'ENTRY_INVALID'],
    ['not JSON', '{"attestation":', 'ENTRY_INVALID'],
    ['whitespace', `{"attestation": ${att}}`, 'ENTRY_INVALID'],
    ['members not sorted', `{"z":1,"attestation":${att}}`, 'ENTRY_INVALID'],
    ['a duplicated member', `{"attestation":${att},"attestation":${att}}`, 'ENTRY_INVALID'],
    ['an escaped character', `{"attestation":${att.replace('"x"', '"\\u0078"')}}`, 'ENTRY_INVALID'],
    ['a lower-case key', `{"attestation":${att.replace(SIGNER_1, SIGNER_1.toLowerCase())}}`, 'ENTRY_INVALID'],
    ['an empty id', `{"attestation":${att.replace('"x"', '""')}}`, 'ENTRY_INVALID'],
    ['a byte order mark', `\uFEFF{"attestation":${att}}`, 'ENTRY_INVALID'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'ENTRY_INVALID'],
    ['deep nesting', `{"attestation":${att},"z":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'ENTRY_INVALID'],
    ['over 65,535 bytes', new Uint8Array(65536), 'ENTRY_TOO_LARGE'],
  ];
  for (const [what, s, code] of refused) {
    const bytes = typeof s === 'string' ? text(s) : s;
    throwsCode(t, code, () => classifyEntry(bytes), what);
  }
  const e = t.throws(() =>
    classifyEntry(text(`{"attestation":${att.replace(SIGNER_1, SIGNER_1.toLowerCase())}}`)),
  );
  t.like((e as unknown as { details: unknown }).details, {
    field: 'attestation.key',
    cause: 'ATTESTATION_INVALID',
  });
});

test('the replayer refuses an entry of no valid kind and stays where it was', (t) => {
  const r = new IndexReplayer();
  r.append(KINDS[0]);
  const root = hex(r.root());
  throwsCode(t, 'ENTRY_INVALID', () => r.append(new TextEncoder().encode('{"other":1}')), 'reserved');
  throwsCode(t, 'ENTRY_INVALID', () => r.append(new TextEncoder().encode('{"index":{}}')), 'bad index leaf');
  t.is(r.size, 1n);
  t.is(hex(r.root()), root);
  throwsCode(t, 'INDEX_OUT_OF_RANGE', () => new IndexReplayer(new IndexMap(), -1n), 'negative start');
  // Starting from a map built elsewhere at its position continues the same replay.
  const from = new IndexReplayer(r.map, r.size);
  from.append(KINDS[2]);
  t.is(hex(from.root()), hex(refRootAt([KINDS[0], KINDS[2]], 2)));
});
