/**
 * log/index-answer.ts: complete answers (SPEC.md "What a verifier checks"), against every query answer
 * of ../shared/vectors/index/log.json (read in place; see its README: complete answers against the
 * checkpoint of size 25) and against tampered copies, each named after the mutation that broke it and
 * asserting the check (details.check) and the word in the message that names it.
 */
import test, { type ExecutionContext } from 'ava';
import { isLogError } from '../log/errors.js';
import { hashLeaf } from '../log/hash.js';
import {
  type AnswerItem,
  type AnswerTree,
  IndexAnswer,
  type IndexQuery,
  parseIndexObject,
  verifyIndexAnswer,
} from '../log/index-answer.js';
import {
  chainOf,
  encodeIndexLeaf,
  encodeLookupProof,
  IndexReplayer,
  identifierMapKey,
} from '../log/index-map.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';
import { refMth, refPath } from './reference.js';

interface WireItem {
  index: number;
  entry: string;
  inclusionProof: string[];
}
interface VectorQuery {
  query: IndexQuery;
  indexes: number[];
  attestations: WireItem[];
  // biome-ignore lint/suspicious/noExplicitAny: the wire object, tampered in place by the tests
  index: any;
}
interface VectorLog {
  entries: { index: number; kind: string; entryB64: string }[];
  checkpoints: { size: number; rootHashB64: string }[];
  answers: { checkpointSize: number; checkpointBody: string; queries: VectorQuery[] };
}

const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const path = vectorPath('index/log.json');

/** A fresh deep copy of a wire value, to tamper with. */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const items = (atts: readonly WireItem[]): AnswerItem[] =>
  atts.map((a) => ({
    index: BigInt(a.index),
    entry: unb64(a.entry),
    inclusionProof: a.inclusionProof.map(unb64),
  }));

/** Expects fn to throw a LogError with `code` and details.check `check`, its message naming `word`. */
function fails(t: ExecutionContext, fn: () => unknown, code: string, check: string, word = check): void {
  try {
    fn();
  } catch (e) {
    if (!isLogError(e)) throw e;
    t.is(e.code as string, code, e.message);
    t.is(e.details.check, check, e.message);
    t.true(e.message.includes(word), `message names "${word}": ${e.message}`);
    return;
  }
  t.fail(`expected ${code} (${check})`);
}

if (path === undefined) {
  test('index answers (skipped: ../shared/vectors/index not found)', (t) => t.pass());
} else {
  const log = readVectorJson<VectorLog>(path);
  const { answers } = log;
  const tree: AnswerTree = {
    treeSize: BigInt(answers.checkpointSize),
    rootHash: unb64(answers.checkpointBody.split('\n')[2]!),
  };
  const leaves = log.entries.map((e) => hashLeaf(unb64(e.entryB64)));
  const check = (q: VectorQuery, index: unknown = q.index, atts = q.attestations, t0 = tree) =>
    verifyIndexAnswer([q.query], [{ tree: t0, index: parseIndexObject(index), items: items(atts) }]);

  test('the tree of the answers is the vectors own: RFC 6962 root of the 25 entries', (t) => {
    t.deepEqual(refMth(leaves), tree.rootHash);
    t.true(answers.queries.length >= 10);
  });

  test('every answer in log.json is complete, with the count and chain the index proves', (t) => {
    for (const q of answers.queries) {
      const v = check(q);
      t.true(v.complete, JSON.stringify(q.query));
      t.is(v.entries, q.indexes.length);
      t.is(v.treeSize, 25n);
      t.is(v.lookups[0]!.count, BigInt(q.indexes.length));
      t.is(v.lookups[0]!.chain, q.index.lookups[0].chain);
    }
  });

  test('every answer split into pages of 1 and 2 is complete; the chain runs across the pages', (t) => {
    for (const q of answers.queries) {
      for (const per of [1, 2]) {
        const pages = [];
        for (let i = 0; i === 0 || i < q.attestations.length; i += per) {
          pages.push({
            tree,
            index: parseIndexObject(q.index),
            items: items(q.attestations.slice(i, i + per)),
          });
        }
        t.true(verifyIndexAnswer([q.query], pages).complete);
      }
    }
  });

  const withEntries = answers.queries.filter((q) => q.attestations.length > 0);

  test('dropped entry: every position of every answer is caught as a missing entry', (t) => {
    for (const q of withEntries) {
      for (let i = 0; i < q.attestations.length; i++) {
        const atts = q.attestations.filter((_, j) => j !== i);
        fails(t, () => check(q, q.index, atts), 'INDEX_ANSWER_INCOMPLETE', 'missing entry');
      }
    }
  });

  test('dropped entry on a later page: still caught at the end, over all pages', (t) => {
    const q = withEntries[0]!;
    const a = new IndexAnswer(tree, [q.query], parseIndexObject(q.index));
    a.page(items(q.attestations.slice(0, 2)));
    a.page(items(q.attestations.slice(3)), tree, parseIndexObject(q.index));
    fails(t, () => a.finish(), 'INDEX_ANSWER_INCOMPLETE', 'missing entry');
  });

  test('altered count (one more, one less, zero) is caught as the count', (t) => {
    for (const q of answers.queries) {
      for (const d of [1, -1, -q.indexes.length]) {
        if (q.indexes.length + d < 0 || d === 0) continue;
        const index = copy(q.index);
        index.lookups[0].count += d;
        fails(t, () => check(q, index), 'INDEX_ANSWER_INCOMPLETE', 'count');
      }
    }
  });

  test('altered count together with a dropped entry is caught as the count (the proof disagrees)', (t) => {
    const q = withEntries[0]!;
    const index = copy(q.index);
    index.lookups[0].count -= 1;
    fails(t, () => check(q, index, q.attestations.slice(1)), 'INDEX_ANSWER_INCOMPLETE', 'count');
  });

  test('altered chain (each byte flipped) is caught as the chain', (t) => {
    for (const q of answers.queries) {
      for (const at of [0, 17, 31]) {
        const index = copy(q.index);
        const c = unb64(index.lookups[0].chain);
        c[at]! ^= 0x80;
        index.lookups[0].chain = b64(c);
        fails(t, () => check(q, index), 'INDEX_ANSWER_INCOMPLETE', 'chain');
      }
    }
  });

  test('altered sibling, leaf key or leaf value of the lookup proof is caught as the proof', (t) => {
    let siblings = 0;
    for (const q of answers.queries) {
      const p = q.index.lookups[0].proof;
      for (let s = 0; s < p.siblings.length; s++) {
        const index = copy(q.index);
        const h = unb64(index.lookups[0].proof.siblings[s]);
        h[s % 32]! ^= 0x01;
        index.lookups[0].proof.siblings[s] = b64(h);
        fails(t, () => check(q, index), 'LOOKUP_PROOF_INVALID', 'proof');
        siblings++;
      }
      if (p.leaf !== null) {
        for (const field of ['key', 'value'] as const) {
          const index = copy(q.index);
          const v = unb64(index.lookups[0].proof.leaf[field]);
          v[v.length - 1]! ^= 0x01;
          index.lookups[0].proof.leaf[field] = b64(v);
          fails(t, () => check(q, index), 'LOOKUP_PROOF_INVALID', 'proof');
        }
      }
      const dropped = copy(q.index);
      dropped.lookups[0].proof.siblings.pop();
      if (p.siblings.length > 0) fails(t, () => check(q, dropped), 'LOOKUP_PROOF_INVALID', 'proof');
    }
    t.true(siblings > 20);
  });

  test('a presence answered with an absence proof (leaf null) is caught as the proof', (t) => {
    const q = withEntries[0]!;
    const index = copy(q.index);
    index.lookups[0].proof.leaf = null;
    index.lookups[0].count = 0;
    fails(t, () => check(q, index, []), 'LOOKUP_PROOF_INVALID', 'proof');
  });

  test('index leaf: not at size-1, altered, not included, or naming another size', (t) => {
    const q = withEntries[0]!;
    const moved = copy(q.index);
    moved.leafIndex = 23;
    fails(t, () => check(q, moved), 'INDEX_LEAF_INVALID', 'index leaf');
    const proof = copy(q.index);
    proof.inclusionProof[0] = b64(new Uint8Array(32));
    fails(t, () => check(q, proof), 'INDEX_LEAF_INVALID', 'index leaf');
    const none = copy(q.index);
    none.inclusionProof = [];
    fails(t, () => check(q, none), 'INDEX_LEAF_INVALID', 'index leaf');
    // The leaf of size 24 at 24 with a root of its own: its hash is not in the tree.
    const forged = copy(q.index);
    forged.entry = b64(encodeIndexLeaf({ root: new Uint8Array(32), size: 24n }));
    fails(t, () => check(q, forged), 'INDEX_LEAF_INVALID', 'index leaf');
    fails(t, () => check(q, null), 'INDEX_LEAF_INVALID', 'index leaf');
  });

  test('a checkpoint whose last leaf is not an index leaf (size 24: entry 23 is an attestation)', (t) => {
    t.is(log.entries[23]!.kind, 'attestation');
    const t24: AnswerTree = { treeSize: 24n, rootHash: refMth(leaves.slice(0, 24)) };
    const q = withEntries[0]!;
    const index = copy(q.index);
    index.leafIndex = 23;
    index.entry = log.entries[23]!.entryB64;
    index.inclusionProof = refPath(23, leaves.slice(0, 24)).map(b64);
    fails(t, () => check(q, index, [], t24), 'INDEX_LEAF_INVALID', 'index leaf', 'not an index leaf');
  });

  test('an index leaf that names another size than its position is refused', (t) => {
    // Build a 25-leaf tree whose last leaf is an index leaf naming size 23 (a forged log, honest proofs).
    const bad = encodeIndexLeaf({ root: new Uint8Array(32), size: 23n });
    const forged = [...leaves.slice(0, 24), hashLeaf(bad)];
    const t25: AnswerTree = { treeSize: 25n, rootHash: refMth(forged) };
    const q = withEntries[0]!;
    const index = copy(q.index);
    index.entry = b64(bad);
    index.inclusionProof = refPath(24, forged).map(b64);
    fails(t, () => check(q, index, [], t25), 'INDEX_LEAF_INVALID', 'index leaf', 'names size 23');
  });

  test('returned entries: out of order, repeated, of another key, an index leaf, not included', (t) => {
    const q = withEntries[0]!;
    const swapped = [q.attestations[1]!, q.attestations[0]!, ...q.attestations.slice(2)];
    fails(t, () => check(q, q.index, swapped), 'INDEX_ANSWER_INCOMPLETE', 'order');
    const twice = [q.attestations[0]!, ...q.attestations];
    fails(t, () => check(q, q.index, twice), 'INDEX_ANSWER_INCOMPLETE', 'order');
    const other = answers.queries.find((x) => x.query.by === 'id' && x.indexes.length > 0 && x !== q)!;
    const foreign = other.attestations[0]!;
    const mixed = [...q.attestations.filter((a) => a.index < foreign.index), foreign];
    fails(t, () => check(q, q.index, mixed), 'INDEX_ANSWER_INCOMPLETE', 'key');
    const leafItem = {
      index: 24,
      entry: q.index.entry,
      inclusionProof: q.index.inclusionProof,
    };
    fails(t, () => check(q, q.index, [...q.attestations, leafItem]), 'INDEX_ANSWER_INCOMPLETE', 'key');
    const broken = copy(q.attestations);
    broken[0]!.inclusionProof[0] = b64(new Uint8Array(32));
    fails(t, () => check(q, q.index, broken), 'INCLUSION_PROOF_INVALID', 'inclusion');
    const past = [{ ...q.attestations[0]!, index: 25 }];
    fails(t, () => check(q, q.index, past), 'INDEX_ANSWER_INCOMPLETE', 'inclusion');
  });

  test('an entry of another id in the answer for an absent id is caught as the key', (t) => {
    const absent = answers.queries.find((x) => x.indexes.length === 0 && x.query.by === 'id')!;
    const q = withEntries[0]!;
    fails(t, () => check(absent, absent.index, q.attestations.slice(0, 1)), 'INDEX_ANSWER_INCOMPLETE', 'key');
  });

  test('more entries than the index holds (a forged index that counts one) is caught as the count', (t) => {
    // A forged log: entries 0..23 of the vectors, then an index leaf whose map gives the first query's
    // id a count of 1 (its first index only). The server's proofs are honest for that forged tree.
    const q = withEntries[0]!;
    const r = new IndexReplayer();
    for (const e of log.entries.slice(0, 24)) r.append(unb64(e.entryB64));
    const key = identifierMapKey(q.query.value);
    const first = BigInt(q.indexes[0]!);
    r.map.set(key, { count: 1n, chain: chainOf([first]) });
    const leafEntry = encodeIndexLeaf({ root: r.root(), size: 24n });
    const forged = [...leaves.slice(0, 24), hashLeaf(leafEntry)];
    const t25: AnswerTree = { treeSize: 25n, rootHash: refMth(forged) };
    const index = {
      leafIndex: 24,
      entry: b64(leafEntry),
      inclusionProof: refPath(24, forged).map(b64),
      lookups: [
        {
          by: 'id',
          value: q.query.value,
          count: 1,
          chain: b64(chainOf([first])),
          proof: encodeLookupProof(r.map.proveLookup(key)),
        },
      ],
    };
    const reproved = q.attestations.map((x) => ({ ...x, inclusionProof: refPath(x.index, forged).map(b64) }));
    t.true(check(q, index, reproved.slice(0, 1), t25).complete);
    fails(
      t,
      () => check(q, index, reproved.slice(0, 2), t25),
      'INDEX_ANSWER_INCOMPLETE',
      'count',
      'one too many',
    );
  });

  test('a page sequence that changes checkpoint midway is refused', (t) => {
    const q = withEntries[0]!;
    const cp = log.checkpoints.find((c) => c.size < 25)!;
    const other: AnswerTree = { treeSize: BigInt(cp.size), rootHash: unb64(cp.rootHashB64) };
    const a = new IndexAnswer(tree, [q.query], parseIndexObject(q.index));
    a.page(items(q.attestations.slice(0, 1)));
    fails(
      t,
      () => a.page(items(q.attestations.slice(1)), other, parseIndexObject(q.index)),
      'INDEX_ANSWER_INCOMPLETE',
      'checkpoint',
    );
    const b = new IndexAnswer(tree, [q.query], parseIndexObject(q.index));
    const sameSizeOtherRoot: AnswerTree = { treeSize: 25n, rootHash: new Uint8Array(32) };
    fails(
      t,
      () => b.page([], sameSizeOtherRoot, parseIndexObject(q.index)),
      'INDEX_ANSWER_INCOMPLETE',
      'checkpoint',
    );
    const c = new IndexAnswer(tree, [q.query], parseIndexObject(q.index));
    const changed = copy(q.index);
    changed.lookups[0].count += 1;
    fails(t, () => c.page([], tree, parseIndexObject(changed)), 'INDEX_ANSWER_INCOMPLETE', 'index object');
  });

  test('lookups: missing, for another value, or more than the query asked are refused', (t) => {
    const q = withEntries[0]!;
    const other = answers.queries.find((x) => x.query.by === 'id' && x !== q)!;
    const wrong = copy(q.index);
    wrong.lookups = other.index.lookups;
    fails(t, () => check(q, wrong), 'INDEX_ANSWER_INCOMPLETE', 'lookup');
    const two = copy(q.index);
    two.lookups.push(other.index.lookups[0]);
    fails(t, () => check(q, two), 'INDEX_ANSWER_INCOMPLETE', 'lookup');
    const byKey = copy(q.index);
    byKey.lookups[0].by = 'key';
    fails(t, () => check(q, byKey), 'INDEX_ANSWER_INCOMPLETE', 'lookup');
  });

  test('both id and key: both lookups verify, the answer is the intersection and NOT complete', (t) => {
    const byKey = answers.queries.find(
      (x) => x.query.by === 'key' && x.query.value === x.query.value.toUpperCase() && x.indexes.length > 0,
    )!;
    const byId = answers.queries.find(
      (x) => x.query.by === 'id' && x.indexes.some((i) => byKey.indexes.includes(i)),
    )!;
    const both = byId.attestations.filter((a) => byKey.indexes.includes(a.index));
    const index = copy(byId.index);
    index.lookups = [byId.index.lookups[0], byKey.index.lookups[0]];
    const query = [byId.query, byKey.query];
    const v = verifyIndexAnswer(query, [{ tree, index: parseIndexObject(index), items: items(both) }]);
    t.false(v.complete);
    t.regex(v.reason!, /intersection/);
    t.is(v.entries, both.length);
    t.is(v.lookups.length, 2);
    // An entry of the id that is not the key's is refused: it does not map to the queried key.
    const notKey = byId.attestations.find((a) => !byKey.indexes.includes(a.index));
    if (notKey) {
      fails(
        t,
        () => verifyIndexAnswer(query, [{ tree, index: parseIndexObject(index), items: items([notKey]) }]),
        'INDEX_ANSWER_INCOMPLETE',
        'key',
      );
    }
    // A tampered second lookup is caught too.
    const bad = copy(index);
    bad.lookups[1].count += 1;
    fails(
      t,
      () => verifyIndexAnswer(query, [{ tree, index: parseIndexObject(bad), items: [] }]),
      'INDEX_ANSWER_INCOMPLETE',
      'count',
    );
  });

  test('a signer asked in lower case is answered and checked in the case asked', (t) => {
    const lower = answers.queries.find(
      (x) => x.query.by === 'key' && x.query.value !== x.query.value.toUpperCase(),
    )!;
    t.true(check(lower).complete);
    const upper = copy(lower.index);
    upper.lookups[0].value = lower.query.value.toUpperCase();
    fails(t, () => check(lower, upper), 'INDEX_ANSWER_INCOMPLETE', 'lookup');
  });

  test('size 0: index null and no entries is complete; an index leaf of an empty tree is refused', (t) => {
    const empty: AnswerTree = { treeSize: 0n, rootHash: refMth([]) };
    const v = verifyIndexAnswer([{ by: 'id', value: 'x' }], [{ tree: empty, index: null, items: [] }]);
    t.true(v.complete);
    t.is(v.entries, 0);
    const q = withEntries[0]!;
    fails(t, () => check(q, q.index, [], empty), 'INDEX_LEAF_INVALID', 'index leaf');
  });

  test('parseIndexObject is strict: members, types, base64, lookup count', (t) => {
    const q = withEntries[0]!;
    const cases: [string, (i: Record<string, unknown> & IndexObjectWire) => void][] = [
      ['extra member', (i) => Object.assign(i, { extra: 1 })],
      ['missing lookups', (i) => delete (i as Partial<IndexObjectWire>).lookups],
      ['leafIndex a string', (i) => Object.assign(i, { leafIndex: '24' })],
      ['leafIndex negative', (i) => Object.assign(i, { leafIndex: -1 })],
      ['entry not base64', (i) => Object.assign(i, { entry: 'not base64!' })],
      ['proof hash short', (i) => i.inclusionProof.push('AAAA')],
      ['no lookups', (i) => Object.assign(i, { lookups: [] })],
      ['three lookups', (i) => i.lookups.push(i.lookups[0], i.lookups[0])],
      ['count a float', (i) => Object.assign(i.lookups[0], { count: 1.5 })],
      ['chain of 31 bytes', (i) => Object.assign(i.lookups[0], { chain: b64(new Uint8Array(31)) })],
      ['by other', (i) => Object.assign(i.lookups[0], { by: 'signer' })],
      ['value a number', (i) => Object.assign(i.lookups[0], { value: 5 })],
      ['lookup extra member', (i) => Object.assign(i.lookups[0], { n: 1 })],
    ];
    for (const [name, mutate] of cases) {
      const index = copy(q.index);
      mutate(index);
      fails(t, () => parseIndexObject(index), 'INDEX_ANSWER_INCOMPLETE', 'index object', 'index object');
      t.log(name);
    }
    const badProof = copy(q.index);
    badProof.lookups[0].proof.siblings = Array(257).fill(b64(new Uint8Array(32)));
    fails(t, () => parseIndexObject(badProof), 'LOOKUP_PROOF_INVALID', 'proof');
    t.is(parseIndexObject(null), null);
    t.throws(() => parseIndexObject([]));
  });

  test('the lookup key is the identifier key of the value as asked (no normalisation)', (t) => {
    const q = answers.queries.find((x) => x.query.value === 'ünïcödé')!;
    t.deepEqual(unb64(q.index.lookups[0].proof.key), identifierMapKey(q.query.value));
    const nfd = copy(q.index);
    nfd.lookups[0].value = q.query.value.normalize('NFD');
    fails(
      t,
      () =>
        verifyIndexAnswer(
          [{ by: 'id', value: q.query.value.normalize('NFD') }],
          [{ tree, index: parseIndexObject(nfd), items: [] }],
        ),
      'LOOKUP_PROOF_INVALID',
      'proof',
    );
  });
}

interface IndexObjectWire {
  inclusionProof: string[];
  // biome-ignore lint/suspicious/noExplicitAny: wire lookups
  lookups: any[];
}
