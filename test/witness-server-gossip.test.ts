/**
 * Gossip between Sig Servers (issue 11 item 4, README "Gossip"): two real servers, each a log and a
 * witness of the other, with nothing else; the bootstrap of the README: a first start with a witness of
 * no log yet and `quorum none` makes the keys, the files are filled from /v1/server, and a second start
 * (on the same ports, so the URLs in the files stay right) has each ask the other for cosignatures.
 * Checked with log/ as a client would: each server's served checkpoint carries the other's cosignature,
 * verified by the vkey the other advertises; a publish's receipt carries it too; and the witness row
 * each keeps for the other is the checkpoint it cosigned, never ahead of what that log signed.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { parseCheckpoint } from '../log/checkpoint.js';
import { cosignatureVerifier } from '../log/cosignature.js';
import { ed25519Verifier, openNote } from '../log/note.js';
import { createLogger } from '../server/logger.js';
import { type ServerHandle, startServer } from '../server/main.js';
import { attest, getJson, makeSigner, postJson, startTestServer, testConfig } from './helpers/http.js';
import { pgliteBackend, type StoreBackend } from './helpers/stores.js';
import { readRow } from './witness-server-harness.js';

interface Peer {
  name: 'a' | 'b';
  backend: StoreBackend;
  port: number;
  server: ServerHandle;
}

function start(p: Omit<Peer, 'server'>, port: number): Promise<ServerHandle> {
  const dir = p.backend.dataDir;
  return startTestServer(
    testConfig(p.backend, {
      port,
      origin: `${p.name}.example/log`,
      'witness-name': `${p.name}.example/witness`,
      'witness-logs': join(dir, 'logs'),
      'witness-policy': join(dir, 'policy'),
    }),
  );
}

/** servedCheckpoint polls /log/checkpoint until it answers 200 (fail closed: 503 until the quorum). */
async function servedCheckpoint(url: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${url}/log/checkpoint`);
    if (res.status === 200) return res.text();
    await res.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`${url}/log/checkpoint still ${res.status} after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('gossip: two Sig Servers witness each other with no other software [pglite]', async (t) => {
  const peers: Peer[] = [];
  try {
    for (const name of ['a', 'b'] as const) {
      const backend = await pgliteBackend(`gossip-${name}`);
      await writeFile(join(backend.dataDir, 'logs'), '# no log yet\n');
      await writeFile(join(backend.dataDir, 'policy'), 'quorum none\n');
      const server = await start({ name, backend, port: 0 }, 0);
      peers.push({ name, backend, port: Number(new URL(server.url).port), server });
    }
    const info = await Promise.all(peers.map(async (p) => (await getJson(`${p.server.url}/v1/server`)).body));
    for (const [i, p] of peers.entries()) {
      const other = peers[1 - i]!;
      const o = info[1 - i];
      await writeFile(join(p.backend.dataDir, 'logs'), `log ${o.vkey} ${other.server.url}\n`);
      await writeFile(
        join(p.backend.dataDir, 'policy'),
        `witness ${other.name} ${o.witness.vkey} ${other.server.url}/witness\nquorum ${other.name}\n`,
      );
    }
    await Promise.all(peers.map((p) => p.server.close()));
    for (const p of peers) p.server = await start(p, p.port);

    for (const [i, p] of peers.entries()) {
      const o = info[1 - i];
      const note = await servedCheckpoint(p.server.url);
      const opened = await openNote(note, [
        ed25519Verifier(info[i].vkey),
        cosignatureVerifier(o.witness.vkey),
      ]);
      t.is(
        opened.verified.length,
        2,
        `${p.name}'s checkpoint: its own signature and ${o.witness.name}'s cosignature`,
      );
      t.true(opened.verified.some((s) => s.name === o.witness.name));
    }

    // A publish to a: the receipt's checkpoint is cosigned by b, and b's row for a is that tree or newer.
    const [a, b] = peers as [Peer, Peer];
    const signer = await makeSigner('Gossip Signer');
    const pub = await postJson(`${a.server.url}/v1/attestations`, {
      attestations: [await attest(signer, `sha256:${'cd'.repeat(32)}`)],
      keys: [signer.armoredPublicKey],
    });
    t.is(pub.status, 200, JSON.stringify(pub.body));
    const receiptNote: string = pub.body.receipts[0].checkpoint;
    const opened = await openNote(receiptNote, [cosignatureVerifier(info[1].witness.vkey)]);
    const cp = parseCheckpoint(opened.text);
    t.true(cp.treeSize >= 1n);
    const row = (await readRow(b.server.service.db, info[0].origin))!;
    t.true(row.treeSize >= cp.treeSize, `b cosigned a up to ${row.treeSize}, the receipt has ${cp.treeSize}`);
    const aSize = BigInt((await a.server.service.storageCounts()).entries);
    t.true(row.treeSize <= aSize, 'b never cosigned a tree larger than a has');
  } finally {
    await Promise.all(peers.map((p) => p.server.close()));
    await Promise.all(peers.map((p) => p.backend.cleanup()));
  }
});

test('a server that is its own witness asks it only once it listens: no failed request at start [pglite]', async (t) => {
  // README "Then witnessed": the log's own witness role cosigns its log. The cosigning loop starts after
  // listen (server/main.ts), so its first request finds the port open.
  const backend = await pgliteBackend('gossip-self');
  const dir = backend.dataDir;
  let server: ServerHandle | undefined;
  try {
    await writeFile(join(dir, 'logs'), '# no log yet\n');
    await writeFile(join(dir, 'policy'), 'quorum none\n');
    const first = await start({ name: 'a', backend, port: 0 }, 0);
    const port = Number(new URL(first.url).port);
    const info = (await getJson(`${first.url}/v1/server`)).body;
    await first.close();
    await writeFile(join(dir, 'logs'), `log ${info.vkey} http://127.0.0.1:${port}\n`);
    await writeFile(
      join(dir, 'policy'),
      `witness self ${info.witness.vkey} http://127.0.0.1:${port}/witness\nquorum self\n`,
    );
    const lines: string[] = [];
    const config = testConfig(backend, {
      port,
      origin: 'a.example/log',
      'witness-name': 'a.example/witness',
      'witness-logs': join(dir, 'logs'),
      'witness-policy': join(dir, 'policy'),
    });
    server = await startServer(config, { logger: createLogger('info', (l) => lines.push(l)), quiet: true });
    const note = await servedCheckpoint(server.url);
    const opened = await openNote(note, [ed25519Verifier(info.vkey), cosignatureVerifier(info.witness.vkey)]);
    t.is(opened.verified.length, 2, 'signed and cosigned by itself');
    const failed = lines.filter((l) => /witness failed/.test(l));
    t.deepEqual(failed, [], 'no witness request failed on the way up');
  } finally {
    await server?.close();
    await backend.cleanup();
  }
});
