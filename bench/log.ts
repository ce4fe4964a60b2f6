/**
 * Benchmarks of the Merkle core (log/): leaf and node hashing against node:crypto on the same inputs,
 * appendLeaves as the sequencer calls it (batches of 256 on a growing tree), and inclusion and
 * consistency proofs built through tileHashReader over an in-memory tile store and verified.
 *
 * SIG_BENCH_LEAVES sets the tree size (default 1,000,000).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hashChildren, hashLeaf } from '../log/hash.js';
import { proveConsistency, proveInclusion, verifyConsistency, verifyInclusion } from '../log/proof.js';
import {
  appendLeaves,
  type HashReader,
  type NodeId,
  type TileCoord,
  tileHashReader,
  tilePath,
} from '../log/tiles.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Runs f over `count` items and returns operations per second. */
function rate(count: number, f: (i: number) => void): number {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) f(i);
  return count / ((performance.now() - t0) / 1000);
}

async function rateAsync(count: number, f: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await f(i);
  return count / ((performance.now() - t0) / 1000);
}

/**
 * Rates of two functions over the same `count` inputs, run in alternating chunks so that a change in
 * machine load (the bench machine is shared) hits both alike: their ratio is the meaningful figure.
 */
function interleaved(count: number, a: (i: number) => void, b: (i: number) => void): [number, number] {
  const chunk = 5_000;
  let ta = 0;
  let tb = 0;
  for (let start = 0; start < count; start += chunk) {
    const end = Math.min(count, start + chunk);
    let t0 = performance.now();
    for (let i = start; i < end; i++) a(i);
    ta += performance.now() - t0;
    t0 = performance.now();
    for (let i = start; i < end; i++) b(i);
    tb += performance.now() - t0;
  }
  return [count / (ta / 1000), count / (tb / 1000)];
}

function line(what: string, value: string): void {
  console.log(`${what.padEnd(58)} ${value}`);
}

/** A deterministic PRNG for indexes and sizes. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function hashingBench(): void {
  const count = 100_000;
  // Entries the size of a typical log entry (a Signet attestation with its OpenPGP signature).
  const entries = Array.from({ length: count }, () => randomBytes(400));
  const zero = Uint8Array.of(0);
  const one = Uint8Array.of(1);
  // Warm up both.
  for (let i = 0; i < 2000; i++) {
    hashLeaf(entries[i]!);
    createHash('sha256').update(zero).update(entries[i]!).digest();
  }
  const [leafNoble, leafNode] = interleaved(
    count,
    (i) => {
      hashLeaf(entries[i]!);
    },
    (i) => {
      createHash('sha256').update(zero).update(entries[i]!).digest();
    },
  );
  line('leaf hashes/s, 400-byte entries (@noble/hashes)', fmt(leafNoble));
  line('leaf hashes/s, same inputs (node:crypto createHash)', fmt(leafNode));
  line('  ratio noble / node:crypto', (leafNoble / leafNode).toFixed(2));

  const hashes = Array.from({ length: count + 1 }, () => randomBytes(32));
  const [nodeNoble, nodeNode] = interleaved(
    count,
    (i) => {
      hashChildren(hashes[i]!, hashes[i + 1]!);
    },
    (i) => {
      createHash('sha256')
        .update(one)
        .update(hashes[i]!)
        .update(hashes[i + 1]!)
        .digest();
    },
  );
  line('node hashes/s (@noble/hashes)', fmt(nodeNoble));
  line('node hashes/s, same inputs (node:crypto createHash)', fmt(nodeNode));
  line('  ratio noble / node:crypto', (nodeNoble / nodeNode).toFixed(2));
}

async function treeBench(): Promise<void> {
  const leaves = Number(process.env.SIG_BENCH_LEAVES ?? 1_000_000);
  const batch = 256;
  const store = new Map<string, Uint8Array>();
  const fetchTiles = async (tiles: readonly TileCoord[]) =>
    tiles.map((t) => {
      const data = store.get(tilePath(t));
      if (!data) throw new Error(`missing ${tilePath(t)}`);
      return data;
    });
  const enc = new TextEncoder();
  const leafHashes = Array.from({ length: leaves }, (_, i) => hashLeaf(enc.encode(`entry ${i}`)));
  const roots = new Map<bigint, Uint8Array>();

  // The sequencer's path: one appendLeaves per batch of 256 on a tree that grows to `leaves`.
  let size = 0n;
  const t0 = performance.now();
  for (let at = 0; at < leaves; at += batch) {
    const r = await appendLeaves(size, leafHashes.slice(at, at + batch), fetchTiles);
    for (const { tile, data } of r.tiles) store.set(tilePath(tile), data);
    size = r.treeSize;
    roots.set(size, r.rootHash);
  }
  const buildMs = performance.now() - t0;
  const batches = Math.ceil(leaves / batch);
  line(
    `appendLeaves, batches of ${batch} up to ${fmt(leaves)} leaves: batches/s`,
    fmt(batches / (buildMs / 1000)),
  );
  line('  leaves/s through appendLeaves', fmt(leaves / (buildMs / 1000)));
  line('  ms per batch', (buildMs / batches).toFixed(3));
  // At the largest size only: a batch appended to the full tree (the steady state at 10^6).
  {
    const extra = Array.from({ length: batch }, (_, i) => hashLeaf(enc.encode(`extra ${i}`)));
    const n = 200;
    const t1 = performance.now();
    for (let i = 0; i < n; i++) await appendLeaves(size, extra, fetchTiles);
    line(`  ms per batch of ${batch} on a tree of ${fmt(leaves)}`, ((performance.now() - t1) / n).toFixed(3));
  }

  const treeSize = size;
  const root = roots.get(treeSize)!;
  const read = tileHashReader(treeSize, fetchTiles);
  const rand = prng(1);
  const count = 2_000; // proofs built
  const checks = 20_000; // verifications (cycling through the built proofs)
  const indexes = Array.from({ length: count }, () => BigInt(Math.floor(rand() * leaves)));
  const proofs: Uint8Array[][] = new Array(count);
  const built = await rateAsync(count, async (i) => {
    proofs[i] = await proveInclusion(indexes[i]!, treeSize, read);
  });
  line(`inclusion proofs built/s (tree of ${fmt(leaves)}, random leaves, tile reader)`, fmt(built));
  const verified = rate(checks, (i) => {
    const k = i % count;
    verifyInclusion(indexes[k]!, treeSize, leafHashes[Number(indexes[k]!)]!, proofs[k]!, root);
  });
  line(`inclusion proofs verified/s (${proofs[0]!.length} hashes each)`, fmt(verified));

  // Receipts: the proofs of one batch of 256 consecutive leaves, planned first (a recording reader),
  // then read with ONE tileHashReader call, as the server answers a batch.
  {
    const rounds = 20;
    const t1 = performance.now();
    for (let r = 0; r < rounds; r++) {
      const first = BigInt(Math.floor(rand() * (leaves - batch)));
      const planned: NodeId[] = [];
      const record: HashReader = async (ids) => {
        planned.push(...ids);
        return ids.map(() => new Uint8Array(32));
      };
      for (let i = 0n; i < BigInt(batch); i++) await proveInclusion(first + i, treeSize, record);
      const unique = [...new Map(planned.map((n) => [`${n.level}/${n.index}`, n])).values()];
      const hashes = await read(unique);
      const byId = new Map(unique.map((n, i) => [`${n.level}/${n.index}`, hashes[i]!]));
      const cached: HashReader = async (ids) => ids.map((n) => byId.get(`${n.level}/${n.index}`)!);
      for (let i = 0n; i < BigInt(batch); i++) await proveInclusion(first + i, treeSize, cached);
    }
    const perProof = (performance.now() - t1) / (rounds * batch);
    line(`  inclusion proofs/s for batches of ${batch} consecutive leaves, one read`, fmt(1000 / perProof));
  }

  // Consistency from random earlier checkpoints (multiples of the batch size, whose roots we have).
  const sizes1 = Array.from({ length: count }, () =>
    BigInt(batch * (1 + Math.floor(rand() * (batches - 1)))),
  );
  const cproofs: Uint8Array[][] = new Array(count);
  const cbuilt = await rateAsync(count, async (i) => {
    cproofs[i] = await proveConsistency(sizes1[i]!, treeSize, read);
  });
  line(`consistency proofs built/s (to size ${fmt(leaves)}, tile reader)`, fmt(cbuilt));
  const cverified = rate(checks, (i) => {
    const k = i % count;
    verifyConsistency(sizes1[k]!, treeSize, cproofs[k]!, roots.get(sizes1[k]!)!, root);
  });
  const avg = cproofs.reduce((s, p) => s + p.length, 0) / count;
  line(`consistency proofs verified/s (${avg.toFixed(1)} hashes on average)`, fmt(cverified));
}

/** run prints every log/ benchmark. */
export async function run(): Promise<void> {
  hashingBench();
  await treeBench();
}
