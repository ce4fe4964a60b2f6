/**
 * signer-keys: where `sig verify --remote` and `sig audit --full` get the key of an attestation's signer.
 *
 * 1. $SIG_DIR/keys first: a key you imported is the one used, whatever servers say (local keys win).
 * 2. Otherwise GET /v1/keys/<fp> from EVERY server given (not the first that answers), each copy read
 *    with log/keys.ts readSignerKey (limits before any math, only self-signatures that verify kept) and
 *    checked to have the fingerprint asked for, then all merged with mergeSignerKeys (the union of
 *    verified components: a copy can add a subkey or a revocation, and no copy can take one away).
 *    A server that serves a stale or stripped copy (a revocation or a subkey binding removed) therefore
 *    changes nothing when another server has the full key. Copies that are not usable, and copies
 *    that lack what the merge has, are reported (a warning and KeyReport), never silently used.
 *
 * Lookups are cached per fingerprint (at most `maxCached`, the oldest dropped first) so a long audit
 * stays within a memory bound.
 */
import type { PublicKey } from 'openpgp';
import { base64Encode } from '../log/bytes.js';
import { isLogError } from '../log/errors.js';
import { mergeSignerKeys, readSignerKey } from '../log/keys.js';
import { fingerprintHex } from '../log/signet.js';
import type { SigClient } from './client.js';
import type { ServerEntry, SigHome } from './config.js';
import { CliError } from './errors.js';
import { localPublicKey } from './keys.js';
import type { FoundKey } from './trust.js';

/** KeyCopy is one server's copy of a signer key, as checked. */
export interface KeyCopy {
  server: string;
  /** status: ok (read and used), missing (404), invalid (not a usable key of that fingerprint), unavailable. */
  status: 'ok' | 'missing' | 'invalid' | 'unavailable';
  error?: { code: string; message: string };
}

/** KeyReport says where the key of one signer came from, and how the servers' copies compared. */
export interface KeyReport {
  fingerprint: string;
  /** source: local ($SIG_DIR/keys), servers (the merge of their copies), or none. */
  source: 'local' | 'servers' | 'none';
  /** copies: one per server asked (none when the key is local). */
  copies: KeyCopy[];
  /** disagree: the usable copies are not all the same as their merge. */
  disagree: boolean;
  /** incomplete: servers whose copy lacks components (signatures, subkeys, revocations) the merge has. */
  incomplete: string[];
  reason?: string;
}

/** components returns the set of a key's packets (each serialised), to compare copies. */
function components(key: PublicKey): Set<string> {
  const out = new Set<string>();
  for (const p of key.toPacketList()) {
    const w = (p as { write?: () => Uint8Array }).write;
    if (w) out.add(`${p.constructor.name}:${base64Encode(w.call(p))}`);
  }
  return out;
}

/** SignerKeys finds signer keys for one command: local first, else every server's copy, merged. */
export class SignerKeys {
  private readonly cache = new Map<string, Promise<{ found: FoundKey; report: KeyReport }>>();

  /**
   * `clientOf` returns the client of a server (with the command's deadline); `warn` is told about
   * unusable copies and copies that disagree, once per key.
   */
  constructor(
    private readonly home: SigHome,
    private readonly servers: readonly ServerEntry[],
    private readonly clientOf: (s: ServerEntry) => SigClient,
    private readonly warn: (m: string) => void = () => {},
    private readonly maxCached = 1000,
  ) {}

  /** lookup is a KeyLookup (cli/trust.ts): the key of a fingerprint, or why there is none. */
  readonly lookup = async (fingerprint: string): Promise<FoundKey> => (await this.find(fingerprint)).found;

  /** reports returns a KeyReport for every key looked up (and still cached), in lookup order. */
  async reports(): Promise<KeyReport[]> {
    return (await Promise.all(this.cache.values())).map((x) => x.report);
  }

  private find(fingerprint: string): Promise<{ found: FoundKey; report: KeyReport }> {
    const fp = fingerprint.toUpperCase();
    let p = this.cache.get(fp);
    if (!p) {
      p = this.load(fp);
      this.cache.set(fp, p);
      if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    }
    return p;
  }

  private async load(fp: string): Promise<{ found: FoundKey; report: KeyReport }> {
    const report: KeyReport = {
      fingerprint: fp,
      source: 'none',
      copies: [],
      disagree: false,
      incomplete: [],
    };
    const none = (reason: string) => {
      report.reason = reason;
      return { found: { reason }, report };
    };
    if (!/^[0-9A-F]{40}$/.test(fp)) return none(`${fp} is not a v4 fingerprint`);
    const local = await localPublicKey(this.home, fp).catch((e: Error) => e);
    if (local instanceof Error) {
      report.source = 'local';
      return none(`the local key file ${this.home.publicKeyPath(fp)} does not parse: ${local.message}`);
    }
    if (local) {
      report.source = 'local';
      return { found: { key: local }, report };
    }
    const copies = await Promise.all(this.servers.map((s) => this.copyFrom(s, fp)));
    report.copies = copies.map((c) => c.copy);
    for (const c of report.copies) {
      if (c.status === 'invalid')
        this.warn(
          `key ${fp}: server ${c.server} sent a copy that is not usable (${c.error!.code}: ${c.error!.message}); it was left out`,
        );
    }
    const usable = copies.filter((c): c is { copy: KeyCopy; key: PublicKey } => c.key !== undefined);
    if (usable.length === 0) {
      const seen = report.copies.map((c) => `${c.server}: ${c.status}`).join(', ') || 'no server configured';
      return none(`no usable copy of key ${fp} on any server (${seen}); import it with \`sig key import\``);
    }
    report.source = 'servers';
    let merged = usable[0]!.key;
    try {
      for (const c of usable.slice(1)) merged = mergeSignerKeys(merged, c.key);
    } catch (e) {
      if (!isLogError(e)) throw e;
      return none(`the copies of key ${fp} from servers cannot be merged: ${e.code}: ${e.message}`);
    }
    if (usable.length > 1) {
      const all = components(merged);
      for (const c of usable) {
        const mine = components(c.key);
        if ([...all].some((x) => !mine.has(x))) report.incomplete.push(c.copy.server);
      }
      report.disagree = report.incomplete.length > 0;
      if (report.disagree) {
        this.warn(
          `key ${fp}: the copies from servers disagree: ${report.incomplete.join(', ')} sent a copy lacking signatures, subkeys or revocations that another server's copy has; using the verified union of all copies`,
        );
      }
    }
    return { found: { key: merged }, report };
  }

  private async copyFrom(s: ServerEntry, fp: string): Promise<{ copy: KeyCopy; key?: PublicKey }> {
    let armored: string | undefined;
    try {
      armored = await this.clientOf(s).key(fp);
    } catch (e) {
      // Past the deadline the copy is unavailable like any other: an attestation it was needed for stays
      // unknown (for a trusted signer's logged attestation, "cannot decide"), never quietly valid.
      if (!(e instanceof CliError)) throw e;
      const status =
        e.code === 'SERVER_LIMIT_EXCEEDED' || e.code === 'SERVER_RESPONSE_INVALID'
          ? 'invalid'
          : 'unavailable';
      return { copy: { server: s.name, status, error: { code: e.code, message: e.message } } };
    }
    if (armored === undefined) return { copy: { server: s.name, status: 'missing' } };
    try {
      const key = await readSignerKey(armored);
      const got = fingerprintHex(key);
      if (got !== fp) {
        return {
          copy: {
            server: s.name,
            status: 'invalid',
            error: { code: 'KEY_MISMATCH', message: `asked for key ${fp}, got key ${got}` },
          },
        };
      }
      return { copy: { server: s.name, status: 'ok' }, key };
    } catch (e) {
      if (!isLogError(e)) throw e;
      return { copy: { server: s.name, status: 'invalid', error: { code: e.code, message: e.message } } };
    }
  }
}
