/**
 * The checkpoint interval runs from the last checkpoint that grew the tree (server/sequencer.ts
 * grewAt): a publish on an idle log is integrated and checkpointed at once, without waiting for its
 * batch to age, while a publish right behind a growth waits for the interval, so there is still at most
 * one checkpoint per interval. Behaviour, not speed: the batch age here is 10 minutes, so a publish that
 * waited for it would time out, and the waits asserted are seconds apart from the bounds used.
 */
import test from 'ava';
import { makeSigner, openService, sha256Id, verifyReceipt } from './helpers/service.js';
import { backendTest } from './helpers/stores.js';

backendTest(
  test,
  'an idle log checkpoints a publish at once; one right behind a growth waits the interval',
  async (t, b) => {
    const alice = await makeSigner('alice');
    const [first, second] = await Promise.all(['idle-1', 'idle-2'].map((id) => alice.attest(sha256Id(id))));
    const interval = 4_000;
    const svc = await openService(b, {
      checkpointIntervalMs: interval,
      batchMaxAgeMs: 600_000,
      republishIntervalMs: 600_000,
      publishWaitMs: 60_000,
    });
    try {
      await svc.putKeys([alice.publicArmored]);
      // The checkpoint signed at open grew the tree; once its interval has passed the log is idle.
      await new Promise((r) => setTimeout(r, interval + 200));
      const signed = svc.metrics().checkpointsSigned;
      const [r1] = await svc.publish([first!], []);
      const cp1 = await verifyReceipt(svc.info(), r1!);
      t.true(r1!.index < cp1.treeSize);
      t.is(
        svc.metrics().checkpointsSigned,
        signed + 1,
        'one checkpoint covered it, without the 10-minute batch age',
      );

      // Right behind that growth: the interval has not passed, so this one waits (and is not lost).
      let done = false;
      const waiting = svc.publish([second!], []).finally(() => {
        done = true;
      });
      await new Promise((r) => setTimeout(r, 1_000));
      t.false(done, 'no second checkpoint within the interval');
      t.is(svc.metrics().checkpointsSigned, signed + 1);
      // When the interval ends the log is idle again, and the waiting attestation is integrated then.
      const [r2] = await waiting;
      const cp2 = await verifyReceipt(svc.info(), r2!);
      t.true(cp2.treeSize > cp1.treeSize);
    } finally {
      await svc.close();
    }
  },
);
