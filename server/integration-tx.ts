/**
 * The sequencer's SQL: integrationTx implements server/sequencer.ts IntegrationTx on one transaction
 * (SqlStore.integrate opens it under the integrator lock). Why each step is safe if the process dies
 * right after it is in server/sequencer.ts. tileFetcher and readLatestCheckpoint serve SqlStore too,
 * outside the transaction.
 */

import { concatBytes } from '../log/bytes.js';
import type { TileCoord } from '../log/tiles.js';
import { big, bytes, num, type Queryable, type Row } from './db.js';
import { packEntry } from './entry-codec.js';
import { indexSql, insertBucketsSql, Params } from './index-sql.js';
import type { IntegrationTx, PendingRow, StoredCheckpoint, TreeState } from './sequencer.js';

/** AppendBatch is what IntegrationTx.appendBatch writes. */
type AppendBatch = Parameters<IntegrationTx['appendBatch']>[0];

/**
 * integrationTx returns the IntegrationTx whose every statement runs on `q` (an open transaction),
 * but for the reads of the map's committed versions, which run on `beside` when given (a pool beside
 * the transaction: server/index-round.ts LeafTx.versions). `deleted` is told how many pending rows each
 * statement deleted (SqlStore vacuums pending after enough).
 */
export function integrationTx(
  q: Queryable,
  deleted: (rows: number) => void = () => {},
  beside?: Queryable,
): IntegrationTx {
  return {
    index: indexSql(q),
    versions: beside ? indexSql(beside) : undefined,
    state: () => lockState(q),
    takePending: (limit) => takePending(q, limit, deleted),
    readTiles: tileFetcher(q),
    appendBatch: (b) => appendBatch(q, b, deleted),
    latestCheckpoint: () => readLatestCheckpoint(q),
    addCheckpoint: (c) => addCheckpoint(q, c),
  };
}

/**
 * addCheckpoint stores a signed checkpoint. A re-signing of an unchanged tree (same size and root as the
 * newest row) replaces the newest row when that row is itself a re-signing (an older row has its size):
 * the table keeps the first checkpoint of every size, which /v1/checkpoints history and auditors asking
 * for a size read, and the newest, which is served; an idle log does not add a row per
 * REPUBLISH_INTERVAL_MS. Once any witness has cosigned or a checkpoint was served with cosignatures
 * (sql/005), nothing is replaced: a witnessed log keeps every checkpoint its cosignatures refer to, and
 * the cosigning loop (outside this transaction) never finds its checkpoint gone.
 */
async function addCheckpoint(q: Queryable, c: StoredCheckpoint): Promise<void> {
  await q.query(
    `WITH prev AS (SELECT id, tree_size, root_hash FROM checkpoints ORDER BY id DESC LIMIT 1),
          ins AS (INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4))
     DELETE FROM checkpoints c USING prev
      WHERE c.id = prev.id AND prev.tree_size = $1::bigint AND prev.root_hash = $2::bytea
        AND EXISTS (SELECT 1 FROM checkpoints o WHERE o.tree_size = prev.tree_size AND o.id < prev.id)
        AND NOT EXISTS (SELECT 1 FROM cosignatures) AND NOT EXISTS (SELECT 1 FROM served_checkpoints)`,
    [c.treeSize.toString(), c.rootHash, c.note, c.signedAt],
  );
}

/**
 * tileFetcher returns a TileFetcher (log/tiles.ts) reading on `q`: every tile asked for in one query,
 * each cut to the width asked. A tile the tree must have that is missing or too narrow throws plainly
 * (the store is inconsistent with log_state).
 */
export function tileFetcher(q: Queryable) {
  return async (tiles: readonly TileCoord[]): Promise<Uint8Array[]> => {
    if (tiles.length === 0) return [];
    const rows = await q.query(
      `SELECT t.level, t.idx, t.width, t.data
         FROM tiles t JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)
           ON t.level = w.level AND t.idx = w.idx`,
      [tiles.map((t) => t.level), tiles.map((t) => t.index.toString())],
    );
    const byKey = new Map<string, { width: number; data: Uint8Array }>();
    for (const r of rows)
      byKey.set(`${num(r.level)}/${big(r.idx)}`, { width: num(r.width), data: bytes(r.data) });
    return tiles.map((t) => {
      const got = byKey.get(`${t.level}/${t.index}`);
      if (!got || got.width < t.width) {
        // A tile the tree must have is missing: the store is inconsistent with log_state. Crash loudly.
        throw new Error(
          `tile ${t.level}/${t.index} width ${t.width} is not stored (found ${got ? `width ${got.width}` : 'nothing'})`,
        );
      }
      return got.data.subarray(0, t.width * 32);
    });
  };
}

/** readLatestCheckpoint returns the newest row of checkpoints read on `q`, or undefined when none. */
export async function readLatestCheckpoint(q: Queryable): Promise<StoredCheckpoint | undefined> {
  const [r] = await q.query(
    'SELECT tree_size, root_hash, note, signed_at FROM checkpoints ORDER BY id DESC LIMIT 1',
  );
  return r ? checkpointFromRow(r) : undefined;
}

/** checkpointFromRow reads a row of checkpoints (tree_size, root_hash, note, signed_at). */
export function checkpointFromRow(r: Row): StoredCheckpoint {
  return {
    treeSize: big(r.tree_size),
    rootHash: bytes(r.root_hash),
    note: String(r.note),
    signedAt: new Date(r.signed_at as Date),
  };
}

async function lockState(q: Queryable): Promise<TreeState> {
  const [r] = await q.query('SELECT tree_size, root_hash FROM log_state FOR UPDATE');
  if (!r) throw new Error('log_state has no row: the schema was not initialised');
  return { treeSize: big(r.tree_size), rootHash: bytes(r.root_hash) };
}

async function takePending(
  q: Queryable,
  limit: number,
  deleted: (rows: number) => void,
): Promise<PendingRow[]> {
  const rows = await q.query(
    `SELECT seq, attestation_digest, entry, identifier, signer_fingerprint, accepted_at
       FROM pending ORDER BY seq LIMIT $1`,
    [limit],
  );
  if (rows.length === 0) return [];
  // A publish that checked "not logged" just before another process integrated the same
  // attestation can still insert it into pending afterwards; such rows are already answered
  // (their entry exists), so drop them instead of logging the attestation twice. Only this
  // batch's rows are checked (one index probe each).
  const dropped = await q.query(
    `DELETE FROM pending p USING entries e
      WHERE p.seq = ANY($1::bigint[]) AND e.attestation_digest = p.attestation_digest
     RETURNING p.seq`,
    [rows.map((r) => big(r.seq).toString())],
  );
  deleted(dropped.length);
  const gone = new Set(dropped.map((r) => big(r.seq)));
  return rows
    .map((r) => ({
      seq: big(r.seq),
      digest: bytes(r.attestation_digest),
      entry: bytes(r.entry),
      identifier: String(r.identifier),
      signer: String(r.signer_fingerprint),
      acceptedAt: new Date(r.accepted_at as Date),
    }))
    .filter((r) => !gone.has(r.seq));
}

/**
 * appendBatch writes a round's batch in ONE statement (data-modifying WITH parts, each on its own table,
 * so none needs to see another's rows): the entries (packed: sql/009, server/entry-codec.ts), the
 * deletion of their pending rows, the changed tiles, the map's new bucket versions and then the state
 * row, with the map's columns when the batch carries the index leaf. One statement instead of up to
 * six: a round's statements are what its critical path waits on.
 */
async function appendBatch(q: Queryable, b: AppendBatch, deleted: (rows: number) => void): Promise<void> {
  const p = new Params();
  const parts: string[] = [];
  if (b.rows.length > 0) parts.push(`e AS (${insertEntriesSql(p, b, await packSliced(b.rows))})`);
  const seqs = b.rows.flatMap((r) => (r.seq === undefined ? [] : [r.seq.toString()]));
  parts.push(
    seqs.length > 0
      ? `d AS (DELETE FROM pending WHERE seq = ANY(${p.add(seqs)}::bigint[]) RETURNING 1)`
      : 'd AS (SELECT 1 WHERE false)',
  );
  if (b.tiles.length > 0) {
    parts.push(`t AS (INSERT INTO tiles (level, idx, width, data)
       SELECT * FROM unnest(${p.add(b.tiles.map((t) => t.tile.level))}::smallint[],
                            ${p.add(b.tiles.map((t) => t.tile.index.toString()))}::bigint[],
                            ${p.add(b.tiles.map((t) => t.tile.width))}::smallint[],
                            ${p.add(b.tiles.map((t) => t.data))}::bytea[])
       ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, data = EXCLUDED.data
       WHERE tiles.width <= EXCLUDED.width)`);
  }
  const m = b.map;
  if (m && m.buckets.length > 0) parts.push(`b AS (${insertBucketsSql(p, m.version, m.buckets)})`);
  const count = '(SELECT count(*) FROM d) AS deleted';
  let main = `SELECT ${count}`;
  if (b.state !== undefined) {
    const mapColumns = m?.state
      ? `, map_size = ${p.add(m.state.mapSize.toString())}, map_pruned_to = ${p.add(m.state.prunedTo.toString())},
         index_leaf_at = ${p.add(m.state.indexLeafAt === undefined ? null : m.state.indexLeafAt.toString())}`
      : '';
    main = `UPDATE log_state SET tree_size = ${p.add(b.state.treeSize.toString())},
              root_hash = ${p.add(b.state.rootHash)}, updated_at = now()${mapColumns}
            RETURNING ${count}`;
  }
  const [r] = await q.query(`WITH ${parts.join(',\n')}\n${main}`, p.values);
  deleted(Number(r?.deleted ?? 0));
}

/** PACK_SLICE: entries packed between two turns of the event loop (about 1 ms of DEFLATE). */
const PACK_SLICE = 64;

/**
 * packSliced returns the stored form of each row's entry (server/entry-codec.ts packEntry), letting the
 * event loop run between slices of PACK_SLICE: a round's 256 entries are about 5 ms of DEFLATE, and what
 * answers meanwhile (the read of the touched buckets an index round has sent, HTTP requests) is not
 * held up for all of it.
 */
async function packSliced(rows: readonly { entry: Uint8Array }[]): Promise<Uint8Array[]> {
  const packed: Uint8Array[] = [];
  for (let i = 0; i < rows.length; i += PACK_SLICE) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const r of rows.slice(i, i + PACK_SLICE)) packed.push(packEntry(r.entry));
  }
  return packed;
}

/**
 * insertEntriesSql returns the INSERT of the batch's entries, `packed` being their stored forms
 * (parameters added to `p`). The packed entries and the digests go as one bytea each, cut in SQL by
 * offset (see index-sql.ts insertBucketsSql for why); an index leaf has no digest (offset -1), nor
 * identifier nor signer. No leaf hash: it is the level-0 tile's (sql/007).
 */
function insertEntriesSql(p: Params, b: AppendBatch, packed: readonly Uint8Array[]): string {
  const entryAt: number[] = [];
  const entryLen: number[] = [];
  let at = 0;
  for (const e of packed) {
    entryAt.push(at);
    entryLen.push(e.length);
    at += e.length;
  }
  const digests = b.rows.flatMap((r) => (r.digest === null ? [] : [r.digest]));
  let d = 0;
  const digestAt = b.rows.map((r) => (r.digest === null ? -1 : 32 * d++));
  const entries = p.add(concatBytes(...packed));
  const digestBytes = p.add(concatBytes(...digests));
  return `INSERT INTO entries (idx, entry, attestation_digest, identifier, signer_fingerprint, logged_at)
     SELECT ${p.add(b.start.toString())}::bigint + o - 1,
            substring(${entries}::bytea from ea + 1 for el),
            CASE WHEN da < 0 THEN NULL ELSE substring(${digestBytes}::bytea from da + 1 for 32) END,
            i, s, t
       FROM unnest(${p.add(entryAt)}::integer[], ${p.add(entryLen)}::integer[], ${p.add(digestAt)}::integer[],
                   ${p.add(b.rows.map((r) => r.identifier))}::text[], ${p.add(b.rows.map((r) => r.signer))}::text[],
                   ${p.add(b.rows.map((r) => r.acceptedAt))}::timestamptz[])
            WITH ORDINALITY AS u(ea, el, da, i, s, t, o)`;
}
