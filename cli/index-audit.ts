/**
 * index-audit: `sig audit --full` replays the index (SPEC.md "What an auditor checks"). As the full
 * audit streams the log's entries in order (cli/audit.ts fullAudit), each one goes through
 * log/index-map.ts IndexReplayer: attestation entries update the map, and every index leaf, wherever it
 * stands, must name its own position and hold the root recomputed from the entries before it.
 *
 * A mismatch is fraud signed by the log: once the whole tree is proved to be the signed checkpoint's
 * (fullAudit checks the root first), finish writes the evidence to $SIG_DIR/evidence/<server>-<time>/
 * and throws INDEX_FRAUD (exit 9):
 *   - checkpoint.<size>: the signed checkpoint the entries were proved against;
 *   - index-leaf.json: the index leaf (index, entry bytes, inclusion proof against that checkpoint),
 *     what it claims (root, size) and what the replay computed (root, position);
 *   - entry.json: the entry it misrepresents: the last attestation entry before it (index, bytes,
 *     inclusion proof), the newest the leaf had to cover, and the range of entries since the index leaf
 *     before it;
 *   - README.txt: how to check it with the pinned keys and any other implementation of the format.
 * Memory: the map (about 150 bytes a key) and one entry.
 */
import { base64Encode, bytesEqual } from '../log/bytes.js';
import { LogError } from '../log/errors.js';
import { hashLeaf } from '../log/hash.js';
import { IndexReplayer, type ReplayStep } from '../log/index-map.js';
import { verifyInclusion } from '../log/proof.js';
import type { SigClient } from './client.js';
import { type ServerEntry, type SigHome, writeFileAtomic } from './config.js';
import type { VerifiedCheckpoint } from './pinned.js';

/** IndexAuditResult is what the replay found, in the --full report. */
export interface IndexAuditResult {
  /** indexLeaves: index leaves replayed and checked. */
  indexLeaves: number;
  /** replayed: entries replayed (all of them, unless one had no valid kind: then up to it). */
  replayed: number;
  /** mapRoot: the map root recomputed over the entries replayed (base64). */
  mapRoot: string;
  /** stoppedAt: the entry of no valid kind the replay stopped at, and why. */
  stoppedAt?: { index: number; reason: string };
}

/** The first wrong index leaf: the step, its bytes, and what the evidence needs from before it. */
interface Mismatch {
  step: Extract<ReplayStep, { kind: 'index' }>;
  entry: Uint8Array;
  before: { index: bigint; entry: Uint8Array } | undefined;
  segmentFrom: bigint;
}

/**
 * IndexAudit replays the index along a full audit of one server's checkpoint: feed it every entry in
 * log order with `entry`, then call `finish` after the tree was proved to be the checkpoint's.
 */
export class IndexAudit {
  readonly #home: SigHome;
  readonly #server: ServerEntry;
  readonly #client: SigClient;
  readonly #cp: VerifiedCheckpoint;
  readonly #replay = new IndexReplayer();
  #indexLeaves = 0;
  #mismatches = 0;
  #first: Mismatch | undefined;
  #lastAttestation: { index: bigint; entry: Uint8Array } | undefined;
  #segmentFrom = 0n;
  #stopped: { index: number; reason: string } | undefined;

  /** The constructor takes where evidence goes (home, server), the server's client and the audited checkpoint. */
  constructor(home: SigHome, server: ServerEntry, client: SigClient, cp: VerifiedCheckpoint) {
    this.#home = home;
    this.#server = server;
    this.#client = client;
    this.#cp = cp;
  }

  /**
   * entry replays the entry at `index` (entries must come in log order from 0) and returns true when it
   * is an index leaf (not an attestation to re-verify). An entry of no valid kind stops the replay
   * there (reported by finish; the audit reports the entry itself) and returns false.
   */
  entry(entry: Uint8Array, index: bigint): boolean {
    if (this.#stopped) return false;
    if (index !== this.#replay.size)
      throw new Error(`IndexAudit: entry ${index} out of order (at ${this.#replay.size})`);
    let step: ReplayStep;
    try {
      step = this.#replay.append(entry);
    } catch (e) {
      if (!(e instanceof LogError)) throw e;
      this.#stopped = { index: Number(index), reason: `${e.code}: ${e.message}` };
      return false;
    }
    if (step.kind === 'attestation') {
      this.#lastAttestation = { index, entry };
      return false;
    }
    this.#indexLeaves++;
    if (!step.sizeMatches || !step.rootMatches) {
      this.#mismatches++;
      this.#first ??= { step, entry, before: this.#lastAttestation, segmentFrom: this.#segmentFrom };
    }
    this.#segmentFrom = index + 1n;
    return true;
  }

  /**
   * finish returns what the replay found; on a wrong index leaf it writes the evidence and throws
   * INDEX_FRAUD (details: index, evidence, mismatches). Call it only after the entries were proved to
   * hash to the checkpoint's root: only then is a wrong leaf the signed log's own.
   */
  async finish(): Promise<IndexAuditResult> {
    const result: IndexAuditResult = {
      indexLeaves: this.#indexLeaves,
      replayed: Number(this.#replay.size),
      mapRoot: base64Encode(this.#replay.root()),
      ...(this.#stopped ? { stoppedAt: this.#stopped } : {}),
    };
    const m = this.#first;
    if (!m) return result;
    const dir = await this.#writeEvidence(m);
    const s = m.step;
    const what = !s.sizeMatches
      ? `names size ${s.leaf.size}, not its own position ${s.index}`
      : `holds root ${base64Encode(s.leaf.root)}, but the entries before it give ${base64Encode(s.root)}`;
    throw new LogError(
      'INDEX_FRAUD',
      `index fraud: the index leaf at ${s.index}, in the tree of the checkpoint of size ${this.#cp.checkpoint.treeSize} signed by the pinned keys, ${what}${this.#mismatches > 1 ? ` (${this.#mismatches} wrong index leaves in all)` : ''}; its answers about entries ${m.segmentFrom} to ${s.index - 1n} cannot be believed; evidence in ${dir}`,
      { index: Number(s.index), mismatches: this.#mismatches, evidence: dir },
    );
  }

  /** The inclusion proof of entry `index` in the audited tree, from the server, checked (or why not). */
  async #proof(
    index: bigint,
    entry: Uint8Array,
  ): Promise<{ inclusionProof: string[] } | { proofError: string }> {
    const size = this.#cp.checkpoint.treeSize;
    try {
      const proof = await this.#client.inclusionProof(index, size);
      verifyInclusion(index, size, hashLeaf(entry), proof, this.#cp.checkpoint.rootHash);
      return { inclusionProof: proof.map(base64Encode) };
    } catch (e) {
      if (e instanceof LogError || (e as { code?: unknown }).code !== undefined) {
        return { proofError: `the server gave no valid inclusion proof: ${(e as Error).message}` };
      }
      throw e;
    }
  }

  async #writeEvidence(m: Mismatch): Promise<string> {
    const cp = this.#cp;
    const size = cp.checkpoint.treeSize;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = this.#home.evidenceDir(this.#server.name, `index-${stamp}`);
    const s = m.step;
    writeFileAtomic(`${dir}/checkpoint.${size}`, cp.note);
    const json = (v: unknown) =>
      `${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x), 2)}\n`;
    writeFileAtomic(
      `${dir}/index-leaf.json`,
      json({
        treeSize: size,
        index: s.index,
        entry: base64Encode(m.entry),
        entryText: new TextDecoder().decode(m.entry),
        ...(await this.#proof(s.index, m.entry)),
        claimed: { root: base64Encode(s.leaf.root), size: s.leaf.size },
        recomputed: { root: base64Encode(s.root), size: s.index },
        sizeMatches: s.sizeMatches,
        rootMatches: bytesEqual(s.leaf.root, s.root),
      }),
    );
    if (m.before) {
      writeFileAtomic(
        `${dir}/entry.json`,
        json({
          treeSize: size,
          index: m.before.index,
          entry: base64Encode(m.before.entry),
          entryText: new TextDecoder().decode(m.before.entry),
          ...(await this.#proof(m.before.index, m.before.entry)),
          segment: { from: m.segmentFrom, to: s.index - 1n },
        }),
      );
    }
    writeFileAtomic(
      `${dir}/README.txt`,
      `Index fraud evidence for server ${this.#server.name} (${this.#server.url})
origin: ${this.#server.origin}
vkey: ${this.#server.vkey}
OpenPGP fingerprint: ${this.#server.fingerprint}

checkpoint.${size} is signed by the pinned keys. index-leaf.json is the log's entry ${s.index}, with
its inclusion proof against that checkpoint: an index leaf (SPEC.md "The index") claiming root
${base64Encode(s.leaf.root)} and size ${s.leaf.size}. Replaying entries 0 to ${s.index - 1n} of the same
tree (sig audit --full, or any implementation of the index format) gives the map root
${base64Encode(s.root)} at position ${s.index}. ${s.sizeMatches ? 'The roots differ.' : 'The leaf does not name its own position.'}
entry.json is the last attestation entry before the leaf (entries ${m.segmentFrom} to ${s.index - 1n} came after
the index leaf before it), which the leaf had to cover.
`,
    );
    return dir;
  }
}
