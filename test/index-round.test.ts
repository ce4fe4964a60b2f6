/**
 * The integrator's index step (server/index-round.ts) on a real store, both backends, without the
 * HTTP layer: rounds of entries, each followed by an index leaf, checked against the pure replay; a
 * round that rolls back after its index step (the in-memory top already changed) leaves the next round
 * correct; lookups (server/index-reader.ts) at every kept map size verify against that size's leaf;
 * versions that no checkpoint of the history window needs are pruned, and a lookup at such a size is
 * INDEX_UNAVAILABLE, never a wrong proof. Two integrators taking turns through IndexRound.append: each
 * uses the map row it remembers only while nobody else has grown the tree, so what the other pruned stays
 * pruned.
 */
import test from 'ava';
import { encodeEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { parseIndexLeaf, verifyLookup } from '../log/index-map.js';
import { appendLeaves } from '../log/tiles.js';
import { openDb } from '../server/db.js';
import { IndexReader } from '../server/index-reader.js';
import { IndexRound, PRUNE_EVERY_MS } from '../server/index-round.js';
import { HISTORY_MS } from '../server/index-state.js';
import { openStore, type SqlStore } from '../server/store.js';
import { replayIndex } from './helpers/index-replay.js';
import { backendTest } from './helpers/stores.js';

const SIGNER = 'AB'.repeat(20);

/** One round: `n` attestation entries (23 ids in turn, so keys repeat across rounds), then the index step. */
async function round(
  store: SqlStore,
  index: IndexRound,
  r: number,
  n: number,
  fail = false,
  now = new Date(),
) {
  const out = await store.integrate(async (tx) => {
    const state = await tx.state();
    const rows = Array.from({ length: n }, (_, i) => {
      const id = `id-${(r * 7 + i) % 23}`;
      const entry = encodeEntry({
        attestation: { data: { id, ok: true, r, i }, key: SIGNER, sig: 'AAAA' },
        loggedAt: new Date(0).toISOString(),
      });
      return { entry, digest: hashLeaf(entry), identifier: id, signer: SIGNER, acceptedAt: new Date(0) };
    });
    const leafHashes = rows.map((x) => hashLeaf(x.entry));
    const appended = await appendLeaves(state.treeSize, leafHashes, tx.readTiles);
    const tree = { treeSize: appended.treeSize, rootHash: appended.rootHash };
    await tx.appendBatch({ start: state.treeSize, rows, tiles: appended.tiles, state: tree });
    const next = await index.appendLeaf(tx, tree, now);
    if (fail) throw new Error('injected: roll back after the index step');
    return next;
  });
  if (!out.ran) throw new Error('lock held');
  index.committed();
  return out.value;
}

backendTest(
  test,
  'index rounds replay, survive a rollback, prove lookups, and prune what no window needs',
  async (t, b) => {
    const db = await openDb(b);
    const store = await openStore(db, { migrate: true });
    try {
      const index = new IndexRound();
      const sizes: bigint[] = [];
      for (let r = 0; r < 6; r++) {
        if (r === 3) {
          await t.throwsAsync(round(store, index, 99, 5, true), { message: /injected/ });
          index.rolledBack();
        }
        sizes.push((await round(store, index, r, 3 + r)).treeSize);
      }
      const all = await store.readEntries(0n, sizes[sizes.length - 1]!);
      const replayed = replayIndex(all.map((e) => e.entry));
      t.deepEqual(
        replayed.leaves.map((l) => BigInt(l + 1)),
        sizes,
        'one index leaf per round, each holding the replayed root; the rolled-back round left nothing',
      );

      // Lookups at every size verify against that size's leaf (the versions are all kept: no checkpoint
      // is older than the window yet).
      const reader = new IndexReader(store);
      for (const size of sizes) {
        const leaf = await reader.leafOf(size);
        t.truthy(leaf);
        const [byId, byKey] = await reader.lookups(leaf!.leaf, [
          { by: 'id', value: 'id-3' },
          { by: 'key', value: SIGNER.toLowerCase() },
        ]);
        t.is(verifyLookup(byId!.proof.key, byId!.proof, leaf!.leaf.root).count, byId!.count);
        t.is(byKey!.count, BigInt(replayed.attestations.filter((i) => i < Number(size)).length));
      }

      // Checkpoints: the first two rounds' signed long ago, the rest now. The next round prunes the
      // versions superseded before the one that was newest HISTORY_MS ago.
      const old = new Date(Date.now() - 3 * HISTORY_MS);
      for (const [k, size] of sizes.entries()) {
        await db.query(
          'INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4)',
          [size.toString(), new Uint8Array(32), 'test', k < 2 ? old : new Date()],
        );
      }
      // Pruning runs at most every PRUNE_EVERY_MS of the round's clock: this round is past that.
      const last = await round(store, index, 6, 4, false, new Date(Date.now() + PRUNE_EVERY_MS));
      const [st] = await db.query('SELECT map_pruned_to FROM log_state');
      t.is(
        BigInt(String(st!.map_pruned_to)),
        sizes[1]! - 1n,
        'pruned up to the map of the checkpoint newest then',
      );
      const fresh = new IndexReader(store);
      const early = await fresh.leafOf(sizes[0]!);
      const err = await t.throwsAsync(fresh.lookups(early!.leaf, [{ by: 'id', value: 'id-3' }]));
      t.is(
        (err as { code?: string }).code,
        'INDEX_UNAVAILABLE',
        'a pruned size is unavailable, not a wrong proof',
      );
      for (const size of [sizes[1]!, sizes[5]!, last.treeSize]) {
        const leaf = await fresh.leafOf(size);
        const [l] = await fresh.lookups(leaf!.leaf, [{ by: 'key', value: SIGNER }]);
        t.true(
          verifyLookup(l!.proof.key, l!.proof, parseIndexLeaf(leaf!.entry).root).present,
          `size ${size}`,
        );
      }

      // A process taking over loads every bucket's head (schema 8: from the heap, the key holds only
      // (prefix, from_size)) and appends a leaf the replay agrees with.
      const [pk] = await db.query(
        `SELECT i.indnatts AS n, i.indnkeyatts AS k FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'index_buckets_pkey'`,
      );
      t.deepEqual([Number(pk!.n), Number(pk!.k)], [2, 2], 'the primary key includes no other column');
      const taken = await round(store, new IndexRound(), 8, 5);
      const again = replayIndex((await store.readEntries(0n, taken.treeSize)).map((e) => e.entry));
      t.is(
        BigInt(again.leaves[again.leaves.length - 1]! + 1),
        taken.treeSize,
        'the new leaf holds the replayed root',
      );
    } finally {
      await store.close();
    }
  },
);

/** One round through IndexRound.append (what the sequencer does): `n` new entries, with the leaf or not. */
async function appendRound(
  store: SqlStore,
  index: IndexRound,
  r: number,
  n: number,
  leaf: boolean,
  now = new Date(),
  fail = false,
) {
  const out = await store.integrate(async (tx) => {
    const state = await tx.state();
    const rows = Array.from({ length: n }, (_, i) => {
      const id = `two-${(r * 5 + i) % 17}`;
      const entry = encodeEntry({
        attestation: { data: { id, ok: i % 3 !== 0, r, i }, key: SIGNER, sig: 'AAAA' },
        loggedAt: new Date(0).toISOString(),
      });
      return { entry, digest: hashLeaf(entry), identifier: id, signer: SIGNER, acceptedAt: new Date(0) };
    });
    const next = await index.append(tx, state.treeSize, rows, leaf ? { now } : undefined);
    if (fail) throw new Error('injected: roll back after the index step');
    return next;
  });
  if (!out.ran) throw new Error('lock held');
  index.committed();
  return out.value;
}

backendTest(
  test,
  'two integrators taking turns: each reads the map row again when the other has moved it',
  async (t, b) => {
    const db = await openDb(b);
    const store = await openStore(db, { migrate: true });
    try {
      // A keeps the map row of its own last round; B's rounds grow the tree in between, so A must not
      // use it (nor the tail of its own plain rounds) when its turn comes again.
      // A hashes in its worker thread (the default), the other on the test's thread.
      const a = new IndexRound();
      const other = new IndexRound({}, { inThread: true });
      const turns: [IndexRound, boolean][] = [
        [a, true],
        [other, false],
        [a, true],
        [a, false],
        [a, true],
        [other, true],
        [other, false],
        [a, false],
        [a, true],
        [other, true],
      ];
      let size = 0n;
      const leafSizes: bigint[] = [];
      for (const [r, [who, leaf]] of turns.entries()) {
        // A's worker stopped halfway: its next fold starts another, which loads the top again.
        if (r === 5) await a.close();
        size = (await appendRound(store, who, r, 3 + (r % 4), leaf)).treeSize;
        if (!leaf) continue;
        leafSizes.push(size);
        const replayed = replayIndex((await store.readEntries(0n, size)).map((e) => e.entry));
        t.is(
          BigInt(replayed.leaves[replayed.leaves.length - 1]! + 1),
          size,
          `turn ${r}: the leaf ends the tree and holds the replayed root`,
        );
      }
      // The other prunes (its clock past PRUNE_EVERY_MS, the first checkpoints old): A's next leaf
      // round must keep what it pruned, not write back the map row A remembers from before.
      const old = new Date(Date.now() - 3 * HISTORY_MS);
      for (const [k, at] of leafSizes.entries()) {
        await db.query(
          'INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4)',
          [at.toString(), new Uint8Array(32), 'test', k < 3 ? old : new Date()],
        );
      }
      await appendRound(store, other, 20, 4, true, new Date(Date.now() + PRUNE_EVERY_MS));
      const pruned = async () =>
        BigInt(String((await db.query('SELECT map_pruned_to FROM log_state'))[0]!.map_pruned_to));
      const prunedTo = await pruned();
      t.is(prunedTo, leafSizes[2]! - 1n, 'the other pruned up to the map of the checkpoint newest then');
      size = (await appendRound(store, a, 21, 5, true)).treeSize;
      t.is(await pruned(), prunedTo, 'A kept the pruned size it did not see');
      const [st] = await db.query('SELECT map_size, index_leaf_at FROM log_state');
      t.deepEqual(
        [BigInt(String(st!.map_size)), BigInt(String(st!.index_leaf_at))],
        [size - 1n, size - 1n],
        'the map covers the entries before the last leaf',
      );
    } finally {
      await store.close();
    }
  },
);

backendTest(
  test,
  "the map worker's kept records: folds that read no bucket, a rollback, another integrator, a full cache",
  async (t, b) => {
    const db = await openDb(b);
    const store = await openStore(db, { migrate: true });
    // A keeps every bucket it can (on Postgres it fills them between rounds); C keeps at most a few
    // buckets' worth, so it both keeps and refuses; `other` integrates in between, changing buckets
    // A and C keep, which they must then read again.
    const a = new IndexRound();
    const c = new IndexRound({}, { cacheBytes: 2000 });
    const other = new IndexRound({}, { inThread: true });
    try {
      let size = 0n;
      const check = async (r: number) => {
        const replayed = replayIndex((await store.readEntries(0n, size)).map((e) => e.entry));
        t.is(BigInt(replayed.leaves[replayed.leaves.length - 1]! + 1), size, `round ${r}: the replayed root`);
      };
      size = (await appendRound(store, a, 0, 6, true)).treeSize;
      const since = Date.now();
      while (!a.warm() && Date.now() - since < 20_000) await new Promise((r) => setTimeout(r, 20));
      t.true(a.warm(), 'the fill finished');
      const plan = [a, a, other, a, c, c, other, c, a];
      for (const [r, who] of plan.entries()) {
        size = (await appendRound(store, who, r + 1, 4 + (r % 3), true)).treeSize;
        await check(r + 1);
        if (r === 1) {
          // A round of A's that rolls back after its fold changed what A's worker keeps (the same ids
          // as the rounds around it, so the buckets it changed are touched again).
          await t.throwsAsync(appendRound(store, a, r + 1, 6, true, new Date(), true), {
            message: /injected/,
          });
          a.rolledBack();
        }
      }
    } finally {
      await Promise.all([a.close(), c.close()]);
      await store.close();
    }
  },
);
