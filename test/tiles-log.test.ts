/**
 * c2sp.org/tlog-tiles: paths, which tiles a tree has, tile and bundle encodings, the tile reader and
 * appendLeaves.
 *
 * External vector: ../shared/vectors/tlog-tiles-log/, a 15-entry log written by transparency-dev/tessera
 * (`testdata/log`, Apache-2.0): every hash tile, entry bundle and checkpoint root is recomputed here
 * from the 15 entries (the ASCII words listed in the vectors README) and compared byte for byte. The
 * checkpoint signatures are checked elsewhere (log/note tests); here only the root line is read.
 *
 * Other expectations come from the text of c2sp.org/tlog-tiles (the 70,000-leaf example, the
 * 1234067 -> x001/x234/067 example) and from test/reference.ts (tiles straight from the definition).
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import test from 'ava';
import { hexEncode } from '../log/bytes.js';
import { isLogError, type LogError } from '../log/errors.js';
import { emptyRoot, hashLeaf, rootFromLeafHashes } from '../log/hash.js';
import { treeHash } from '../log/proof.js';
import {
  appendLeaves,
  decodeEntryBundle,
  decodeHashTile,
  ENTRIES_LEVEL,
  edgeTiles,
  encodeEntryBundle,
  encodeHashTile,
  entryBundlesForSize,
  parseTilePath,
  type TileCoord,
  tileHashReader,
  tilePath,
  tilesForSize,
  tileWidthAt,
} from '../log/tiles.js';
import { listFiles, vectorPath } from './helpers/vectors.js';
import { leafHashesFor, MemoryTiles, nodeReader, refMth, refTiles } from './reference.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---------------------------------------------------------------------------------------------
// The tessera log

/** The entries of the tessera test log, in order (../shared/vectors/README.md). */
const WORDS = 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(
  ' ',
);

const logDir = vectorPath('tlog-tiles-log');

/** Reads the size and root lines of a checkpoint note (c2sp.org/tlog-checkpoint: lines 2 and 3). */
function checkpointRoot(text: string): { origin: string; size: number; root: Uint8Array } {
  const lines = text.split('\n');
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]!)) throw new Error(`bad size line ${lines[1]}`);
  return {
    origin: lines[0]!,
    size: Number(lines[1]),
    root: new Uint8Array(Buffer.from(lines[2]!, 'base64')),
  };
}

if (logDir) {
  const files = listFiles(join(logDir, 'tile')).map((f) => relative(logDir, f));
  const checkpoints = listFiles(logDir)
    .map((f) => relative(logDir, f))
    .filter((f) => /^checkpoint(\.\d+)?$/.test(f));

  test(`tessera log: every tile and entry bundle recomputed (${files.length} files)`, async (t) => {
    // Which files a log of sizes 1..15 should have, by tilesForSize/entryBundlesForSize.
    const expected = new Set<string>();
    for (let n = 1n; n <= BigInt(WORDS.length); n++) {
      for (const c of [...tilesForSize(n), ...entryBundlesForSize(n)]) expected.add(tilePath(c));
    }
    t.deepEqual(
      [...expected].sort(),
      [...files].sort(),
      'the tiles of sizes 1..15 are exactly the files present',
    );

    // Build the log one entry at a time, as a sequencer publishing a checkpoint per entry would.
    const store = new MemoryTiles();
    const leaves = WORDS.map((w) => hashLeaf(ascii(w)));
    for (let n = 0; n < WORDS.length; n++) {
      await store.append([leaves[n]!]);
      const bundle = encodeEntryBundle(WORDS.slice(0, n + 1).map(ascii));
      store.tiles.set(tilePath({ level: ENTRIES_LEVEL, index: 0n, width: n + 1 }), bundle);
    }
    let compared = 0;
    for (const rel of files) {
      const want = new Uint8Array(readFileSync(join(logDir, rel)));
      const got = store.tiles.get(rel);
      t.truthy(got, `${rel} was not produced`);
      t.is(hexEncode(got ?? new Uint8Array()), hexEncode(want), `${rel} differs`);
      // And the files decode to what they should.
      const c = parseTilePath(rel);
      if (c.level === ENTRIES_LEVEL) {
        t.deepEqual(
          decodeEntryBundle(want, c.width).map((e) => new TextDecoder().decode(e)),
          WORDS.slice(0, c.width),
        );
      } else {
        t.deepEqual(decodeHashTile(want, c.width).map(hexEncode), leaves.slice(0, c.width).map(hexEncode));
      }
      compared++;
    }
    t.is(compared, files.length);
  });

  test(`tessera log: every checkpoint root recomputed (${checkpoints.length} checkpoints)`, async (t) => {
    const leaves = WORDS.map((w) => hashLeaf(ascii(w)));
    const sizes = new Set<number>();
    for (const name of checkpoints) {
      const cp = checkpointRoot(readFileSync(join(logDir, name), 'utf8'));
      t.is(cp.origin, 'example.com/log/testdata');
      if (name !== 'checkpoint') t.is(name, `checkpoint.${cp.size}`, 'checkpoint.N has size N');
      sizes.add(cp.size);
      const slice = leaves.slice(0, cp.size);
      t.is(hexEncode(rootFromLeafHashes(slice)), hexEncode(cp.root), `${name}: rootFromLeafHashes`);
      t.is(
        hexEncode(await treeHash(BigInt(cp.size), nodeReader(slice))),
        hexEncode(cp.root),
        `${name}: treeHash`,
      );
      const store = new MemoryTiles();
      t.is(hexEncode(await store.append(slice)), hexEncode(cp.root), `${name}: appendLeaves in one batch`);
    }
    t.is(sizes.size, WORDS.length + 1, 'checkpoints for every size 0..15');
    t.true(sizes.has(0));
  });
} else {
  test('tlog-tiles-log vectors not found (skipped outside CI)', (t) => {
    t.log('../shared/vectors/tlog-tiles-log is missing; CI=true makes this a failure');
    t.pass();
  });
}

// ---------------------------------------------------------------------------------------------
// Paths

const GOOD_PATHS: [string, TileCoord][] = [
  ['tile/0/000', { level: 0, index: 0n, width: 256 }],
  ['tile/0/000.p/1', { level: 0, index: 0n, width: 1 }],
  ['tile/0/x001/x234/067', { level: 0, index: 1234067n, width: 256 }], // c2sp.org/tlog-tiles example
  ['tile/0/x001/x234/067.p/8', { level: 0, index: 1234067n, width: 8 }],
  ['tile/1/999.p/255', { level: 1, index: 999n, width: 255 }],
  ['tile/2/x001/000', { level: 2, index: 1000n, width: 256 }],
  ['tile/63/000', { level: 63, index: 0n, width: 256 }],
  ['tile/entries/000', { level: ENTRIES_LEVEL, index: 0n, width: 256 }],
  ['tile/entries/x123/456.p/17', { level: ENTRIES_LEVEL, index: 123456n, width: 17 }],
  ['tile/0/x018/x446/x744/x073/x709/x551/615', { level: 0, index: (1n << 64n) - 1n, width: 256 }],
];

const BAD_PATHS = [
  '',
  'tile/0/1234067', // not split into 3-digit elements
  'tile/0/x001/x234/67',
  'tile/0/x1/x234/067',
  'tile/0/001/234', // missing x
  'tile/0/X001/234',
  'tile/0/x001/x234',
  'tile/0/x000/001', // redundant leading element
  'tile/0/x000/x000/000',
  'tile/00/000', // leading zero in level
  'tile/01/000',
  'tile/64/000', // level above 63
  'tile/-1/000',
  'tile/0/000.p/0', // width 0
  'tile/0/000.p/256', // width of a full tile
  'tile/0/000.p/300',
  'tile/0/000.p/007', // leading zeros in width
  'tile/0/000.p/',
  'tile/0/000.p',
  'tile/0/000.p/5/',
  'tile/0/000/',
  '/tile/0/000', // leading junk
  'log/tile/0/000',
  ' tile/0/000',
  'tile/0/000 ',
  'tile/0/000\n',
  'xtile/0/000',
  'tile//000',
  'tile/entry/000',
  'tile/entries/000.p/256',
  'tile/0/x018/x446/x744/x073/x709/x551/616', // index 2^64
  'tile/0/x001/x002/x003/x004/x005/x006/x007/008',
  'tile/0/00a',
  'tile/0/+00',
  'tile/0/000.p/+5',
  'TILE/0/000',
];

test(`tile paths: ${GOOD_PATHS.length} canonical paths both ways`, (t) => {
  for (const [path, coord] of GOOD_PATHS) {
    t.deepEqual(parseTilePath(path), coord, path);
    t.is(tilePath(coord), path, path);
  }
  // Round trip over many indexes and widths.
  for (const index of [0n, 1n, 9n, 10n, 99n, 100n, 999n, 1000n, 1001n, 999999n, 1000000n, 123456789012n]) {
    for (const width of [1, 2, 127, 255, 256]) {
      for (const level of [ENTRIES_LEVEL, 0, 1, 7, 63]) {
        const c = { level, index, width };
        t.deepEqual(parseTilePath(tilePath(c)), c);
      }
    }
  }
});

test(`tile paths: ${BAD_PATHS.length} non-canonical paths rejected with TILE_PATH_INVALID`, (t) => {
  for (const path of BAD_PATHS) {
    const e = t.throws(() => parseTilePath(path), undefined, JSON.stringify(path));
    t.true(isLogError(e, 'TILE_PATH_INVALID'), `${JSON.stringify(path)}: ${String(e)}`);
  }
  for (const c of [
    { level: 64, index: 0n, width: 1 },
    { level: -2, index: 0n, width: 1 },
    { level: 0, index: -1n, width: 1 },
    { level: 0, index: 0n, width: 0 },
    { level: 0, index: 0n, width: 257 },
    { level: 0.5, index: 0n, width: 1 },
  ]) {
    const e = t.throws(() => tilePath(c));
    t.true(isLogError(e, 'TILE_PATH_INVALID'));
  }
});

// ---------------------------------------------------------------------------------------------
// Which tiles a tree has

test('tilesForSize: the c2sp.org/tlog-tiles examples (sizes 70,000 and 256) and small sizes', (t) => {
  const tiles70k = tilesForSize(70000n);
  const count = (level: number, width: number) =>
    tiles70k.filter((c) => c.level === level && c.width === width).length;
  t.is(count(0, 256), 273);
  t.deepEqual(
    tiles70k.filter((c) => c.width < 256),
    [
      { level: 0, index: 273n, width: 112 },
      { level: 1, index: 1n, width: 17 },
      { level: 2, index: 0n, width: 1 },
    ],
  );
  t.is(count(1, 256), 1);
  t.is(tiles70k.length, 273 + 1 + 1 + 1 + 1);
  t.deepEqual(tilesForSize(256n), [
    { level: 0, index: 0n, width: 256 },
    { level: 1, index: 0n, width: 1 },
  ]);
  t.deepEqual(tilesForSize(0n), []);
  t.deepEqual(tilesForSize(1n), [{ level: 0, index: 0n, width: 1 }]);
  t.deepEqual(entryBundlesForSize(0n), []);
  t.deepEqual(entryBundlesForSize(513n), [
    { level: ENTRIES_LEVEL, index: 0n, width: 256 },
    { level: ENTRIES_LEVEL, index: 1n, width: 256 },
    { level: ENTRIES_LEVEL, index: 2n, width: 1 },
  ]);
  // tileWidthAt agrees with tilesForSize everywhere, and is 0 just past the right edge.
  for (const size of [0n, 1n, 255n, 256n, 257n, 65535n, 65536n, 70000n]) {
    const listed = tilesForSize(size);
    for (const c of listed) t.is(tileWidthAt(c.level, c.index, size), c.width, `${size} ${tilePath(c)}`);
    for (let level = 0; level < 4; level++) {
      const last = listed.filter((c) => c.level === level).length;
      t.is(tileWidthAt(level, BigInt(last), size), 0, `size ${size} level ${level}: no tile ${last}`);
    }
    for (const c of entryBundlesForSize(size)) t.is(tileWidthAt(ENTRIES_LEVEL, c.index, size), c.width);
  }
  t.is(tileWidthAt(0, -1n, 100n), 0);
  for (const bad of [-1n, 1n << 64n]) {
    const e = t.throws(() => tilesForSize(bad));
    t.true(isLogError(e, 'INDEX_OUT_OF_RANGE'));
  }
  t.true(
    isLogError(
      t.throws(() => tilesForSize(5 as unknown as bigint)),
      'INDEX_OUT_OF_RANGE',
    ),
  );
});

// ---------------------------------------------------------------------------------------------
// Encodings

test('hash tiles and entry bundles: encodings both ways and their errors', (t) => {
  const hashes = leafHashesFor(3);
  const data = encodeHashTile(hashes);
  t.is(data.length, 96);
  t.deepEqual(decodeHashTile(data, 3).map(hexEncode), hashes.map(hexEncode));
  const code = (f: () => unknown) => (t.throws(f) as LogError).code;
  t.is(
    code(() => decodeHashTile(data, 2)),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeHashTile(data.subarray(0, 95), 3)),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeHashTile(data, 0)),
    'TILE_INVALID',
  );
  t.is(
    code(() => encodeHashTile([])),
    'TILE_INVALID',
  );
  t.is(
    code(() => encodeHashTile(leafHashesFor(257))),
    'TILE_INVALID',
  );
  t.is(
    code(() => encodeHashTile([new Uint8Array(31)])),
    'HASH_INVALID',
  );

  // Bundles: uint16 big-endian length prefixes, entries of 0 and 65,535 bytes fit, 65,536 does not.
  const entries = [ascii('one'), new Uint8Array(0), new Uint8Array(65535).fill(7)];
  const bundle = encodeEntryBundle(entries);
  t.deepEqual([...bundle.subarray(0, 7)], [0, 3, 0x6f, 0x6e, 0x65, 0, 0]);
  t.deepEqual([...bundle.subarray(7, 9)], [0xff, 0xff]);
  t.is(bundle.length, 2 + 3 + 2 + 2 + 65535);
  t.deepEqual(decodeEntryBundle(bundle, 3).map(hexEncode), entries.map(hexEncode));
  t.deepEqual(decodeEntryBundle(bundle).length, 3);
  const big = t.throws(() => encodeEntryBundle([ascii('x'), new Uint8Array(65536)])) as LogError;
  t.is(big.code, 'ENTRY_TOO_LARGE');
  t.is(big.details.item, 1);
  t.is(
    code(() => decodeEntryBundle(bundle, 2)),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1))),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeEntryBundle(Uint8Array.of(0, 3, 1, 2, 3, 0))),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeEntryBundle(new Uint8Array(0))),
    'TILE_INVALID',
  );
  t.is(
    code(() => decodeEntryBundle(new Uint8Array(257 * 2))),
    'TILE_INVALID',
  );
  t.is(
    code(() => encodeEntryBundle([])),
    'TILE_INVALID',
  );
});

// ---------------------------------------------------------------------------------------------
// The tile reader

test('tileHashReader: one deduplicated fetch per read, nodes from every tile level', async (t) => {
  const n = 70000;
  const leaves = leafHashesFor(n, 7);
  const store = new MemoryTiles();
  await store.append(leaves);
  const seen: TileCoord[][] = [];
  const read = tileHashReader(BigInt(n), async (tiles) => {
    seen.push([...tiles]);
    return store.fetch(tiles);
  });
  const ids = [
    { level: 0, index: 0n },
    { level: 0, index: 69999n },
    { level: 3, index: 8n },
    { level: 7, index: 0n },
    { level: 8, index: 0n },
    { level: 8, index: 272n },
    { level: 12, index: 16n },
    { level: 15, index: 1n },
    { level: 16, index: 0n },
    { level: 4, index: 4370n }, // leaves 69920..69935, in the partial level-0 tile
  ];
  const got = await read(ids);
  t.is(seen.length, 1, 'one fetch call');
  t.deepEqual(
    seen[0]!.map(tilePath).sort(),
    ['tile/0/000', 'tile/0/273.p/112', 'tile/1/000', 'tile/1/001.p/17', 'tile/2/000.p/1'],
    'each tile fetched once, at the width the tree has',
  );
  t.is(new Set(seen[0]!.map(tilePath)).size, seen[0]!.length);
  ids.forEach((id, i) => {
    const size = 2 ** id.level;
    const start = Number(id.index) * size;
    t.is(
      hexEncode(got[i]!),
      hexEncode(refMth(leaves.slice(start, start + size))),
      `node ${id.level}/${id.index}`,
    );
  });
  // One read of overlapping nodes (every subtree of the first tile and of the partial one, largest
  // first, as a batch of proofs would ask): each still equals the reference.
  const overlapping = [];
  for (let h = 8; h >= 0; h--) {
    for (let j = 0; j < 256 >> h; j++) overlapping.push({ level: h, index: BigInt(j) });
    for (let j = 69888 >> h; (j + 1) << h <= n; j++) overlapping.push({ level: h, index: BigInt(j) });
  }
  const all = await read(overlapping);
  t.is(seen.length, 2);
  overlapping.forEach((id, i) => {
    const size = 2 ** id.level;
    const start = Number(id.index) * size;
    if (hexEncode(all[i]!) !== hexEncode(refMth(leaves.slice(start, start + size))))
      t.fail(`node ${id.level}/${id.index}`);
  });
  t.is(overlapping.length, 511 + 112 + 56 + 28 + 14 + 7 + 3 + 1);
  t.deepEqual(await read([]), []);
  t.is(seen.length, 2, 'no fetch for an empty read');
  t.is(hexEncode(await treeHash(BigInt(n), read)), hexEncode(refMth(leaves)));

  // Nodes that are not complete subtrees of the tree are refused before any fetch.
  for (const id of [
    { level: 0, index: 70000n },
    { level: 5, index: 2187n }, // leaves 69984..70015
    { level: 8, index: 273n },
    { level: 17, index: 0n },
    { level: 0, index: -1n },
  ]) {
    const e = await t.throwsAsync(read([{ level: 0, index: 1n }, id]));
    t.true(isLogError(e, 'INDEX_OUT_OF_RANGE'), `${id.level}/${id.index}`);
  }
  t.is(seen.length, 3, 'only the treeHash read fetched');

  // A fetcher that answers with a wider version of a partial tile (a later partial, or the full
  // tile) is fine: tiles only grow to the right. One that answers short is TILE_INVALID.
  const small = tileHashReader(5n, async (tiles) => tiles.map(() => store.tiles.get('tile/0/000')!));
  t.is(hexEncode((await small([{ level: 2, index: 0n }]))[0]!), hexEncode(refMth(leaves.slice(0, 4))));
  const short = tileHashReader(5n, async (tiles) => tiles.map(() => new Uint8Array(4 * 32)));
  t.true(isLogError(await t.throwsAsync(short([{ level: 0, index: 0n }])), 'TILE_INVALID'));
  const odd = tileHashReader(5n, async (tiles) => tiles.map(() => new Uint8Array(7 * 32 + 1)));
  t.true(isLogError(await t.throwsAsync(odd([{ level: 0, index: 0n }])), 'TILE_INVALID'));
});

// ---------------------------------------------------------------------------------------------
// appendLeaves

test('appendLeaves: a 70,000-leaf tree in batches equals the tiles of the c2sp.org/tlog-tiles definition', async (t) => {
  const n = 70000;
  const leaves = leafHashesFor(n, 3);
  const store = new MemoryTiles();
  const batches = [1, 255, 1, 256, 3000, 1, 65536 - 3514, 5, 255, 4000];
  let at = 0;
  let root = emptyRoot();
  for (let i = 0; at < n; i++) {
    const size = Math.min(batches[i % batches.length]!, n - at);
    const before = store.fetchCalls;
    root = await store.append(leaves.slice(at, at + size));
    t.true(store.fetchCalls - before <= 1, 'at most one fetch per append');
    at += size;
  }
  t.is(hexEncode(root), hexEncode(refMth(leaves)));
  const want = refTiles(leaves);
  const got = store.latest();
  t.deepEqual([...got.keys()].sort(), [...want.keys()].map((p) => p.replace(/\.p\/\d+$/, '')).sort());
  for (const [path, data] of want) {
    t.is(hexEncode(got.get(path.replace(/\.p\/\d+$/, ''))!), hexEncode(data), path);
  }
  t.deepEqual([...want.keys()].sort(), tilesForSize(BigInt(n)).map(tilePath).sort());

  // Appending nothing changes no tile and returns the current root, with one fetch.
  const before = store.fetchCalls;
  const same = await appendLeaves(BigInt(n), [], store.fetch);
  t.is(store.fetchCalls - before, 1);
  t.deepEqual(same.tiles, []);
  t.is(same.treeSize, BigInt(n));
  t.is(hexEncode(same.rootHash), hexEncode(root));
});

test('appendLeaves: the tiles it returns, level by level, when a level-1 tile fills', async (t) => {
  const leaves = leafHashesFor(65536 + 10, 4);
  const store = new MemoryTiles();
  await store.append(leaves.slice(0, 65535));
  const r = await appendLeaves(65535n, leaves.slice(65535), store.fetch);
  t.deepEqual(
    r.tiles.map((x) => tilePath(x.tile)),
    ['tile/0/255', 'tile/0/256.p/10', 'tile/1/000', 'tile/2/000.p/1'],
    'full tiles at width 256, partial ones at their width, every level',
  );
  t.is(hexEncode(r.rootHash), hexEncode(refMth(leaves)));
  t.is(r.treeSize, 65546n);
  const e1 = await t.throwsAsync(appendLeaves(0n, [new Uint8Array(32), new Uint8Array(33)], store.fetch));
  t.true(isLogError(e1, 'HASH_INVALID'));
  t.is((e1 as LogError).details.item, 1);
  t.true(isLogError(await t.throwsAsync(appendLeaves(-1n, [], store.fetch)), 'INDEX_OUT_OF_RANGE'));
  t.true(
    isLogError(
      await t.throwsAsync(appendLeaves((1n << 64n) - 1n, [new Uint8Array(32)], store.fetch)),
      'INDEX_OUT_OF_RANGE',
    ),
  );
  // A fetcher that returns tiles of the wrong size is caught.
  const liar = async (tiles: readonly TileCoord[]) => tiles.map(() => new Uint8Array(5));
  t.true(isLogError(await t.throwsAsync(appendLeaves(3n, [leaves[0]!], liar)), 'TILE_INVALID'));
});

test('edgeTiles is exactly what appendLeaves fetches, at every size to 70,000', async (t) => {
  // The index round starts this read early and hands appendLeaves the result (server/index-round.ts).
  const sizes = [0n, 1n, 255n, 256n, 257n, 511n, 65535n, 65536n, 65537n, 65792n, 69999n];
  for (let i = 0; i < 60; i++) sizes.push(BigInt(Math.floor(Math.random() * 70_000)));
  for (const size of sizes) {
    let asked: readonly TileCoord[] = [];
    const fetch = async (coords: readonly TileCoord[]) => {
      asked = coords;
      return coords.map((c) => new Uint8Array(c.width * 32));
    };
    await appendLeaves(size, [hashLeaf(new Uint8Array([1]))], fetch);
    t.deepEqual(edgeTiles(size), [...asked], `size ${size}`);
  }
});
