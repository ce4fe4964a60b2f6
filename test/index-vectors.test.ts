/**
 * log/index-map.ts against every vector file in ../shared/vectors/index/ (format version 1 of SPEC.md
 * "The index: answers that are provably complete"; the folder's README.md says what each file holds).
 * The vectors were made by an independent implementation of the index and are read in place:
 * - keys.json: identifier keys (NFC and NFD spellings, empty, NUL, emoji, long) and signer keys in any case;
 * - chains.json: chains and values over index lists up to 2^53-1;
 * - maps.json: roots of five maps (empty to 1,000 keys) and the exact proofs a prover must produce;
 * - negative-proofs.json: proofs every verifier must refuse (basis `spec` or `strict`);
 * - edge-proofs.json: proofs over constructed roots that must verify (256 siblings, exact prefixes);
 * - index-leaves.json: index-leaf bytes to produce, and bytes that are not index leaves;
 * - log.json: a 25-entry log with its index leaves, checkpoints and complete query answers.
 * The folder must hold exactly these files (and README.md): a new vector file fails this test until
 * it is read here. The naive reference (test/index-reference.ts) is checked against them too.
 */
import { basename } from 'node:path';
import test from 'ava';
import { base64Encode, hexEncode } from '../log/bytes.js';
import { isLogError } from '../log/errors.js';
import { hashLeaf, rootFromLeafHashes } from '../log/hash.js';
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
  type LookupProofJson,
  parseIndexLeaf,
  parseLookupProof,
  parseMapValue,
  queryMapKey,
  signerMapKey,
  verifyLookup,
} from '../log/index-map.js';
import { verifyInclusion } from '../log/proof.js';
import { listFiles, readVectorJson, vectorPath } from './helpers/vectors.js';
import { refProve, refRoot, refRootAt } from './index-reference.js';

const dir = vectorPath('index');

const FILES = [
  'README.md',
  'chains.json',
  'edge-proofs.json',
  'index-leaves.json',
  'keys.json',
  'log.json',
  'maps.json',
  'negative-proofs.json',
];

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const hex = hexEncode;
const read = <T>(name: string): T => readVectorJson<T>(`${dir}/${name}`);

/** The key a vector label names (`id:<id>`, `key:<fingerprint>`), or undefined for a constructed key. */
function keyOfLabel(label: string): Uint8Array | undefined {
  if (label.startsWith('id:')) return identifierMapKey(label.slice(3));
  if (label.startsWith('key:')) return signerMapKey(label.slice(4));
  return undefined;
}

const isPlainProof = (p: unknown): p is Record<string, unknown> =>
  typeof p === 'object' && p !== null && !Array.isArray(p);

if (dir === undefined) {
  test('index vectors (skipped: ../shared/vectors/index not found)', (t) => t.pass());
} else {
  test('the folder holds exactly the files read here', (t) => {
    t.deepEqual(
      listFiles(dir).map((p) => basename(p)),
      FILES,
    );
  });

  test('keys.json: identifier and signer map keys', (t) => {
    const v = read<{
      ids: { id: string; idUtf8Hex: string; key: string; keyB64: string }[];
      signers: { fingerprint: string; hashedAscii: string; key: string; keyB64: string }[];
    }>('keys.json');
    for (const c of v.ids) {
      t.is(Buffer.from(c.id, 'utf8').toString('hex'), c.idUtf8Hex, 'the id as read is the id hashed');
      const k = identifierMapKey(c.id);
      t.is(hex(k), c.key, JSON.stringify(c.id));
      t.is(base64Encode(k), c.keyB64);
      t.is(hex(queryMapKey('id', c.id)), c.key);
    }
    for (const c of v.signers) {
      t.is(c.fingerprint.toUpperCase(), c.hashedAscii);
      const k = signerMapKey(c.fingerprint);
      t.is(hex(k), c.key, c.fingerprint);
      t.is(base64Encode(k), c.keyB64);
      t.is(hex(queryMapKey('key', c.fingerprint)), c.key);
    }
    t.log(`keys.json: ${v.ids.length} ids, ${v.signers.length} signers`);
    t.true(v.ids.length > 0 && v.signers.length > 0);
  });

  test('chains.json: chain steps, chains and values', (t) => {
    const v = read<{
      chains: {
        indexes: number[];
        count: number;
        chainSteps: string[];
        chain: string;
        value: string;
        valueB64: string;
      }[];
    }>('chains.json');
    for (const c of v.chains) {
      const indexes = c.indexes.map((i) => {
        t.true(Number.isSafeInteger(i), 'indexes are read exactly');
        return BigInt(i);
      });
      t.is(c.count, indexes.length);
      let h = emptyChain();
      indexes.forEach((i, j) => {
        h = chainStep(h, i);
        t.is<string | undefined, string | undefined>(hex(h), c.chainSteps[j]);
      });
      t.is(hex(chainOf(indexes)), c.chain);
      const value = encodeMapValue({ count: BigInt(c.count), chain: unhex(c.chain) });
      t.is(hex(value), c.value);
      t.is(base64Encode(value), c.valueB64);
      const back = parseMapValue(value);
      t.is(back.count, BigInt(c.count));
      t.is(hex(back.chain), c.chain);
    }
    t.log(`chains.json: ${v.chains.length} chains`);
    t.true(v.chains.length > 0);
  });

  interface MapVector {
    name: string;
    entries: { label: string; key: string; indexes: number[]; value: string }[];
    root: string;
    rootB64: string;
    proofs: {
      label: string;
      key: string;
      kind: 'present' | 'absent-leaf' | 'absent-empty';
      depth: number;
      proof: LookupProofJson;
      present: boolean;
      value: string | null;
    }[];
  }

  test('maps.json: roots, and the exact proofs a prover makes, verifying to the stated verdict', (t) => {
    const v = read<{ maps: MapVector[] }>('maps.json');
    let proofs = 0;
    for (const m of v.maps) {
      const map = new IndexMap();
      for (const e of m.entries) {
        const k = keyOfLabel(e.label);
        t.truthy(k, `${m.name}: every entry is labelled by what it is the key of`);
        t.is(hex(k!), e.key, `${m.name}: ${e.label}`);
        const value = encodeMapValue({
          count: BigInt(e.indexes.length),
          chain: chainOf(e.indexes.map(BigInt)),
        });
        t.is(hex(value), e.value, `${m.name}: ${e.label}`);
        map.set(unhex(e.key), parseMapValue(value));
      }
      t.is(map.size, m.entries.length);
      t.is(hex(map.root()), m.root, m.name);
      t.is(base64Encode(map.root()), m.rootB64);
      // The root does not depend on the order the keys came in.
      const reversed = new IndexMap();
      for (const e of [...m.entries].reverse()) reversed.set(unhex(e.key), parseMapValue(unhex(e.value)));
      t.is(hex(reversed.root()), m.root, `${m.name}, keys in reverse order`);
      const items = m.entries.map((e) => ({ key: unhex(e.key), value: unhex(e.value) }));
      t.is(hex(refRoot(items)), m.root, `${m.name}: the reference agrees`);

      for (const p of m.proofs) {
        const key = unhex(p.key);
        const named = keyOfLabel(p.label);
        if (named !== undefined) t.is(hex(named), p.key, p.label);
        t.deepEqual(encodeLookupProof(map.proveLookup(key)), p.proof, `${m.name}: ${p.label}`);
        t.deepEqual(encodeLookupProof(refProve(items, key)), p.proof, `${m.name}: ${p.label} (reference)`);
        t.is(p.proof.siblings.length, p.depth);
        t.is(p.proof.leaf === null, p.kind === 'absent-empty');
        t.is(p.present, p.kind === 'present');
        const r = verifyLookup(key, parseLookupProof(p.proof), unhex(m.root));
        t.is(r.present, p.present, `${m.name}: ${p.label}`);
        if (p.present) {
          t.is<string | null, string | null>(hex(encodeMapValue(r)), p.value);
        } else {
          t.is(p.value, null);
          t.is(r.count, 0n);
          t.is(hex(r.chain), hex(emptyChain()));
        }
        proofs++;
      }
    }
    t.log(`maps.json: ${v.maps.length} maps, ${proofs} proofs`);
    t.true(proofs > 0);
  });

  test('negative-proofs.json: every case is refused with LOOKUP_PROOF_INVALID', (t) => {
    const v = read<{
      cases: {
        name: string;
        basis: 'spec' | 'strict';
        why: string;
        root: string;
        key: string;
        proof: unknown;
      }[];
    }>('negative-proofs.json');
    const basis = { spec: 0, strict: 0 };
    for (const c of v.cases) {
      const e = t.throws(
        () => verifyLookup(unhex(c.key), parseLookupProof(c.proof), unhex(c.root)),
        undefined,
        c.name,
      );
      t.true(isLogError(e, 'LOOKUP_PROOF_INVALID'), `${c.name}: ${String(e)}`);
      if (c.basis === 'spec' && isPlainProof(c.proof)) {
        // The verification steps alone refuse it, not only the strict check of the proof's own key.
        const own = { ...c.proof, key: base64Encode(unhex(c.key)) };
        const e2 = t.throws(
          () => verifyLookup(unhex(c.key), parseLookupProof(own), unhex(c.root)),
          undefined,
          c.name,
        );
        t.true(isLogError(e2, 'LOOKUP_PROOF_INVALID'), `${c.name} (own key): ${String(e2)}`);
      }
      basis[c.basis]++;
    }
    t.log(`negative-proofs.json: ${v.cases.length} cases (${basis.spec} spec, ${basis.strict} strict)`);
    t.true(v.cases.length > 0);
  });

  test('edge-proofs.json: every case verifies to its verdict', (t) => {
    const v = read<{
      cases: {
        name: string;
        root: string;
        key: string;
        proof: LookupProofJson;
        present: boolean;
        value: string | null;
      }[];
    }>('edge-proofs.json');
    for (const c of v.cases) {
      const proof = parseLookupProof(c.proof);
      t.deepEqual(encodeLookupProof(proof), c.proof, `${c.name}: the wire form round-trips`);
      const r = verifyLookup(unhex(c.key), proof, unhex(c.root));
      t.is(r.present, c.present, c.name);
      if (c.present) t.is<string | null, string | null>(hex(encodeMapValue(r)), c.value);
      else t.is(r.count, 0n);
    }
    t.log(`edge-proofs.json: ${v.cases.length} cases`);
    t.true(v.cases.length > 0);
  });

  test('index-leaves.json: the exact bytes, parsed back; invalid leaves refused', (t) => {
    const v = read<{
      valid: {
        root: string;
        rootB64: string;
        size: number;
        entry: string;
        entryB64: string;
        leafHash: string;
      }[];
      invalid: { entry: string; entryB64: string; why: string }[];
    }>('index-leaves.json');
    for (const c of v.valid) {
      t.true(Number.isSafeInteger(c.size));
      const bytes = unb64(c.entryB64);
      t.is(Buffer.from(bytes).toString('utf8'), c.entry);
      const leaf = { root: unhex(c.root), size: BigInt(c.size) };
      t.is(base64Encode(leaf.root), c.rootB64);
      t.deepEqual(encodeIndexLeaf(leaf), bytes, c.entry);
      const back = parseIndexLeaf(bytes);
      t.is(hex(back.root), c.root);
      t.is(back.size, BigInt(c.size));
      t.is(hex(hashLeaf(bytes)), c.leafHash);
      t.true(isIndexLeaf(bytes));
      const kinded = classifyEntry(bytes);
      t.is(kinded.kind, 'index');
    }
    for (const c of v.invalid) {
      const bytes = unb64(c.entryB64);
      const e = t.throws(() => parseIndexLeaf(bytes), undefined, c.why);
      t.true(isLogError(e, 'ENTRY_INVALID'), `${c.why}: ${String(e)}`);
      t.false(isIndexLeaf(bytes), c.why);
      const e2 = t.throws(() => classifyEntry(bytes), undefined, c.why);
      t.true(isLogError(e2, 'ENTRY_INVALID'), `${c.why} (classifyEntry): ${String(e2)}`);
    }
    t.log(`index-leaves.json: ${v.valid.length} valid, ${v.invalid.length} invalid`);
    t.true(v.valid.length > 0 && v.invalid.length > 0);
  });

  interface LogVector {
    origin: string;
    entries: {
      index: number;
      kind: 'attestation' | 'index';
      entry: string;
      entryB64: string;
      leafHash: string;
    }[];
    indexLeaves: { index: number; size: number; root: string; rootB64: string }[];
    checkpoints: { size: number; rootHash: string; rootHashB64: string; body: string }[];
    answers: {
      checkpointSize: number;
      checkpointBody: string;
      queries: {
        query: { by: 'id' | 'key'; value: string };
        mapKey: string;
        indexes: number[];
        attestations: { index: number; entry: string; inclusionProof: string[] }[];
        index: {
          leafIndex: number;
          entry: string;
          inclusionProof: string[];
          lookups: {
            by: 'id' | 'key';
            value: string;
            count: number;
            chain: string;
            proof: LookupProofJson;
          }[];
        };
      }[];
    };
  }

  test('log.json: kinds, replayed index leaves, checkpoints that end with one, complete answers', (t) => {
    const v = read<LogVector>('log.json');
    const entries = v.entries.map((e) => unb64(e.entryB64));
    const leafHashes = entries.map(hashLeaf);

    // Entries and their kinds.
    v.entries.forEach((e, i) => {
      t.is(e.index, i);
      t.is(Buffer.from(entries[i]!).toString('utf8'), e.entry);
      t.is(hex(leafHashes[i]!), e.leafHash);
      t.is(classifyEntry(entries[i]!).kind, e.kind, `entry ${i}`);
    });

    // The replay: every index leaf names its position and holds the recomputed root.
    const replayer = new IndexReplayer();
    const leaves = [];
    for (const entry of entries) {
      const step = replayer.append(entry);
      if (step.kind !== 'index') continue;
      t.true(step.sizeMatches, `index leaf at ${step.index}`);
      t.true(step.rootMatches, `index leaf at ${step.index}`);
      t.is(hex(refRootAt(entries, Number(step.index))), hex(step.root), 'the reference agrees');
      leaves.push({ index: Number(step.index), size: Number(step.leaf.size), root: hex(step.root) });
    }
    t.is(replayer.size, BigInt(entries.length));
    t.deepEqual(
      leaves,
      v.indexLeaves.map(({ index, size, root }) => ({ index, size, root })),
    );
    for (const l of v.indexLeaves) t.is(base64Encode(unhex(l.root)), l.rootB64);

    // Checkpoints: RFC 6962 roots, and each ends with an index leaf naming size - 1.
    for (const c of v.checkpoints) {
      const root = rootFromLeafHashes(leafHashes.slice(0, c.size));
      t.is(hex(root), c.rootHash);
      t.is(c.body, `${v.origin}\n${c.size}\n${base64Encode(root)}\n`);
      t.is(c.rootHashB64, base64Encode(root));
      t.is(parseIndexLeaf(entries[c.size - 1]!).size, BigInt(c.size - 1), `checkpoint ${c.size}`);
    }

    // Complete answers against the last checkpoint.
    const a = v.answers;
    const size = BigInt(a.checkpointSize);
    const checkpoint = v.checkpoints.find((c) => c.size === a.checkpointSize);
    t.truthy(checkpoint);
    t.is(a.checkpointBody, checkpoint!.body);
    const rootHash = unhex(checkpoint!.rootHash);
    // The map of the answer's index leaf, replayed by us: it must prove exactly what the vectors say.
    const atLeaf = new IndexReplayer();
    for (const entry of entries.slice(0, a.checkpointSize - 1)) atLeaf.append(entry);
    for (const q of a.queries) {
      const what = `${q.query.by}=${q.query.value}`;
      const mapKey = queryMapKey(q.query.by, q.query.value);
      t.is(hex(mapKey), q.mapKey, what);
      const matching = entries
        .slice(0, a.checkpointSize)
        .map((e, i) => ({ k: classifyEntry(e), i }))
        .filter(
          ({ k }) =>
            k.kind === 'attestation' && [k.keys.identifier, k.keys.signer].some((x) => hex(x) === q.mapKey),
        )
        .map(({ i }) => i);
      t.deepEqual(q.indexes, matching, what);
      t.deepEqual(
        q.attestations.map((x) => x.index),
        q.indexes,
      );
      for (const x of q.attestations) {
        const bytes = unb64(x.entry);
        t.deepEqual(bytes, entries[x.index]);
        verifyInclusion(BigInt(x.index), size, hashLeaf(bytes), x.inclusionProof.map(unb64), rootHash);
      }
      const ix = q.index;
      t.is(ix.leafIndex, a.checkpointSize - 1);
      const leafBytes = unb64(ix.entry);
      const leaf = parseIndexLeaf(leafBytes);
      t.is(leaf.size, size - 1n);
      verifyInclusion(
        BigInt(ix.leafIndex),
        size,
        hashLeaf(leafBytes),
        ix.inclusionProof.map(unb64),
        rootHash,
      );
      t.is(hex(atLeaf.root()), hex(leaf.root));
      t.is(ix.lookups.length, 1);
      const lookup = ix.lookups[0]!;
      t.deepEqual({ by: lookup.by, value: lookup.value }, q.query);
      const chain = chainOf(q.indexes.map(BigInt));
      t.is(lookup.count, q.indexes.length);
      t.is(lookup.chain, base64Encode(chain));
      const r = verifyLookup(mapKey, parseLookupProof(lookup.proof), leaf.root);
      t.is(r.present, q.indexes.length > 0, what);
      t.is(r.count, BigInt(q.indexes.length));
      t.is(hex(r.chain), hex(chain));
      t.deepEqual(encodeLookupProof(atLeaf.map.proveLookup(mapKey)), lookup.proof, `${what}: our proof`);
    }
    t.log(
      `log.json: ${v.entries.length} entries, ${v.indexLeaves.length} index leaves, ${v.checkpoints.length} checkpoints, ${a.queries.length} queries`,
    );
  });
}
