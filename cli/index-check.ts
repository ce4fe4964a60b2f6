/**
 * index-check: what the CLI checks of a server's index (SPEC.md "The index: answers that are provably
 * complete"), on top of cli/pinned.ts. The checks themselves are log/index-answer.ts and
 * log/index-map.ts, the code the server proves with.
 *
 * - The pin: `sig server add` keeps whether the server has the index (`/v1/server` `"index":
 *   {"version": 1}`) in servers.json (`"index": {"version": 1}` on the server's entry). A server pinned
 *   before it had the index stays index-less until it is removed and added again.
 * - Checkpoints: every checkpoint of size > 0 from an indexed server must end with a valid index leaf
 *   (at size-1, included, naming size-1); requireIndexLeaf fetches and checks it (GET /v1/entries and
 *   GET /v1/proof/inclusion) unless an answer already carried it. Anything else is INDEX_LEAF_INVALID
 *   (exit 4): the checkpoint is not kept.
 * - Answers: AnswerCheck checks each page of `GET /v1/attestations` with log/index-answer.ts IndexAnswer
 *   and says at the end whether the answer is complete. An answer that carries an index is always
 *   checked (a wrong index is invalid whatever the pin says); an indexed server's answer without one is
 *   INDEX_ANSWER_INCOMPLETE; an index-less server's answer (no `index`, or `"index": null` for a
 *   checkpoint signed before its index began) is reported as not proved complete.
 */
import { base64Encode } from '../log/bytes.js';
import type { Checkpoint } from '../log/checkpoint.js';
import { LogError } from '../log/errors.js';
import {
  type AnswerVerdict,
  checkIndexLeaf,
  IndexAnswer,
  type IndexQuery,
  parseIndexObject,
} from '../log/index-answer.js';
import { INDEX_VERSION, type IndexLeaf, parseIndexLeaf } from '../log/index-map.js';
import type { RawItem, RawPage, ServerInfo, SigClient } from './client.js';
import type { ServerEntry } from './config.js';
import { CliError, withContext } from './errors.js';

/** IndexPin is what servers.json keeps of a server's index: the format version it advertised. */
export interface IndexPin {
  index?: { version: typeof INDEX_VERSION };
}

/** A checkpoint as cli/pinned.ts verified it (only what is needed here, to keep the import one-way). */
interface OpenedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
}

/**
 * indexPinOf returns what to pin of a server's index from its GET /v1/server (`ctx` names it in errors): `{index: {version: 1}}`
 * when it advertises version 1, nothing when it has no `index`. Throws SERVER_RESPONSE_INVALID for an
 * `index` of another shape or version (this client checks version 1 only, and will not pin a server
 * it cannot check as if it had no index).
 */
export function indexPinOf(info: ServerInfo, ctx: string): IndexPin {
  const v = info.index;
  if (v === undefined || v === null) return {};
  const ok =
    typeof v === 'object' && !Array.isArray(v) && (v as { version?: unknown }).version === INDEX_VERSION;
  if (!ok) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `${ctx}: expected "index": {"version": ${INDEX_VERSION}} (the index format this client checks) or none, found ${JSON.stringify(v)?.slice(0, 80)}; upgrade sig if the server has a newer index format`,
    );
  }
  return { index: { version: INDEX_VERSION } };
}

/**
 * hasIndex reports whether a pinned server has the index. Throws LOCAL_DATA_INVALID when servers.json
 * holds an `index` member that is not `{"version": 1}`.
 */
export function hasIndex(server: ServerEntry): boolean {
  const v = (server as ServerEntry & { index?: unknown }).index;
  if (v === undefined) return false;
  if (typeof v === 'object' && v !== null && (v as { version?: unknown }).version === INDEX_VERSION)
    return true;
  throw new CliError(
    'LOCAL_DATA_INVALID',
    `servers.json: server ${server.name} has "index": ${JSON.stringify(v)?.slice(0, 80)}, expected {"version": ${INDEX_VERSION}} or none; \`sig server remove ${server.name}\` and add it again`,
    { name: server.name },
  );
}

/** The index leaves already checked in this process, by origin, size and root: each is fetched once. */
const checkedLeaves = new Map<string, IndexLeaf>();
const leafKey = (server: ServerEntry, c: Checkpoint) =>
  `${server.origin}\n${c.treeSize}\n${base64Encode(c.rootHash)}`;

/**
 * requireIndexLeaf checks that a verified checkpoint of an indexed server ends with a valid index leaf
 * (SPEC.md "What a verifier checks", first point) and returns it; undefined for an index-less server
 * or an empty tree. It reads entry size-1 (GET /v1/entries) and its inclusion proof (GET
 * /v1/proof/inclusion) unless this process already checked that tree's leaf. Throws INDEX_LEAF_INVALID
 * (details.check 'index leaf') naming the server and the checkpoint, and what the client throws.
 */
export async function requireIndexLeaf(
  server: ServerEntry,
  client: SigClient,
  cp: OpenedCheckpoint,
): Promise<IndexLeaf | undefined> {
  const size = cp.checkpoint.treeSize;
  if (!hasIndex(server) || size === 0n) return undefined;
  const k = leafKey(server, cp.checkpoint);
  const known = checkedLeaves.get(k);
  if (known) return known;
  const ctx = `server ${server.name}: checkpoint of size ${size}`;
  const last = size - 1n;
  const got = await withContext(ctx, async () =>
    (await client.entries(last, 1)).find((e) => e.index === last),
  );
  if (!got) {
    throw new LogError(
      'INDEX_LEAF_INVALID',
      `${ctx}: index leaf: GET /v1/entries?start=${last}&limit=1 did not return entry ${last}, the index leaf every checkpoint of an indexed server ends with`,
      { check: 'index leaf', leafIndex: Number(last) },
    );
  }
  const inclusionProof = await withContext(ctx, () => client.inclusionProof(last, size));
  const leaf = await withContext(ctx, () =>
    checkIndexLeaf(cp.checkpoint, { leafIndex: last, entry: got.entry, inclusionProof }),
  );
  checkedLeaves.set(k, leaf);
  return leaf;
}

/** AnswerReport is what a server report says of an answer's completeness. */
export interface AnswerReport {
  /** complete: every check of SPEC.md "What a verifier checks" passed for this one-parameter query. */
  complete: boolean;
  /** completeness: one line saying why the answer is or is not complete. */
  completeness: string;
  /** index: what the index proves (n and hn) at the answer's tree size, when the server has one. */
  index?: { treeSize: bigint; count: bigint; chain: string };
}

/**
 * AnswerCheck checks one server's answer to one query, page by page: the first page's index object
 * against its checkpoint (leaf and lookups), every page's entries, and at the end the count and chain
 * over all pages (log/index-answer.ts IndexAnswer). Errors name the server and the query.
 */
export class AnswerCheck {
  readonly #server: ServerEntry;
  readonly #query: IndexQuery[];
  readonly #ctx: string;
  #answer: IndexAnswer | undefined;
  #indexless = false;
  #pages = 0;

  /** The constructor takes the server and the query as asked (one or two parameters). */
  constructor(server: ServerEntry, query: IndexQuery[]) {
    this.#server = server;
    this.#query = query;
    this.#ctx = `server ${server.name}: answer for ${query.map((q) => `${q.by} ${JSON.stringify(q.value)}`).join(' and ')}`;
  }

  /**
   * page checks one page against its verified checkpoint. Throws INDEX_LEAF_INVALID,
   * LOOKUP_PROOF_INVALID, INCLUSION_PROOF_INVALID or INDEX_ANSWER_INCOMPLETE (details.check names what
   * failed), the message naming the server and the query.
   */
  async page(page: RawPage, cp: OpenedCheckpoint): Promise<void> {
    const first = this.#pages++ === 0;
    await withContext(this.#ctx, () => {
      // An index-less server's `"index": null` (a checkpoint signed before its index began) is no index.
      const carried = page.index !== undefined && (page.index !== null || hasIndex(this.#server));
      if (!carried) {
        if (hasIndex(this.#server)) {
          throw new LogError(
            'INDEX_ANSWER_INCOMPLETE',
            `index object: the server advertised the index when it was pinned, but page ${this.#pages} carries no "index"; an answer without it cannot be proved complete`,
            { check: 'index object' },
          );
        }
        if (!first && !this.#indexless) this.#changed();
        this.#indexless = true;
        return;
      }
      if (!first && this.#indexless) this.#changed();
      const index = parseIndexObject(page.index);
      const items = page.attestations.map(asItem);
      if (first) {
        this.#answer = new IndexAnswer(cp.checkpoint, this.#query, index);
        if (index !== null) {
          checkedLeaves.set(leafKey(this.#server, cp.checkpoint), parseIndexLeaf(index.entry));
        }
        this.#answer.page(items);
      } else {
        this.#answer!.page(items, cp.checkpoint, index);
      }
    });
  }

  /** finish ends the answer: its count and chain over all pages. Throws as page does. */
  async finish(): Promise<AnswerReport> {
    if (this.#answer === undefined) {
      return {
        complete: false,
        completeness: 'not proved complete: the server has no index (its answers prove inclusion only)',
      };
    }
    const v: AnswerVerdict = await withContext(this.#ctx, () => this.#answer!.finish());
    const l = v.lookups[0]!;
    const index = { treeSize: v.treeSize, count: l.count, chain: l.chain };
    if (!v.complete) return { complete: false, completeness: `not complete: ${v.reason}`, index };
    return {
      complete: true,
      completeness: `complete: the index at size ${v.treeSize} holds ${l.count} entr${l.count === 1n ? 'y' : 'ies'}, all returned`,
      index,
    };
  }

  #changed(): never {
    throw new LogError(
      'INDEX_ANSWER_INCOMPLETE',
      'index object: some pages of the answer carry an "index" and some do not; every page repeats the first page\'s',
      { check: 'index object' },
    );
  }
}

function asItem(it: RawItem) {
  return { index: it.index, entry: it.entry, inclusionProof: it.inclusionProof };
}
