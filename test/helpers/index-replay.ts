/**
 * replayIndex checks a whole log's entries the way an auditor does (SPEC.md "The index", "What an
 * auditor checks"): every entry is an attestation or an index leaf, and every index leaf names its own
 * position and holds the map root recomputed from the entries before it (log/index-map.ts
 * IndexReplayer). Throws naming the first wrong leaf; returns the attestation positions and the index
 * leaf positions.
 */
import { IndexReplayer } from '../../log/index-map.js';

export function replayIndex(entries: readonly Uint8Array[]): { attestations: number[]; leaves: number[] } {
  const replay = new IndexReplayer();
  const attestations: number[] = [];
  const leaves: number[] = [];
  entries.forEach((e, i) => {
    const step = replay.append(e);
    if (step.kind === 'attestation') {
      attestations.push(i);
      return;
    }
    if (!step.sizeMatches) throw new Error(`index leaf at ${i} names size ${step.leaf.size}`);
    if (!step.rootMatches) throw new Error(`index leaf at ${i} does not hold the replayed root`);
    leaves.push(i);
  });
  return { attestations, leaves };
}

/** endsWithIndexLeaf says whether the tree of `size` ends with an index leaf (the rule), given the leaves. */
export function endsWithIndexLeaf(leaves: readonly number[], size: bigint): boolean {
  return size === 0n || leaves.includes(Number(size) - 1);
}
