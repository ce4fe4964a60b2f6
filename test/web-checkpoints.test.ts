/**
 * GET /v1/checkpoints, the read behind the explorer's plot (server/http/checkpoints.ts, SqlStore
 * checkpointHistory), on PGlite and on Postgres: after several publishes (several checkpoints), the
 * answer holds at most `points` stored checkpoints, oldest first, the very first and the latest
 * included, each one a real row of the checkpoints table (compared with all of them, read directly);
 * every size is at most the next one's; `points` out of 2..500 or not canonical is 400 PARAM_INVALID.
 */
import test from 'ava';
import { attest, getJson, makeSigner, postJson, startTestServer, testConfig } from './helpers/http.js';
import { backendTest } from './helpers/stores.js';

backendTest(test, 'checkpoint history: evenly spread, first and latest included', async (t, b) => {
  const server = await startTestServer(testConfig(b));
  try {
    const alice = await makeSigner('Alice');
    // Six publishes one after the other: each waits for a checkpoint covering it, so each adds one.
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${server.url}/v1/attestations`, {
        attestations: [await attest(alice, `sha256:plot-${i}`)],
        keys: [alice.armoredPublicKey],
      });
      t.is(r.status, 200, JSON.stringify(r.body));
    }
    const rows = await server.service.db.query('SELECT tree_size, signed_at FROM checkpoints ORDER BY id');
    t.true(rows.length >= 7, `${rows.length} checkpoints`);
    const all = rows.map((r) => `${Number(r.tree_size)} ${new Date(r.signed_at as Date).toISOString()}`);

    for (const points of [2, 3, 5, 100]) {
      const res = await getJson(`${server.url}/v1/checkpoints?points=${points}`);
      t.is(res.status, 200);
      const got: { treeSize: number; signedAt: string }[] = res.body.checkpoints;
      t.true(got.length <= points && got.length >= Math.min(points, 2), `points=${points}: ${got.length}`);
      const keys = got.map((c) => `${c.treeSize} ${c.signedAt}`);
      t.is(keys[0], all[0], 'the first checkpoint');
      t.is(keys[keys.length - 1], all[all.length - 1], 'the latest checkpoint');
      let at = -1;
      for (const k of keys) {
        const i = all.indexOf(k, at + 1);
        t.true(i > at, `${k} is a stored checkpoint after the previous one`);
        at = i;
      }
      for (let i = 1; i < got.length; i++) t.true(got[i]!.treeSize >= got[i - 1]!.treeSize);
      if (points >= all.length) t.is(got.length, all.length, 'every checkpoint when points allow');
    }
    const latest = await getJson(`${server.url}/healthz`);
    const def = await getJson(`${server.url}/v1/checkpoints`);
    t.is(def.body.checkpoints.at(-1).treeSize, latest.body.treeSize);

    for (const bad of ['1', '501', '01', 'x', '-2']) {
      const res = await getJson(`${server.url}/v1/checkpoints?points=${bad}`);
      t.is(res.status, 400, bad);
      t.is(res.body.error.code, 'PARAM_INVALID');
      t.is(res.body.error.details.field, 'points');
    }
  } finally {
    await server.close();
  }
});
