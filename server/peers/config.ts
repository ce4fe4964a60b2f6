/**
 * The PEERS file (SPEC.md "Gossip: servers that follow each other"): one `peer <url> <vkey>` line per
 * log this server follows. The vkey pins the peer's Ed25519 log key in its c2sp.org/signed-note text
 * form (`<name>+<hex8>+<base64>`, log/note.ts); its name is the peer's origin, the first line of every
 * checkpoint it signs. Blank lines and lines starting with `#` are ignored.
 *
 * The file is the operator's: every problem is a ConfigError naming the line and saying how to fix it.
 */
import { readFileSync } from 'node:fs';
import { isLogError } from '../../log/errors.js';
import { ed25519Verifier, type Verifier } from '../../log/note.js';

/** MAX_PEERS bounds the followers one process runs (each costs a loop, a few requests a second). */
export const MAX_PEERS = 64;
/** MAX_PEERS_FILE_BYTES bounds the file read at start. */
const MAX_PEERS_FILE_BYTES = 64 * 1024;

/** PeerSpec is one followed log: its base URL (no trailing slash), pinned vkey and origin. */
export interface PeerSpec {
  url: string;
  vkey: string;
  /** origin is the vkey's name: every checkpoint of the peer must carry it. */
  origin: string;
  verifier: Verifier;
}

/** PeersFileError: the PEERS file cannot be used; `line` is 1-based (0: the whole file). */
export class PeersFileError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.name = 'PeersFileError';
    this.line = line;
  }
}

/**
 * parsePeers returns the peers of a PEERS file's text, in order. Throws PeersFileError naming the line
 * for a line that is not `peer <url> <vkey>`, a URL that is not http(s) without query or fragment, a
 * vkey log/note.ts ed25519Verifier refuses, the same URL twice, or more than MAX_PEERS peers.
 */
export function parsePeers(text: string): PeerSpec[] {
  const out: PeerSpec[] = [];
  const seen = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 3 || parts[0] !== 'peer') {
      throw new PeersFileError(
        n,
        `line ${n}: expected "peer <url> <vkey>", found ${JSON.stringify(line.slice(0, 120))}`,
      );
    }
    const url = peerUrl(parts[1]!, n);
    let verifier: Verifier;
    try {
      verifier = ed25519Verifier(parts[2]!);
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw new PeersFileError(
        n,
        `line ${n}: the vkey is not an Ed25519 note verifier key <name>+<hex8>+<base64> (${e.message}); copy it from the peer's GET /v1/server "vkey"`,
      );
    }
    if (seen.has(url)) throw new PeersFileError(n, `line ${n}: peer ${url} is listed twice`);
    seen.add(url);
    out.push({ url, vkey: parts[2]!, origin: verifier.name, verifier });
    if (out.length > MAX_PEERS) {
      throw new PeersFileError(
        n,
        `more than ${MAX_PEERS} peers: follow at most ${MAX_PEERS} logs per server`,
      );
    }
  }
  return out;
}

function peerUrl(raw: string, n: number): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new PeersFileError(
      n,
      `line ${n}: ${JSON.stringify(raw.slice(0, 120))} is not a URL such as https://sig.example.com`,
    );
  }
  if (
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.search !== '' ||
    u.hash !== '' ||
    u.username !== ''
  ) {
    throw new PeersFileError(
      n,
      `line ${n}: the peer URL must be http(s) without credentials, query or fragment, found ${JSON.stringify(raw.slice(0, 120))}`,
    );
  }
  return u.href.replace(/\/+$/, '');
}

/**
 * readPeersFile reads and parses the PEERS file at `path`. Throws PeersFileError when the file cannot
 * be read, is larger than 64 KiB, or has a bad line.
 */
export function readPeersFile(path: string): PeerSpec[] {
  let text: string;
  try {
    const data = readFileSync(path);
    if (data.length > MAX_PEERS_FILE_BYTES) {
      throw new PeersFileError(
        0,
        `${path} is ${data.length} bytes; a PEERS file is at most ${MAX_PEERS_FILE_BYTES}`,
      );
    }
    text = data.toString('utf8');
  } catch (e) {
    if (e instanceof PeersFileError) throw e;
    throw new PeersFileError(0, `cannot read ${path}: ${(e as Error).message}`);
  }
  return parsePeers(text);
}

/**
 * peersSetting parses the value of the PEERS setting (server/config.ts): undefined when empty, else the
 * peers of the file it names. A PeersFileError becomes `fail(expected)`, the setting's ConfigError.
 */
export function peersSetting(raw: string, fail: (expected: string) => never): PeerSpec[] | undefined {
  if (raw === '') return undefined;
  try {
    return readPeersFile(raw);
  } catch (e) {
    if (!(e instanceof PeersFileError)) throw e;
    return fail(`a readable file of "peer <url> <vkey>" lines (${e.message})`);
  }
}
