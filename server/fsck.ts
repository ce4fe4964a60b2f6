/**
 * fsck: offline re-verification of a whole stored log from its database (`sig server fsck`), with
 * nothing but the entries, the stored keys and log/: the same code a client verifies with.
 *
 * What it checks, in the order problems are reported (the first class with a problem decides the
 * exit status and message):
 *   1. SCHEMA: the database has the schema version this build knows (sql/).
 *   2. IDENTITY: log_identity holds the log's origin and keys (Ed25519 vkey, OpenPGP public key).
 *   3. ENTRIES: entries.idx runs 0..tree_size-1 with no gap and nothing past log_state.tree_size; every
 *      entry parses (log/entry.ts parseEntry: canonical JSON); its stored digest, identifier, signer
 *      and logged_at agree with the entry bytes; no attestation digest appears twice. The RFC 6962 leaf
 *      hash SHA-256(0x00 || entry) equals entries.leaf_hash when the schema has that column (it is
 *      checked again, through the level-0 tiles, under TILES).
 *   4. SIGNATURES: every attestation verifies (log/signet.ts verifyAttestation) with the signer's stored
 *      key, as of its loggedAt (the server's acceptance rule).
 *   5. TILES: every hash tile recomputed from the entries (log/tiles.ts appendLeaves) equals the stored
 *      one, at the width the tree has; no tile is missing or extra (c2sp.org/tlog-tiles).
 *   6. ROOT: the root recomputed from the entries equals log_state.root_hash.
 *   7. CHECKPOINTS: there is one; every stored checkpoint carries valid Ed25519 and OpenPGP lines by the
 *      log's keys (c2sp.org/signed-note), its body matches its row, its size is within the tree and
 *      never goes down in signing order, its root equals the root recomputed at its size, and it is
 *      consistent with the latest checkpoint by an RFC 9162 §2.1.4 proof built from the stored tiles
 *      (log/proof.ts proveConsistency + verifyConsistency).
 *   8. PENDING: every pending row (a future entry) parses and agrees with its columns; rows for
 *      attestations already logged are counted, not problems (the integrator drops them).
 *
 * It only reads (plain SELECTs in one READ ONLY, REPEATABLE READ transaction: one consistent snapshot;
 * no migration, no lock), so it can run against a live Postgres while the log grows; for
 * PGlite the server must be stopped (PGlite is one process). Memory: the entries are streamed in
 * batches; what is kept is one digest per entry (dedup check) and the right edge of the tree.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { parseCheckpoint } from '../log/checkpoint.js';
import { attestationDigest, parseEntry } from '../log/entry.js';
import { emptyRoot, hashLeaf } from '../log/hash.js';
import { ed25519Verifier, openNote, openpgpVerifier } from '../log/note.js';
import { proveConsistency, verifyConsistency } from '../log/proof.js';
import { verifyAttestation } from '../log/signet.js';
import { appendLeaves, type TileCoord, tileHashReader, tilePath, tilesForSize } from '../log/tiles.js';
import { big, bytes, num, openDb, type Queryable } from './db.js';
import { loadMigrations } from './store.js';

/** FSCK_CLASSES are the classes of problems, in reporting order (see the file comment). */
export const FSCK_CLASSES = [
  'SCHEMA',
  'IDENTITY',
  'ENTRIES',
  'SIGNATURES',
  'TILES',
  'ROOT',
  'CHECKPOINTS',
  'PENDING',
] as const;

/** FsckClass is one class of problems. */
export type FsckClass = (typeof FSCK_CLASSES)[number];

/** FsckProblem is one thing found wrong: a stable code, its class, what was expected and found. */
export interface FsckProblem {
  class: FsckClass;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** FsckReport is the result of fsck: counts, the recomputed root, and the problems found. */
export interface FsckReport {
  ok: boolean;
  database: 'pg' | 'pglite';
  origin: string | undefined;
  /** treeSize: log_state.tree_size. */
  treeSize: bigint;
  /** entries: rows read from entries. */
  entries: number;
  /** signaturesVerified: attestations whose signature was checked and verified. */
  signaturesVerified: number;
  /** tiles: stored hash tiles compared. */
  tiles: number;
  checkpoints: number;
  /** latestCheckpointSize: the size of the latest checkpoint, if any. */
  latestCheckpointSize: bigint | undefined;
  /** consistencyProofs: proofs built and verified between checkpoint sizes and the latest one. */
  consistencyProofs: number;
  pending: number;
  /** pendingAlreadyLogged: pending rows for attestations already logged (dropped at integration). */
  pendingAlreadyLogged: number;
  /** rootHash: the root recomputed from the entries (base64). */
  rootHash: string;
  /** problems: at most MAX_PROBLEMS_PER_CLASS per class, in class order. */
  problems: FsckProblem[];
  /** firstClass: the first class with a problem (undefined when ok). */
  firstClass: FsckClass | undefined;
  elapsedMs: number;
}

/** FsckOptions say which database to check and how. */
export interface FsckOptions {
  /** databaseUrl: Postgres; else PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** signatures: verify every attestation's OpenPGP signature (default true; the slow part). */
  signatures?: boolean;
  /** batchSize: entries per read (default 5000). */
  batchSize?: number;
  /** onProgress is called after each batch with entries done and the tree size. */
  onProgress?: (done: number, total: bigint) => void;
}

/** FsckSource is what fsck reads through: a database (or one transaction of it) and its kind. */
export interface FsckSource {
  kind: 'pg' | 'pglite';
  query: Queryable['query'];
}

/** MAX_PROBLEMS_PER_CLASS bounds the problems kept per class (the rest are counted). */
export const MAX_PROBLEMS_PER_CLASS = 20;

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(b);
const tileKey = (level: number, index: bigint) => `${level}/${index}`;

class Problems {
  readonly list: FsckProblem[] = [];
  private readonly counts = new Map<FsckClass, number>();
  add(cls: FsckClass, code: string, message: string, details: Record<string, unknown> = {}): void {
    const n = (this.counts.get(cls) ?? 0) + 1;
    this.counts.set(cls, n);
    if (n <= MAX_PROBLEMS_PER_CLASS) this.list.push({ class: cls, code, message, details });
    if (n === MAX_PROBLEMS_PER_CLASS + 1) {
      this.list.push({
        class: cls,
        code: 'MORE_PROBLEMS',
        message: `more ${cls} problems were found; only the first ${MAX_PROBLEMS_PER_CLASS} are listed`,
        details: {},
      });
    }
  }
  has(cls: FsckClass): boolean {
    return (this.counts.get(cls) ?? 0) > 0;
  }
  sorted(): FsckProblem[] {
    return [...this.list].sort((a, b) => FSCK_CLASSES.indexOf(a.class) - FSCK_CLASSES.indexOf(b.class));
  }
}

/**
 * fsck opens the database named by `opts` (read only: it runs SELECTs only), re-verifies the whole log
 * as the file comment says, closes the database and returns the report. It throws only when the
 * database cannot be opened or read (or, without databaseUrl, when dataDir holds no PGlite database);
 * everything wrong with the stored log is a problem in the report.
 */
export async function fsck(opts: FsckOptions): Promise<FsckReport> {
  if (!opts.databaseUrl && !existsSync(join(opts.dataDir, 'pglite'))) {
    // Opening would create an empty database: say what is wrong instead.
    throw new Error(
      `no embedded database in ${join(opts.dataDir, 'pglite')}: give the server's --data-dir (DATA_DIR), or --database-url (DATABASE_URL) for Postgres`,
    );
  }
  const db = await openDb({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir });
  try {
    // One REPEATABLE READ snapshot for every read: on a live Postgres the integrator keeps appending,
    // and entries, tiles, state and checkpoints must all be seen as of one moment.
    return await db.transaction(async (q) => {
      await q.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      return fsckDb({ kind: db.kind, query: q.query.bind(q) }, opts);
    });
  } finally {
    await db.close();
  }
}

/** fsckDb is fsck over an open database or transaction (the caller closes it); throws like fsck. */
export async function fsckDb(
  db: FsckSource,
  opts: Omit<FsckOptions, 'databaseUrl' | 'dataDir'> = {},
): Promise<FsckReport> {
  const started = Date.now();
  const p = new Problems();
  const report: FsckReport = {
    ok: false,
    database: db.kind,
    origin: undefined,
    treeSize: 0n,
    entries: 0,
    signaturesVerified: 0,
    tiles: 0,
    checkpoints: 0,
    latestCheckpointSize: undefined,
    consistencyProofs: 0,
    pending: 0,
    pendingAlreadyLogged: 0,
    rootHash: b64(emptyRoot()),
    problems: [],
    firstClass: undefined,
    elapsedMs: 0,
  };
  const finish = () => {
    report.problems = p.sorted();
    report.firstClass = report.problems[0]?.class;
    report.ok = report.problems.length === 0;
    report.elapsedMs = Date.now() - started;
    return report;
  };

  // 1. SCHEMA
  const expectedVersion = loadMigrations().length;
  const [hasTable] = await db.query(
    `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'schema_migrations'`,
  );
  if (num(hasTable?.n) === 0) {
    p.add(
      'SCHEMA',
      'SCHEMA_MISSING',
      'the database has no Sig Server schema (no schema_migrations table): is this the right database?',
    );
    return finish();
  }
  const [v] = await db.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
  const version = num(v?.v);
  if (version !== expectedVersion) {
    p.add(
      'SCHEMA',
      'SCHEMA_MISMATCH',
      `the database has schema version ${version}; this fsck knows version ${expectedVersion}: use the matching sig version`,
      { found: version, expected: expectedVersion },
    );
    return finish();
  }

  // 2. IDENTITY
  const [id] = await db.query(
    'SELECT origin, note_vkey, openpgp_fingerprint, openpgp_public_key FROM log_identity',
  );
  if (!id) {
    p.add(
      'IDENTITY',
      'IDENTITY_MISSING',
      'log_identity is empty: the log was never started on this database',
    );
    return finish();
  }
  const origin = String(id.origin);
  report.origin = origin;
  let verifiers:
    | { ed: ReturnType<typeof ed25519Verifier>; pgp: ReturnType<typeof openpgpVerifier> }
    | undefined;
  try {
    const pgpKey = await openpgp.readKey({ armoredKey: String(id.openpgp_public_key) });
    const fp = pgpKey.getFingerprint().toUpperCase();
    if (fp !== String(id.openpgp_fingerprint)) {
      p.add(
        'IDENTITY',
        'IDENTITY_INVALID',
        `log_identity.openpgp_fingerprint is ${id.openpgp_fingerprint} but its public key is ${fp}`,
        {
          expected: fp,
          found: String(id.openpgp_fingerprint),
        },
      );
    }
    verifiers = { ed: ed25519Verifier(String(id.note_vkey)), pgp: openpgpVerifier(origin, pgpKey) };
  } catch (e) {
    p.add('IDENTITY', 'IDENTITY_INVALID', `log_identity keys do not load: ${(e as Error).message}`);
  }

  const [st] = await db.query('SELECT tree_size, root_hash FROM log_state');
  if (!st) {
    p.add('ROOT', 'STATE_MISSING', 'log_state has no row: the schema was not initialised');
    return finish();
  }
  const stateSize = big(st.tree_size);
  const stateRoot = bytes(st.root_hash);
  report.treeSize = stateSize;

  // Checkpoint sizes first: the entries pass records the recomputed root at each of them.
  const cpSizes = new Set<bigint>(
    (await db.query('SELECT DISTINCT tree_size FROM checkpoints ORDER BY tree_size')).map((r) =>
      big(r.tree_size),
    ),
  );
  const rootsAt = new Map<bigint, Uint8Array>();
  if (cpSizes.has(0n)) rootsAt.set(0n, emptyRoot());

  // Stored tile coordinates (small: about treeSize/256 rows), to find missing and extra tiles.
  const storedWidths = new Map<string, number>();
  for (const r of await db.query('SELECT level, idx, width FROM tiles')) {
    storedWidths.set(tileKey(num(r.level), big(r.idx)), num(r.width));
  }

  // 3-5. One pass over the entries: parse, hash, verify, rebuild the tiles.
  const signatures = opts.signatures !== false;
  const batchSize = opts.batchSize ?? 5000;
  const digests = new Set<string>();
  const keyCache = new Map<string, openpgp.PublicKey | null>();
  // edge holds the computed tiles not yet compared with the stored ones (the right edge of the tree).
  const edge = new Map<string, { tile: TileCoord; data: Uint8Array }>();
  const fullDone: { tile: TileCoord; data: Uint8Array }[] = [];
  const fetchEdge = async (tiles: readonly TileCoord[]) =>
    tiles.map((t) => {
      const got = edge.get(tileKey(t.level, t.index));
      if (!got || got.tile.width !== t.width) throw new Error(`fsck: edge tile ${tilePath(t)} not kept`);
      return got.data;
    });
  const compareTiles = async (computed: { tile: TileCoord; data: Uint8Array }[]) => {
    if (computed.length === 0) return;
    const rows = await db.query(
      `SELECT t.level, t.idx, t.width, t.data FROM tiles t
         JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON t.level = w.level AND t.idx = w.idx`,
      [computed.map((c) => c.tile.level), computed.map((c) => c.tile.index.toString())],
    );
    const stored = new Map(
      rows.map((r) => [tileKey(num(r.level), big(r.idx)), { width: num(r.width), data: bytes(r.data) }]),
    );
    for (const c of computed) {
      const s = stored.get(tileKey(c.tile.level, c.tile.index));
      report.tiles++;
      if (!s) continue; // reported as TILE_MISSING from storedWidths
      const w = c.tile.width;
      if (s.width < w) continue; // reported as TILE_WIDTH_MISMATCH
      if (!sameBytes(s.data.subarray(0, w * 32), c.data)) {
        let hash = 0;
        while (
          hash < w &&
          sameBytes(s.data.subarray(hash * 32, hash * 32 + 32), c.data.subarray(hash * 32, hash * 32 + 32))
        )
          hash++;
        p.add(
          'TILES',
          'TILE_MISMATCH',
          `stored tile ${tilePath(c.tile)} differs from the one recomputed from the entries, first at hash ${hash}`,
          {
            tile: tilePath(c.tile),
            hash,
            expected: b64(c.data.subarray(hash * 32, hash * 32 + 32)),
            found: b64(s.data.subarray(hash * 32, hash * 32 + 32)),
          },
        );
      }
    }
  };

  // entries.leaf_hash exists in some schema versions (a copy of the level-0 tile hash): check it when there.
  const [lh] = await db.query(
    `SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'entries' AND column_name = 'leaf_hash'`,
  );
  const hasLeafHash = num(lh?.n) > 0;

  let size = 0n; // leaves appended to the recomputed tree
  let root = emptyRoot();
  let expectIdx = 0n;
  for (;;) {
    const rows = await db.query(
      `SELECT idx, entry, attestation_digest${hasLeafHash ? ', leaf_hash' : ''}, identifier, signer_fingerprint, logged_at
         FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2`,
      [expectIdx.toString(), batchSize],
    );
    if (rows.length === 0) break;
    // Keys of this batch's signers, in one query.
    if (signatures) {
      const want = [...new Set(rows.map((r) => String(r.signer_fingerprint)))].filter(
        (f) => !keyCache.has(f),
      );
      if (want.length > 0) {
        const keys = await db.query(
          'SELECT fingerprint, armored FROM signer_keys WHERE fingerprint = ANY($1::text[])',
          [want],
        );
        for (const k of keys) {
          try {
            keyCache.set(String(k.fingerprint), await openpgp.readKey({ armoredKey: String(k.armored) }));
          } catch {
            keyCache.set(String(k.fingerprint), null);
          }
        }
        for (const f of want) if (!keyCache.has(f)) keyCache.set(f, null);
      }
    }
    const leaves: Uint8Array[] = [];
    for (const r of rows) {
      const idx = big(r.idx);
      if (idx !== expectIdx) {
        p.add(
          'ENTRIES',
          'ENTRY_GAP',
          `entries ${expectIdx}..${idx - 1n} are missing: the next stored entry is ${idx}`,
          {
            from: expectIdx.toString(),
            to: (idx - 1n).toString(),
          },
        );
      }
      expectIdx = idx + 1n;
      report.entries++;
      if (idx >= stateSize) {
        p.add(
          'ENTRIES',
          'ENTRY_BEYOND_STATE',
          `entry ${idx} is stored but log_state.tree_size is ${stateSize}`,
          {
            index: idx.toString(),
          },
        );
      }
      const entry = bytes(r.entry);
      // The leaf hash is stored only in the level-0 tiles: a changed entry shows there (TILES) and,
      // below, as an entry that no longer parses or no longer matches its own columns (ENTRIES).
      const leaf = hashLeaf(entry);
      leaves.push(leaf);
      if (hasLeafHash && !sameBytes(leaf, bytes(r.leaf_hash))) {
        p.add(
          'ENTRIES',
          'ENTRY_LEAF_HASH_MISMATCH',
          `entry ${idx}: stored leaf_hash ${hex(bytes(r.leaf_hash))} is not SHA-256(0x00 || entry) = ${hex(leaf)}: the entry bytes or the leaf hash were altered`,
          { index: idx.toString() },
        );
      }
      let parsed: ReturnType<typeof parseEntry> | undefined;
      try {
        parsed = parseEntry(entry);
      } catch (e) {
        p.add('ENTRIES', 'ENTRY_INVALID', `entry ${idx} does not parse: ${(e as Error).message}`, {
          index: idx.toString(),
          cause: (e as { code?: string }).code,
        });
      }
      const storedDigest = bytes(r.attestation_digest);
      const dKey = Buffer.from(storedDigest).toString('latin1');
      if (digests.has(dKey)) {
        p.add(
          'ENTRIES',
          'DUPLICATE_DIGEST',
          `entry ${idx}: attestation digest ${hex(storedDigest)} was already logged at a lower index`,
          {
            index: idx.toString(),
            digest: hex(storedDigest),
          },
        );
      }
      digests.add(dKey);
      if (!parsed) continue;
      const att = parsed.attestation;
      const digest = attestationDigest(att);
      const mismatch: string[] = [];
      if (!sameBytes(digest, storedDigest))
        mismatch.push(`attestation_digest ${hex(storedDigest)} (entry says ${hex(digest)})`);
      if (String(r.identifier) !== att.data.id)
        mismatch.push(
          `identifier ${JSON.stringify(r.identifier)} (entry says ${JSON.stringify(att.data.id)})`,
        );
      if (String(r.signer_fingerprint) !== att.key)
        mismatch.push(`signer_fingerprint ${r.signer_fingerprint} (entry says ${att.key})`);
      if (new Date(r.logged_at as Date).toISOString() !== parsed.loggedAt) {
        mismatch.push(
          `logged_at ${new Date(r.logged_at as Date).toISOString()} (entry says ${parsed.loggedAt})`,
        );
      }
      if (mismatch.length > 0) {
        p.add('ENTRIES', 'ENTRY_COLUMNS_MISMATCH', `entry ${idx}: stored ${mismatch.join(', ')}`, {
          index: idx.toString(),
        });
      }
      if (signatures) {
        const key = keyCache.get(att.key);
        if (!key) {
          p.add(
            'SIGNATURES',
            'KEY_MISSING',
            `entry ${idx}: the signer's key ${att.key} is not in signer_keys (or does not load)`,
            {
              index: idx.toString(),
              key: att.key,
            },
          );
        } else {
          try {
            await verifyAttestation(att, key, { now: new Date(parsed.loggedAt) });
            report.signaturesVerified++;
          } catch (e) {
            p.add('SIGNATURES', 'ATTESTATION_SIGNATURE_INVALID', `entry ${idx}: ${(e as Error).message}`, {
              index: idx.toString(),
              cause: (e as { code?: string }).code,
            });
          }
        }
      }
    }
    // Append the leaves, stopping at every checkpoint size to record the root there.
    let off = 0;
    while (off < leaves.length) {
      let take = leaves.length - off;
      for (const s of cpSizes) if (s > size && s - size < BigInt(take)) take = Number(s - size);
      const r = await appendTo(size, leaves.slice(off, off + take), fetchEdge, edge, fullDone);
      size = r.treeSize;
      root = r.rootHash;
      if (cpSizes.has(size)) rootsAt.set(size, root);
      off += take;
    }
    if (fullDone.length >= 256) await compareTiles(fullDone.splice(0));
    opts.onProgress?.(report.entries, stateSize);
    if (rows.length < batchSize) break;
  }
  if (expectIdx < stateSize) {
    p.add(
      'ENTRIES',
      'ENTRY_GAP',
      `entries ${expectIdx}..${stateSize - 1n} are missing: log_state.tree_size is ${stateSize}`,
      {
        from: expectIdx.toString(),
        to: (stateSize - 1n).toString(),
      },
    );
  }
  await compareTiles(fullDone.splice(0));
  await compareTiles([...edge.values()].filter((t) => t.tile.width < 256));
  report.rootHash = b64(root);

  // Tiles the tree of the stored state must have, against the stored rows.
  const expected = tilesForSize(stateSize);
  const expectedKeys = new Set<string>();
  for (const t of expected) {
    const k = tileKey(t.level, t.index);
    expectedKeys.add(k);
    const w = storedWidths.get(k);
    if (w === undefined) {
      p.add(
        'TILES',
        'TILE_MISSING',
        `tile ${tilePath(t)} is not stored, but a tree of size ${stateSize} has it`,
        { tile: tilePath(t) },
      );
    } else if (w !== t.width) {
      p.add(
        'TILES',
        'TILE_WIDTH_MISMATCH',
        `tile ${tilePath({ ...t, width: 256 })} is stored at width ${w}, but a tree of size ${stateSize} has it at width ${t.width}`,
        {
          tile: tilePath(t),
          expected: t.width,
          found: w,
        },
      );
    }
  }
  for (const k of storedWidths.keys()) {
    if (!expectedKeys.has(k)) {
      p.add('TILES', 'TILE_EXTRA', `tile ${k} is stored but a tree of size ${stateSize} does not have it`, {
        tile: k,
      });
    }
  }

  // 6. ROOT
  if (!sameBytes(root, stateRoot)) {
    p.add(
      'ROOT',
      'ROOT_MISMATCH',
      `log_state.root_hash is ${b64(stateRoot)} but the root recomputed from the ${report.entries} entries is ${b64(root)}`,
      {
        expected: b64(root),
        found: b64(stateRoot),
      },
    );
  }

  // 7. CHECKPOINTS
  await checkCheckpoints(db, p, report, { origin, verifiers, stateSize, rootsAt });

  // 8. PENDING: rows that will become entries must already be what the integrator may log. A row
  // for an attestation already logged is not a problem (a publish racing an integration in another
  // process can leave one; the integrator drops it): it is counted.
  const [pend] = await db.query('SELECT count(*) AS n FROM pending');
  report.pending = num(pend?.n);
  const [dupCount] = await db.query(
    'SELECT count(*) AS n FROM pending p JOIN entries e ON e.attestation_digest = p.attestation_digest',
  );
  report.pendingAlreadyLogged = num(dupCount?.n);
  let lastSeq = -1n;
  for (;;) {
    const rows = await db.query(
      `SELECT seq, entry, attestation_digest, identifier, signer_fingerprint FROM pending
        WHERE seq > $1 ORDER BY seq LIMIT 1000`,
      [lastSeq.toString()],
    );
    if (rows.length === 0) break;
    for (const r of rows) {
      lastSeq = big(r.seq);
      try {
        const att = parseEntry(bytes(r.entry)).attestation;
        if (
          !sameBytes(attestationDigest(att), bytes(r.attestation_digest)) ||
          String(r.identifier) !== att.data.id ||
          String(r.signer_fingerprint) !== att.key
        ) {
          throw new Error('its digest, identifier or signer column disagrees with its entry bytes');
        }
      } catch (e) {
        p.add(
          'PENDING',
          'PENDING_INVALID',
          `pending row ${lastSeq} would be logged as a bad entry: ${(e as Error).message}`,
          {
            seq: lastSeq.toString(),
          },
        );
      }
    }
  }
  return finish();
}

/** appendTo appends leaves to the recomputed tree, keeping its right edge and collecting full tiles. */
async function appendTo(
  size: bigint,
  leaves: Uint8Array[],
  fetchEdge: (t: readonly TileCoord[]) => Promise<Uint8Array[]>,
  edge: Map<string, { tile: TileCoord; data: Uint8Array }>,
  fullDone: { tile: TileCoord; data: Uint8Array }[],
) {
  const r = await appendLeaves(size, leaves, fetchEdge);
  for (const t of r.tiles) {
    const k = tileKey(t.tile.level, t.tile.index);
    if (t.tile.width === 256) {
      edge.delete(k);
      fullDone.push(t);
    } else {
      edge.set(k, t);
    }
  }
  return r;
}

async function checkCheckpoints(
  db: FsckSource,
  p: Problems,
  report: FsckReport,
  c: {
    origin: string;
    verifiers:
      | { ed: ReturnType<typeof ed25519Verifier>; pgp: ReturnType<typeof openpgpVerifier> }
      | undefined;
    stateSize: bigint;
    rootsAt: Map<bigint, Uint8Array>;
  },
): Promise<void> {
  const [latestRow] = await db.query(
    'SELECT id, tree_size, root_hash FROM checkpoints ORDER BY id DESC LIMIT 1',
  );
  if (!latestRow) {
    p.add('CHECKPOINTS', 'NO_CHECKPOINT', 'no checkpoint is stored: the log never signed its tree');
    return;
  }
  const latestSize = big(latestRow.tree_size);
  const latestRoot = bytes(latestRow.root_hash);
  report.latestCheckpointSize = latestSize;
  let lastId = 0n;
  let prevSize = -1n;
  for (;;) {
    const rows = await db.query(
      'SELECT id, tree_size, root_hash, note FROM checkpoints WHERE id > $1 ORDER BY id LIMIT 500',
      [lastId.toString()],
    );
    if (rows.length === 0) break;
    for (const r of rows) {
      lastId = big(r.id);
      report.checkpoints++;
      const size = big(r.tree_size);
      const rootCol = bytes(r.root_hash);
      const where = `checkpoint #${lastId} (size ${size})`;
      if (c.verifiers) {
        try {
          const opened = await openNote(String(r.note), [c.verifiers.ed, c.verifiers.pgp]);
          const ids = new Set(opened.verified.map((s) => s.keyId));
          const missing = [
            ids.has(c.verifiers.ed.keyId) ? '' : 'Ed25519',
            ids.has(c.verifiers.pgp.keyId) ? '' : 'OpenPGP',
          ].filter(Boolean);
          if (missing.length > 0) {
            p.add(
              'CHECKPOINTS',
              'CHECKPOINT_SIGNATURE_MISSING',
              `${where} has no ${missing.join(' or ')} line by the log`,
              { id: lastId.toString() },
            );
          }
          const body = parseCheckpoint(opened.text);
          if (body.origin !== c.origin || body.treeSize !== size || !sameBytes(body.rootHash, rootCol)) {
            p.add(
              'CHECKPOINTS',
              'CHECKPOINT_BODY_MISMATCH',
              `${where}: its note says origin ${body.origin}, size ${body.treeSize}, root ${b64(body.rootHash)}; its row says ${c.origin}, ${size}, ${b64(rootCol)}`,
              {
                id: lastId.toString(),
              },
            );
          }
        } catch (e) {
          p.add('CHECKPOINTS', 'CHECKPOINT_SIGNATURE_INVALID', `${where}: ${(e as Error).message}`, {
            id: lastId.toString(),
            cause: (e as { code?: string }).code,
          });
        }
      }
      if (size > c.stateSize) {
        p.add(
          'CHECKPOINTS',
          'CHECKPOINT_BEYOND_STATE',
          `${where} is larger than the integrated tree (${c.stateSize})`,
          { id: lastId.toString() },
        );
      }
      if (size < prevSize) {
        p.add(
          'CHECKPOINTS',
          'CHECKPOINT_ROLLBACK',
          `${where} was signed after a checkpoint of size ${prevSize}: the tree went backwards`,
          {
            id: lastId.toString(),
          },
        );
      }
      prevSize = size > prevSize ? size : prevSize;
      const recomputed = c.rootsAt.get(size);
      if (recomputed && !sameBytes(recomputed, rootCol)) {
        p.add(
          'CHECKPOINTS',
          'CHECKPOINT_ROOT_MISMATCH',
          `${where} commits to root ${b64(rootCol)}, but the entries give ${b64(recomputed)} at that size`,
          {
            id: lastId.toString(),
            expected: b64(recomputed),
            found: b64(rootCol),
          },
        );
      } else if (!recomputed && size <= c.stateSize) {
        p.add('CHECKPOINTS', 'CHECKPOINT_ROOT_MISMATCH', `${where}: the entries do not reach its size`, {
          id: lastId.toString(),
        });
      }
    }
  }
  // Consistency of every distinct checkpoint (size, root) with the latest, by proofs from the stored tiles.
  if (latestSize > c.stateSize) return;
  const fetchStored = async (tiles: readonly TileCoord[]) => {
    const rows = await db.query(
      `SELECT t.level, t.idx, t.width, t.data FROM tiles t
         JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON t.level = w.level AND t.idx = w.idx`,
      [tiles.map((t) => t.level), tiles.map((t) => t.index.toString())],
    );
    const m = new Map(
      rows.map((r) => [tileKey(num(r.level), big(r.idx)), { width: num(r.width), data: bytes(r.data) }]),
    );
    return tiles.map((t) => {
      const s = m.get(tileKey(t.level, t.index));
      if (!s || s.width < t.width) throw new Error(`tile ${tilePath(t)} is not stored at width ${t.width}`);
      return s.data.subarray(0, t.width * 32);
    });
  };
  const pairs = await db.query(
    'SELECT DISTINCT tree_size, root_hash FROM checkpoints WHERE tree_size <= $1',
    [latestSize.toString()],
  );
  for (const r of pairs) {
    const size = big(r.tree_size);
    const root = bytes(r.root_hash);
    // Every tree extends the empty one (RFC 9162 has no proof from size 0); its root was checked above.
    if (size === 0n) continue;
    try {
      const proof = await proveConsistency(size, latestSize, tileHashReader(latestSize, fetchStored));
      verifyConsistency(size, latestSize, proof, root, latestRoot);
      report.consistencyProofs++;
    } catch (e) {
      p.add(
        'CHECKPOINTS',
        'CHECKPOINT_INCONSISTENT',
        `the checkpoint of size ${size} (root ${b64(root)}) is not consistent with the latest (size ${latestSize}): ${(e as Error).message}`,
        {
          size: size.toString(),
          latest: latestSize.toString(),
        },
      );
    }
  }
}

/**
 * formatFsckReport returns the human summary of a report: one line per count, then the problems of the
 * first class that has any (with how many others there are).
 */
export function formatFsckReport(r: FsckReport): string {
  const lines = [
    `database     ${r.database}${r.origin ? `, log ${r.origin}` : ''}`,
    `tree size    ${r.treeSize} (root ${r.rootHash})`,
    `entries      ${r.entries} read, ${r.signaturesVerified} signatures verified`,
    `tiles        ${r.tiles} recomputed and compared`,
    `checkpoints  ${r.checkpoints} verified (latest size ${r.latestCheckpointSize ?? 'none'}), ${r.consistencyProofs} consistency proofs`,
    `pending      ${r.pending}${r.pendingAlreadyLogged > 0 ? ` (${r.pendingAlreadyLogged} already logged: dropped at integration)` : ''}`,
    `time         ${(r.elapsedMs / 1000).toFixed(1)} s`,
  ];
  if (r.ok) {
    lines.push('ok: the stored log verifies');
  } else {
    const first = r.problems.filter((x) => x.class === r.firstClass);
    lines.push(`FAILED: ${r.firstClass} (${first.length} problem${first.length === 1 ? '' : 's'} listed)`);
    for (const x of first) lines.push(`  ${x.code}: ${x.message}`);
    const others = r.problems.length - first.length;
    if (others > 0)
      lines.push(`  (and ${others} problem${others === 1 ? '' : 's'} of later classes; --json lists them)`);
  }
  return `${lines.join('\n')}\n`;
}
