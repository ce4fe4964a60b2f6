/**
 * log/bounded-read.ts, over real HTTP on 127.0.0.1: a body is cut at its cap (or refused on its
 * Content-Length), a stalled body ends with the timeout's TimeoutError, and an outer stop aborts at
 * once with its own reason. Every HTTP client here (CLI, peer follower, cosigning loop) reads through it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { isTimeout, raceAbort, readBody, timeoutSignal } from '../log/bounded-read.js';

let server: Server;
let base = '';

test.before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/stall') {
      res.writeHead(200);
      res.write('partial');
      return; // never ends
    }
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write('x'.repeat(100));
      return;
    }
    const body = Buffer.alloc(Number(req.url!.slice(1)), 0x61);
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after.always(() => {
  server.closeAllConnections();
  server.close();
});

test('a body within its cap is read whole; past it, the first cap bytes and over', async (t) => {
  const whole = await readBody(await fetch(`${base}/5000`), 5000);
  t.is(whole.bytes.length, 5000);
  t.false(whole.over);
  const cut = await readBody(await fetch(`${base}/5001`), 5000);
  t.true(cut.over);
  t.is(cut.bytes.length, 5000);
});

test('a declared Content-Length past the cap is refused before reading, unless a prefix is wanted', async (t) => {
  const refused = await readBody(await fetch(`${base}/declared`), 1000);
  t.true(refused.over);
  t.is(refused.bytes.length, 0);
  const prefix = await readBody(await fetch(`${base}/declared`), 50, timeoutSignal(2000), true);
  t.true(prefix.over);
  t.is(new TextDecoder().decode(prefix.bytes), 'x'.repeat(50));
});

test('a stalled body ends with the TimeoutError of its timeoutSignal', async (t) => {
  const signal = timeoutSignal(300);
  const started = Date.now();
  const res = await raceAbort(fetch(`${base}/stall`, { signal }), signal);
  const e = await t.throwsAsync(readBody(res, 1000, signal), { any: true });
  t.is((e as Error).name, 'TimeoutError');
  t.true(isTimeout(signal));
  t.true(Date.now() - started < 5000, `${Date.now() - started} ms`);
});

test('an outer stop aborts at once with its own reason, which is not a timeout', async (t) => {
  const stop = new AbortController();
  const signal = timeoutSignal(60_000, stop.signal);
  const res = await raceAbort(fetch(`${base}/stall`, { signal }), signal);
  const reading = readBody(res, 1000, signal);
  stop.abort(new Error('closing'));
  const e = await t.throwsAsync(reading);
  t.is((e as Error).message, 'closing');
  t.false(isTimeout(signal));
  // Already aborted: raceAbort rejects without waiting for the promise.
  await t.throwsAsync(raceAbort(new Promise(() => {}), signal), { message: 'closing' });
});
