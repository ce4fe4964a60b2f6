-- Schema 8: the index's primary key without INCLUDE (key_count, hash) (issue 13, storage).
--
-- The INCLUDE made the full load of the map's top (server/index-sql.ts bucketHeads, once per process
-- that takes over integration or serves lookups) an index-only scan, at the cost of a second copy of
-- every version's count and hash: 85-98 bytes of the primary key per entry on logs of 10^4-10^5 entries
-- and on small served logs, where a bucket holds about one key (bench/storage.ts, bench/index.ts). That
-- load now reads the heap (a few hundred ms at 10^6, against a 5 s takeover target); lookups and the
-- round read single rows by (prefix, from_size) as before.
--
-- Crash safety: one transaction with the version bump (server/migrate.ts); dying before COMMIT leaves
-- schema 7 and its key, and the next start does this again.
ALTER TABLE index_buckets DROP CONSTRAINT index_buckets_pkey;
ALTER TABLE index_buckets ADD PRIMARY KEY (prefix, from_size);
