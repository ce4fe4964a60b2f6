/**
 * Property tests (fast-check) of log/index-map.ts against the naive reference in
 * test/index-reference.ts (SPEC.md "The index", recomputed from scratch, hashed with node:crypto):
 * - random key sets, with clusters of keys that share long prefixes: the root is the reference's;
 *   every key's proof (present, and absent ones ending at a leaf or at an empty subtree) is the
 *   reference's and verifies to the truth; a flipped bit anywhere in it, a wrong value, or another
 *   key is refused, and a proof checked for another key never yields anything but that key's truth;
 * - random sequences of sets (inserts and updates): the root after each equals the reference;
 * - random logs (attestation entries over small pools of ids and signers, index leaves, honest or
 *   not, at random places): the replayer's root at every position equals the reference's, each index
 *   leaf is judged as the reference judges it, and the final map proves every key's count and chain.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { encodeEntry } from '../log/entry.js';
import { isLogError } from '../log/errors.js';
import {
  chainOf,
  encodeIndexLeaf,
  encodeLookupProof,
  encodeMapValue,
  IndexMap,
  IndexReplayer,
  identifierMapKey,
  type LookupProof,
  parseMapValue,
  signerMapKey,
  verifyLookup,
} from '../log/index-map.js';
import {
  type RefItem,
  refChain,
  refEntryKeys,
  refIdentifierKey,
  refProve,
  refRoot,
  refRootAt,
  refSignerKey,
} from './index-reference.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A 32-byte key. */
const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

/**
 * Key sets with clusters: random keys, plus copies of some of them with one bit flipped at a random
 * depth (so pairs share long prefixes, up to all 255 bits). Distinct by construction.
 */
const keySetArb = fc
  .tuple(
    fc.array(keyArb, { minLength: 0, maxLength: 24 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  )
  .map(([base, flips]) => {
    const all = [...base];
    for (const [pick, bit] of flips) {
      if (all.length === 0) break;
      const k = all[pick % all.length]!.slice();
      k[bit >> 3]! ^= 0x80 >> (bit & 7);
      all.push(k);
    }
    const seen = new Map<string, Uint8Array>();
    for (const k of all) seen.set(hex(k), k);
    return [...seen.values()];
  });

/** A value for the i-th key: count 1..3 over increasing indexes derived from i. */
function valueFor(i: number): Uint8Array {
  const count = (i % 3) + 1;
  const indexes = Array.from({ length: count }, (_, j) => BigInt(i * 10 + j));
  return encodeMapValue({ count: BigInt(count), chain: chainOf(indexes) });
}

function copyProof(p: LookupProof): LookupProof {
  return {
    key: p.key.slice(),
    siblings: p.siblings.map((s) => s.slice()),
    leaf: p.leaf && { key: p.leaf.key.slice(), value: p.leaf.value.slice() },
  };
}

/** Returns true when f throws LOOKUP_PROOF_INVALID; fails the test on any other outcome. */
function refused(t: ExecutionContext, f: () => unknown, what: string): boolean {
  try {
    f();
  } catch (e) {
    if (isLogError(e, 'LOOKUP_PROOF_INVALID')) return true;
    t.fail(`${what}: ${String(e)}`);
    return false;
  }
  t.fail(`${what}: accepted`);
  return false;
}

test('random key sets: roots and proofs equal the reference, proofs verify, mutations are refused', (t) => {
  fc.assert(
    fc.property(keySetArb, fc.array(keyArb, { maxLength: 4 }), fc.nat(), (keys, strangers, seed) => {
      const items: RefItem[] = keys.map((key, i) => ({ key, value: valueFor(i) }));
      const map = new IndexMap();
      for (const it of items) map.set(it.key, parseMapValue(it.value));
      const root = map.root();
      if (hex(root) !== hex(refRoot(items))) return false;
      const truth = new Map(items.map((it) => [hex(it.key), hex(it.value)]));
      // Absent keys: random ones, and neighbours of present ones (paths ending at their leaves).
      const neighbours = keys.slice(0, 3).map((k, i) => {
        const n = k.slice();
        n[31]! ^= 1 << (i % 8);
        return n;
      });
      const lookups = [...keys, ...strangers, ...neighbours];
      for (const [n, key] of lookups.entries()) {
        const proof = map.proveLookup(key);
        if (
          JSON.stringify(encodeLookupProof(proof)) !== JSON.stringify(encodeLookupProof(refProve(items, key)))
        ) {
          return false;
        }
        const r = verifyLookup(key, proof, root);
        const want = truth.get(hex(key));
        if (r.present !== (want !== undefined)) return false;
        if (want !== undefined && hex(encodeMapValue(r)) !== want) return false;
        if (want === undefined && (r.count !== 0n || r.chain.some((b) => b !== 0))) return false;
        // A flipped bit in a random part of the proof.
        const parts = 1 + proof.siblings.length + (proof.leaf ? 2 : 0);
        const part = (seed + n) % parts;
        const bad = copyProof(proof);
        const target =
          part === 0
            ? bad.key
            : part <= proof.siblings.length
              ? bad.siblings[part - 1]!
              : part === proof.siblings.length + 1
                ? bad.leaf!.key
                : bad.leaf!.value;
        const bit = (seed * 31 + n) % (target.length * 8);
        target[bit >> 3]! ^= 1 << (bit & 7);
        if (!refused(t, () => verifyLookup(key, bad, root), `flipped bit ${bit} of part ${part}`))
          return false;
        // A wrong value: another count, or another chain.
        if (proof.leaf) {
          const v = parseMapValue(proof.leaf.value);
          for (const wrong of [
            { count: v.count + 1n, chain: v.chain },
            { count: v.count, chain: refChain([v.count + 1000n]) },
          ]) {
            const w = copyProof(proof);
            w.leaf!.value = encodeMapValue(wrong);
            if (!refused(t, () => verifyLookup(key, w, root), 'wrong value')) return false;
          }
        }
        // Another key: as given (the proof names its own key) it is refused; relabelled, it may only
        // prove that key's truth (an absence proof covers every key of its empty subtree, and a proof
        // that ends at the other key's own leaf proves its value).
        for (const other of lookups) {
          if (hex(other) === hex(key)) continue;
          if (!refused(t, () => verifyLookup(other, proof, root), 'proof of another key')) return false;
          let got: ReturnType<typeof verifyLookup> | undefined;
          try {
            got = verifyLookup(other, { ...proof, key: other }, root);
          } catch (e) {
            if (!isLogError(e, 'LOOKUP_PROOF_INVALID')) throw e;
          }
          if (got !== undefined) {
            const otherWant = truth.get(hex(other));
            if (got.present !== (otherWant !== undefined)) return false;
            if (otherWant !== undefined && hex(encodeMapValue(got)) !== otherWant) return false;
          }
        }
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('random sequences of sets (inserts and updates): the root after each equals the reference', (t) => {
  fc.assert(
    fc.property(
      fc.array(keyArb, { minLength: 1, maxLength: 12 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 30 }),
      (pool, ops) => {
        const map = new IndexMap();
        const state = new Map<string, RefItem>();
        for (const [pick, count] of ops) {
          const key = pool[pick % pool.length]!;
          const value = encodeMapValue({ count: BigInt(count), chain: refChain([BigInt(pick)]) });
          map.set(key, parseMapValue(value));
          state.set(hex(key), { key, value });
          if (hex(map.root()) !== hex(refRoot([...state.values()]))) return false;
          if (map.size !== state.size) return false;
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

const IDS = [
  'sha256:a',
  'sha256:b',
  'ünïcödé'.normalize('NFC'),
  'ünïcödé'.normalize('NFD'),
  '🔏',
  ' ',
  'x'.repeat(300),
];
const SIGNERS = ['9C75CB915794A44DD7697E21571D8816D9886717', '110F6BBB5376C66091288CCB36C5307DBBA1ACA3'];

/** One entry of a random log: an attestation (id, signer), or an index leaf (honest or lying). */
const stepArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('attestation' as const),
      id: fc.constantFrom(...IDS, 'other'),
      signer: fc.constantFrom(...SIGNERS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('index' as const),
      honest: fc.boolean(),
      sizeOff: fc.constantFrom(0, 0, 0, 1),
    }),
  },
);

test('random logs: the replayer root at every position equals the reference; index leaves judged', (t) => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 40 }),
      fc.string({ minLength: 1, maxLength: 8 }),
      (steps, extraId) => {
        const entries: Uint8Array[] = [];
        const replayer = new IndexReplayer();
        for (const [i, s] of steps.entries()) {
          const truth = refRootAt(entries, i);
          if (hex(replayer.root()) !== hex(truth)) return false;
          const entry =
            s.kind === 'attestation'
              ? encodeEntry({
                  attestation: {
                    data: { id: s.id === 'other' ? extraId : s.id, ok: i % 2 === 0 },
                    key: s.signer,
                    sig: 'AAAA',
                  },
                  loggedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
                })
              : encodeIndexLeaf({
                  root: s.honest ? truth : refRootAt(entries, Math.floor(i / 2)),
                  size: BigInt(i + s.sizeOff),
                });
          entries.push(entry);
          const step = replayer.append(entry);
          if (step.index !== BigInt(i)) return false;
          if (step.kind === 'index') {
            if (s.kind !== 'index') return false;
            if (step.sizeMatches !== (s.sizeOff === 0)) return false;
            if (step.rootMatches !== (hex(step.leaf.root) === hex(truth))) return false;
          } else {
            const want = refEntryKeys(entry).map(hex);
            if (hex(step.keys.identifier) !== want[0] || hex(step.keys.signer) !== want[1]) return false;
          }
        }
        if (hex(replayer.root()) !== hex(refRootAt(entries, entries.length))) return false;
        // The final map proves each key's count and chain, as the reference counts them.
        const root = replayer.root();
        const ids = [...IDS, extraId];
        const lookups = [
          ...ids.map((id) => [identifierMapKey(id), refIdentifierKey(id), 'id', id] as const),
          ...SIGNERS.map((f) => [signerMapKey(f.toLowerCase()), refSignerKey(f), 'key', f] as const),
        ];
        for (const [key, refKey, by, value] of lookups) {
          if (hex(key) !== hex(refKey)) return false;
          const indexes = entries.flatMap((e, i) =>
            refEntryKeys(e).some((k) => hex(k) === hex(key)) ? [BigInt(i)] : [],
          );
          const r = verifyLookup(key, replayer.map.proveLookup(key), root);
          if (r.count !== BigInt(indexes.length) || hex(r.chain) !== hex(refChain(indexes))) {
            t.log(`${by}=${value}: count ${r.count}, expected ${indexes.length}`);
            return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});
