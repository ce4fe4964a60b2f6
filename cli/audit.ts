/**
 * audit: what `sig audit` checks of one server. Each round: the current checkpoint, verified with the
 * pinned keys and proved consistent with the last kept one (cli/pinned.ts advanceCheckpoint); optionally
 * compared with checkpoints other auditors saw (--peer); optionally (--full) the whole log recomputed
 * from its tiles (c2sp.org/tlog-tiles) and every attestation re-verified.
 *
 * --full streams: one entry bundle at a time, with one partial tile per level and a compact range of
 * subtree roots (O(log n) hashes) in memory, whatever size the server claims. A size it cannot check
 * before the deadline is refused at once (SERVER_LIMIT_EXCEEDED); data that stops matching fails at the
 * first tile that differs. Either way the report says how far it got (details.entriesRead).
 */
import { readFileSync } from 'node:fs';
import { base64Encode, bytesEqual, concatBytes } from '../log/bytes.js';
import { parseEntry } from '../log/entry.js';
import { isLogError, LogError } from '../log/errors.js';
import { HASH_SIZE, hashChildren, hashLeaf, rootFromLeafHashes } from '../log/hash.js';
import { verifyAttestation } from '../log/signet.js';
import { decodeEntryBundle, ENTRIES_LEVEL, TILE_WIDTH, tilePath, tileWidthAt } from '../log/tiles.js';
import { CLIENT_LIMITS, type Deadline, SigClient } from './client.js';
import type { ServerEntry, SigHome } from './config.js';
import { CliError, withContext } from './errors.js';
import type { IndexAudit, IndexAuditResult } from './index-audit.js';
import { openCheckpoint, proveConsistent, type VerifiedCheckpoint } from './pinned.js';
import { Progress } from './progress.js';
import type { KeyLookup } from './trust.js';

/**
 * readPeerCheckpoint returns a checkpoint another auditor saw: a URL serving one (read within the
 * deadline and CLIENT_LIMITS.noteBytes), or a file.
 */
export async function readPeerCheckpoint(peer: string, deadline?: Deadline): Promise<string> {
  if (/^https?:\/\//.test(peer)) {
    return await withContext(`peer ${peer}`, () =>
      new SigClient(peer, { deadline }).text('', CLIENT_LIMITS.noteBytes, 'a checkpoint'),
    );
  }
  try {
    return readFileSync(peer, 'utf8');
  } catch (e) {
    throw new CliError(
      'USAGE',
      `--peer ${peer}: not a URL and not a readable file (${(e as Error).message})`,
    );
  }
}

/**
 * comparePeer verifies a peer's checkpoint with the server's pinned keys and checks it against ours:
 * equal sizes need equal roots, different sizes a consistency proof from the server. FORK_DETECTED
 * (evidence written) when they cannot both be true.
 */
export async function comparePeer(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  mine: VerifiedCheckpoint,
  peer: string,
): Promise<{ peer: string; treeSize: bigint }> {
  const note = await readPeerCheckpoint(peer, client.deadline);
  const theirs = await openCheckpoint(server, note, `peer checkpoint ${peer}`);
  await proveConsistent(home, server, client, mine, theirs);
  return { peer, treeSize: theirs.checkpoint.treeSize };
}

/** MAX_REPORTED_INVALID is how many invalid attestations a full audit lists (it counts them all). */
export const MAX_REPORTED_INVALID = 100;

/** FullAuditResult is what --full found. */
export interface FullAuditResult {
  entries: number;
  hashTiles: number;
  entryBundles: number;
  attestationsVerified: number;
  /** invalidAttestations lists the first MAX_REPORTED_INVALID; invalidCount counts them all. */
  invalidAttestations: { index: number; reason: string }[];
  invalidCount: number;
  /** index: the index replay (cli/index-audit.ts), when one was asked for. */
  index?: IndexAuditResult;
}

/**
 * TileChecker takes the hashes of one tree level after another (c2sp.org/tlog-tiles) and checks each
 * hash tile against the server's as soon as it is complete, keeping one partial tile per level.
 */
class TileChecker {
  /** rows[L] holds the hashes of tile level L not yet in a complete tile; next[L] is its tile index. */
  private readonly rows: Uint8Array[][] = [];
  private readonly next: bigint[] = [];
  hashTiles = 0;

  constructor(
    private readonly fetchTile: (level: number, index: bigint, width: number) => Promise<Uint8Array>,
  ) {}

  /** push adds the next hash of tile level `level`; a full tile is checked and its root moves up a level. */
  async push(level: number, hash: Uint8Array): Promise<void> {
    const row = this.rows[level] ?? [];
    this.rows[level] = row;
    row.push(hash);
    if (row.length < TILE_WIDTH) return;
    const index = this.next[level] ?? 0n;
    await this.check(level, index, row);
    this.next[level] = index + 1n;
    this.rows[level] = [];
    await this.push(level + 1, rootFromLeafHashes(row));
  }

  /** finish checks the partial tile of every level, once the last leaf is in. */
  async finish(): Promise<void> {
    for (const [level, row] of this.rows.entries()) {
      if (row && row.length > 0) await this.check(level, this.next[level] ?? 0n, row);
    }
  }

  private async check(level: number, index: bigint, row: readonly Uint8Array[]): Promise<void> {
    const got = await this.fetchTile(level, index, row.length);
    if (got.length !== row.length * HASH_SIZE || !bytesEqual(got, concatBytes(...row))) {
      const p = tilePath({ level, index, width: row.length });
      throw new CliError(
        'SERVER_RESPONSE_INVALID',
        `hash tile ${p} differs from the one recomputed from the entries`,
      );
    }
    this.hashTiles++;
  }
}

/**
 * CompactRange keeps the roots of the complete subtrees of the leaves seen so far (RFC 9162 §2.1.1,
 * sizes strictly decreasing): O(log n) hashes for any n, and the root of the whole tree at the end.
 */
class CompactRange {
  private readonly stack: { size: bigint; hash: Uint8Array }[] = [];

  /** append adds the next leaf hash. */
  append(leaf: Uint8Array): void {
    let node = { size: 1n, hash: leaf };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === node.size) {
      const left = this.stack.pop()!;
      node = { size: left.size * 2n, hash: hashChildren(left.hash, node.hash) };
    }
    this.stack.push(node);
  }

  /** root returns MTH of the leaves appended (the empty tree's root when none). */
  root(): Uint8Array {
    if (this.stack.length === 0) return rootFromLeafHashes([]);
    let h = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) h = hashChildren(this.stack[i]!.hash, h);
    return h;
  }
}

/**
 * fullAudit reads every entry bundle of the checkpoint's tree in order, recomputes the leaf hashes,
 * every hash tile (checked against the server's as soon as it is complete) and the root (RFC 6962
 * MTH, compared with the signed checkpoint), and re-verifies every attestation with its signer's key
 * (`lookup`); with `index` (cli/index-audit.ts) it also replays the index and checks every index leaf,
 * throwing INDEX_FRAUD (evidence written) for a wrong one. Throws SERVER_LIMIT_EXCEEDED at once when the tree is larger than it can check before
 * the deadline (CLIENT_LIMITS.auditEntriesPerSecond times the seconds left), SERVER_RESPONSE_INVALID
 * when the data does not make the signed tree; errors carry details.entriesRead. Attestations that
 * fail are returned, not thrown.
 */
export async function fullAudit(
  server: ServerEntry,
  client: SigClient,
  cp: VerifiedCheckpoint,
  lookup: KeyLookup,
  showProgress: boolean,
  index?: IndexAudit,
): Promise<FullAuditResult> {
  const size = cp.checkpoint.treeSize;
  const deadline = client.deadline;
  if (deadline) {
    const most = BigInt(Math.floor((deadline.remainingMs() / 1000) * CLIENT_LIMITS.auditEntriesPerSecond));
    if (size > most) {
      throw new CliError(
        'SERVER_LIMIT_EXCEEDED',
        `server ${server.name}: its signed checkpoint claims a tree of ${size} entries; --full checks at most ${CLIENT_LIMITS.auditEntriesPerSecond} entries a second, so at most ${most} in the ${Math.round(deadline.remainingMs() / 1000)}s left of --timeout: not starting a check that cannot finish (raise --timeout if the log really is that large)`,
        { treeSize: size.toString(), limit: most.toString(), entriesRead: 0 },
      );
    }
  }
  const bundles = (size + BigInt(TILE_WIDTH) - 1n) / BigInt(TILE_WIDTH);
  const bar = new Progress(`auditing ${server.name}`, Number(bundles), showProgress);
  const tiles = new TileChecker((level, index, width) => client.tile({ level, index, width }));
  const range = new CompactRange();
  const result: FullAuditResult = {
    entries: 0,
    hashTiles: 0,
    entryBundles: 0,
    attestationsVerified: 0,
    invalidAttestations: [],
    invalidCount: 0,
  };
  try {
    for (let b = 0n; b < bundles; b++) {
      deadline?.check(`server ${server.name}: full audit at entry ${result.entries} of ${size}`);
      const width = tileWidthAt(ENTRIES_LEVEL, b, size);
      const coord = { level: ENTRIES_LEVEL, index: b, width };
      const entries = await withContext(`server ${server.name}: ${tilePath(coord)}`, async () =>
        decodeEntryBundle(await client.tile(coord), width),
      );
      for (const e of entries) {
        const leaf = hashLeaf(e);
        range.append(leaf);
        result.entries++;
        await tiles.push(0, leaf);
      }
      result.entryBundles++;
      const first = b * BigInt(TILE_WIDTH);
      for (const [i, e] of entries.entries()) {
        if (index?.entry(e, first + BigInt(i))) continue; // an index leaf: replayed, not an attestation
        await verifyOne(e, Number(first) + i, lookup, result);
      }
      bar.tick();
    }
    await tiles.finish();
    const root = range.root();
    if (!bytesEqual(root, cp.checkpoint.rootHash)) {
      throw new CliError(
        'SERVER_RESPONSE_INVALID',
        `the ${size} entries in its entry bundles hash to root ${base64Encode(root)}, but its signed checkpoint says ${base64Encode(cp.checkpoint.rootHash)}`,
      );
    }
    // The entries are the signed tree's: a wrong index leaf among them is the log's own (INDEX_FRAUD).
    if (index) result.index = await index.finish();
  } catch (e) {
    // Say how far the audit got: entriesRead entries were read and hashed.
    const entriesRead = result.entries;
    const say = (m: string) => (m.startsWith(`server ${server.name}`) ? m : `server ${server.name}: ${m}`);
    if (e instanceof CliError) throw new CliError(e.code, say(e.message), { ...e.details, entriesRead });
    if (isLogError(e)) throw new LogError(e.code, say(e.message), { ...e.details, entriesRead });
    throw e;
  } finally {
    bar.finish();
  }
  result.hashTiles = tiles.hashTiles;
  return result;
}

/** verifyOne re-verifies one logged attestation, counting it as verified or invalid in `result`. */
async function verifyOne(
  entry: Uint8Array,
  index: number,
  lookup: KeyLookup,
  result: FullAuditResult,
): Promise<void> {
  try {
    const parsed = parseEntry(entry);
    const found = await lookup(parsed.attestation.key);
    if (!found.key) throw new CliError('SERVER_RESPONSE_INVALID', found.reason);
    await verifyAttestation(parsed.attestation, found.key);
    result.attestationsVerified++;
  } catch (err) {
    if (!isLogError(err) && !(err instanceof CliError)) throw err;
    if (err instanceof CliError && err.code === 'DEADLINE_EXCEEDED') throw err;
    result.invalidCount++;
    if (result.invalidAttestations.length < MAX_REPORTED_INVALID)
      result.invalidAttestations.push({ index, reason: `${err.code}: ${err.message}` });
  }
}
