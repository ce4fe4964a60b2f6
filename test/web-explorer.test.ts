/**
 * The explorer (web/) in real Chromium (Debian's /usr/bin/chromium through playwright-core) against a
 * real server on 127.0.0.1 with real attestations: the home page's checkpoint checks, the plot and the
 * newest entries; search by identifier, by fingerprint and by a file dropped on the page (hashed there,
 * never uploaded), with a revocation shown as marked bad and the older word of that key superseded; an
 * entry with its path to the root; keyboard and labels; phone width. Then a tampering proxy: a flipped
 * proof byte, an altered entry, an answer missing its newest entry and a checkpoint with a bad signature
 * each show the red failure naming the check, and never its green mark. Throughout, no request leaves 127.0.0.1 and the console stays clean.
 *
 * UPDATE_SCREENSHOTS=1 also writes docs/screenshots/{home,search,entry}-{desktop,phone}.png (the README's).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import test from 'ava';
import type { Page } from 'playwright-core';
import { base64Encode } from '../log/bytes.js';
import { signAttestation } from '../log/signet.js';
import type { ServerHandle } from '../server/main.js';
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
import { makeSigner, postJson, type Signer, startTestServer, testConfig } from './helpers/http.js';
import { pgliteBackend, type StoreBackend } from './helpers/stores.js';

const FILE = Buffer.from('the release tarball a friend sent\n');
const FILE_ID = `sha256:${createHash('sha256').update(FILE).digest('hex')}`;
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1';

let backend: StoreBackend;
let server: ServerHandle;
let proxy: TamperProxy;
let browser: Browser;
let alice: Signer;
let bob: Signer;

test.before(async () => {
  buildExplorer();
  backend = await pgliteBackend('web-explorer');
  // Two per page: the search by identifier (three answers) follows the cursor, and the index check
  // runs across both pages.
  server = await startTestServer(testConfig(backend, { 'query-page-limit': 2 }));
  alice = await makeSigner('Alice');
  bob = await makeSigner('Bob');
  // Signature times a few seconds apart (the keys are new, so not before now; the server accepts up to
  // 5 minutes ahead): the order the newest-per-key rule reads.
  const now = Date.now();
  const atts = [
    await signAttestation(
      { id: FILE_ID, ok: true, comment: 'built it from source: same bytes' },
      alice.privateKey,
      new Date(now + 10_000),
    ),
    await signAttestation(
      { id: FILE_ID, ok: true, comment: 'looks fine' },
      bob.privateKey,
      new Date(now + 20_000),
    ),
    await signAttestation(
      { id: 'https://example.org/other', ok: true },
      bob.privateKey,
      new Date(now + 25_000),
    ),
    // Bob's newer word on the file revokes his older one.
    await signAttestation(
      { id: FILE_ID, ok: false, comment: 'revoked: the signing host was compromised' },
      bob.privateKey,
      new Date(now + 30_000),
    ),
  ];
  const res = await postJson(`${server.url}/v1/attestations`, {
    attestations: atts,
    keys: [alice.armoredPublicKey, bob.armoredPublicKey],
  });
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${JSON.stringify(res.body)}`);
  proxy = await startTamperProxy(server.url);
  browser = await launchBrowser();
});

test.after.always(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.close();
  await backend?.cleanup();
});

async function open(path: string, width = 1280, base = server.url): Promise<Page> {
  const page = await browser.newPage(width, width < 600 ? 844 : 900);
  await page.goto(`${base}${path}`);
  await settled(page);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync('docs/screenshots', { recursive: true });
  await page.screenshot({ path: `docs/screenshots/${name}.png`, fullPage: true });
}

function stateOf(checks: { check: string; state: string }[], name: string): string[] {
  return checks.filter((c) => c.check === name).map((c) => c.state);
}

async function noHorizontalScroll(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
}

test.serial('home: the checkpoint verified in the page, the plot, the newest entries', async (t) => {
  for (const [width, name] of [
    [1280, 'desktop'],
    [390, 'phone'],
  ] as const) {
    const page = await open('/', width);
    const checks = await checksOf(page);
    for (const c of [
      'checkpoint-ed25519',
      'checkpoint-openpgp',
      'checkpoint-origin',
      'checkpoint-freshness',
    ]) {
      t.deepEqual(stateOf(checks, c), ['ok'], `${c}: ${JSON.stringify(checks)}`);
    }
    t.deepEqual(stateOf(checks, 'checkpoint-cosignatures'), ['skip']);
    t.true(await page.locator('svg.plot path.line').isVisible());
    t.is(await page.locator('[data-summary]').count(), 0);
    // The four attestations (and, once the index has landed, index leaves after them).
    const newest = (await page.locator('ul.entries li').allTextContents()).join('\n');
    t.is(newest.match(/ · by /g)?.length, 4, newest);
    t.true(await noHorizontalScroll(page), `no sideways scrolling at ${width}px`);
    await shot(page, `home-${name}`);
    await page.close();
  }
});

test.serial(
  'search by identifier: statuses under the newest-per-key rule, every proof checked',
  async (t) => {
    for (const [width, name] of [
      [1280, 'desktop'],
      [390, 'phone'],
    ] as const) {
      const page = await open(`/search?id=${encodeURIComponent(FILE_ID)}`, width);
      const checks = await checksOf(page);
      t.deepEqual(stateOf(checks, 'inclusion-proof'), ['ok', 'ok', 'ok']);
      t.deepEqual(stateOf(checks, 'attestation-signature'), ['ok', 'ok', 'ok']);
      t.deepEqual(stateOf(checks, 'matches-query'), ['ok', 'ok', 'ok']);
      t.deepEqual(stateOf(checks, 'entry-bytes'), ['ok', 'ok', 'ok']);
      const statuses = await page.$$eval('.status', (els) => els.map((e) => e.getAttribute('data-status')));
      t.deepEqual(
        statuses,
        ['ok', 'superseded', 'bad'],
        'alice ok; bob: older superseded, newest marked bad',
      );
      t.regex((await page.locator('.card').nth(2).textContent()) ?? '', /marked bad/);
      // The server keeps the index (SPEC.md "The index"): the page proves the answer complete, and
      // only then shows the badge.
      t.deepEqual(stateOf(checks, 'index-complete'), ['ok'], JSON.stringify(checks));
      t.is(await page.locator('[data-badge="complete"]').count(), 1);
      t.is(await page.locator('[data-summary]').count(), 0, 'no failure summary when every check held');
      t.true(
        browser.requests.some((u) => u.includes('/v1/attestations?') && u.includes('cursor=')),
        'the answer came in two pages, and the page followed the cursor',
      );
      t.true(await noHorizontalScroll(page));
      await shot(page, `search-${name}`);
      await page.close();
    }
  },
);

test.serial('search by fingerprint with the keyboard and labels; the URL can be shared', async (t) => {
  const page = await open('/search');
  await page.getByLabel('Search by').selectOption('key');
  await page.getByLabel('Value').fill(bob.fingerprint.toLowerCase());
  await page.getByLabel('Value').press('Enter');
  await page.waitForURL(/\/search\?key=/);
  await settled(page);
  t.is(new URL(page.url()).searchParams.get('key'), bob.fingerprint.toLowerCase());
  const checks = await checksOf(page);
  t.deepEqual(stateOf(checks, 'inclusion-proof'), ['ok', 'ok', 'ok']);
  t.deepEqual(stateOf(checks, 'matches-query'), ['ok', 'ok', 'ok']);
  // The shared URL shows the same answer in a fresh page.
  const again = await open(new URL(page.url()).pathname + new URL(page.url()).search);
  t.is(await again.locator('.card').count(), 3);
  // Tab reaches the search field from the top of the page.
  await again.keyboard.press('Tab');
  let reached = false;
  for (let i = 0; i < 10 && !reached; i++) {
    reached = (await again.evaluate('document.activeElement && document.activeElement.id')) === 'q';
    if (!reached) await again.keyboard.press('Tab');
  }
  t.true(reached, 'the search field is reachable with Tab');
  await page.close();
  await again.close();
});

test.serial(
  'a query the server would refuse is refused in the page, with no request and no mark',
  async (t) => {
    const before = browser.requests.length;
    const page = await open('/search?key=not-a-fingerprint');
    t.regex((await page.locator('[data-query-error]').textContent()) ?? '', /40 hexadecimal digits/);
    t.is((await checksOf(page)).length, 0);
    t.false(browser.requests.slice(before).some((u) => u.includes('/v1/attestations')));
    await page.close();
  },
);

test.serial('a dropped file is hashed in the page and looked up by its sha256', async (t) => {
  const page = await open('/search');
  const before = browser.requests.length;
  // Runs in the page (a string: the tests have no DOM types): a real drop event carrying a File.
  await page.evaluate(`(() => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(FILE.toString('base64'))}), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'release.tar.gz'));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  })()`);
  await page.waitForURL(/\/search\?id=/);
  await settled(page);
  t.is(new URL(page.url()).searchParams.get('id'), FILE_ID);
  t.is(await page.locator('.card').count(), 3);
  // The file was never sent: no request after the drop carried a body (the explorer only GETs).
  t.false(browser.requests.slice(before).some((u) => !u.startsWith(server.url)));
  await page.close();
});

test.serial('entry: its bytes, parsed, and the path to the root, checked', async (t) => {
  for (const [width, name] of [
    [1280, 'desktop'],
    [390, 'phone'],
  ] as const) {
    const page = await open('/entry/1', width);
    const checks = await checksOf(page);
    for (const c of [
      'checkpoint-ed25519',
      'checkpoint-openpgp',
      'entry-bytes',
      'inclusion-proof',
      'attestation-signature',
    ]) {
      t.deepEqual(stateOf(checks, c), ['ok'], c);
    }
    t.regex((await page.locator('pre.bytes').textContent()) ?? '', /"comment":"looks fine"/);
    t.true((await page.locator('.path .node').count()) >= 3);
    t.true(await noHorizontalScroll(page));
    await shot(page, `entry-${name}`);
    await page.close();
  }
});

/** rewrite returns a Tamper that changes the JSON answers of /v1/attestations with `f`. */
function rewriteAnswers(
  f: (a: {
    checkpoint: string;
    attestations: { index: number; entry: string; inclusionProof: string[] }[];
  }) => void,
) {
  return (path: string, body: Buffer) => {
    if (!path.startsWith('/v1/attestations')) return undefined;
    const a = JSON.parse(body.toString('utf8'));
    f(a);
    return JSON.stringify(a);
  };
}

function flipEd25519Line(note: string): string {
  // The Ed25519 line is the first signature line; flip one bit in the middle of its signature bytes.
  const lines = note.split('\n');
  const i = lines.findIndex((l) => l.startsWith('— '));
  const parts = lines[i]!.split(' ');
  const sig = fromB64(parts[2]!);
  sig[sig.length - 10]! ^= 0x01;
  parts[2] = base64Encode(sig);
  lines[i] = parts.join(' ');
  return lines.join('\n');
}

test.serial('tampering: a flipped proof byte fails the inclusion proof, in red, never green', async (t) => {
  proxy.tamper = rewriteAnswers((a) => {
    const item = a.attestations.find((x) => x.index === 1);
    if (!item) return;
    const p = fromB64(item.inclusionProof[0]!);
    p[0]! ^= 0x80;
    item.inclusionProof[0] = base64Encode(p);
  });
  const page = await open(`/search?id=${encodeURIComponent(FILE_ID)}`, 1280, proxy.url);
  const checks = await checksOf(page);
  t.deepEqual(stateOf(checks, 'inclusion-proof'), ['ok', 'fail', 'ok']);
  const failed = checks.filter((c) => c.state === 'fail' && c.check === 'inclusion-proof');
  t.regex(failed[0]!.text, /Inclusion proof.*INCLUSION_PROOF_INVALID/);
  t.is(
    await page.evaluate(`getComputedStyle(document.querySelector('li.check[data-state="fail"]')).color`),
    'rgb(164, 14, 38)',
    'shown in red',
  );
  t.not(stateOf(checks, 'index-complete')[0], 'ok');
  t.is(await page.locator('[data-badge="complete"]').count(), 0);
  t.regex((await page.locator('[data-summary="fail"]').textContent()) ?? '', /check(s)? failed/);
  await page.close();
});

test.serial('tampering: an altered entry fails its inclusion proof and its signature', async (t) => {
  proxy.tamper = rewriteAnswers((a) => {
    const item = a.attestations.find((x) => x.index === 0);
    if (!item) return;
    const e = Buffer.from(fromB64(item.entry)).toString('utf8');
    item.entry = Buffer.from(e.replace('same bytes', 'SAME bytes')).toString('base64');
  });
  const page = await open(`/search?id=${encodeURIComponent(FILE_ID)}`, 1280, proxy.url);
  const checks = await checksOf(page);
  t.deepEqual(stateOf(checks, 'inclusion-proof'), ['fail', 'ok', 'ok']);
  t.deepEqual(stateOf(checks, 'attestation-signature'), ['fail', 'ok', 'ok'], JSON.stringify(checks));
  t.regex(checks.find((c) => c.check === 'inclusion-proof')!.text, /INCLUSION_PROOF_INVALID/);
  t.is(await page.locator('[data-badge="complete"]').count(), 0);
  t.regex((await page.locator('[data-summary="fail"]').textContent()) ?? '', /check(s)? failed/);
  await page.close();
});

test.serial(
  'tampering: an answer that leaves out the revocation is not complete, and says why',
  async (t) => {
    // The attack the index exists for: the server drops Bob's newest word (ok: false) from the answer.
    // Everything it does return still verifies; only the index check can tell.
    proxy.tamper = rewriteAnswers((a) => {
      a.attestations = a.attestations.filter((x) => x.index !== 3);
    });
    const page = await open(`/search?id=${encodeURIComponent(FILE_ID)}`, 1280, proxy.url);
    const checks = await checksOf(page);
    t.deepEqual(stateOf(checks, 'inclusion-proof'), ['ok', 'ok']);
    t.deepEqual(stateOf(checks, 'index-complete'), ['fail']);
    t.regex(checks.find((c) => c.check === 'index-complete')!.text, /INDEX_ANSWER_INCOMPLETE/);
    t.is(await page.locator('[data-badge="complete"]').count(), 0);
    t.regex((await page.locator('[data-summary="fail"]').textContent()) ?? '', /check(s)? failed/);
    await page.close();
  },
);

test.serial(
  'tampering: a checkpoint with a bad signature fails, and nothing proved against it is green',
  async (t) => {
    proxy.tamper = (path, body) => {
      if (path.startsWith('/log/checkpoint')) return flipEd25519Line(body.toString('utf8'));
      return rewriteAnswers((a) => {
        a.checkpoint = flipEd25519Line(a.checkpoint);
      })(path, body);
    };
    for (const path of ['/', `/search?id=${encodeURIComponent(FILE_ID)}`, '/entry/0']) {
      const page = await open(path, 1280, proxy.url);
      const checks = await checksOf(page);
      t.deepEqual(stateOf(checks, 'checkpoint-ed25519'), ['fail'], path);
      t.regex(checks.find((c) => c.check === 'checkpoint-ed25519')!.text, /NOTE_SIGNATURE_INVALID/);
      t.deepEqual(stateOf(checks, 'checkpoint-origin'), ['fail']);
      t.false(stateOf(checks, 'inclusion-proof').includes('ok'), path);
      t.not(stateOf(checks, 'index-complete')[0], 'ok');
      t.is(await page.locator('[data-badge="complete"]').count(), 0);
      t.regex((await page.locator('[data-summary="fail"]').textContent()) ?? '', /check(s)? failed/);
      await page.close();
    }
    proxy.tamper = () => undefined;
  },
);

test.serial('the UI routes carry their own CSP, self only; the API keeps its strict one', async (t) => {
  for (const path of ['/', '/search?id=x', '/entry/0', '/assets/app.js', '/assets/app.css']) {
    const res = await fetch(`${server.url}${path}`);
    t.is(res.status, 200, path);
    const csp = res.headers.get('content-security-policy') ?? '';
    t.regex(csp, /^default-src 'self'; script-src 'self'; style-src 'self';/, path);
    t.false(/unsafe|https?:|\*/.test(csp), `${path}: nothing but 'self' and 'none'`);
  }
  for (const path of ['/v1/server', '/log/checkpoint', '/openapi.json', '/v1/checkpoints', '/nowhere']) {
    const res = await fetch(`${server.url}${path}`);
    t.is(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", path);
  }
});

test.serial('no request left 127.0.0.1 and the console stayed clean', (t) => {
  t.true(browser.requests.length > 20);
  const away = browser.requests.filter((u) => new URL(u).hostname !== '127.0.0.1');
  t.deepEqual(away, []);
  t.deepEqual(browser.problems, []);
});
