/**
 * Helpers for the browser tests (test/web-*.test.ts): the explorer built with web/build.mjs, Debian's
 * Chromium (/usr/bin/chromium; `.ci/run` installs it with apt-get) driven by playwright-core (no browser
 * download: there is no internet), a watch on every request and console message of the page, and a
 * tampering proxy on 127.0.0.1 that rewrites chosen answers of a real server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** CHROMIUM is Debian's chromium package binary. */
export const CHROMIUM = '/usr/bin/chromium';

/** buildExplorer runs web/build.mjs (deterministic output, written file by file with renames). */
export function buildExplorer(): void {
  execFileSync(process.execPath, [join(root, 'web', 'build.mjs')], { stdio: 'pipe' });
}

/** Browser is one headless Chromium with a fresh profile, and what its pages did. */
export interface Browser {
  context: BrowserContext;
  /** requests: every URL any page asked for. */
  requests: string[];
  /** problems: console errors and warnings, page errors and failed requests, as text. */
  problems: string[];
  newPage(width?: number, height?: number): Promise<Page>;
  close(): Promise<void>;
}

/** launchBrowser starts Chromium headless with a fresh --user-data-dir and watches its pages. */
export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'sig-chromium-'));
  // launchPersistentContext is how playwright passes a fresh --user-data-dir (it refuses the flag in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  const requests: string[] = [];
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  };
  context.on('page', watch);
  for (const p of context.pages()) await p.close();
  return {
    context,
    requests,
    problems,
    async newPage(width = 1280, height = 900) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height });
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Tamper rewrites the body of an answer to `path` (with its query); return undefined to pass it on. */
export type Tamper = (pathAndQuery: string, body: Buffer) => Buffer | string | undefined;

/** TamperProxy is an HTTP proxy on 127.0.0.1 in front of a real server. */
export interface TamperProxy {
  url: string;
  /** tamper is the current rewrite; set it between page loads. */
  tamper: Tamper;
  close(): Promise<void>;
}

/** startTamperProxy starts a proxy on 127.0.0.1 port 0 in front of `target` (a base URL). */
export async function startTamperProxy(target: string): Promise<TamperProxy> {
  const t = new URL(target);
  const proxy: TamperProxy = { url: '', tamper: () => undefined, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const up = request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: t.host },
      },
      (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          let changed: Buffer | string | undefined;
          try {
            changed = proxy.tamper(req.url ?? '/', body);
          } catch (e) {
            // A bug in a test's rewrite: answer 502 so the page fails visibly, not the test process.
            res.writeHead(502);
            res.end(`tamper: ${String(e)}`);
            return;
          }
          const out = changed === undefined ? body : Buffer.from(changed);
          const headers = { ...upRes.headers, 'content-length': String(out.length) };
          delete headers['transfer-encoding'];
          delete headers.etag;
          res.writeHead(upRes.statusCode ?? 502, headers);
          res.end(out);
        });
      },
    );
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return proxy;
}

/** checksOf returns the checks shown on the page: [data-check, data-state, text] of each. */
export async function checksOf(page: Page): Promise<{ check: string; state: string; text: string }[]> {
  return page.$$eval('li.check', (els) =>
    els.map((e) => ({
      check: e.getAttribute('data-check') ?? '',
      state: e.getAttribute('data-state') ?? '',
      text: e.textContent ?? '',
    })),
  );
}

/** settled waits until the page has done its work (main[data-state=done]) and no check is pending. */
export async function settled(page: Page): Promise<void> {
  // A function, not a string: playwright evals a string predicate in the page, which the explorer's CSP
  // (no 'unsafe-eval') rightly refuses. The test's tsconfig has no DOM types, hence globalThis.
  await page.waitForFunction(
    () => {
      // biome-ignore lint/suspicious/noExplicitAny: runs in the page
      const d = (globalThis as any).document;
      return (
        d.getElementById('main')?.dataset.state === 'done' &&
        d.querySelectorAll('li.check[data-state="pending"]').length === 0
      );
    },
    undefined,
    { timeout: 60_000 },
  );
}
