/**
 * server/http/errors.ts, the one code -> status table: every LogError code has a deliberate status;
 * service codes map to 503/404; a plain Error (our bug), or a pg/system error that happens to carry a
 * `code`, is a 500 with a generic message and the request id, reported to onBug, never a 4xx and never
 * its own message. Served by a tiny express app on 127.0.0.1 port 0 with the real middleware.
 */
import type { AddressInfo } from 'node:net';
import test from 'ava';
import express from 'express';
import { ERROR_CODES, LogError } from '../log/errors.js';
import { SERVICE_ERROR_CODES, ServiceError } from '../server/errors.js';
import { errorHandler, HTTP_STATUS, HttpError } from '../server/http/errors.js';
import { requestId } from '../server/http/middleware.js';

test('every LogError code and the runtime service codes have a deliberate status', (t) => {
  for (const code of ERROR_CODES) t.true(code in HTTP_STATUS, code);
  for (const code of ['BACKLOG_FULL', 'INTEGRATION_TIMEOUT', 'SERVICE_CLOSED', 'NOT_FOUND'] as const) {
    t.true((SERVICE_ERROR_CODES as readonly string[]).includes(code), code);
    t.true(code in HTTP_STATUS, code);
  }
  // Bad input is never a 5xx.
  for (const code of [
    'ATTESTATION_INVALID',
    'SIGNATURE_INVALID',
    'KEY_UNKNOWN',
    'JSON_INVALID',
    'PARAM_INVALID',
  ]) {
    t.true(HTTP_STATUS[code]! >= 400 && HTTP_STATUS[code]! < 500, code);
  }
});

test('errors over HTTP: 4xx with details, 503 with Retry-After, bugs as generic 500 with request id', async (t) => {
  const bugs: { err: unknown; id: string }[] = [];
  const app = express();
  app.use(requestId);
  app.get('/log-error', () => {
    throw new LogError('SIGNATURE_INVALID', 'signature does not verify', { item: 2 });
  });
  app.get('/backlog', async () => {
    throw new ServiceError('BACKLOG_FULL', 'backlog is full', { backlog: 10 }, 7);
  });
  app.get('/timeout', async () => {
    throw new ServiceError('INTEGRATION_TIMEOUT', 'not yet');
  });
  app.get('/bug', () => {
    throw new Error('secret internals: password=hunter2');
  });
  app.get('/pg', () => {
    throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
  });
  app.get('/startup-code', () => {
    throw new ServiceError('SCHEMA_MISMATCH', 'schema 3, need 4');
  });
  app.get('/signet', (_req, res) => {
    res.locals.signetErrors = true;
    throw new HttpError('PARAM_INVALID', 'bad id', { field: 'id' });
  });
  app.use(
    errorHandler(
      { retryAfterSeconds: 2, onRejected: () => {}, onBug: (err, id) => bugs.push({ err, id }) },
      1024,
    ),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const get = async (p: string) => {
      const res = await fetch(`${url}${p}`, { headers: { 'x-request-id': `req${p.replace(/\W/g, '-')}` } });
      // biome-ignore lint/suspicious/noExplicitAny: wire JSON
      return { res, body: (await res.json()) as Record<string, any> };
    };
    let r = await get('/log-error');
    t.is(r.res.status, 422);
    t.deepEqual(r.body, {
      error: { code: 'SIGNATURE_INVALID', message: 'signature does not verify', details: { item: 2 } },
    });
    t.is(r.res.headers.get('retry-after'), null);

    r = await get('/backlog');
    t.is(r.res.status, 503);
    t.is(r.body.error.code, 'BACKLOG_FULL');
    t.is(r.res.headers.get('retry-after'), '7');
    r = await get('/timeout');
    t.is(r.res.status, 503);
    t.is(r.res.headers.get('retry-after'), '2', 'the default when the error has none');

    for (const p of ['/bug', '/pg', '/startup-code']) {
      r = await get(p);
      t.is(r.res.status, 500, p);
      t.is(r.body.error.code, 'INTERNAL', p);
      t.is(r.body.error.details.requestId, `req${p.replace(/\W/g, '-')}`);
      t.false(JSON.stringify(r.body).includes('hunter2'));
      t.false(JSON.stringify(r.body).includes('duplicate key'));
    }
    t.deepEqual(
      bugs.map((b) => b.id),
      ['req-bug', 'req-pg', 'req-startup-code'],
    );

    r = await get('/signet');
    t.is(r.res.status, 400);
    t.deepEqual(r.body, { ok: false, error: 'bad id', code: 'PARAM_INVALID' });
  } finally {
    await new Promise((r) => server.close(r));
  }
});
