/**
 * Concurrent writers (SPEC.md "Storage and processes": any number of server processes share one
 * Postgres, exactly one integrates at a time). Three real server processes on one Postgres database,
 * with the same key files and origin on different ports, take publishes from several clients at once
 * (some attestations sent to two processes at the same moment, to race the dedup); one process is
 * SIGKILLed mid-run and its clients move to the others. Checked:
 *   - one log, no fork: every checkpoint seen from any process (receipts and monitors) verifies with
 *     the pinned keys and is proved consistent with the final checkpoint (RFC 9162 §2.1.4);
 *   - every receipt verifies offline when it arrives, and against the final checkpoint: consistency
 *     from the receipt's checkpoint to the final one, and inclusion at the final size;
 *   - the feed is 0..n-1 with each attestation exactly once; the surviving processes serve the same
 *     checkpoint; server/fsck.ts re-verifies the database, once while the processes are still
 *     integrating (its one-snapshot read must see a consistent log) and once at the end.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { hexEncode } from '../log/bytes.js';
import type { Checkpoint } from '../log/checkpoint.js';
import { attestationDigest, parseEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { verifyInclusion } from '../log/proof.js';
import { formatFsckReport, fsck } from '../server/fsck.js';
import { fromB64 } from './helpers/bytes.js';
import {
  type ChildServer,
  fetchAllEntries,
  fetchLogKeys,
  makeSigner,
  openCheckpoint,
  presign,
  proveConsistentOnline,
  type ReceiptJson,
  spawnServer,
  type VerifiedReceipt,
  verifyReceiptOffline,
  waitFor,
} from './helpers/child-server.js';
import { endsWithIndexLeaf, replayIndex } from './helpers/index-replay.js';
import { freshPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/stores.js';

const ATTESTATIONS = 150;
const CLIENTS = 6;

test('writers: three processes on one Postgres, one SIGKILLed: one log, no fork, every receipt verifies', async (t) => {
  const db = await freshPostgres('writers');
  if (!db) {
    t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
    return;
  }
  const dirs = [await tempDir('writers-0'), await tempDir('writers-1'), await tempDir('writers-2')];
  const servers: ChildServer[] = [];
  try {
    const common = {
      DATABASE_URL: db.url,
      ORIGIN: 'sig.test/writers',
      CHECKPOINT_INTERVAL_MS: '20',
      BATCH_MAX_AGE_MS: '5',
      BATCH_MAX_SIZE: '32',
      PUBLISH_WAIT_MS: '5000',
    };
    const signers = await Promise.all([makeSigner('Writer A'), makeSigner('Writer B')]);
    const keysArmored = signers.map((s) => s.armoredPublicKey);
    const atts = await presign(signers, ATTESTATIONS, 'sha256:writers');
    const digestOf = atts.map((a) => hexEncode(attestationDigest(a)));

    // The first process makes the keys; the others use the same key files.
    servers.push(await spawnServer({ env: { ...common, DATA_DIR: dirs[0]! } }));
    const keyEnv = {
      NOTE_KEY_FILE: join(dirs[0]!, 'note.key'),
      OPENPGP_KEY_FILE: join(dirs[0]!, 'openpgp.key'),
    };
    servers.push(
      ...(await Promise.all(
        [1, 2].map((i) => spawnServer({ env: { ...common, ...keyEnv, DATA_DIR: dirs[i]! } })),
      )),
    );
    const keys = await fetchLogKeys(servers[0]!.url);
    for (const s of servers.slice(1)) {
      const k = await fetchLogKeys(s.url);
      t.is(k.vkey, keys.vkey, 'same note key on every process');
    }

    const alive = new Set([0, 1, 2]);
    const receipts = new Map<number, VerifiedReceipt>();
    const seen = new Map<string, Checkpoint>();
    const errors: string[] = [];
    const see = async (note: string) => {
      if (!seen.has(note)) seen.set(note, await openCheckpoint(note, keys));
    };
    const queue = atts.map((_, i) => i);
    let requests = 0;
    let moved = 0;
    let victim = -1;

    const publish = async (who: number, mine: number[]): Promise<boolean> => {
      const url = servers[who]!.url;
      requests++;
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${url}/v1/attestations`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ attestations: mine.map((i) => atts[i]!), keys: keysArmored }),
        });
        text = await res.text();
      } catch {
        return false; // that process is gone
      }
      if (res.status === 503) return false;
      if (res.status !== 200) {
        errors.push(`process ${who} answered ${res.status}: ${text.slice(0, 300)}`);
        return true;
      }
      const got = (JSON.parse(text) as { receipts: ReceiptJson[] }).receipts;
      for (const [k, r] of got.entries()) {
        try {
          const v = await verifyReceiptOffline(r, keys);
          if (hexEncode(attestationDigest(parseEntry(v.entry).attestation)) !== digestOf[mine[k]!]) {
            throw new Error('receipt for another attestation');
          }
          const before = receipts.get(mine[k]!);
          if (before && before.index !== v.index) {
            throw new Error(`index ${v.index} from process ${who}, ${before.index} before`);
          }
          receipts.set(mine[k]!, v);
          await see(r.checkpoint);
        } catch (e) {
          errors.push(`receipt for attestation ${mine[k]} from process ${who}: ${(e as Error).message}`);
        }
      }
      return true;
    };

    const client = async (c: number) => {
      let turn = c;
      while (queue.length > 0 && errors.length === 0) {
        const mine = queue.splice(0, 1 + (turn % 3));
        const targets = [...alive];
        const who = targets[turn++ % targets.length]!;
        // Every fifth request also goes to a second process at the same moment (dedup race).
        const twin = turn % 5 === 0 && targets.length > 1 ? targets[(turn + 1) % targets.length] : undefined;
        const results = await Promise.all([
          publish(who, mine),
          ...(twin === undefined ? [] : [publish(twin, mine)]),
        ]);
        if (!results.some(Boolean)) {
          moved++;
          queue.push(...mine);
          await new Promise((r) => setTimeout(r, 20)); // pacing before retrying elsewhere
        }
      }
    };
    let monitoring = true;
    const monitor = async () => {
      while (monitoring && errors.length === 0) {
        for (const i of [...alive]) {
          try {
            const res = await fetch(`${servers[i]!.url}/log/checkpoint`);
            if (res.status === 200) await see(await res.text());
          } catch {
            // killed: the killer removes it from `alive`
          }
        }
        await new Promise((r) => setTimeout(r, 30)); // sampling rate
      }
    };
    const killer = async () => {
      await waitFor(
        'a third of the receipts',
        async () => receipts.size >= ATTESTATIONS / 3 || errors.length > 0,
        60_000,
        10,
      );
      // Then at a random moment of the next round of requests, so that some are in flight to it.
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 200)));
      victim = Math.floor(Math.random() * 3);
      alive.delete(victim);
      await servers[victim]!.kill('SIGKILL');
    };

    // fsck on the live database, while the processes keep integrating (one snapshot: must verify).
    let liveFsck: Awaited<ReturnType<typeof fsck>> | undefined;
    const live = async () => {
      await waitFor(
        'half of the receipts',
        async () => receipts.size >= ATTESTATIONS / 2 || errors.length > 0,
        60_000,
        10,
      );
      liveFsck = await fsck({ databaseUrl: db.url, dataDir: dirs[0]! });
    };
    const mon = monitor();
    await Promise.all([killer(), live(), ...Array.from({ length: CLIENTS }, (_, c) => client(c))]);
    if (queue.length > 0) await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    monitoring = false;
    await mon;
    t.deepEqual(errors, []);
    t.is(receipts.size, ATTESTATIONS, 'every attestation has a receipt');
    t.true(liveFsck?.ok, liveFsck && formatFsckReport(liveFsck));
    t.log(
      `fsck during the run: tree size ${liveFsck?.treeSize}, ${liveFsck?.pending} pending, ok ${liveFsck?.ok}`,
    );
    t.log(
      `${ATTESTATIONS} attestations, ${requests} requests over 3 processes, process ${victim} SIGKILLed, ` +
        `${moved} requests moved to another process, ${seen.size} distinct checkpoints seen`,
    );

    // The surviving processes converge on one checkpoint covering everything.
    const survivors = [...alive];
    let final: Checkpoint | undefined;
    let finalNote = '';
    await waitFor('the survivors to serve one checkpoint of the full size', async () => {
      const notes = await Promise.all(
        survivors.map(async (i) => (await fetch(`${servers[i]!.url}/log/checkpoint`)).text()),
      );
      final = await openCheckpoint(notes[0]!, keys);
      finalNote = notes[0]!;
      if (!notes.every((n) => n === notes[0])) return false;
      const all = await fetchAllEntries(servers[survivors[0]!]!.url, final.treeSize);
      return replayIndex(all.map((e) => e.entry)).attestations.length === ATTESTATIONS;
    });
    await see(finalNote);
    const url = servers[survivors[0]!]!.url;

    const entries = await fetchAllEntries(url, final!.treeSize);
    t.deepEqual(
      entries.map((e) => e.index),
      entries.map((_, i) => i),
    );
    // One index across the kill: every index leaf holds the replayed root; every checkpoint seen ends with one.
    const replayed = replayIndex(entries.map((e) => e.entry));
    for (const cp of [...seen.values(), final!]) {
      if (!endsWithIndexLeaf(replayed.leaves, cp.treeSize))
        t.fail(`checkpoint ${cp.treeSize} does not end with an index leaf`);
    }
    const digests = replayed.attestations.map((i) =>
      hexEncode(attestationDigest(parseEntry(entries[i]!.entry).attestation)),
    );
    t.is(new Set(digests).size, ATTESTATIONS, 'each attestation logged once');
    t.deepEqual([...digests].sort(), [...digestOf].sort());

    let proofs = 0;
    for (const cp of seen.values()) {
      if (cp.treeSize === 0n) continue;
      await proveConsistentOnline(url, cp, final!);
      proofs++;
    }
    for (const [i, r] of receipts) {
      if (r.checkpoint.treeSize > 0n) await proveConsistentOnline(url, r.checkpoint, final!);
      const res = await fetch(`${url}/v1/proof/inclusion?index=${r.index}&size=${final!.treeSize}`);
      const body = (await res.json()) as { inclusionProof: string[] };
      verifyInclusion(
        r.index,
        final!.treeSize,
        hashLeaf(r.entry),
        body.inclusionProof.map(fromB64),
        final!.rootHash,
      );
      t.is(
        hexEncode(entries[Number(r.index)]!.entry),
        hexEncode(r.entry),
        `attestation ${i} at its receipt's index`,
      );
    }
    t.log(`${proofs} seen checkpoints and ${receipts.size} receipts proved against the final checkpoint`);

    const report = await fsck({ databaseUrl: db.url, dataDir: dirs[0]! });
    t.true(report.ok, formatFsckReport(report));
    t.is(report.signaturesVerified, ATTESTATIONS);
  } finally {
    await Promise.all(servers.map((s) => s.kill('SIGKILL')));
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await db.drop();
  }
});
