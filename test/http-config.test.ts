/**
 * server/config.ts: defaults, precedence (flags over environment over defaults), strict validation
 * with messages that name the variable and the flag and say how to fix it, and the settings table the
 * CLI and the README are built from. No server, no database.
 */
import test from 'ava';
import { MAX_ATTESTATION_BYTES } from '../log/signet.js';
import { ConfigError, loadConfig, SETTINGS, settingsTable } from '../server/config.js';

test('defaults', (t) => {
  const c = loadConfig({}, {});
  t.is(c.port, 8080);
  t.is(c.host, '127.0.0.1');
  t.is(c.dataDir, './data');
  t.is(c.databaseUrl, undefined);
  t.is(c.origin, undefined);
  t.is(c.checkpointIntervalMs, 1000);
  t.is(c.republishIntervalMs, 600_000);
  t.is(c.batchMaxSize, 256);
  t.is(c.batchMaxAgeMs, 200);
  t.is(c.maxAttestationBytes, MAX_ATTESTATION_BYTES);
  t.is(c.trustProxy, false);
  t.is(c.logLevel, 'info');
  t.true(c.integrate);
});

test('flags win over environment, environment over defaults; empty environment is unset', (t) => {
  const c = loadConfig(
    {
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u:p@db:5432/sig',
      LOG_LEVEL: '',
      ORIGIN: 'a.example/log',
    },
    { port: 0, origin: 'b.example/log' },
  );
  t.is(c.port, 0);
  t.is(c.host, '0.0.0.0');
  t.is(c.databaseUrl, 'postgres://u:p@db:5432/sig');
  t.is(c.logLevel, 'info');
  t.is(c.origin, 'b.example/log');
  t.is(loadConfig({}, { 'rate-limit-publishes': '0' }).rateLimitPublishes, 0);
  t.is(loadConfig({ INTEGRATE: 'false' }).integrate, false);
});

test('TRUST_PROXY forms', (t) => {
  t.is(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
  t.is(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
  t.deepEqual(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,::1' }).trustProxy, [
    'loopback',
    '10.0.0.0/8',
    '::1',
  ]);
  t.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/99' }), { instanceOf: ConfigError });
  t.throws(() => loadConfig({ TRUST_PROXY: 'everyone' }), { instanceOf: ConfigError });
});

test('bad values are operator errors naming the variable, the flag, what was found and the fix', (t) => {
  const bad: [Record<string, string>, string][] = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '08080' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x/y' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ ORIGIN: 'has space/log' }, 'ORIGIN'],
    [{ ORIGIN: 'a+b' }, 'ORIGIN'],
    [{ CHECKPOINT_INTERVAL_MS: '0' }, 'CHECKPOINT_INTERVAL_MS'],
    [{ BATCH_MAX_SIZE: '0' }, 'BATCH_MAX_SIZE'],
    [{ MAX_ATTESTATION_BYTES: String(MAX_ATTESTATION_BYTES + 1) }, 'MAX_ATTESTATION_BYTES'],
    [{ MAX_BODY_BYTES: '1024', MAX_ATTESTATION_BYTES: '2048' }, 'MAX_ATTESTATION_BYTES'],
    [{ REPUBLISH_INTERVAL_MS: '1000', CHECKPOINT_INTERVAL_MS: '5000' }, 'REPUBLISH_INTERVAL_MS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ INTEGRATE: 'maybe' }, 'INTEGRATE'],
  ];
  for (const [env, name] of bad) {
    const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError }, JSON.stringify(env));
    t.is(err?.setting, name);
    t.is(err?.code, 'CONFIG_INVALID');
    t.true(err?.message.includes(name), err?.message);
  }
  const err = t.throws(() => loadConfig({ PORT: 'abc' }), { instanceOf: ConfigError });
  t.regex(err!.message, /--port/);
  t.regex(err!.message, /"abc"/);
});

test('settings table: every setting has a unique variable and flag, a description, and a parseable default', (t) => {
  t.is(new Set(SETTINGS.map((s) => s.env)).size, SETTINGS.length);
  t.is(new Set(SETTINGS.map((s) => s.flag)).size, SETTINGS.length);
  for (const s of SETTINGS) {
    t.true(s.description.length > 10, s.env);
    if (s.default !== undefined) t.notThrows(() => s.parse(s.default!, s), s.env);
  }
  const table = settingsTable();
  for (const s of SETTINGS) t.true(table.includes(`\`${s.env}\``), s.env);
});

test("the README's Configuration table is the settings table", async (t) => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  t.true(readme.includes(settingsTable()), 'regenerate it with settingsTable() (server/config.ts)');
});
