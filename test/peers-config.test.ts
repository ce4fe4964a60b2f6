/**
 * The PEERS setting (server/peers/config.ts, server/config.ts): `peer <url> <vkey>` lines, comments and
 * blank lines; every bad file is an operator error naming the line and saying how to fix it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { generateEd25519Key } from '../log/note.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { PeersFileError, parsePeers } from '../server/peers/config.js';

const a = generateEd25519Key('a.example/log');
const b = generateEd25519Key('b.example/log');

test('a PEERS file: peers in order, origin from the vkey, trailing slash dropped, comments skipped', (t) => {
  const peers = parsePeers(
    `# my peers\n\npeer https://a.example/ ${a.vkey}\n  peer http://127.0.0.1:8080 ${b.vkey}  \n`,
  );
  t.deepEqual(
    peers.map((p) => [p.url, p.vkey, p.origin]),
    [
      ['https://a.example', a.vkey, 'a.example/log'],
      ['http://127.0.0.1:8080', b.vkey, 'b.example/log'],
    ],
  );
  t.is(peers[0]!.verifier.name, 'a.example/log');
});

test('bad PEERS lines are refused, naming the line', (t) => {
  const cases: [string, RegExp][] = [
    [`peer https://a.example`, /line 1: expected "peer <url> <vkey>"/],
    [`follow https://a.example ${a.vkey}`, /line 1: expected "peer <url> <vkey>"/],
    [`\npeer ftp://a.example ${a.vkey}`, /line 2: the peer URL must be http\(s\)/],
    [`peer https://u:p@a.example ${a.vkey}`, /without credentials/],
    [`peer https://a.example/?x=1 ${a.vkey}`, /query or fragment/],
    [`peer not-a-url ${a.vkey}`, /is not a URL/],
    [
      `peer https://a.example ${a.vkey.slice(0, -4)}AAAA`,
      /line 1: the vkey is not an Ed25519 note verifier key/,
    ],
    [
      `peer https://a.example ${a.vkey}\npeer https://a.example/ ${b.vkey}`,
      /line 2: peer https:\/\/a.example is listed twice/,
    ],
  ];
  for (const [text, re] of cases) {
    const e = t.throws(() => parsePeers(text), { instanceOf: PeersFileError }, text);
    t.regex(e!.message, re, text);
  }
});

test('PEERS in the configuration: parsed at load; a bad file is a ConfigError naming PEERS', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sig-peers-config-'));
  const good = join(dir, 'peers.txt');
  writeFileSync(good, `peer https://a.example ${a.vkey}\n`);
  t.is(loadConfig({ PEERS: good }).peers?.[0]?.origin, 'a.example/log');
  t.is(loadConfig({}).peers, undefined);
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, `peer https://a.example nonsense\n`);
  const e = t.throws(() => loadConfig({ PEERS: bad }), { instanceOf: ConfigError });
  t.is(e!.setting, 'PEERS');
  t.regex(
    e!.message,
    /PEERS \(--peers\) must be a readable file of "peer <url> <vkey>" lines \(line 1: the vkey/,
  );
  const missing = t.throws(() => loadConfig({ PEERS: join(dir, 'missing.txt') }), {
    instanceOf: ConfigError,
  });
  t.regex(missing!.message, /cannot read/);
});
