/**
 * judgeCheckpoint (log/consistency.ts): every verdict and every refusal.
 *
 * Trees are test/reference.ts leafHashesFor(N, 3) ("honest") and a forked log that agrees with it on
 * the first FORK_AT leaves and then differs (leafHashesFor(N, 4) after that). Roots come from refMth,
 * proofs from log/proof.ts proveConsistency over the direct node reader. External vectors: every
 * consistency vector of transparency-dev/merkle (../shared/vectors/merkle-proofs/consistency): a good
 * one is judged same or consistent, a mutated one never is.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { Checkpoint } from '../log/checkpoint.js';
import { judgeCheckpoint } from '../log/consistency.js';
import { type ErrorCode, isLogError } from '../log/errors.js';
import { proveConsistency } from '../log/proof.js';
import { fromB64 } from './helpers/bytes.js';
import { listFiles, vectorPath } from './helpers/vectors.js';
import { leafHashesFor, nodeReader, refMth } from './reference.js';

const N = 40;
const FORK_AT = 13;
const honest = leafHashesFor(N, 3);
const forked = [...honest.slice(0, FORK_AT), ...leafHashesFor(N, 4).slice(FORK_AT)];
const ORIGIN = 'example.com/judge';

function cp(leaves: readonly Uint8Array[], size: number, origin = ORIGIN): Checkpoint {
  return { origin, treeSize: BigInt(size), rootHash: refMth(leaves.slice(0, size)), extensions: [] };
}

function proof(leaves: readonly Uint8Array[], m: number, n: number): Promise<Uint8Array[]> {
  return proveConsistency(BigInt(m), BigInt(n), nodeReader(leaves));
}

function flip(h: Uint8Array, bit = 0): Uint8Array {
  const out = h.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** The LogError code judgeCheckpoint throws, or fails the test when it returns instead. */
function thrownCode(f: () => unknown): ErrorCode | string {
  try {
    const r = f();
    return `returned ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`;
  } catch (e) {
    return isLogError(e) ? e.code : `plain ${String(e)}`;
  }
}

test(`same: equal size and root, empty proof (every size 0..${N})`, (t) => {
  for (let n = 0; n <= N; n++) {
    t.deepEqual(judgeCheckpoint(cp(honest, n), cp(honest, n), []), { verdict: 'same' }, `size ${n}`);
  }
  // Extension lines are not part of the tree: a re-signed checkpoint may carry others.
  t.is(judgeCheckpoint(cp(honest, 5), { ...cp(honest, 5), extensions: ['x'] }, []).verdict, 'same');
});

test(`consistent: every pair of sizes 0 <= m < n <= ${N} with the honest proof`, async (t) => {
  let pairs = 0;
  for (let n = 1; n <= N; n++) {
    t.deepEqual(judgeCheckpoint(cp(honest, 0), cp(honest, n), []), { verdict: 'consistent' }, `0 -> ${n}`);
    for (let m = 1; m < n; m++) {
      const p = await proof(honest, m, n);
      t.deepEqual(
        judgeCheckpoint(cp(honest, m), cp(honest, n), p),
        { verdict: 'consistent' },
        `${m} -> ${n}`,
      );
      pairs++;
    }
  }
  t.log(`${pairs} pairs`);
});

test('rollback: a smaller tree, whatever the proof (prefix proof, garbage, none, a forked smaller tree)', async (t) => {
  for (let n = 2; n <= N; n++) {
    for (const m of [0, 1, n - 1]) {
      const kept = cp(honest, n);
      const cases: [string, Checkpoint, Uint8Array[]][] = [
        ['no proof', cp(honest, m), []],
        // The proof from the smaller to the kept tree verifies (it is a true prefix): still a rollback.
        ['a valid prefix proof', cp(honest, m), m > 0 ? await proof(honest, m, n) : []],
        ['a garbage proof', cp(honest, m), [new Uint8Array(32), new Uint8Array(32).fill(1)]],
        ['a forked smaller tree', cp(forked, m), []],
      ];
      for (const [what, next, p] of cases) {
        const j = judgeCheckpoint(kept, next, p);
        t.is(j.verdict, 'rollback', `${n} -> ${m}: ${what}`);
        if (j.verdict === 'rollback')
          t.regex(j.message, new RegExp(`size ${m} .*smaller than the kept size ${n}`));
      }
    }
  }
});

test('fork: equal sizes with different roots, whatever the proof', async (t) => {
  for (let n = FORK_AT + 1; n <= N; n++) {
    const j = judgeCheckpoint(cp(honest, n), cp(forked, n), []);
    t.like(j, { verdict: 'fork', reason: 'root-mismatch' }, `size ${n}`);
    if (j.verdict === 'fork') t.regex(j.message, new RegExp(`size ${n} with different roots`));
    // A proof sent along does not change it.
    t.like(judgeCheckpoint(cp(honest, n), cp(forked, n), [new Uint8Array(32)]), {
      verdict: 'fork',
      reason: 'root-mismatch',
    });
  }
  // Size 0 with a root other than the empty tree's: the two cannot both be true either.
  const empty = cp(honest, 0);
  t.like(judgeCheckpoint(empty, { ...empty, rootHash: flip(empty.rootHash) }, []), {
    verdict: 'fork',
    reason: 'root-mismatch',
  });
});

test('fork: the proof fails (a flipped bit in each element, truncated, extended, wrong root either side)', async (t) => {
  let forks = 0;
  for (let n = 2; n <= N; n++) {
    for (let m = 1; m < n; m++) {
      const kept = cp(honest, m);
      const next = cp(honest, n);
      const p = await proof(honest, m, n);
      const bad: [string, Checkpoint, Checkpoint, Uint8Array[]][] = [
        ...p.map((_, i): [string, Checkpoint, Checkpoint, Uint8Array[]] => [
          `bit flipped in element ${i}`,
          kept,
          next,
          p.map((x, k) => (k === i ? flip(x, (i * 7 + m) % 256) : x)),
        ]),
        ['truncated', kept, next, p.slice(0, -1)],
        ['extended', kept, next, [...p, p[0]!]],
        ['next root altered', kept, { ...next, rootHash: flip(next.rootHash, 9) }, p],
        ['kept root altered', { ...kept, rootHash: flip(kept.rootHash, 9) }, next, p],
      ];
      for (const [what, a, b, q] of bad) {
        if (what === 'truncated' && p.length === 0) continue;
        const j = judgeCheckpoint(a, b, q);
        t.like(j, { verdict: 'fork', reason: 'proof-invalid' }, `${m} -> ${n}: ${what}`);
        if (j.verdict === 'fork' && j.reason === 'proof-invalid') {
          t.is(j.cause.code, 'CONSISTENCY_PROOF_INVALID');
          t.true(j.message.includes(j.cause.message));
        }
        forks++;
      }
    }
  }
  t.log(`${forks} forks found`);
});

test('fork: a proof that verifies, but for another root (the forked log proves its own history)', async (t) => {
  for (let n = FORK_AT + 1; n <= N; n++) {
    for (let m = 1; m < n; m++) {
      // The forked log's own proof from its size-m tree to its size-n tree verifies between ITS roots.
      const forkedProof = await proof(forked, m, n);
      const j = judgeCheckpoint(cp(honest, m), cp(forked, n), forkedProof);
      if (m <= FORK_AT) {
        // The two logs share their first FORK_AT leaves: the forked tree really extends the kept one.
        t.deepEqual(j, { verdict: 'consistent' }, `${m} -> ${n}`);
      } else {
        t.like(j, { verdict: 'fork', reason: 'proof-invalid' }, `${m} -> ${n}`);
      }
      // The honest proof for the honest size-n tree, shown with the forked size-n root.
      const honestProof = await proof(honest, m, n);
      t.like(
        judgeCheckpoint(cp(honest, m), cp(forked, n), honestProof),
        { verdict: 'fork', reason: 'proof-invalid' },
        `${m} -> ${n}, honest proof, forked root`,
      );
    }
  }
});

test('refused input: invalid checkpoints, two logs, proof elements that are not hashes, proofs where none can be', (t) => {
  const kept = cp(honest, 5);
  const next = cp(honest, 9);
  const cases: [string, () => unknown, ErrorCode][] = [
    [
      'different origins',
      () => judgeCheckpoint(kept, cp(honest, 9, 'other.example/log'), []),
      'CHECKPOINT_INVALID',
    ],
    [
      'different origins, same tree',
      () => judgeCheckpoint(kept, { ...kept, origin: 'x' }, []),
      'CHECKPOINT_INVALID',
    ],
    [
      'different origins, smaller',
      () => judgeCheckpoint(next, { ...kept, origin: 'x' }, []),
      'CHECKPOINT_INVALID',
    ],
    [
      'kept root 31 bytes',
      () => judgeCheckpoint({ ...kept, rootHash: new Uint8Array(31) }, next, []),
      'CHECKPOINT_INVALID',
    ],
    [
      'next root 33 bytes',
      () => judgeCheckpoint(kept, { ...next, rootHash: new Uint8Array(33) }, []),
      'CHECKPOINT_INVALID',
    ],
    [
      'size a number',
      () => judgeCheckpoint({ ...kept, treeSize: 5 as unknown as bigint }, next, []),
      'CHECKPOINT_INVALID',
    ],
    ['size negative', () => judgeCheckpoint(kept, { ...next, treeSize: -1n }, []), 'CHECKPOINT_INVALID'],
    ['size 2^64', () => judgeCheckpoint(kept, { ...next, treeSize: 1n << 64n }, []), 'CHECKPOINT_INVALID'],
    [
      'empty origin',
      () => judgeCheckpoint({ ...kept, origin: '' }, { ...next, origin: '' }, []),
      'CHECKPOINT_INVALID',
    ],
    [
      'not a checkpoint',
      () => judgeCheckpoint(null as unknown as Checkpoint, next, []),
      'CHECKPOINT_INVALID',
    ],
    ['proof not an array', () => judgeCheckpoint(kept, next, 'x' as unknown as Uint8Array[]), 'HASH_INVALID'],
    ['proof element 31 bytes', () => judgeCheckpoint(kept, next, [new Uint8Array(31)]), 'HASH_INVALID'],
    [
      'proof element a string',
      () => judgeCheckpoint(kept, next, ['AA==' as unknown as Uint8Array]),
      'HASH_INVALID',
    ],
    // Malformed input is refused whatever the verdict would have been.
    [
      'proof element 31 bytes, rollback',
      () => judgeCheckpoint(next, kept, [new Uint8Array(31)]),
      'HASH_INVALID',
    ],
    ['proof element 31 bytes, same', () => judgeCheckpoint(kept, kept, [new Uint8Array(31)]), 'HASH_INVALID'],
    [
      'a proof between the same tree',
      () => judgeCheckpoint(kept, kept, [new Uint8Array(32)]),
      'CONSISTENCY_PROOF_INVALID',
    ],
    [
      'a proof from the empty tree',
      () => judgeCheckpoint(cp(honest, 0), next, [new Uint8Array(32)]),
      'CONSISTENCY_PROOF_INVALID',
    ],
  ];
  for (const [what, f, code] of cases) {
    const got = thrownCode(f);
    t.is(got, code, what);
  }
  // The error names which checkpoint was wrong.
  try {
    judgeCheckpoint(kept, { ...next, rootHash: new Uint8Array(3) }, []);
    t.fail('no throw');
  } catch (e) {
    t.true(isLogError(e, 'CHECKPOINT_INVALID'));
    if (isLogError(e)) t.like(e.details, { checkpoint: 'next', field: 'rootHash' });
  }
});

const vectors = vectorPath('merkle-proofs/consistency');

test('transparency-dev/merkle consistency vectors: good ones are same or consistent, mutated ones never are', (t) => {
  if (!vectors) {
    t.pass('vectors missing (see test/helpers/vectors.ts)');
    return;
  }
  let good = 0;
  let bad = 0;
  for (const file of listFiles(vectors).filter((f) => f.endsWith('.json'))) {
    const v = JSON.parse(readFileSync(file, 'utf8').replace(/"(size1|size2)":\s*(\d+)/g, '"$1": "$2"'));
    const roots = [fromB64(v.root1), fromB64(v.root2)];
    // Our checkpoints hold 32-byte roots only (the one vector with 12-byte placeholder roots is refused).
    if (roots.some((r) => r.length !== 32)) continue;
    const kept: Checkpoint = {
      origin: ORIGIN,
      treeSize: BigInt(v.size1),
      rootHash: roots[0]!,
      extensions: [],
    };
    const next: Checkpoint = {
      origin: ORIGIN,
      treeSize: BigInt(v.size2),
      rootHash: roots[1]!,
      extensions: [],
    };
    const p = ((v.proof as string[] | null) ?? []).map(fromB64);
    let verdict: string;
    try {
      verdict = judgeCheckpoint(kept, next, p).verdict;
    } catch (e) {
      t.true(isLogError(e), `${file}: ${String(e)}`);
      verdict = `threw ${(e as { code: string }).code}`;
    }
    if (v.wantErr) {
      t.false(verdict === 'same' || verdict === 'consistent', `${file} (${v.desc}): ${verdict}`);
      bad++;
    } else {
      t.true(verdict === 'same' || verdict === 'consistent', `${file} (${v.desc}): ${verdict}`);
      good++;
    }
  }
  t.log(`${good} good judged same or consistent, ${bad} mutated judged otherwise`);
  t.true(good > 0 && bad > 0);
});
