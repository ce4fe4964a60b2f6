/**
 * Stop the server in the middle of a stream of publishes, start it again on the same database (and the
 * same key files): no acknowledged entry is lost or moved, entries accepted but not yet answered are
 * integrated, no index is used twice, and the new checkpoints are consistent with the old ones. On PGlite
 * and on Postgres.
 */
import test from 'ava';
import { canonicalJson } from '../log/canonical-json.js';
import { parseEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { verifyConsistency, verifyInclusion } from '../log/proof.js';
import type { Attestation } from '../log/signet.js';
import { fromB64 } from './helpers/bytes.js';
import {
  attest,
  getJson,
  makeSigner,
  postJson,
  type ReceiptJson,
  serverKeys,
  startTestServer,
  testConfig,
  verifyCheckpointNote,
  verifyReceipt,
  waitFor,
} from './helpers/http.js';
import { replayIndex } from './helpers/index-replay.js';
import { backendTest } from './helpers/stores.js';

const N = 40;
const WORKERS = 4;
const STOP_AFTER_ACKS = 10;

/** allEntries reads the whole feed through /v1/entries. */
async function allEntries(url: string): Promise<{ index: number; entry: string }[]> {
  const out: { index: number; entry: string }[] = [];
  for (;;) {
    const res = await getJson(`${url}/v1/entries?start=${out.length}&limit=100`);
    if (res.status !== 200) throw new Error(`entries: ${res.status}`);
    if (res.body.entries.length === 0) return out;
    out.push(...res.body.entries);
  }
}

backendTest(
  test,
  'stop mid-stream, restart on the same database: nothing acknowledged lost',
  async (t, b) => {
    const config = testConfig(b);
    const first = await startTestServer(config);
    const keys = await serverKeys(first.url);
    const eve = await makeSigner('Eve');
    t.is((await postJson(`${first.url}/v1/keys`, { keys: [eve.armoredPublicKey] })).status, 200);
    const atts: Attestation[] = [];
    for (let i = 0; i < N; i++) atts.push(await attest(eve, `sha256:restart-${i}`));

    // A stream of single-attestation publishes from a few workers; the server is told to stop once
    // STOP_AFTER_ACKS receipts have come back, while the others are in flight or not yet sent.
    const acked = new Map<number, ReceiptJson>(); // attestation number -> receipt
    const refused: number[] = [];
    let next = 0;
    let closing: Promise<void> | undefined;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        try {
          const res = await postJson(`${first.url}/v1/attestations`, { attestations: [atts[i]] });
          if (res.status === 200) acked.set(i, res.body.receipts[0]);
          else {
            t.is(res.status, 503, JSON.stringify(res.body));
            t.true(['SHUTTING_DOWN', 'SERVICE_CLOSED'].includes(res.body.error.code), res.body.error.code);
            refused.push(i);
          }
        } catch {
          refused.push(i); // connection refused or reset: the listener is gone
        }
        if (acked.size >= STOP_AFTER_ACKS) closing ??= first.close();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    await (closing ?? first.close());
    t.true(acked.size >= STOP_AFTER_ACKS);
    t.true(refused.length > 0, 'some publishes came after the stop');
    t.is(acked.size + refused.length, N);
    let lastSize = 0n;
    let lastCheckpoint = '';
    for (const r of acked.values()) {
      const size = await verifyReceipt(r, keys);
      if (size > lastSize) {
        lastSize = size;
        lastCheckpoint = r.checkpoint;
      }
    }

    // Start again on the same database and key files.
    const second = await startTestServer(config);
    try {
      const url = second.url;
      const keys2 = await serverKeys(url);
      t.is(keys2.vkey, keys.vkey, 'same Ed25519 key after restart');
      t.is(keys2.openpgpFingerprint, keys.openpgpFingerprint, 'same OpenPGP key after restart');
      await waitFor('the backlog to drain', async () =>
        (await second.service.backlog()) === 0 ? true : undefined,
      );

      // Every acknowledged entry is where its receipt says, under the new checkpoint.
      const cp = await verifyCheckpointNote(await (await fetch(`${url}/log/checkpoint`)).text(), keys);
      t.true(cp.treeSize >= BigInt(acked.size));
      const entries = await allEntries(url);
      t.is(entries.length, Number(cp.treeSize));
      for (const r of acked.values()) {
        t.is(entries[r.index]?.entry, r.entry, `entry ${r.index} unchanged`);
        const proof = await getJson(`${url}/v1/proof/inclusion?index=${r.index}&size=${cp.treeSize}`);
        verifyInclusion(
          BigInt(r.index),
          cp.treeSize,
          hashLeaf(fromB64(r.entry)),
          proof.body.inclusionProof.map(fromB64),
          cp.rootHash,
        );
      }
      // The tree only grew: the last checkpoint before the stop is consistent with the new one.
      const old = await verifyCheckpointNote(lastCheckpoint, keys);
      const cons = await getJson(`${url}/v1/proof/consistency?from=${old.treeSize}&to=${cp.treeSize}`);
      verifyConsistency(
        old.treeSize,
        cp.treeSize,
        cons.body.consistencyProof.map(fromB64),
        old.rootHash,
        cp.rootHash,
      );

      // Indexes 0..size-1, each attestation once.
      t.deepEqual(
        entries.map((e) => e.index),
        entries.map((_, i) => i),
      );
      // The rest are index leaves, each holding the replayed map root (SPEC.md "The index").
      const { attestations } = replayIndex(entries.map((e) => fromB64(e.entry)));
      const seen = new Set(
        attestations.map((i) => canonicalJson(parseEntry(fromB64(entries[i]!.entry)).attestation)),
      );
      t.is(seen.size, attestations.length, 'no attestation logged twice');

      // Publishing everything again: acknowledged ones keep their index, the rest are added once.
      for (let i = 0; i < N; i += 10) {
        const res = await postJson(`${url}/v1/attestations`, { attestations: atts.slice(i, i + 10) });
        t.is(res.status, 200, JSON.stringify(res.body));
        res.body.receipts.forEach((r: ReceiptJson, k: number) => {
          const before = acked.get(i + k);
          if (before) t.is(r.index, before.index, `attestation ${i + k} keeps index ${before.index}`);
        });
      }
      const final = await allEntries(url);
      const finalAttestations = replayIndex(final.map((e) => fromB64(e.entry))).attestations;
      t.is(finalAttestations.length, N, 'every attestation exactly once');
      t.is(new Set(final.map((e) => e.entry)).size, final.length);
    } finally {
      await second.close();
    }
  },
);
