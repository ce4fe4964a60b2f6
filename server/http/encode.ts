/**
 * Encoding at the HTTP edge (docs/contracts.md, HTTP wire format): bigint indexes and sizes become JSON
 * numbers (safe integers), bytes become standard base64, checkpoints are the signed note text verbatim.
 */
import { base64Encode } from '../../log/bytes.js';
import { encodeLookupProof } from '../../log/index-map.js';
import type { Receipt } from '../log-service.js';
import type { IndexAnswer } from '../reader.js';

/** num returns `n` as a JSON number; throws (a bug, not bad input) when it is not a safe integer. */
export function num(n: bigint): number {
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`index ${n} is not a safe integer`);
  return Number(n);
}

/** ReceiptJson is one receipt on the wire. */
export interface ReceiptJson {
  index: number;
  entry: string;
  inclusionProof: string[];
  checkpoint: string;
}

/** encodeReceipt returns the wire form of a receipt: `{index, entry, inclusionProof, checkpoint}`. */
export function encodeReceipt(r: Receipt): ReceiptJson {
  return {
    index: num(r.index),
    entry: base64Encode(r.entry),
    inclusionProof: r.inclusionProof.map(base64Encode),
    checkpoint: r.checkpoint.note,
  };
}

/** encodeProofItem returns `{index, entry, inclusionProof}` for query answers. */
export function encodeProofItem(it: { index: bigint; entry: Uint8Array; inclusionProof: Uint8Array[] }) {
  return {
    index: num(it.index),
    entry: base64Encode(it.entry),
    inclusionProof: it.inclusionProof.map(base64Encode),
  };
}

/**
 * encodeIndex returns the `index` object of an answer (SPEC.md "Query answers"): the index leaf
 * (`leafIndex`, `entry`, `inclusionProof`) and `lookups` [{by, value, count, chain, proof}]; null when the
 * checkpoint has none (size 0, or signed before the index existed).
 */
export function encodeIndex(ix: IndexAnswer | null) {
  if (ix === null) return null;
  return {
    leafIndex: num(ix.leafIndex),
    entry: base64Encode(ix.entry),
    inclusionProof: ix.inclusionProof.map(base64Encode),
    lookups: ix.lookups.map((l) => ({
      by: l.by,
      value: l.value,
      count: num(l.count),
      chain: base64Encode(l.chain),
      proof: encodeLookupProof(l.proof),
    })),
  };
}
