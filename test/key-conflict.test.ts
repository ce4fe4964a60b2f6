/**
 * Concurrent merges of one signer key (server/key-intake.ts, server/store.ts putKeys compare-and-set):
 * each request merges with the copy it read, and a write whose starting copy is no longer the stored one
 * is refused and merged again. Without compare-and-set the last writer wins and can drop what another
 * request added: a revocation, say.
 */
import test from 'ava';
import * as openpgp from 'openpgp';
import { readSignerKey } from '../log/keys.js';
import { openDb } from '../server/db.js';
import { KeyConflictError } from '../server/key-intake.js';
import { openStore } from '../server/store.js';
import { newSubkeySigner } from './helpers/hostile-keys.js';
import { openService } from './helpers/service.js';
import { backendTest } from './helpers/stores.js';

backendTest(
  test,
  'a write from a stale copy is refused (KeyConflictError), a fresh one is stored',
  async (t, b) => {
    const db = await openDb({ databaseUrl: b.databaseUrl, dataDir: b.dataDir });
    const store = await openStore(db, { migrate: true });
    try {
      const fp = 'A'.repeat(40);
      await store.putKeys([{ fingerprint: fp, armored: 'v1', previous: undefined }]);
      // A second insert that believes there was no copy: refused.
      const e1 = await t.throwsAsync(
        store.putKeys([{ fingerprint: fp, armored: 'v1b', previous: undefined }]),
      );
      t.true(e1 instanceof KeyConflictError);
      await store.putKeys([{ fingerprint: fp, armored: 'v2', previous: 'v1' }]);
      // A merge that started from v1 after v2 was stored: refused, nothing changed.
      const e2 = await t.throwsAsync(store.putKeys([{ fingerprint: fp, armored: 'v1c', previous: 'v1' }]));
      t.true(e2 instanceof KeyConflictError);
      t.deepEqual(await store.getKeys([fp]), [{ fingerprint: fp, armored: 'v2' }]);
    } finally {
      await store.close();
    }
  },
);

backendTest(test, 'concurrent key uploads each add their part; none is lost', async (t, b) => {
  const s = await newSubkeySigner('victim');
  // Eight copies, each adding its own user ID (made by the key's owner), and one revocation.
  const copies = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const r = await openpgp.reformatKey({
        privateKey: s.privateKey,
        userIDs: [{ name: 'victim' }, { name: `victim ${i}` }],
        format: 'object',
      });
      return r.publicKey.armor();
    }),
  );
  const { publicKey: revoked } = await openpgp.revokeKey({ key: s.privateKey, format: 'object' });
  const svc = await openService(b, { verifyWorkers: 0 });
  try {
    await svc.putKeys([s.publicKey.armor()]);
    const results = await Promise.allSettled([...copies, revoked.armor()].map((a) => svc.putKeys([a])));
    // Every upload either took or was told to retry (KEY_BUSY after its merges kept losing the race).
    const busy = results.filter((r) => r.status === 'rejected');
    for (const r of busy) t.is((r as PromiseRejectedResult).reason.code, 'KEY_BUSY');
    // Retry the busy ones, as a client would on 503.
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') await svc.putKeys([i < copies.length ? copies[i]! : revoked.armor()]);
    }
    const stored = await readSignerKey((await svc.getKey(s.fingerprint))!);
    t.deepEqual(
      stored.users.map((u) => u.userID?.userID).sort(),
      ['victim', ...copies.map((_, i) => `victim ${i}`)].sort(),
    );
    t.true(await stored.isRevoked(), 'the revocation survived every concurrent merge');
  } finally {
    await svc.close();
  }
});

backendTest(test, 'a key sent twice in one request keeps what both copies add', async (t, b) => {
  const s = await newSubkeySigner('victim');
  const copy = async (extra: string) =>
    (
      await openpgp.reformatKey({
        privateKey: s.privateKey,
        userIDs: [{ name: 'victim' }, { name: extra }],
        format: 'object',
      })
    ).publicKey.armor();
  const svc = await openService(b, { verifyWorkers: 0 });
  try {
    t.deepEqual(await svc.putKeys([await copy('at home'), await copy('at work')]), [s.fingerprint]);
    const stored = await readSignerKey((await svc.getKey(s.fingerprint))!);
    t.deepEqual(stored.users.map((u) => u.userID?.userID).sort(), ['at home', 'at work', 'victim']);
  } finally {
    await svc.close();
  }
});
