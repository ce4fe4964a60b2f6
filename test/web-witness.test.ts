/**
 * Witness cosignatures in the explorer, in real Chromium: a log that asks a witness (test/cosigning-
 * helpers.ts, both on 127.0.0.1) serves cosigned checkpoints. The page does not check a cosignature
 * line until the reader pins a witness key (home page form, kept in localStorage); then the pinned
 * witness's line verifies in the page (log/cosignature.ts). A key that did not cosign, and a cosignature
 * line with a flipped bit (a tampering proxy), each fail in red naming the check. No request leaves
 * 127.0.0.1, no console error.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Page } from 'playwright-core';
import { base64Encode } from '../log/bytes.js';
import { generateCosignatureKey } from '../log/cosignature.js';
import type { ServerHandle } from '../server/main.js';
import { makeLogKey, startTestWitness, startWitnessedLog, type TestWitness } from './cosigning-helpers.js';
import {
  type Browser,
  buildExplorer,
  checksOf,
  launchBrowser,
  settled,
  startTamperProxy,
  type TamperProxy,
} from './helpers/browser.js';
import { fromB64 } from './helpers/bytes.js';
import { attest, makeSigner, postJson } from './helpers/http.js';

let witness: TestWitness;
let server: ServerHandle;
let proxy: TamperProxy;
let browser: Browser;

test.before(async () => {
  buildExplorer();
  const dir = mkdtempSync(join(tmpdir(), 'sig-web-witness-'));
  const key = makeLogKey(dir, 'explorer.test/log');
  witness = await startTestWitness('witness.test/w');
  witness.addLog(key.vkey);
  server = await startWitnessedLog(dir, key, `witness w ${witness.vkey} ${witness.url}\nquorum w\n`);
  const alice = await makeSigner('Alice');
  const res = await postJson(`${server.url}/v1/attestations`, {
    attestations: [await attest(alice, 'sha256:cosigned')],
    keys: [alice.armoredPublicKey],
  });
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${JSON.stringify(res.body)}`);
  proxy = await startTamperProxy(server.url);
  browser = await launchBrowser();
});

test.after.always(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.close();
  await witness?.close();
});

async function cosignatureCheck(page: Page) {
  const checks = await checksOf(page);
  return checks.filter((c) => c.check === 'checkpoint-cosignatures');
}

/** pin fills the home page's witness form with `vkeys` and waits for the page to check again. */
async function pin(page: Page, vkeys: string[]): Promise<void> {
  await page.locator('summary', { hasText: 'Witnesses' }).click();
  await page.getByLabel('Witness keys you trust').fill(vkeys.join('\n'));
  await Promise.all([
    page.waitForEvent('load'),
    page.getByRole('button', { name: 'Save and check' }).click(),
  ]);
  await settled(page);
}

test.serial(
  'cosignature lines are not checked until a witness is pinned, then the pinned one verifies',
  async (t) => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await settled(page);
    const before = await cosignatureCheck(page);
    t.is(before[0]?.state, 'skip');
    t.regex(before[0]!.text, /1 cosignature line/);
    await pin(page, [witness.vkey]);
    const after = await cosignatureCheck(page);
    t.is(after[0]?.state, 'ok', after[0]?.text);
    t.regex(after[0]!.text, /cosigned by witness\.test\/w at 20/);
    await page.close();
  },
);

test.serial('a pinned witness that did not cosign fails in red', async (t) => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await settled(page);
  await pin(page, [generateCosignatureKey('witness.test/other').vkey]);
  const c = await cosignatureCheck(page);
  t.is(c[0]?.state, 'fail');
  t.regex(c[0]!.text, /no cosignature by a pinned witness \(witness\.test\/other\)/);
  await page.close();
});

test.serial('a cosignature line with a flipped bit fails, naming the witness', async (t) => {
  proxy.tamper = (path, body) => {
    if (!path.startsWith('/log/checkpoint')) return undefined;
    const lines = body.toString('utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('— witness.test/w '));
    const parts = lines[i]!.split(' ');
    const sig = fromB64(parts[2]!);
    sig[sig.length - 1]! ^= 0x01;
    parts[2] = base64Encode(sig);
    lines[i] = parts.join(' ');
    return lines.join('\n');
  };
  const page = await browser.newPage();
  await page.goto(proxy.url);
  await settled(page);
  await pin(page, [witness.vkey]);
  const c = await cosignatureCheck(page);
  t.is(c[0]?.state, 'fail');
  t.regex(c[0]!.text, /witness witness\.test\/w: NOTE_SIGNATURE_INVALID/);
  // The log's own lines are untouched and still verify.
  const checks = await checksOf(page);
  t.is(checks.find((x) => x.check === 'checkpoint-ed25519')?.state, 'ok');
  await page.close();
});

test.serial('no request left 127.0.0.1 and the console stayed clean', (t) => {
  t.true(browser.requests.length > 5);
  t.deepEqual(
    browser.requests.filter((u) => new URL(u).hostname !== '127.0.0.1'),
    [],
  );
  t.deepEqual(browser.problems, []);
});
