/**
 * entryBytes: the number of entries of a log's database and the mean size of their entry bytes, for the
 * benchmarks that divide storage by the entry bytes (bench/storage.ts, bench/query.ts, bench/publish.ts).
 * Since schema 9 entries.entry holds the stored (packed) form, so octet_length(entry) is no longer the
 * entry's size: every row is read back and unpacked (server/entry-codec.ts unpackEntry), as the server
 * reads it. About 10 s at 10^6 entries.
 */
import type pg from 'pg';
import { unpackEntry } from '../server/entry-codec.js';

/** ENTRY_BATCH: rows read per query (a few MB). */
const ENTRY_BATCH = 20_000;

/** EntryBytes: entries counted, the mean of their entry bytes, and the mean of their stored values. */
export interface EntryBytes {
  n: number;
  meanEntry: number;
  meanStored: number;
}

/** entryBytes reads every entries row of the database `c` is connected to (see the file comment). */
export async function entryBytes(c: pg.Client): Promise<EntryBytes> {
  let n = 0;
  let raw = 0;
  let stored = 0;
  for (let from = 0n; ; ) {
    const rows = (
      await c.query('SELECT idx, entry FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2', [
        from.toString(),
        ENTRY_BATCH,
      ])
    ).rows as { idx: string; entry: Buffer }[];
    for (const r of rows) {
      n++;
      stored += r.entry.length;
      raw += unpackEntry(r.entry).length;
    }
    if (rows.length < ENTRY_BATCH) break;
    from = BigInt(rows[rows.length - 1]!.idx) + 1n;
  }
  return { n, meanEntry: n === 0 ? 0 : raw / n, meanStored: n === 0 ? 0 : stored / n };
}
