/**
 * logread: reading single entries and proofs for `sig log`, each verified against a checkpoint signed by
 * the server's pinned keys (RFC 9162 §2.1.3.2, §2.1.4.2). Roots of older tree sizes are computed from
 * the log's hash tiles (c2sp.org/tlog-tiles) and authenticated by a consistency proof to the signed
 * checkpoint before anything is checked against them.
 */
import { treeHash, verifyConsistency } from '../log/proof.js';
import { type TileCoord, tileHashReader } from '../log/tiles.js';
import type { SigClient } from './client.js';
import type { ServerEntry, SigHome } from './config.js';
import { CliError, withContext } from './errors.js';
import type { VerifiedCheckpoint } from './pinned.js';

/** pickServer returns the named server, or the only configured one; USAGE when ambiguous or none. */
export function pickServer(home: SigHome, name?: string): ServerEntry {
  if (name !== undefined) return home.server(name);
  const all = home.servers();
  if (all.length === 1) return all[0]!;
  if (all.length === 0)
    throw new CliError('NO_SERVER', 'no server configured: add one with `sig server add <url>`');
  throw new CliError(
    'USAGE',
    `several servers are configured: pass --server (one of ${all.map((s) => s.name).join(', ')})`,
  );
}

/** parseIndexArg returns a CLI argument as a non-negative bigint; USAGE otherwise. */
export function parseIndexArg(text: string, what: string): bigint {
  if (!/^(0|[1-9][0-9]*)$/.test(text))
    throw new CliError('USAGE', `${what} must be a non-negative integer, found ${JSON.stringify(text)}`);
  return BigInt(text);
}

/**
 * authenticatedRoot returns the root of the tree of `size` (<= the checkpoint's size): the signed root
 * itself, or one computed from the hash tiles and proved consistent with the signed root (throws
 * CONSISTENCY_PROOF_INVALID otherwise).
 */
export async function authenticatedRoot(
  server: ServerEntry,
  client: SigClient,
  cp: VerifiedCheckpoint,
  size: bigint,
): Promise<Uint8Array> {
  const top = cp.checkpoint.treeSize;
  if (size > top) {
    throw new CliError('USAGE', `size ${size} is larger than the server's current tree (${top})`);
  }
  if (size === top) return cp.checkpoint.rootHash;
  const read = tileHashReader(top, async (tiles: readonly TileCoord[]) => {
    const out: Uint8Array[] = [];
    for (const t of tiles) out.push(await client.tile(t));
    return out;
  });
  const root = await withContext(`server ${server.name}: root of size ${size} from tiles`, () =>
    treeHash(size, read),
  );
  if (size === 0n) return root;
  const proof = await withContext(`server ${server.name}: consistency proof ${size} -> ${top}`, () =>
    client.consistencyProof(size, top),
  );
  await withContext(
    `server ${server.name}: root of size ${size} (from tiles) against the signed checkpoint of size ${top}`,
    () => verifyConsistency(size, top, proof, root, cp.checkpoint.rootHash),
  );
  return root;
}
