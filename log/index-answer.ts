/**
 * Complete answers (SPEC.md "The index: answers that are provably complete", "What a verifier checks").
 *
 * A query answer (`GET /v1/attestations`, every page) carries an `index` object: the index leaf of the
 * answer's checkpoint (at size-1, with its inclusion proof) and one lookup per query parameter (`by`,
 * `value`, `count` n, `chain` hn, and a lookup proof against the index leaf's root). This file parses
 * that object strictly and checks an answer with it, page by page:
 *   1. the index leaf is at size-1, included in the checkpoint, and names size-1 (INDEX_LEAF_INVALID);
 *   2. each lookup proof verifies against the leaf's root (LOOKUP_PROOF_INVALID), and what it proves is
 *      the lookup's count and chain (INDEX_ANSWER_INCOMPLETE, check 'count' or 'chain');
 *   3. every returned entry is included (INCLUSION_PROOF_INVALID), has a strictly greater index than the
 *      one before, and is an attestation entry that maps to the queried key (INDEX_ANSWER_INCOMPLETE);
 *   4. at the end, over ALL pages: the number of entries equals n (fewer: check 'missing entry') and the
 *      chain recomputed from their indexes equals hn (check 'chain').
 * Every page must answer against the first page's tree (same size and root: check 'checkpoint') and
 * repeat its index object (check 'index object'). With both `id` and `key` the answer is their
 * intersection: both lookups are checked, every entry must map to both keys, but the answer is not
 * complete (finish says so). With a checkpoint of size 0, `index` must be null and the answer empty.
 *
 * Every failure is a LogError whose details.check names the check ('index leaf', 'proof', 'count',
 * 'chain', 'missing entry', 'inclusion', 'order', 'key', 'checkpoint', 'index object', 'lookup') so
 * callers can say what failed. Pure: no I/O.
 */
import { base64DecodeStrict, base64Encode, bytesEqual, hexEncode } from './bytes.js';
import { LogError } from './errors.js';
import { HASH_SIZE, hashLeaf } from './hash.js';
import {
  chainStep,
  classifyEntry,
  emptyChain,
  type IndexLeaf,
  type LookupProof,
  parseIndexLeaf,
  parseLookupProof,
  queryMapKey,
  verifyLookup,
} from './index-map.js';
import { verifyInclusion } from './proof.js';

/** IndexCheck names one check of a complete answer (LogError details.check). */
export type IndexCheck =
  | 'index object'
  | 'index leaf'
  | 'lookup'
  | 'proof'
  | 'count'
  | 'chain'
  | 'missing entry'
  | 'inclusion'
  | 'order'
  | 'key'
  | 'checkpoint';

/** IndexQuery is one query parameter as asked: by id or by key, the value exactly as sent. */
export interface IndexQuery {
  by: 'id' | 'key';
  value: string;
}

/** IndexLookup is one lookup of an index object, decoded (not yet verified). */
export interface IndexLookup {
  by: 'id' | 'key';
  value: string;
  count: bigint;
  chain: Uint8Array;
  proof: LookupProof;
}

/** IndexObject is the `index` member of an answer, decoded (not yet verified). */
export interface IndexObject {
  leafIndex: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
  lookups: IndexLookup[];
}

/** AnswerTree is the tree an answer is against: its verified checkpoint's size and root. */
export interface AnswerTree {
  treeSize: bigint;
  rootHash: Uint8Array;
}

/** AnswerItem is one returned entry: its log index, entry bytes and inclusion proof. */
export interface AnswerItem {
  index: bigint;
  entry: Uint8Array;
  inclusionProof: readonly Uint8Array[];
}

/** MAX_LOOKUPS is the most lookups an index object has: one per query parameter (id, key). */
export const MAX_LOOKUPS = 2;

/** The most hashes an inclusion proof in a tree of at most 2^64-1 leaves has. */
const MAX_INCLUSION_HASHES = 64;

function fail(
  code: 'INDEX_ANSWER_INCOMPLETE' | 'INDEX_LEAF_INVALID' | 'LOOKUP_PROOF_INVALID' | 'INCLUSION_PROOF_INVALID',
  check: IndexCheck,
  message: string,
  details: Record<string, unknown> = {},
): never {
  throw new LogError(code, message, { ...details, check });
}

function shape(field: string, expected: string, found: unknown): never {
  const shown = typeof found === 'string' ? JSON.stringify(found.slice(0, 64)) : describe(found);
  fail(
    'INDEX_ANSWER_INCOMPLETE',
    'index object',
    `index object: expected ${expected} at ${field}, found ${shown}`,
    {
      field,
    },
  );
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactMembers(obj: Record<string, unknown>, names: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) if (!names.includes(k)) shape(`${field}.${k}`, 'no such member', k);
  for (const n of names) if (!Object.hasOwn(obj, n)) shape(`${field}.${n}`, `a member "${n}"`, undefined);
}

function b64(v: unknown, field: string, size?: number): Uint8Array {
  const bytes =
    typeof v === 'string' && v.length <= 4 * Math.ceil(65_535 / 3) ? base64DecodeStrict(v) : undefined;
  if (bytes === undefined || (size !== undefined && bytes.length !== size)) {
    shape(field, `canonical standard base64${size === undefined ? '' : ` of ${size} bytes`}`, v);
  }
  return bytes;
}

function safeCount(v: unknown, field: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    shape(field, 'a non-negative safe integer', v);
  return BigInt(v);
}

/**
 * parseIndexObject returns the `index` member of an answer (a parsed JSON value), strictly: null, or
 * exactly {leafIndex, entry, inclusionProof, lookups}; leafIndex a non-negative safe integer, entry and
 * the proof hashes canonical standard base64 (at most 64 hashes), 1 or 2 lookups, each exactly {by
 * ("id" | "key"), value (a string), count (a non-negative safe integer), chain (base64 of 32 bytes),
 * proof (log/index-map.ts parseLookupProof)}. Throws INDEX_ANSWER_INCOMPLETE (details.check 'index
 * object', details.field) or, for the proof, LOOKUP_PROOF_INVALID (details.check 'proof').
 */
export function parseIndexObject(json: unknown): IndexObject | null {
  if (json === null) return null;
  if (!isPlainObject(json)) shape('index', 'null or an object', json);
  exactMembers(json, ['leafIndex', 'entry', 'inclusionProof', 'lookups'], 'index');
  const leafIndex = safeCount(json.leafIndex, 'index.leafIndex');
  const entry = b64(json.entry, 'index.entry');
  const proof = json.inclusionProof;
  if (!Array.isArray(proof) || proof.length > MAX_INCLUSION_HASHES) {
    shape('index.inclusionProof', `an array of at most ${MAX_INCLUSION_HASHES} base64 hashes`, proof);
  }
  const inclusionProof = proof.map((h, i) => b64(h, `index.inclusionProof[${i}]`, HASH_SIZE));
  const lk = json.lookups;
  if (!Array.isArray(lk) || lk.length < 1 || lk.length > MAX_LOOKUPS) {
    shape('index.lookups', `an array of 1 to ${MAX_LOOKUPS} lookups`, lk);
  }
  const lookups = lk.map((l, i) => parseLookup(l, `index.lookups[${i}]`));
  return { leafIndex, entry, inclusionProof, lookups };
}

function parseLookup(l: unknown, field: string): IndexLookup {
  if (!isPlainObject(l)) shape(field, 'an object {by, value, count, chain, proof}', l);
  exactMembers(l, ['by', 'value', 'count', 'chain', 'proof'], field);
  if (l.by !== 'id' && l.by !== 'key') shape(`${field}.by`, '"id" or "key"', l.by);
  if (typeof l.value !== 'string') shape(`${field}.value`, 'a string', l.value);
  const count = safeCount(l.count, `${field}.count`);
  const chain = b64(l.chain, `${field}.chain`, HASH_SIZE);
  let proof: LookupProof;
  try {
    proof = parseLookupProof(l.proof);
  } catch (e) {
    if (e instanceof LogError) {
      fail('LOOKUP_PROOF_INVALID', 'proof', `${field}: ${e.message}`, {
        ...e.details,
        field: `${field}.proof`,
      });
    }
    throw e;
  }
  return { by: l.by, value: l.value, count, chain, proof };
}

/** One lookup after verification: the key, what the index proves (n, hn), and the chain so far. */
interface CheckedLookup {
  query: IndexQuery;
  key: Uint8Array;
  count: bigint;
  chain: Uint8Array;
  seen: bigint;
  running: Uint8Array;
}

/** AnswerVerdict is what finish returns: whether the answer is proved complete, and the counts. */
export interface AnswerVerdict {
  /** complete: true only for a one-parameter query whose every check passed. */
  complete: boolean;
  /** entries: the number of entries returned over all pages. */
  entries: number;
  /** treeSize: the size every page answered against. */
  treeSize: bigint;
  /** lookups: each lookup's n and hn (base64), as proved by the index. */
  lookups: { by: 'id' | 'key'; value: string; count: bigint; chain: string }[];
  /** reason: why the answer is not complete when it is not (an intersection). */
  reason?: string;
}

/**
 * IndexAnswer checks one query's answer against the index, page by page (SPEC.md "What a verifier
 * checks"): construct it with the first page's tree and index object (steps 1 and 2), give it every
 * page's entries with `page` in order (step 3; later pages also with their tree and index object,
 * which must be the first page's), then call `finish` (step 4). Every method throws the LogError of the
 * first check that fails (details.check names it) and nothing is complete until finish returns.
 */
export class IndexAnswer {
  readonly #tree: AnswerTree;
  readonly #index: IndexObject | null;
  readonly #leaf: IndexLeaf | undefined;
  readonly #lookups: CheckedLookup[];
  #last = -1n;
  #entries = 0;
  #finished = false;

  /**
   * The constructor checks the index object of the first page against its tree for `query` (one or
   * two parameters, as asked): null exactly when the tree is empty; otherwise the index leaf at size-1,
   * included, naming size-1; one lookup per parameter, by and value as asked; each lookup proof
   * verifying against the leaf's root and proving the lookup's count and chain. Throws
   * INDEX_LEAF_INVALID, LOOKUP_PROOF_INVALID or INDEX_ANSWER_INCOMPLETE (details.check) otherwise.
   */
  constructor(tree: AnswerTree, query: readonly IndexQuery[], index: IndexObject | null) {
    if (query.length < 1 || query.length > MAX_LOOKUPS) {
      throw new LogError('INDEX_OUT_OF_RANGE', `a query has 1 or 2 parameters, found ${query.length}`, {
        field: 'query',
      });
    }
    this.#tree = tree;
    this.#index = index;
    if (index === null) {
      if (tree.treeSize !== 0n) {
        fail(
          'INDEX_LEAF_INVALID',
          'index leaf',
          `index leaf: the answer against a checkpoint of size ${tree.treeSize} carries no index ("index": null); only an empty tree has none`,
        );
      }
      this.#leaf = undefined;
      this.#lookups = query.map((q) => ({
        query: q,
        key: queryMapKey(q.by, q.value),
        count: 0n,
        chain: emptyChain(),
        seen: 0n,
        running: emptyChain(),
      }));
      return;
    }
    this.#leaf = checkIndexLeaf(tree, index);
    this.#lookups = checkLookups(this.#leaf, query, index.lookups);
  }

  /**
   * page checks one page's entries, in order, continuing from the previous page (the first page's
   * entries go through page too). For a page after the first, pass its tree and index object: they
   * must be the first page's (check 'checkpoint', 'index object'). Throws INCLUSION_PROOF_INVALID
   * (check 'inclusion'), INDEX_ANSWER_INCOMPLETE (check 'order', 'key', 'count' when more entries come
   * than the index holds) for the first entry that fails.
   */
  page(items: readonly AnswerItem[], tree?: AnswerTree, index?: IndexObject | null): void {
    if (this.#finished) throw new Error('IndexAnswer.page after finish');
    if (tree !== undefined) this.#samePage(tree, index === undefined ? this.#index : index);
    for (const item of items) this.#item(item);
  }

  /**
   * finish ends the answer (step 4): for each lookup, the entries returned number n (fewer: check
   * 'missing entry'; more cannot reach here) and their chain equals hn (check 'chain'). Returns the
   * verdict: complete for a one-parameter query, not complete (reason) for an intersection.
   */
  finish(): AnswerVerdict {
    this.#finished = true;
    const single = this.#lookups.length === 1;
    for (const l of this.#lookups) {
      const what = `${l.query.by} ${JSON.stringify(l.query.value)}`;
      if (single && l.seen < l.count) {
        fail(
          'INDEX_ANSWER_INCOMPLETE',
          'missing entry',
          `missing entry: the index at size ${this.#tree.treeSize} holds ${l.count} entries for ${what}, the answer has ${l.seen}: ${l.count - l.seen} left out`,
          { expected: Number(l.count), found: Number(l.seen) },
        );
      }
      if (single && !bytesEqual(l.running, l.chain)) {
        fail(
          'INDEX_ANSWER_INCOMPLETE',
          'chain',
          `chain: the ${l.seen} entries returned for ${what} chain to ${hexEncode(l.running)}, but the index holds ${hexEncode(l.chain)}: the answer is not the set of entries the index commits to`,
        );
      }
    }
    return {
      complete: single,
      entries: this.#entries,
      treeSize: this.#tree.treeSize,
      lookups: this.#lookups.map((l) => ({
        by: l.query.by,
        value: l.query.value,
        count: l.count,
        chain: base64Encode(l.chain),
      })),
      ...(single
        ? {}
        : {
            reason:
              'an answer to both id and key is their intersection: both lookups verify, but completeness is defined for one parameter',
          }),
    };
  }

  #samePage(tree: AnswerTree, index: IndexObject | null): void {
    if (tree.treeSize !== this.#tree.treeSize || !bytesEqual(tree.rootHash, this.#tree.rootHash)) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'checkpoint',
        `checkpoint: a later page answers against a tree of size ${tree.treeSize}, the first page against size ${this.#tree.treeSize}; every page of one answer must use the first page's checkpoint`,
        { expected: Number(this.#tree.treeSize), found: Number(tree.treeSize) },
      );
    }
    if (!sameIndexObject(index, this.#index)) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'index object',
        'index object: a later page carries another index object than the first page; every page repeats it',
      );
    }
  }

  #item(item: AnswerItem): void {
    const size = this.#tree.treeSize;
    try {
      verifyInclusion(item.index, size, hashLeaf(item.entry), item.inclusionProof, this.#tree.rootHash);
    } catch (e) {
      if (!(e instanceof LogError)) throw e;
      fail(
        e.code === 'INDEX_OUT_OF_RANGE' ? 'INDEX_ANSWER_INCOMPLETE' : 'INCLUSION_PROOF_INVALID',
        'inclusion',
        `inclusion: entry ${item.index} against checkpoint size ${size} is not proved included: ${e.message}`,
        { index: Number(item.index), cause: e.code },
      );
    }
    if (item.index <= this.#last) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'order',
        `order: entry ${item.index} follows entry ${this.#last}; an answer lists entries in strictly increasing log order`,
        { index: Number(item.index) },
      );
    }
    this.#last = item.index;
    const kinded = (() => {
      try {
        return classifyEntry(item.entry);
      } catch (e) {
        if (!(e instanceof LogError)) throw e;
        return undefined;
      }
    })();
    for (const l of this.#lookups) {
      const keys = kinded?.kind === 'attestation' ? kinded.keys : undefined;
      const mine = l.query.by === 'id' ? keys?.identifier : keys?.signer;
      if (mine === undefined || !bytesEqual(mine, l.key)) {
        fail(
          'INDEX_ANSWER_INCOMPLETE',
          'key',
          `key: entry ${item.index} does not map to the queried ${l.query.by} ${JSON.stringify(l.query.value)}${kinded === undefined ? ' (not an entry of a valid kind)' : kinded.kind === 'index' ? ' (it is an index leaf)' : ''}`,
          { index: Number(item.index) },
        );
      }
      l.seen++;
      if (l.seen > l.count) {
        fail(
          'INDEX_ANSWER_INCOMPLETE',
          'count',
          `count: the answer returns more entries for ${l.query.by} ${JSON.stringify(l.query.value)} than the ${l.count} the index holds (entry ${item.index} is one too many)`,
          { index: Number(item.index), expected: Number(l.count) },
        );
      }
      l.running = chainStep(l.running, item.index);
    }
    this.#entries++;
  }
}

/**
 * checkIndexLeaf checks step 1 for a tree of size > 0: the index object's leaf is at size-1, proved
 * included in the tree, is an index leaf (log/index-map.ts parseIndexLeaf) and names size-1. Returns
 * the leaf; throws INDEX_LEAF_INVALID (details.check 'index leaf', details.cause) otherwise.
 */
export function checkIndexLeaf(
  tree: AnswerTree,
  index: Pick<IndexObject, 'leafIndex' | 'entry' | 'inclusionProof'>,
): IndexLeaf {
  const size = tree.treeSize;
  const bad = (why: string, details: Record<string, unknown> = {}): never =>
    fail('INDEX_LEAF_INVALID', 'index leaf', `index leaf: ${why}`, {
      leafIndex: Number(index.leafIndex),
      ...details,
    });
  if (size === 0n) bad('a tree of size 0 has no index leaf');
  if (index.leafIndex !== size - 1n) {
    bad(`the index leaf of a checkpoint of size ${size} is at ${size - 1n}, found one at ${index.leafIndex}`);
  }
  try {
    verifyInclusion(index.leafIndex, size, hashLeaf(index.entry), index.inclusionProof, tree.rootHash);
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    bad(
      `the entry at ${index.leafIndex} is not proved included in the checkpoint of size ${size}: ${e.message}`,
      {
        cause: e.code,
      },
    );
  }
  let leaf: IndexLeaf;
  try {
    leaf = parseIndexLeaf(index.entry);
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return bad(
      `the last entry (${index.leafIndex}) of the checkpoint of size ${size} is not an index leaf: ${e.message}`,
      { cause: e.code },
    );
  }
  if (leaf.size !== size - 1n) {
    bad(
      `the index leaf at ${index.leafIndex} names size ${leaf.size}; it must name its own position, ${size - 1n}`,
    );
  }
  return leaf;
}

/** Step 2: one lookup per query parameter, as asked; each proof verifies and proves its count and chain. */
function checkLookups(
  leaf: IndexLeaf,
  query: readonly IndexQuery[],
  lookups: readonly IndexLookup[],
): CheckedLookup[] {
  if (lookups.length !== query.length) {
    fail(
      'INDEX_ANSWER_INCOMPLETE',
      'lookup',
      `lookup: the query has ${query.length} parameter(s), the index object ${lookups.length} lookup(s); one lookup per parameter`,
    );
  }
  return query.map((q) => {
    const l = lookups.find((x) => x.by === q.by);
    if (l === undefined || l.value !== q.value) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'lookup',
        `lookup: expected a lookup by ${q.by} of ${JSON.stringify(q.value)} (as asked), found ${l === undefined ? 'none' : JSON.stringify(l.value)}`,
      );
    }
    const key = queryMapKey(q.by, q.value);
    let proved: { count: bigint; chain: Uint8Array };
    try {
      proved = verifyLookup(key, l.proof, leaf.root);
    } catch (e) {
      if (!(e instanceof LogError)) throw e;
      return fail(
        'LOOKUP_PROOF_INVALID',
        'proof',
        `proof: the lookup proof of ${q.by} ${JSON.stringify(q.value)} does not verify against the index root: ${e.message}`,
        { ...e.details, cause: e.code },
      );
    }
    if (proved.count !== l.count) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'count',
        `count: the answer says ${l.count} entries for ${q.by} ${JSON.stringify(q.value)}, the lookup proof proves ${proved.count}`,
        { expected: Number(proved.count), found: Number(l.count) },
      );
    }
    if (!bytesEqual(proved.chain, l.chain)) {
      fail(
        'INDEX_ANSWER_INCOMPLETE',
        'chain',
        `chain: the answer's chain for ${q.by} ${JSON.stringify(q.value)} is ${hexEncode(l.chain)}, the lookup proof proves ${hexEncode(proved.chain)}`,
      );
    }
    return { query: q, key, count: proved.count, chain: proved.chain, seen: 0n, running: emptyChain() };
  });
}

function sameBytesList(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => bytesEqual(x, b[i]!));
}

function sameProof(a: LookupProof, b: LookupProof): boolean {
  if (!bytesEqual(a.key, b.key) || !sameBytesList(a.siblings, b.siblings)) return false;
  if (a.leaf === null || b.leaf === null) return a.leaf === b.leaf;
  return bytesEqual(a.leaf.key, b.leaf.key) && bytesEqual(a.leaf.value, b.leaf.value);
}

function sameIndexObject(a: IndexObject | null, b: IndexObject | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.leafIndex === b.leafIndex &&
    bytesEqual(a.entry, b.entry) &&
    sameBytesList(a.inclusionProof, b.inclusionProof) &&
    a.lookups.length === b.lookups.length &&
    a.lookups.every((x, i) => {
      const y = b.lookups[i]!;
      return (
        x.by === y.by &&
        x.value === y.value &&
        x.count === y.count &&
        bytesEqual(x.chain, y.chain) &&
        sameProof(x.proof, y.proof)
      );
    })
  );
}

/**
 * verifyIndexAnswer checks a whole answer at once (IndexAnswer over its pages): `pages[0]` against
 * `tree`, later pages each with their own tree and index object. Returns the verdict; throws as
 * IndexAnswer does.
 */
export function verifyIndexAnswer(
  query: readonly IndexQuery[],
  pages: readonly { tree: AnswerTree; index: IndexObject | null; items: readonly AnswerItem[] }[],
): AnswerVerdict {
  if (pages.length === 0)
    throw new LogError('INDEX_OUT_OF_RANGE', 'an answer has at least one page', { field: 'pages' });
  const a = new IndexAnswer(pages[0]!.tree, query, pages[0]!.index);
  for (const [i, p] of pages.entries()) {
    if (i === 0) a.page(p.items);
    else a.page(p.items, p.tree, p.index);
  }
  return a.finish();
}
