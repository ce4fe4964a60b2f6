/**
 * audit: what `sig audit` checks of one server. Each round: the current checkpoint, verified with the
 * pinned keys and proved consistent with the last kept one (cli/verify.ts advanceCheckpoint); optionally
 * compared with checkpoints other auditors saw (--peer); optionally (--full) the whole log recomputed
 * from its tiles (c2sp.org/tlog-tiles) and every attestation re-verified.
 */
import { readFileSync } from 'node:fs';
import type { PublicKey } from 'openpgp';
import { parseEntry } from '../log/entry.js';
import { isLogError } from '../log/errors.js';
import { hashLeaf, rootFromLeafHashes } from '../log/hash.js';
import { verifyAttestation } from '../log/signet.js';
import {
  appendLeaves,
  decodeEntryBundle,
  entryBundlesForSize,
  type TileCoord,
  tilePath,
  tilesForSize,
} from '../log/tiles.js';
import type { SigClient } from './client.js';
import type { ServerEntry, SigHome } from './config.js';
import { CliError } from './errors.js';
import { Progress } from './progress.js';
import { keyLookup } from './remote.js';
import { openCheckpoint, proveConsistent, type VerifiedCheckpoint, withContext } from './verify.js';

/** readPeerCheckpoint returns a checkpoint another auditor saw: a URL serving one, or a file. */
export async function readPeerCheckpoint(peer: string): Promise<string> {
  if (/^https?:\/\//.test(peer)) {
    let res: Response;
    try {
      res = await fetch(peer, { signal: AbortSignal.timeout(30_000) });
    } catch (e) {
      throw new CliError('SERVER_UNAVAILABLE', `peer ${peer}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new CliError('SERVER_UNAVAILABLE', `peer ${peer} answered ${res.status}`);
    return await res.text();
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
  const note = await readPeerCheckpoint(peer);
  const theirs = await openCheckpoint(server, note, `peer checkpoint ${peer}`);
  await proveConsistent(home, server, client, mine, theirs);
  return { peer, treeSize: theirs.checkpoint.treeSize };
}

/** FullAuditResult is what --full found. */
export interface FullAuditResult {
  entries: number;
  hashTiles: number;
  entryBundles: number;
  attestationsVerified: number;
  invalidAttestations: { index: number; reason: string }[];
}

/**
 * fullAudit downloads every entry bundle and hash tile of the checkpoint's tree, recomputes the leaf
 * hashes, the root (RFC 6962 MTH) and every hash tile (log/tiles.ts appendLeaves over an empty tree),
 * compares them with the checkpoint and the downloaded tiles, and re-verifies every attestation with its
 * signer's key (local keys or GET /v1/keys). Throws SERVER_RESPONSE_INVALID when the tiles do not make
 * the signed root; attestations that fail are returned, not thrown.
 */
export async function fullAudit(
  home: SigHome,
  server: ServerEntry,
  client: SigClient,
  cp: VerifiedCheckpoint,
  showProgress: boolean,
): Promise<FullAuditResult> {
  const size = cp.checkpoint.treeSize;
  const bundles = entryBundlesForSize(size);
  const tiles = tilesForSize(size);
  const bar = new Progress(`auditing ${server.name}`, bundles.length + tiles.length, showProgress);
  const leafHashes: Uint8Array[] = [];
  const entries: Uint8Array[] = [];
  for (const b of bundles) {
    const data = await withContext(`server ${server.name}: ${tilePath(b)}`, async () =>
      decodeEntryBundle(await client.tile(tilePath(b)), b.width),
    );
    for (const e of data) {
      entries.push(e);
      leafHashes.push(hashLeaf(e));
    }
    bar.tick();
  }
  if (BigInt(leafHashes.length) !== size) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `server ${server.name}: entry bundles hold ${leafHashes.length} entries, the checkpoint says ${size}`,
    );
  }
  const root = rootFromLeafHashes(leafHashes);
  if (Buffer.compare(Buffer.from(root), Buffer.from(cp.checkpoint.rootHash)) !== 0) {
    throw new CliError(
      'SERVER_RESPONSE_INVALID',
      `server ${server.name}: the ${size} entries in its entry bundles hash to root ${Buffer.from(root).toString('base64')}, but its signed checkpoint says ${Buffer.from(cp.checkpoint.rootHash).toString('base64')}`,
    );
  }
  const computed = await appendLeaves(0n, leafHashes, async (want: readonly TileCoord[]) => {
    if (want.length > 0) throw new Error('appendLeaves on an empty tree asked for existing tiles');
    return [];
  });
  const expected = new Map(computed.tiles.map((t) => [tilePath(t.tile), t.data]));
  for (const t of tiles) {
    const p = tilePath(t);
    const got = await withContext(`server ${server.name}`, () => client.tile(p));
    const want = expected.get(p);
    if (!want || Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) {
      throw new CliError(
        'SERVER_RESPONSE_INVALID',
        `server ${server.name}: hash tile ${p} differs from the one recomputed from the entries`,
      );
    }
    bar.tick();
  }
  bar.finish();
  const lookup = keyLookup(home, [server]);
  const invalid: { index: number; reason: string }[] = [];
  let verified = 0;
  for (const [i, e] of entries.entries()) {
    try {
      const entry = parseEntry(e);
      const key: PublicKey | undefined = await lookup(entry.attestation.key);
      if (!key)
        throw new CliError('SERVER_RESPONSE_INVALID', `no key ${entry.attestation.key} on the server`);
      await verifyAttestation(entry.attestation, key);
      verified++;
    } catch (err) {
      if (!isLogError(err) && !(err instanceof CliError)) throw err;
      invalid.push({ index: i, reason: `${err.code}: ${err.message}` });
    }
  }
  return {
    entries: entries.length,
    hashTiles: tiles.length,
    entryBundles: bundles.length,
    attestationsVerified: verified,
    invalidAttestations: invalid,
  };
}
