/**
 * server/logger.ts: one JSON object per line with time, level and msg; levels filter; child fields;
 * bigint and bytes are safe to log; passwords in connection URLs never reach the line.
 */
import test from 'ava';
import { createLogger } from '../server/logger.js';

test('one JSON line per call, level filtering, child fields, redaction', (t) => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l));
  log.debug('hidden');
  log.info('hello', { index: 5n, data: new Uint8Array(3) });
  log.child({ requestId: 'r1' }).warn('careful', { url: 'postgres://sig:s3cret@db:5432/sig' });
  log.error('failed', { err: new Error('connect postgres://u:pw@h/db refused') });
  t.is(lines.length, 3);
  const [a, b, c] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(a!.level, 'info');
  t.is(a!.msg, 'hello');
  t.is(a!.index, '5');
  t.is(a!.data, '<3 bytes>');
  t.true(!Number.isNaN(Date.parse(String(a!.time))));
  t.is(b!.requestId, 'r1');
  t.is(b!.url, 'postgres://sig:***@db:5432/sig');
  t.false(lines.join('\n').includes('s3cret'));
  t.false(lines.join('\n').includes(':pw@'));
  t.is((c!.err as { message: string }).message, 'connect postgres://u:***@h/db refused');
  for (const l of lines) t.false(l.includes('\n'));
});

test('silent logs nothing', (t) => {
  const lines: string[] = [];
  const log = createLogger('silent', (l) => lines.push(l));
  log.error('nope');
  t.deepEqual(lines, []);
});
