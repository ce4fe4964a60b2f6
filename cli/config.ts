/**
 * The CLI's state under $SIG_DIR (default ~/.signet). Plain files a user can read and back up:
 *
 *   keys/<FP>.asc                 armored public keys (yours and others'), FP = 40 upper-case hex
 *   keys/<FP>.secret.asc          armored secret keys (mode 0600)
 *   config.json                   {"defaultKey": FP}
 *   attestations/<id>/<file>.json the local attestation repo, one Signet attestation per file; <id> is
 *                                 the identifier with encodeURIComponent (':' becomes %3A)
 *   trust.json                    {"fingerprints": [FP...], "policy": {"minOk": 1, "maxNotOk": 0}}
 *   servers.json                  {"servers": [{name, url, origin, vkey, fingerprint, openpgpPublicKey,
 *                                 maxAgeSeconds}]}: servers pinned by their keys; every entry is
 *                                 checked when read (a name is SERVER_NAME_PATTERN, never a path)
 *   checkpoints/<server>/latest   the last signed checkpoint kept for that server, verbatim
 *   checkpoints/<server>/<size>   every checkpoint size seen (the newest signature of each)
 *   receipts/<server>/<index>.json publish receipts, verified before they are kept
 *   evidence/<server>-<time>/     two signed checkpoints that prove a fork
 *
 * Every write goes to a temporary file in the same folder and is renamed into place: if the process
 * dies before the rename the old file is untouched, after it the new file is complete (rename is atomic
 * on one filesystem). A crash never leaves a half-written checkpoint that would break the next run.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.js';

/** DEFAULT_MAX_AGE_SECONDS is the freshness policy of a new server: 24 hours (SPEC.md "The CLI"). */
export const DEFAULT_MAX_AGE_SECONDS = 24 * 60 * 60;
/** MAX_FUTURE_SKEW_SECONDS: a checkpoint signed more than this far in the future is stale (SPEC.md). */
export const MAX_FUTURE_SKEW_SECONDS = 5 * 60;

/** ServerEntry is one pinned server. */
export interface ServerEntry {
  /** name is the local handle (`sig audit <name>`), also the folder of its checkpoints and receipts. */
  name: string;
  url: string;
  origin: string;
  /** vkey is the Ed25519 note verifier key (c2sp.org/signed-note). */
  vkey: string;
  /** fingerprint is the OpenPGP key's 40-hex v4 fingerprint. */
  fingerprint: string;
  openpgpPublicKey: string;
  maxAgeSeconds: number;
}

/** TrustPolicy is Signet's rule: at least minOk trusted ok, at most maxNotOk trusted not-ok. */
export interface TrustPolicy {
  minOk: number;
  maxNotOk: number;
}

/** TrustConfig is the content of trust.json. */
export interface TrustConfig {
  fingerprints: string[];
  policy: TrustPolicy;
}

/** sigDir returns $SIG_DIR, or ~/.signet. */
export function sigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SIG_DIR && env.SIG_DIR.length > 0 ? env.SIG_DIR : join(homedir(), '.signet');
}

/**
 * writeFileAtomic writes data to path through a temporary file and a rename (see the file comment),
 * making the folder first. mode applies to the new file (0600 for secrets).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** readJson returns the parsed JSON file, or `fallback` when it does not exist; LOCAL_DATA_INVALID if it does not parse. */
export function readJson<T>(path: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CliError(
      'LOCAL_DATA_INVALID',
      `${path} is not valid JSON (${(e as Error).message}); fix or remove it`,
      {
        path,
      },
    );
  }
}

/** listDir returns the names in a folder, sorted, or [] when it does not exist. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** normalizeFingerprint returns a 40-hex fingerprint in upper case (spaces removed); USAGE otherwise. */
export function normalizeFingerprint(fp: string): string {
  const s = fp.replace(/\s+/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(s)) {
    throw new CliError(
      'USAGE',
      `expected a 40-hex-digit OpenPGP v4 fingerprint, found ${JSON.stringify(fp)}`,
    );
  }
  return s;
}

/**
 * parseDuration returns seconds for '90', '90s', '30m', '24h', '7d'; USAGE when it is none of those.
 */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!m)
    throw new CliError(
      'USAGE',
      `expected a duration like 90s, 30m, 24h or 7d, found ${JSON.stringify(text)}`,
    );
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  const seconds = n * unit;
  if (!Number.isSafeInteger(seconds) || seconds <= 0)
    throw new CliError('USAGE', `duration ${text} out of range`);
  return seconds;
}

/** formatDuration returns a short human form of seconds (e.g. '24h', '90s'). */
export function formatDuration(seconds: number): string {
  if (seconds % 86400 === 0 && seconds > 2 * 86400) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * SERVER_NAME_PATTERN is what a server's local name may be: 1 to 100 ASCII letters, digits, '.', '_' and
 * '-', starting with a letter, digit or '_'. So a name is never empty, '.', '..', hidden, taken for a
 * flag, and holds no path separator or control character: it is one plain folder name under
 * checkpoints/, receipts/ and evidence/.
 */
export const SERVER_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

/** isServerName reports whether name matches SERVER_NAME_PATTERN. */
export function isServerName(name: unknown): name is string {
  return typeof name === 'string' && SERVER_NAME_PATTERN.test(name);
}

/** SERVER_NAME_RULE says in words what a server name may be, for messages. */
export const SERVER_NAME_RULE =
  "1 to 100 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter, a digit or '_' (no '/', no '..')";

/** SigHome is $SIG_DIR with typed accessors for each file. */
export class SigHome {
  readonly dir: string;

  constructor(dir: string = sigDir()) {
    this.dir = dir;
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  // --- config.json

  /** defaultKey returns the fingerprint of the default signing key, if set. */
  defaultKey(): string | undefined {
    return readJson<{ defaultKey?: string }>(this.path('config.json'), {}).defaultKey;
  }

  setDefaultKey(fp: string): void {
    const c = readJson<Record<string, unknown>>(this.path('config.json'), {});
    c.defaultKey = fp;
    writeFileAtomic(this.path('config.json'), `${JSON.stringify(c, null, 2)}\n`);
  }

  // --- keys

  /** keyFiles returns the fingerprints with a public key file, and whether each has a secret. */
  keyFiles(): { fingerprint: string; secret: boolean }[] {
    const names = listDir(this.path('keys'));
    const fps = new Set<string>();
    for (const n of names) {
      const m = /^([0-9A-F]{40})(\.secret)?\.asc$/.exec(n);
      if (m) fps.add(m[1]!);
    }
    return [...fps].sort().map((fingerprint) => ({
      fingerprint,
      secret: names.includes(`${fingerprint}.secret.asc`),
    }));
  }

  publicKeyPath(fp: string): string {
    return this.path('keys', `${fp}.asc`);
  }

  secretKeyPath(fp: string): string {
    return this.path('keys', `${fp}.secret.asc`);
  }

  /** readPublicKeyArmored returns the armored public key of fp, or undefined. */
  readPublicKeyArmored(fp: string): string | undefined {
    try {
      return readFileSync(this.publicKeyPath(fp), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** readSecretKeyArmored returns the armored secret key of fp, or undefined. */
  readSecretKeyArmored(fp: string): string | undefined {
    try {
      return readFileSync(this.secretKeyPath(fp), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  // --- attestations

  /** attestationDir returns the repo folder of one identifier. */
  attestationDir(id: string): string {
    return this.path('attestations', encodeURIComponent(id));
  }

  /** attestationFiles returns the paths of every attestation file kept for id. */
  attestationFiles(id: string): string[] {
    const dir = this.attestationDir(id);
    return listDir(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => join(dir, n));
  }

  /** allAttestationFiles returns every attestation file in the repo. */
  allAttestationFiles(): string[] {
    const out: string[] = [];
    for (const d of listDir(this.path('attestations'))) {
      const dir = this.path('attestations', d);
      if (!statSync(dir).isDirectory()) continue;
      for (const n of listDir(dir)) if (n.endsWith('.json')) out.push(join(dir, n));
    }
    return out;
  }

  // --- trust

  trust(): TrustConfig {
    const t = readJson<Partial<TrustConfig>>(this.path('trust.json'), {});
    return {
      fingerprints: Array.isArray(t.fingerprints) ? t.fingerprints.map(String) : [],
      policy: {
        minOk: typeof t.policy?.minOk === 'number' ? t.policy.minOk : 1,
        maxNotOk: typeof t.policy?.maxNotOk === 'number' ? t.policy.maxNotOk : 0,
      },
    };
  }

  setTrust(t: TrustConfig): void {
    writeFileAtomic(this.path('trust.json'), `${JSON.stringify(t, null, 2)}\n`);
  }

  // --- servers

  /**
   * servers returns the pinned servers of servers.json, each entry checked (name, URL, keys, max age);
   * LOCAL_DATA_INVALID, naming the file and the entry, when one is not what `sig server add` writes.
   */
  servers(): ServerEntry[] {
    const file = this.path('servers.json');
    const s = readJson<{ servers?: unknown }>(file, {});
    if (s === null || typeof s !== 'object' || (s.servers !== undefined && !Array.isArray(s.servers))) {
      throw new CliError('LOCAL_DATA_INVALID', `${file}: expected {"servers": [...]}; fix or remove it`, {
        path: file,
      });
    }
    const list = (s.servers ?? []) as unknown[];
    const names = new Set<string>();
    return list.map((e, i) => {
      const bad = (what: string, found: unknown) =>
        new CliError(
          'LOCAL_DATA_INVALID',
          `${file}: servers[${i}].${what}, found ${JSON.stringify(found)?.slice(0, 80)}; fix or remove that entry (or \`sig server remove\` it and add it again)`,
          { path: file, item: i },
        );
      if (e === null || typeof e !== 'object') throw bad('is not an object', e);
      const x = e as Record<string, unknown>;
      if (!isServerName(x.name)) throw bad(`name must be ${SERVER_NAME_RULE}`, x.name);
      if (names.has(x.name)) throw bad('name is used twice', x.name);
      names.add(x.name);
      if (typeof x.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(x.url))
        throw bad('url must be an http(s) URL', x.url);
      for (const f of ['origin', 'vkey', 'openpgpPublicKey'] as const) {
        if (typeof x[f] !== 'string' || x[f] === '') throw bad(`${f} must be a string`, x[f]);
      }
      if (typeof x.fingerprint !== 'string' || !/^[0-9A-F]{40}$/.test(x.fingerprint))
        throw bad('fingerprint must be 40 upper-case hex digits', x.fingerprint);
      if (
        typeof x.maxAgeSeconds !== 'number' ||
        !Number.isSafeInteger(x.maxAgeSeconds) ||
        x.maxAgeSeconds <= 0
      )
        throw bad('maxAgeSeconds must be a positive integer', x.maxAgeSeconds);
      return x as unknown as ServerEntry;
    });
  }

  setServers(servers: ServerEntry[]): void {
    writeFileAtomic(this.path('servers.json'), `${JSON.stringify({ servers }, null, 2)}\n`);
  }

  /** server returns the server with that name or URL; USAGE when none matches. */
  server(nameOrUrl: string): ServerEntry {
    const s = this.servers().find((x) => x.name === nameOrUrl || x.url === nameOrUrl.replace(/\/+$/, ''));
    if (!s) {
      const names = this.servers().map((x) => x.name);
      throw new CliError(
        'USAGE',
        `no server named ${JSON.stringify(nameOrUrl)} is configured (configured: ${names.join(', ') || 'none'}); add it with \`sig server add <url>\``,
      );
    }
    return s;
  }

  /**
   * checkedName returns a server name to use in a path; throws LOCAL_DATA_INVALID for a name that is
   * not SERVER_NAME_PATTERN (names are checked where they are made and where they are read: this is
   * the last line, so that no name ever becomes '..' or a path).
   */
  private checkedName(server: string): string {
    if (!isServerName(server)) {
      throw new CliError(
        'LOCAL_DATA_INVALID',
        `server name ${JSON.stringify(server)} is not a plain folder name (${SERVER_NAME_RULE}); fix it in ${this.path('servers.json')}`,
        { name: server },
      );
    }
    return server;
  }

  /** serverPath returns $SIG_DIR/<kind>/<server>/<parts...>; LOCAL_DATA_INVALID for a bad name. */
  serverPath(kind: 'checkpoints' | 'receipts', server: string, ...parts: string[]): string {
    return this.path(kind, this.checkedName(server), ...parts);
  }

  /** receiptPath is where a verified receipt of a server's entry `index` is kept. */
  receiptPath(server: string, index: bigint): string {
    return this.serverPath('receipts', server, `${index}.json`);
  }

  /** evidenceDir is the folder for one piece of fork evidence about a server, made at `stamp`. */
  evidenceDir(server: string, stamp: string): string {
    return this.path('evidence', `${this.checkedName(server)}-${stamp}`);
  }

  // --- checkpoints

  /** keptCheckpoint returns the last signed checkpoint kept for a server, or undefined. */
  keptCheckpoint(server: string): string | undefined {
    try {
      return readFileSync(this.serverPath('checkpoints', server, 'latest'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * keepCheckpoint stores a verified checkpoint: first under its size, then as `latest`. A crash
   * between the two leaves `latest` at the older (still consistent) checkpoint, which the next run
   * proves consistent again.
   */
  keepCheckpoint(server: string, treeSize: bigint, note: string): void {
    writeFileAtomic(this.serverPath('checkpoints', server, treeSize.toString()), note);
    writeFileAtomic(this.serverPath('checkpoints', server, 'latest'), note);
  }

  /** removeServerState deletes the checkpoints kept for a server (its receipts and evidence stay). */
  removeServerState(server: string): void {
    rmSync(this.serverPath('checkpoints', server), { recursive: true, force: true });
  }
}
