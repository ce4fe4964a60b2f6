/**
 * server/entry-codec.ts, the stored form of entries.entry (sql/009): the format pinned (the dictionary's
 * hash and a stored value made by this version), packEntry / unpackEntry round trip
 * on real entries (signed by openpgp.js) and index leaves, raw rows (from before schema 9) pass
 * through, values that are not a stored form give StoredEntryError, inflation is bounded by
 * MAX_ENTRY_BYTES; and on PGlite and Postgres: the integrator stores packed rows, every read gives the
 * entry bytes back, a raw row written as an older schema wrote it still reads, fsck names a packed row
 * that does not inflate.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { encodeEntry, MAX_ENTRY_BYTES } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { encodeIndexLeaf } from '../log/index-map.js';
import {
  ENTRY_DICTIONARY_V1,
  PACKED_V1,
  packEntry,
  StoredEntryError,
  unpackEntry,
} from '../server/entry-codec.js';
import { formatFsckReport, fsckDb } from '../server/fsck.js';
import { makeSigner, openService, reverifyLog, sha256Id } from './helpers/service.js';
import { backendTest } from './helpers/stores.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const LOGGED_AT = '2026-12-03T16:38:05.614Z';

/** realEntries returns entry bytes of attestations signed by two fresh keys, in a few shapes of data. */
async function realEntries(): Promise<Uint8Array[]> {
  const a = await makeSigner('Alice');
  const b = await makeSigner('Bob Example <bob@example.org>');
  const data: [string, boolean, Record<string, unknown>][] = [
    [sha256Id(1), true, {}],
    [sha256Id(2), false, { comment: 'it has a huge security hole' }],
    ['pkg:npm/left-pad@1.3.0', true, { n: 7, nested: { list: [1, 'two', null, false] } }],
    ['unicode ✓ \u00e9\u{1f600}', false, { comment: 'x'.repeat(3000) }],
  ];
  const out: Uint8Array[] = [];
  for (const [i, [id, ok, extra]] of data.entries()) {
    const att = await (i % 2 === 0 ? a : b).attest(id, ok, extra);
    out.push(encodeEntry({ attestation: att, loggedAt: LOGGED_AT }));
  }
  return out;
}

test('real entries and index leaves round trip, packed smaller than the entry', async (t) => {
  const entries = await realEntries();
  for (const e of entries) {
    const p = packEntry(e);
    t.is(p[0], PACKED_V1);
    t.true(p.length < e.length, `${e.length} bytes packed to ${p.length}`);
    t.deepEqual(unpackEntry(p), e);
  }
  // A 463-byte-class entry (sha256 id, Ed25519 signature) packs to well under two thirds of its size.
  const first = entries[0]!;
  t.true(packEntry(first).length < 0.7 * first.length, `${first.length} -> ${packEntry(first).length}`);
  for (const size of [0n, 1n, 123_456_789n, 2n ** 53n - 1n]) {
    const leaf = encodeIndexLeaf({ root: new Uint8Array(32).fill(Number(size % 251n)), size });
    const p = packEntry(leaf);
    t.deepEqual(unpackEntry(p), leaf);
    t.true(p.length <= leaf.length);
  }
});

// The storage format, pinned: rows packed today must read the same for as long as they exist, whatever
// zlib's deflate makes later. A change to the dictionary is a new format byte, never an edit.
const DICTIONARY_V1_SHA256 = 'a6b812f363ca5cfda4b34465528166d59803b260daac5e50a2ae5a2e7f1d88d2';
const VECTOR_ENTRY =
  '{"attestation":{"data":{"id":"sha256:d4a32e6c9b612308fde099431ca82a2c2c431521cbd0e758c18ce3ae419f968c","ok":true},' +
  '"key":"2EA88DDB82B68B92B3C6A2E69529A8550F390F87","sig":"wrsEABYKAG0FgmsRmu0JEJUpqFUPOQ+HRRQAAAAAABwAIHNhbHRAbm90YXR' +
  'pb25zLm9wZW5wZ3Bqcy5vcmd2m70c0yaBSsEU8TvCk+Xuuvzmm2HbJZs9KUDgapE6shYhBC6ojduCtouSs8ai5pUpqFUPOQ+HAACVcwD/cMME13P8hns7' +
  '/lVQzmroYZv7Z6E5yckP7GNXSTU0dNwA/2pUszibhYC9rKAOVtdTuZY24zM0mFYX+qHZ/m69FPoJ"},"loggedAt":"2026-12-03T16:38:06.616Z"}';
const VECTOR_STORED =
  'f59592cd6e82401446dfa55b6399b903973beef8adc1a85881083b18b0584b41118d247df72ebb689bb4fb2f393927df9f46a59e0ba850c9' +
  '02390846fbb26252ea82ab9c2007054a17dc00ae8a9255a6418a93aa445ee95cee2592fa49133c8bc8756d021bc996600b072df0501a202d' +
  '320ce60bc97c327fc9d13f37030bbc20ee4e7e1cae3793f9ff0395d0984cb17b6e6f7b2fa6e8ea1c27bb61b88e4d03f322c87ab988dd97bc' +
  'f3b0afd3da76b07d2d07e7d20edb9ef283d17db12dcb49d4cdd5d472e9711152fdde9bda5bb2199b739b66573343cfb8ab63683ead76db28' +
  '66e5ea6669d0c5fd7828ead491e785b54e2e65346429e8e392357eba9b9ce699d6a0f4c336f8761cc02987291311c799a019c347e4983d7c' +
  '7c02';

test('format 0xF5 is pinned: the dictionary bytes, and a value stored by this version', (t) => {
  t.is(createHash('sha256').update(ENTRY_DICTIONARY_V1).digest('hex'), DICTIONARY_V1_SHA256);
  t.is(ENTRY_DICTIONARY_V1.length, 225);
  t.is(Buffer.from(unpackEntry(Buffer.from(VECTOR_STORED, 'hex'))).toString('utf8'), VECTOR_ENTRY);
  t.deepEqual(unpackEntry(packEntry(utf8(VECTOR_ENTRY))), utf8(VECTOR_ENTRY));
});

test('raw values pass through: rows from before schema 9 and entries that do not compress', (t) => {
  const raw = utf8('{"attestation":{"data":{"id":"x","ok":true},"key":"K","sig":"S"},"loggedAt":"L"}');
  t.is(unpackEntry(raw), raw);
  t.is(unpackEntry(new Uint8Array()).length, 0);
  t.is(packEntry(new Uint8Array()).length, 0);
  // Too short to gain anything: stored as it is (the same bytes, no copy).
  const tiny = utf8('{}');
  t.is(packEntry(tiny), tiny);
  // Every byte below 0xF5 starts a raw value.
  for (let b = 0; b < 0xf5; b++) t.deepEqual(unpackEntry(Uint8Array.of(b, 1, 2)), Uint8Array.of(b, 1, 2));
});

test('bytes that start with a reserved byte are always packed, so every packed value reads back', (t) => {
  for (let b = 0xf5; b <= 0xff; b++) {
    const v = Uint8Array.of(b);
    const p = packEntry(v);
    t.is(p[0], PACKED_V1);
    t.deepEqual(unpackEntry(p), v);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (v) => {
      const p = packEntry(v);
      t.true(p.length <= v.length || (v[0] ?? 0) >= 0xf5);
      t.deepEqual(unpackEntry(p), v);
    }),
    { numRuns: 300 },
  );
});

test('a stored value that is not a stored form is a StoredEntryError naming why', async (t) => {
  const [e] = await realEntries();
  const p = packEntry(e!);
  const bad: [string, Uint8Array, RegExp][] = [
    ['unknown format byte', Uint8Array.of(0xf6, 1, 2), /starts with 0xf6/],
    ['format byte alone', Uint8Array.of(PACKED_V1), /does not inflate/],
    ['truncated', p.subarray(0, p.length - 5), /does not inflate/],
    ['bytes after the stream', Uint8Array.from([...p, 0, 0]), /2 bytes after its DEFLATE stream/],
    ['not DEFLATE', Uint8Array.of(PACKED_V1, 0xff, 0xff, 0xff), /does not inflate/],
  ];
  for (const [name, v, message] of bad) {
    const err = t.throws(() => unpackEntry(v), { instanceOf: StoredEntryError, message }, name);
    t.is(err?.code, 'STORED_ENTRY_INVALID');
  }
});

test('inflation is bounded by MAX_ENTRY_BYTES', (t) => {
  const at = new Uint8Array(MAX_ENTRY_BYTES).fill(0x41);
  const p = packEntry(at);
  t.true(p.length < 200);
  t.is(unpackEntry(p).length, MAX_ENTRY_BYTES);
  // One byte more (a DEFLATE bomb's first step): refused, not allocated.
  const over = Uint8Array.from([
    PACKED_V1,
    ...deflateRawSync(new Uint8Array(MAX_ENTRY_BYTES + 1).fill(0x41), { dictionary: ENTRY_DICTIONARY_V1 }),
  ]);
  t.throws(() => unpackEntry(over), {
    instanceOf: StoredEntryError,
    message: new RegExp(`more than ${MAX_ENTRY_BYTES} bytes`),
  });
  const bomb = Uint8Array.from([PACKED_V1, ...deflateRawSync(new Uint8Array(50_000_000))]);
  t.throws(() => unpackEntry(bomb), { instanceOf: StoredEntryError });
});

backendTest(
  test,
  'entries are stored packed and read back exactly; raw rows still read; fsck names a row that does not inflate',
  async (t, b) => {
    const svc = await openService(b);
    try {
      const alice = await makeSigner('Alice');
      const atts = [];
      for (let i = 0; i < 5; i++) atts.push(await alice.attest(sha256Id(`codec ${i}`), i !== 2));
      const receipts = await svc.publish(atts, [alice.publicArmored]);
      const [v] = await svc.db.query('SELECT max(version) AS v FROM schema_migrations');
      t.is(Number(v!.v), 9);
      const stored = await svc.db.query('SELECT idx, entry FROM entries ORDER BY idx');
      t.true(stored.length >= 6);
      for (const r of stored) {
        const s = r.entry as Uint8Array;
        t.is(s[0], PACKED_V1, `entry ${r.idx} stored packed`);
      }
      // Receipts, entry bundles, the feed and lookups give the entry bytes (the tiles' leaf hashes).
      for (const r of receipts) t.is(r.entry[0], 0x7b);
      const { entries } = await reverifyLog(svc);
      t.is(entries.length, stored.length);
      const feed = await svc.entries(0n, 100);
      t.deepEqual(
        feed.map((e) => e.entry),
        entries,
      );
      const first = receipts[0]!;
      t.deepEqual(entries[Number(first.index)], first.entry);
      t.deepEqual(hashLeaf(entries[Number(first.index)]!), hashLeaf(first.entry));

      // A row as schema 8 wrote it (raw bytes) reads as it is, and fsck accepts the log.
      const idx = String(first.index);
      await svc.db.query('UPDATE entries SET entry = $1 WHERE idx = $2', [first.entry, idx]);
      const again = await svc.entries(first.index, 1);
      t.deepEqual(again[0]!.entry, first.entry);
      const ok = await fsckDb(svc.db, { signatures: false });
      t.true(ok.ok, formatFsckReport(ok));

      // A packed row that does not inflate: fsck reports it under ENTRIES, with the reason.
      const bad = Uint8Array.from([...packEntry(first.entry).subarray(0, 40)]);
      await svc.db.query('UPDATE entries SET entry = $1 WHERE idx = $2', [bad, idx]);
      const r = await fsckDb(svc.db, { signatures: false });
      t.false(r.ok);
      t.is(r.firstClass, 'ENTRIES');
      const p = r.problems.find((x) => x.code === 'ENTRY_INVALID');
      t.truthy(p, formatFsckReport(r));
      t.regex(p!.message, new RegExp(`^entry ${idx} does not parse: stored entry .* does not inflate`));
      t.is((p!.details as { cause?: string }).cause, 'STORED_ENTRY_INVALID');
      // The server's own read says what is wrong instead of serving the stored bytes.
      await t.throwsAsync(() => svc.entries(first.index, 1), { instanceOf: StoredEntryError });
    } finally {
      await svc.close();
    }
  },
);
