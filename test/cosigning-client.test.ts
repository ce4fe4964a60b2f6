/**
 * server/cosigning/witness-client.ts against hostile witnesses: a witness's answer is bounded before
 * it is read (a 200 over 64 KiB, a 409 over 32 bytes, a declared Content-Length over the bound), parsed
 * strictly (a 409 that is not a size, a 200 that is not signature lines), and never followed elsewhere
 * (redirects refused); a witness that is not there is a network failure. None of these throws: each is
 * a `failed` answer with a stable reason, which the cosigning loop counts and backs off on.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { submitCheckpoint } from '../server/cosigning/witness-client.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function witness(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const LINE = `\u2014 witness.test/x ${Buffer.alloc(76, 7).toString('base64')}\n`;

const cases: { name: string; handler: Handler; want: Record<string, unknown> }[] = [
  {
    name: 'a 200 of signature lines is returned unverified',
    handler: (_q, r) => r.writeHead(200).end(LINE),
    want: { kind: 'cosigned' },
  },
  {
    name: 'a 200 over 64 KiB is refused unread',
    handler: (_q, r) => r.writeHead(200).end(LINE.repeat(1000)),
    want: { kind: 'failed', reason: 'response-too-large', status: 200 },
  },
  {
    name: 'a 200 streamed past 64 KiB without a length is cut off',
    handler: (_q, r) => {
      r.writeHead(200, { 'transfer-encoding': 'chunked' });
      for (let i = 0; i < 1000; i++) r.write(LINE);
      r.end();
    },
    want: { kind: 'failed', reason: 'response-too-large', status: 200 },
  },
  {
    name: 'a 200 that is not signature lines',
    handler: (_q, r) => r.writeHead(200).end('hello\n'),
    want: { kind: 'failed', reason: 'response-invalid', status: 200 },
  },
  {
    name: 'a 409 with a size',
    handler: (_q, r) => r.writeHead(409, { 'content-type': 'text/x.tlog.size' }).end('42\n'),
    want: { kind: 'conflict', treeSize: 42n },
  },
  {
    name: 'a 409 that is not a canonical size',
    handler: (_q, r) => r.writeHead(409).end('042\n'),
    want: { kind: 'failed', reason: 'response-invalid', status: 409 },
  },
  {
    name: 'a 409 over 32 bytes',
    handler: (_q, r) => r.writeHead(409).end(`${'1'.repeat(40)}\n`),
    want: { kind: 'failed', reason: 'response-too-large', status: 409 },
  },
  {
    name: 'a redirect is not followed',
    handler: (_q, r) => r.writeHead(307, { location: 'http://127.0.0.1:9/elsewhere' }).end(),
    want: { kind: 'failed', reason: 'network' },
  },
  {
    name: 'a 422 is a refusal, its body kept short',
    handler: (_q, r) => r.writeHead(422).end('x'.repeat(100_000)),
    want: { kind: 'failed', reason: 'refused', status: 422 },
  },
  {
    name: 'a 5xx',
    handler: (_q, r) => r.writeHead(503).end('busy'),
    want: { kind: 'failed', reason: 'server-error', status: 503 },
  },
  {
    name: 'a dropped connection',
    handler: (q) => q.socket.destroy(),
    want: { kind: 'failed', reason: 'network' },
  },
];

for (const c of cases) {
  test(`witness client: ${c.name}`, async (t) => {
    const w = await witness(c.handler);
    t.teardown(w.close);
    const got = await submitCheckpoint(w.url, 'old 0\n\nnot parsed by this witness\n');
    t.like(got, c.want);
    if (got.kind === 'failed') t.true(got.message.length <= 400, got.message);
  });
}

test('witness client: nobody listening is a network failure', async (t) => {
  const w = await witness(() => {});
  await w.close();
  t.like(await submitCheckpoint(w.url, 'old 0\n\n'), { kind: 'failed', reason: 'network' });
});
