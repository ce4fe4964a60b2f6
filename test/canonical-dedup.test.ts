/**
 * Canonical dedup (issue 8 item 7), on PGlite and Postgres: the server deduplicates on the canonical
 * form of the signature packet (log/signature-canonical.ts), so nobody but the signer can log an
 * attestation twice by re-spelling its signature (legacy packet header, subpackets added to the unsigned
 * area). And the migration to schema 2 for logs made before: digests recomputed from the entry bytes,
 * replays already logged counted (not problems), receipts naming the lowest index, fsck clean; a crash
 * inside the migration changes nothing.
 *
 * Signatures are made here by openpgp.js (fresh Ed25519 keys); the re-spellings are written by
 * test/helpers/signature-spellings.ts, and each is checked to verify before it is published.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { base64Encode, hexEncode } from '../log/bytes.js';
import { canonicalJson } from '../log/canonical-json.js';
import { attestationDigest, encodeEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { classifyEntry, IndexReplayer } from '../log/index-map.js';
import { type Attestation, readPublicKey, signatureIssuer, verifyAttestation } from '../log/signet.js';
import { appendLeaves } from '../log/tiles.js';
import { type Db, openDb } from '../server/db.js';
import { formatFsckReport, fsck } from '../server/fsck.js';
import { loadKeys, signCheckpoint } from '../server/keys.js';
import { loadMigrations, migrate } from '../server/migrate.js';
import { fromB64, fromHex } from './helpers/bytes.js';
import { makeSigner, openService, sha256Id, type TestSigner, verifyReceipt } from './helpers/service.js';
import { type HeaderForm, spell, splitSignature, subpacket } from './helpers/signature-spellings.js';
import { backendTest, type StoreBackend } from './helpers/stores.js';

/** exactDigest is schema 1's dedup key: SHA-256 of the canonical JSON of {data, key, sig} with sig as sent. */
const exactDigest = (a: Attestation) =>
  new Uint8Array(
    createHash('sha256')
      .update(canonicalJson({ data: a.data, key: a.key, sig: a.sig }))
      .digest(),
  );
const utf8 = (s: string) => new TextEncoder().encode(s);

/** A notation subpacket (RFC 9580 §5.2.3.24), human-readable, as anyone may add to the unhashed area. */
function notation(name: string, value: string): Uint8Array {
  const n = utf8(name);
  const v = utf8(value);
  return subpacket(
    20,
    Uint8Array.of(0x80, 0, 0, 0, n.length >> 8, n.length & 255, v.length >> 8, v.length & 255, ...n, ...v),
  );
}

/** An Issuer Key ID subpacket (RFC 9580 §5.2.3.12) naming the signature's own issuer. */
async function issuerKeyId(att: Attestation): Promise<Uint8Array> {
  const { keyId } = await signatureIssuer(att);
  return subpacket(16, fromHex(keyId));
}

/**
 * respell returns `att` with its signature packet spelled with `header` ('new': the shortest OpenPGP
 * format length) and the unhashed area `unhashed`.
 */
function respell(att: Attestation, header: HeaderForm | 'new', unhashed?: Uint8Array): Attestation {
  const parts = splitSignature(fromB64(att.sig));
  const u = unhashed ?? parts.unhashed;
  const length = spell(parts, { header: 'old4', unhashed: u, mpiPad: [] }).length - 5;
  const form = header !== 'new' ? header : length < 192 ? 'new1' : 'new2';
  return { ...att, sig: base64Encode(spell(parts, { header: form, unhashed: u, mpiPad: [] })) };
}

/** spellings returns re-spelled copies of `att` that anyone could make, each checked to verify. */
async function spellings(att: Attestation, signer: TestSigner): Promise<[string, Attestation][]> {
  const key = await readPublicKey(signer.publicArmored);
  const out: [string, Attestation][] = [
    ['legacy header, 2-octet length', respell(att, 'old2')],
    ['legacy header, 4-octet length', respell(att, 'old4')],
    ['OpenPGP header, 5-octet length', respell(att, 'new5')],
    ['an Issuer Key ID in the unhashed area', respell(att, 'new', await issuerKeyId(att))],
    ['a notation in the unhashed area', respell(att, 'new', notation('replay@example.org', 'again'))],
    [
      'legacy header and both subpackets',
      respell(att, 'old2', Uint8Array.from([...(await issuerKeyId(att)), ...notation('x@example.org', '1')])),
    ],
  ];
  for (const [name, a] of out) {
    if (a.sig === att.sig) throw new Error(`${name}: not a new spelling`);
    await verifyAttestation(a, key); // still a valid signature, so the server accepts it
  }
  return out;
}

backendTest(
  test,
  're-spelled signatures (legacy header, unhashed subpackets) get the first receipt',
  async (t, b) => {
    const svc = await openService(b);
    try {
      const alice = await makeSigner('Alice');
      const att = await alice.attest(sha256Id('canonical'));
      const [first] = await svc.publish([att], [alice.publicArmored]);
      for (const [name, copy] of await spellings(att, alice)) {
        const [r] = await svc.publish([copy], []);
        t.is(r!.index, first!.index, name);
        t.deepEqual(r!.entry, first!.entry, `${name}: the entry keeps the signature as first sent`);
        await verifyReceipt(svc.info(), r!);
      }
      t.is((await svc.storageCounts()).attestations, 1);

      // Within one request, next to a new attestation; and a re-spelling published before the plain one.
      const copies = await spellings(att, alice);
      const other = await alice.attest(sha256Id('other'));
      const later = await alice.attest(sha256Id('later'));
      const laterCopy = respell(later, 'old2', notation('first@example.org', 'spelled'));
      const rs = await svc.publish([copies[0]![1], other, copies[4]![1], laterCopy], []);
      // (The indexes in between hold index leaves: one ends every checkpoint.)
      t.is(rs[0]!.index, first!.index);
      t.is(rs[2]!.index, first!.index);
      t.true(rs[1]!.index > first!.index && rs[3]!.index > rs[1]!.index, 'two new entries');
      const [again] = await svc.publish([later], []);
      t.is(again!.index, rs[3]!.index, 'the plain spelling gets the re-spelled copy logged first');
      t.deepEqual(again!.entry, rs[3]!.entry);
      t.is((await svc.storageCounts()).attestations, 3);
    } finally {
      await svc.close();
    }
    const report = await fsck({ databaseUrl: b.databaseUrl, dataDir: b.dataDir });
    t.true(report.ok, formatFsckReport(report));
    t.is(report.duplicatesBeforeDedup, 0);
    t.is(report.canonicalDedupFrom, 0n);
  },
);

const ORIGIN = 'sig.test/canonical-migration';

/**
 * buildV1Log writes, with schema 1 only (sql/001), the log a server of that version would have made
 * from `logged` (byte-exact dedup: each spelling its own entry): entries with the digests of that
 * version, tiles, state, one signed checkpoint, the signer's key, and `pending` rows.
 */
async function buildV1Log(
  db: Db,
  b: StoreBackend,
  signer: TestSigner,
  logged: Attestation[],
  pending: Attestation[],
): Promise<void> {
  await migrate(db, { apply: true, migrations: loadMigrations().slice(0, 1) });
  const keys = await loadKeys({ dataDir: b.dataDir, origin: ORIGIN });
  await db.query(
    `INSERT INTO log_identity (origin, note_vkey, openpgp_fingerprint, openpgp_public_key) VALUES ($1, $2, $3, $4)`,
    [ORIGIN, keys.vkey, keys.openpgpFingerprint, keys.openpgpPublicKey],
  );
  await db.query('INSERT INTO signer_keys (fingerprint, armored) VALUES ($1, $2)', [
    signer.fingerprint,
    signer.publicArmored,
  ]);
  // Now (after signing): fsck verifies each signature as of its entry's loggedAt.
  const loggedAt = new Date();
  const entries = logged.map((a) => encodeEntry({ attestation: a, loggedAt: loggedAt.toISOString() }));
  const leaves = entries.map(hashLeaf);
  const tree = await appendLeaves(0n, leaves, async () => []);
  await db.query(
    `INSERT INTO entries (idx, leaf_hash, entry, attestation_digest, identifier, signer_fingerprint, logged_at)
     SELECT o - 1, l, e, d, i, s, $6::timestamptz
       FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[], $5::text[]) WITH ORDINALITY AS u(l, e, d, i, s, o)`,
    [
      leaves,
      entries,
      logged.map(exactDigest),
      logged.map((a) => a.data.id),
      logged.map((a) => a.key),
      loggedAt,
    ],
  );
  await db.query(
    `INSERT INTO tiles (level, idx, width, data) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])`,
    [
      tree.tiles.map((x) => x.tile.level),
      tree.tiles.map((x) => x.tile.index.toString()),
      tree.tiles.map((x) => x.tile.width),
      tree.tiles.map((x) => x.data),
    ],
  );
  await db.query('UPDATE log_state SET tree_size = $1, root_hash = $2', [
    tree.treeSize.toString(),
    tree.rootHash,
  ]);
  const signed = await signCheckpoint(keys, {
    origin: ORIGIN,
    treeSize: tree.treeSize,
    rootHash: tree.rootHash,
    extensions: [],
  });
  await db.query('INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4)', [
    tree.treeSize.toString(),
    tree.rootHash,
    signed.note,
    signed.signedAt,
  ]);
  for (const a of pending) {
    await db.query(
      `INSERT INTO pending (attestation_digest, entry, identifier, signer_fingerprint, accepted_at) VALUES ($1, $2, $3, $4, $5)`,
      [
        exactDigest(a),
        encodeEntry({ attestation: a, loggedAt: loggedAt.toISOString() }),
        a.data.id,
        a.key,
        loggedAt,
      ],
    );
  }
}

/** digestsOf returns the stored digests of a table (hex), in log or seq order. */
async function digestsOf(db: Db, table: 'entries' | 'pending'): Promise<string[]> {
  const rows = await db.query(
    `SELECT attestation_digest FROM ${table} ORDER BY ${table === 'entries' ? 'idx' : 'seq'}`,
  );
  return rows.map((r) => hexEncode(new Uint8Array(r.attestation_digest as Uint8Array)));
}

/** v1Fixture signs the attestations of the migration tests: a0, a1, a2 logged, with replays, and p0 pending. */
async function v1Fixture() {
  const alice = await makeSigner('Alice');
  const [a0, a1, a2, p0] = await Promise.all(['a0', 'a1', 'a2', 'p0'].map((x) => alice.attest(sha256Id(x))));
  const logged = [
    a0!,
    a1!,
    respell(a0!, 'old2'), // 2: replay of 0
    a2!,
    respell(a0!, 'new', notation('replay@example.org', 'again')), // 4: replay of 0
    respell(a1!, 'old4', await issuerKeyId(a1!)), // 5: replay of 1
  ];
  // p0 and a replay of it wait together; a replay of a2 waits though a2 is logged.
  const pending = [p0!, respell(p0!, 'old2'), respell(a2!, 'old2')];
  return { alice, a0: a0!, a1: a1!, a2: a2!, p0: p0!, logged, pending };
}

backendTest(
  test,
  'schema 1 log with replays: migration recomputes the digests, fsck is clean, receipts name the lowest index',
  async (t, b) => {
    const f = await v1Fixture();
    const db = await openDb(b);
    try {
      await buildV1Log(db, b, f.alice, f.logged, f.pending);
      t.is(new Set(await digestsOf(db, 'entries')).size, 6, 'schema 1 logged every spelling');
      // Migrations off: the old schema is refused, saying what to do.
      const refused = await t.throwsAsync(migrate(db, { apply: false }));
      t.is((refused as { code?: string }).code, 'SCHEMA_MISMATCH');
      t.deepEqual((refused as { details?: unknown }).details, {
        found: 1,
        expected: loadMigrations().length,
      });

      t.is(await migrate(db, { apply: true }), loadMigrations().length);
      const d = (a: Attestation) => hexEncode(attestationDigest(a));
      t.deepEqual(await digestsOf(db, 'entries'), [d(f.a0), d(f.a1), d(f.a0), d(f.a2), d(f.a0), d(f.a1)]);
      t.deepEqual(await digestsOf(db, 'pending'), [d(f.p0), d(f.a2)], 'the pending replay of p0 is gone');
      const [st] = await db.query('SELECT canonical_dedup_from FROM log_state');
      t.is(String(st!.canonical_dedup_from), '6');
    } finally {
      await db.close();
    }
    const report = await fsck({ databaseUrl: b.databaseUrl, dataDir: b.dataDir });
    t.true(report.ok, formatFsckReport(report));
    t.is(report.duplicatesBeforeDedup, 3);
    t.is(report.canonicalDedupFrom, 6n);
    t.is(report.pending, 2);
    t.is(report.pendingAlreadyLogged, 1);
    t.regex(formatFsckReport(report), /3 logged again before canonical dedup at index 6/);

    // A server on the migrated log: any spelling of a0 or a1 gets the lowest index; p0 is integrated
    // once, the replay of a2 dropped.
    const svc = await openService(b, { origin: ORIGIN });
    try {
      const rs = await svc.publish(
        [respell(f.a0, 'new5'), f.a1, respell(f.a1, 'old2'), f.a2, f.p0, respell(f.p0, 'old2')],
        [],
      );
      t.deepEqual(
        rs.map((r) => r.index),
        [0n, 1n, 1n, 3n, 6n, 6n],
      );
      for (const r of rs) await verifyReceipt(svc.info(), r);
      const counts = await svc.storageCounts();
      t.is(counts.attestations, 7);
      t.is(counts.pending, 0);
      // The migration built the map of the six entries logged before (sql/003); the first checkpoint
      // after it ends with an index leaf covering all seven, and every index leaf replays.
      const cp = await svc.latestCheckpoint();
      const all = await svc.entries(0n, Number(cp.checkpoint.treeSize));
      const replay = new IndexReplayer();
      const leaves = all.map((e) => replay.append(e.entry)).filter((s) => s.kind === 'index');
      t.true(leaves.length >= 1);
      t.true(leaves.every((s) => s.kind === 'index' && s.sizeMatches && s.rootMatches));
      t.is(classifyEntry(all[all.length - 1]!.entry).kind, 'index', 'the checkpoint ends with an index leaf');
      t.is(all[7]!.index, 7n);
      t.is(classifyEntry(all[7]!.entry).kind, 'index', 'the first index leaf covers every earlier entry');
    } finally {
      await svc.close();
    }
    const after = await fsck({ databaseUrl: b.databaseUrl, dataDir: b.dataDir });
    t.true(after.ok, formatFsckReport(after));
    t.is(after.duplicatesBeforeDedup, 3);
  },
);

backendTest(
  test,
  'a crash inside the migration (after its step) changes nothing: schema, digests and pending as they were',
  async (t, b) => {
    const f = await v1Fixture();
    const db = await openDb(b);
    try {
      await buildV1Log(db, b, f.alice, f.logged, f.pending);
      const entriesBefore = await digestsOf(db, 'entries');
      const pendingBefore = await digestsOf(db, 'pending');
      const crashing = loadMigrations().map((m) =>
        m.version === 2
          ? {
              ...m,
              step: async (tx: Parameters<NonNullable<typeof m.step>>[0]) => {
                await m.step!(tx);
                throw new Error('crash after the step, before COMMIT');
              },
            }
          : m,
      );
      await t.throwsAsync(migrate(db, { apply: true, migrations: crashing }), {
        message: /crash after the step/,
      });
      const [v] = await db.query('SELECT max(version) AS v FROM schema_migrations');
      t.is(Number(v!.v), 1);
      t.deepEqual(await digestsOf(db, 'entries'), entriesBefore);
      t.deepEqual(await digestsOf(db, 'pending'), pendingBefore);
      const [col] = await db.query(
        `SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'log_state' AND column_name = 'canonical_dedup_from'`,
      );
      t.is(Number(col!.n), 0);
      // The next start migrates from the same point.
      t.is(await migrate(db, { apply: true }), loadMigrations().length);
      t.is(new Set(await digestsOf(db, 'entries')).size, 3);
    } finally {
      await db.close();
    }
  },
);
