/**
 * client: the CLI's HTTP client for one Sig Server (docs/contracts.md "HTTP wire format"), and the ONE
 * place that bounds what a server can make the CLI read or wait for. It only transports and checks the
 * shape of answers (safe integers, base64, strings); every proof and signature is verified by the
 * caller with log/ (cli/pinned.ts, cli/trust.ts), with the server's PINNED keys.
 *
 * Bounds (README "Limits", CLIENT_LIMITS below):
 * - every body is read as a stream and abandoned as soon as it passes its cap: hash tiles by their known
 *   size (32 bytes a hash), entry bundles by their width (at most 65,537 bytes an entry), keys by
 *   log/keys.ts KEY_LIMITS.maxBytes, notes by log/note.ts MAX_NOTE_BYTES, JSON by jsonBytes, error
 *   bodies are cut at errorBodyBytes. A Content-Length past the cap is refused before reading.
 * - every request has a timeout (requestTimeoutMs) that also covers reading its body, and every command
 *   has an overall Deadline (`--timeout`) that cuts requests, bodies and retry waits alike.
 * - pages and items of one query, untrusted signer keys looked up, and the size of a tree `sig audit
 *   --full` will recompute are capped by the callers with the numbers here.
 *
 * Failures: SERVER_UNAVAILABLE (network, a connection dropped mid-body, a request timeout, 5xx, 429/503
 * still busy after the bounded retries), DEADLINE_EXCEEDED (the command's deadline passed),
 * SERVER_REFUSED (other 4xx, with the server's error code and message), SERVER_LIMIT_EXCEEDED (an
 * answer past a cap), SERVER_RESPONSE_INVALID (an answer of the wrong shape).
 */

import { type BodyRead, raceAbort, readBody, timeoutSignal } from '../log/bounded-read.js';
import { MAX_ENTRY_BYTES } from '../log/entry.js';
import { HASH_SIZE } from '../log/hash.js';
import { KEY_LIMITS } from '../log/keys.js';
import { MAX_NOTE_BYTES } from '../log/note.js';
import { ENTRIES_LEVEL, type TileCoord, tilePath } from '../log/tiles.js';
import { CliError } from './errors.js';

/** CLIENT_LIMITS are the bounds the CLI puts on every server (the README's Limits table, CLI rows). */
export const CLIENT_LIMITS = {
  /** jsonBytes: the largest JSON answer read (a page of 100 of the largest entries is about 9 MiB). */
  jsonBytes: 16 * 1024 * 1024,
  /** noteBytes: the largest checkpoint read (log/note.ts MAX_NOTE_BYTES). */
  noteBytes: MAX_NOTE_BYTES,
  /** keyBytes: the largest signer key read (log/keys.ts KEY_LIMITS.maxBytes). */
  keyBytes: KEY_LIMITS.maxBytes,
  /** errorBodyBytes: an error answer's body is cut here (only its code and message are shown). */
  errorBodyBytes: 64 * 1024,
  /** pages: the most pages of one query (GET /v1/attestations) read from one server. */
  pages: 1000,
  /** items: the most attestations of one query read from one server. */
  items: 10_000,
  /** untrustedSignerKeys: the most keys of signers you do not trust looked up in one verify. */
  untrustedSignerKeys: 100,
  /** auditEntriesPerSecond: `sig audit --full` refuses trees larger than this times the seconds left. */
  auditEntriesPerSecond: 1_000_000,
  /** requestTimeoutMs: one request, its body included. */
  requestTimeoutMs: 30_000,
} as const;

/** DEFAULT_TIMEOUT is the default overall deadline of a command that talks to servers (`--timeout`). */
export const DEFAULT_TIMEOUT = '5m';

/** RetryPolicy bounds the retries of 429 and 503 answers (which carry Retry-After, SPEC.md limits). */
export interface RetryPolicy {
  /** attempts is the total number of tries (1 = no retry). */
  attempts: number;
  /** maxWaitMs caps one wait, whatever Retry-After says. */
  maxWaitMs: number;
}

/** DEFAULT_RETRY: up to 4 tries, at most 30 s per wait. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, maxWaitMs: 30_000 };

/** formatBytes returns a byte count for people: 16 MiB, 64 KiB, 8192 bytes. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * Deadline is a command's overall deadline (`--timeout`): every request, body and retry wait of the
 * command ends when it passes. `label` names the flag that sets it, for the message.
 */
export class Deadline {
  readonly ms: number;
  readonly at: number;
  readonly label: string;
  /** signal aborts when the deadline passes. */
  readonly signal: AbortSignal;

  constructor(ms: number, label = '--timeout') {
    this.ms = ms;
    this.at = Date.now() + ms;
    this.label = label;
    this.signal = AbortSignal.timeout(ms);
  }

  /** expired reports whether the deadline has passed. */
  get expired(): boolean {
    return this.signal.aborted || Date.now() >= this.at;
  }

  /** remainingMs returns the milliseconds left (0 when passed). */
  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** error returns the DEADLINE_EXCEEDED error, saying what was cut short. */
  error(what: string): CliError {
    return new CliError(
      'DEADLINE_EXCEEDED',
      `${what}: the command's deadline of ${Math.round(this.ms / 1000)}s passed (${this.label}); a server that slow is treated as unavailable: raise ${this.label} if it is only a slow link`,
      { timeoutMs: this.ms },
    );
  }

  /** check throws DEADLINE_EXCEEDED when the deadline has passed. */
  check(what: string): void {
    if (this.expired) throw this.error(what);
  }
}

/** ServerInfo is GET /v1/server, checked for shape. */
export interface ServerInfo {
  origin: string;
  vkey: string;
  openpgp: { fingerprint: string; publicKey: string };
  limits: Record<string, unknown>;
  intervals: Record<string, unknown>;
  version: string;
  /** index: the `index` member as sent (SPEC.md: `{"version": 1}`), unchecked; cli/index-check.ts reads it. */
  index?: unknown;
}

/** RawReceipt is one receipt of POST /v1/attestations, decoded from base64 but NOT verified. */
export interface RawReceipt {
  index: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
  checkpoint: string;
}

/** RawItem is one item of GET /v1/attestations, decoded but NOT verified. */
export interface RawItem {
  index: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
}

/** RawPage is one page of GET /v1/attestations. */
export interface RawPage {
  checkpoint: string;
  attestations: RawItem[];
  next: string | null;
  /** index: the page's `index` member as sent (undefined when absent), checked by cli/index-check.ts. */
  index?: unknown;
}

function invalid(what: string, found: unknown, url: string): CliError {
  const shown =
    typeof found === 'string' ? JSON.stringify(found.slice(0, 80)) : JSON.stringify(found)?.slice(0, 80);
  return new CliError('SERVER_RESPONSE_INVALID', `${url}: expected ${what}, found ${shown}`, { url });
}

/** safeIndex returns a JSON number that must be a non-negative safe integer, as a bigint. */
export function safeIndex(v: unknown, what: string, url: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalid(`${what} as a non-negative safe integer`, v, url);
  }
  return BigInt(v);
}

/**
 * strictBase64 decodes standard base64 (with padding), throwing SERVER_RESPONSE_INVALID for anything
 * else. Unlike log/bytes.ts base64DecodeStrict it accepts non-zero trailing bits ("AB==" decodes as
 * "AA=="): what it decodes is verified anyway (hashes, proofs, signatures), and the CLI keeps taking
 * the answers it has always taken.
 */
export function strictBase64(v: unknown, what: string, url: string): Uint8Array {
  if (typeof v !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) {
    throw invalid(`${what} in standard base64`, v, url);
  }
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function base64List(v: unknown, what: string, url: string): Uint8Array[] {
  if (!Array.isArray(v)) throw invalid(`${what} as an array of base64 hashes`, v, url);
  return v.map((x, i) => strictBase64(x, `${what}[${i}]`, url));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** tileBytes returns the most bytes a tile may have: 32 a hash for hash tiles, 65,537 an entry for bundles. */
export function tileBytes(t: TileCoord): number {
  return t.level === ENTRIES_LEVEL ? t.width * (2 + MAX_ENTRY_BYTES) : t.width * HASH_SIZE;
}

/** SigClient talks to one server at baseUrl, within its deadline. */
export class SigClient {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly deadline: Deadline | undefined;
  /** onRetry is told about each wait (for a message on stderr). */
  onRetry?: (info: { url: string; status: number; waitMs: number; attempt: number }) => void;

  constructor(
    baseUrl: string,
    opts: { retry?: RetryPolicy; timeoutMs?: number; deadline?: Deadline | undefined } = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? CLIENT_LIMITS.requestTimeoutMs;
    this.deadline = opts.deadline;
  }

  /** signals: each response's request signal (request), which bounds the reading of its body (body). */
  private readonly signals = new WeakMap<Response, AbortSignal>();

  /** signal returns the abort signal of one request (its body included): its timeout or the deadline. */
  private signal(): AbortSignal {
    return timeoutSignal(this.timeoutMs, this.deadline?.signal);
  }

  /** failure turns an error of fetch or of reading a body into DEADLINE_EXCEEDED or SERVER_UNAVAILABLE. */
  private failure(e: unknown, url: string, reading: boolean): CliError {
    if (e instanceof CliError) return e;
    if (this.deadline?.expired) return this.deadline.error(url);
    const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError';
    const why = timedOut
      ? `no complete answer within ${this.timeoutMs / 1000}s`
      : (err.cause?.code ?? err.cause?.message ?? err.message ?? String(e));
    return new CliError(
      'SERVER_UNAVAILABLE',
      reading
        ? `${url}: the answer stopped before it was complete (${why}): the connection dropped or the server stalled`
        : `${url}: ${why}; is the server running and the URL right?`,
      { url },
    );
  }

  /**
   * body reads a response body as a stream, at most `cap` bytes: SERVER_LIMIT_EXCEEDED past it (a
   * Content-Length past it is refused before reading), or, with `cut`, the first `cap` bytes.
   * SERVER_UNAVAILABLE or DEADLINE_EXCEEDED when the body stops before its end.
   */
  async body(res: Response, cap: number, url: string, what: string, cut = false): Promise<Uint8Array> {
    const tooLarge = () =>
      new CliError(
        'SERVER_LIMIT_EXCEEDED',
        `${url}: the answer is larger than ${formatBytes(cap)}, the most this client reads for ${what}; refused without reading further`,
        { url, limit: cap },
      );
    let read: BodyRead;
    try {
      read = await readBody(res, cap, this.signals.get(res) ?? this.deadline?.signal, cut);
    } catch (e) {
      throw this.failure(e, url, true);
    }
    if (read.over && !cut) throw tooLarge();
    return read.bytes;
  }

  /** wait sleeps ms for a retry, or throws DEADLINE_EXCEEDED when the deadline passes first. */
  private async wait(ms: number, url: string): Promise<void> {
    if (this.deadline && this.deadline.remainingMs() <= ms) {
      throw this.deadline.error(`${url} asked to retry in ${Math.ceil(ms / 1000)}s`);
    }
    await new Promise((r) => setTimeout(r, ms));
  }

  /**
   * request sends one request, retrying 429/503 after Retry-After (bounded), and returns the response
   * (its body unread) once it is 2xx or 404-with-allow404. Throws SERVER_UNAVAILABLE,
   * DEADLINE_EXCEEDED or SERVER_REFUSED otherwise.
   */
  async request(
    path: string,
    init: { method?: string; body?: unknown; accept?: string } = {},
    allow404 = false,
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 1; ; attempt++) {
      this.deadline?.check(url);
      let res: Response;
      const signal = this.signal();
      try {
        res = await raceAbort(
          fetch(url, {
            method: init.method ?? 'GET',
            headers: {
              accept: init.accept ?? 'application/json',
              ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
            signal,
          }),
          signal,
        );
      } catch (e) {
        throw this.failure(e, url, false);
      }
      this.signals.set(res, signal);
      if (res.ok || (allow404 && res.status === 404)) return res;
      const body = new TextDecoder().decode(
        await this.body(res, CLIENT_LIMITS.errorBodyBytes, url, 'an error answer', true).catch(
          () => new Uint8Array(0),
        ),
      );
      if ((res.status === 429 || res.status === 503) && attempt < this.retry.attempts) {
        const ra = Number(res.headers.get('retry-after'));
        const waitMs = Math.min(
          Number.isFinite(ra) && ra >= 0 ? ra * 1000 : 1000 * attempt,
          this.retry.maxWaitMs,
        );
        this.onRetry?.({ url, status: res.status, waitMs, attempt });
        await this.wait(waitMs, url);
        continue;
      }
      let code: string | undefined;
      let message = body.slice(0, 300);
      let details: unknown;
      try {
        const j = JSON.parse(body) as { error?: { code?: string; message?: string; details?: unknown } };
        if (j.error) {
          code = typeof j.error.code === 'string' ? j.error.code.slice(0, 100) : undefined;
          message = typeof j.error.message === 'string' ? j.error.message.slice(0, 1000) : message;
          details = j.error.details;
        }
      } catch {
        // not JSON: keep the text
      }
      const what = `${init.method ?? 'GET'} ${url} answered ${res.status}${code ? ` ${code}` : ''}: ${message}`;
      if (res.status >= 500 || res.status === 429) {
        throw new CliError('SERVER_UNAVAILABLE', `${what} (gave up after ${attempt} tries)`, {
          url,
          status: res.status,
          serverCode: code,
        });
      }
      throw new CliError('SERVER_REFUSED', what, {
        url,
        status: res.status,
        serverCode: code,
        serverDetails: details,
      });
    }
  }

  /** text returns the body of GET `path` as UTF-8 text, at most `cap` bytes (SERVER_LIMIT_EXCEEDED past it). */
  async text(path: string, cap: number, what: string, accept = 'text/plain'): Promise<string> {
    const res = await this.request(path, { accept });
    return new TextDecoder().decode(await this.body(res, cap, `${this.baseUrl}${path}`, what));
  }

  /** json returns a JSON answer of at most CLIENT_LIMITS.jsonBytes, parsed; SERVER_RESPONSE_INVALID if it is not JSON. */
  async json(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    const res = await this.request(path, init);
    const text = new TextDecoder().decode(
      await this.body(res, CLIENT_LIMITS.jsonBytes, url, 'a JSON answer'),
    );
    try {
      return JSON.parse(text);
    } catch {
      throw invalid('a JSON body', text, url);
    }
  }

  /** serverInfo returns GET /v1/server, checked for shape. */
  async serverInfo(): Promise<ServerInfo> {
    const url = `${this.baseUrl}/v1/server`;
    const j = await this.json('/v1/server');
    if (!isObject(j)) throw invalid('a JSON object', j, url);
    if (typeof j.origin !== 'string' || j.origin === '') throw invalid('"origin" as a string', j.origin, url);
    if (typeof j.vkey !== 'string') throw invalid('"vkey" as a string', j.vkey, url);
    const o = j.openpgp;
    if (!isObject(o) || typeof o.fingerprint !== 'string' || typeof o.publicKey !== 'string') {
      throw invalid('"openpgp": {"fingerprint", "publicKey"}', o, url);
    }
    return {
      origin: j.origin,
      vkey: j.vkey,
      openpgp: { fingerprint: o.fingerprint, publicKey: o.publicKey },
      limits: isObject(j.limits) ? j.limits : {},
      intervals: isObject(j.intervals) ? j.intervals : {},
      version: typeof j.version === 'string' ? j.version : '',
      ...(j.index !== undefined ? { index: j.index } : {}),
    };
  }

  /** checkpoint returns GET /log/checkpoint: the signed note text, verbatim (at most CLIENT_LIMITS.noteBytes). */
  async checkpoint(): Promise<string> {
    return await this.text('/log/checkpoint', CLIENT_LIMITS.noteBytes, 'a checkpoint');
  }

  /** publish sends attestations and keys and returns the receipts (POST /v1/attestations), one per attestation. */
  async publish(attestations: unknown[], keys: string[]): Promise<RawReceipt[]> {
    const url = `${this.baseUrl}/v1/attestations`;
    const j = await this.json('/v1/attestations', { method: 'POST', body: { attestations, keys } });
    if (!isObject(j) || !Array.isArray(j.receipts)) throw invalid('{"receipts": [...]}', j, url);
    if (j.receipts.length !== attestations.length) {
      throw invalid(`${attestations.length} receipts`, `${j.receipts.length} receipts`, url);
    }
    return j.receipts.map((r, i) => {
      if (!isObject(r)) throw invalid(`receipts[${i}] as an object`, r, url);
      if (typeof r.checkpoint !== 'string')
        throw invalid(`receipts[${i}].checkpoint as note text`, r.checkpoint, url);
      return {
        index: safeIndex(r.index, `receipts[${i}].index`, url),
        entry: strictBase64(r.entry, `receipts[${i}].entry`, url),
        inclusionProof: base64List(r.inclusionProof, `receipts[${i}].inclusionProof`, url),
        checkpoint: r.checkpoint,
      };
    });
  }

  /** attestationsPage returns one page of GET /v1/attestations?id=&key=&cursor=. */
  async attestationsPage(q: { id?: string; key?: string; cursor?: string }): Promise<RawPage> {
    const params = new URLSearchParams();
    if (q.id !== undefined) params.set('id', q.id);
    if (q.key !== undefined) params.set('key', q.key);
    if (q.cursor !== undefined) params.set('cursor', q.cursor);
    const path = `/v1/attestations?${params}`;
    const url = `${this.baseUrl}${path}`;
    const j = await this.json(path);
    if (!isObject(j) || typeof j.checkpoint !== 'string' || !Array.isArray(j.attestations)) {
      throw invalid('{"checkpoint", "attestations", "next"}', j, url);
    }
    if (j.next !== null && j.next !== undefined && typeof j.next !== 'string')
      throw invalid('"next" as a string or null', j.next, url);
    return {
      checkpoint: j.checkpoint,
      next: typeof j.next === 'string' ? j.next : null,
      ...(j.index !== undefined ? { index: j.index } : {}),
      attestations: j.attestations.map((it, i) => {
        if (!isObject(it)) throw invalid(`attestations[${i}] as an object`, it, url);
        return {
          index: safeIndex(it.index, `attestations[${i}].index`, url),
          entry: strictBase64(it.entry, `attestations[${i}].entry`, url),
          inclusionProof: base64List(it.inclusionProof, `attestations[${i}].inclusionProof`, url),
        };
      }),
    };
  }

  /**
   * key returns GET /v1/keys/<fp> (armored, at most CLIENT_LIMITS.keyBytes), or undefined when the
   * server does not know it. Not verified: see cli/signer-keys.ts.
   */
  async key(fingerprint: string): Promise<string | undefined> {
    const path = `/v1/keys/${encodeURIComponent(fingerprint)}`;
    const res = await this.request(path, { accept: 'application/pgp-keys' }, true);
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    return new TextDecoder().decode(
      await this.body(res, CLIENT_LIMITS.keyBytes, `${this.baseUrl}${path}`, 'a signer key'),
    );
  }

  /** consistencyProof returns GET /v1/proof/consistency?from=&to= (not verified). */
  async consistencyProof(from: bigint, to: bigint): Promise<Uint8Array[]> {
    const path = `/v1/proof/consistency?from=${from}&to=${to}`;
    const url = `${this.baseUrl}${path}`;
    const j = await this.json(path);
    if (!isObject(j)) throw invalid('a JSON object', j, url);
    if (safeIndex(j.from, 'from', url) !== from || safeIndex(j.to, 'to', url) !== to) {
      throw invalid(`a proof from ${from} to ${to}`, { from: j.from, to: j.to }, url);
    }
    return base64List(j.consistencyProof, 'consistencyProof', url);
  }

  /** inclusionProof returns GET /v1/proof/inclusion?index=&size= (not verified). */
  async inclusionProof(index: bigint, size: bigint): Promise<Uint8Array[]> {
    const path = `/v1/proof/inclusion?index=${index}&size=${size}`;
    const url = `${this.baseUrl}${path}`;
    const j = await this.json(path);
    if (!isObject(j)) throw invalid('a JSON object', j, url);
    if (safeIndex(j.index, 'index', url) !== index || safeIndex(j.treeSize, 'treeSize', url) !== size) {
      throw invalid(
        `a proof for index ${index} in size ${size}`,
        { index: j.index, treeSize: j.treeSize },
        url,
      );
    }
    return base64List(j.inclusionProof, 'inclusionProof', url);
  }

  /** entries returns GET /v1/entries?start=&limit= (not verified). */
  async entries(start: bigint, limit: number): Promise<{ index: bigint; entry: Uint8Array }[]> {
    const path = `/v1/entries?start=${start}&limit=${limit}`;
    const url = `${this.baseUrl}${path}`;
    const j = await this.json(path);
    if (!isObject(j) || !Array.isArray(j.entries)) throw invalid('{"entries": [...]}', j, url);
    return j.entries.map((e, i) => {
      if (!isObject(e)) throw invalid(`entries[${i}] as an object`, e, url);
      return {
        index: safeIndex(e.index, `entries[${i}].index`, url),
        entry: strictBase64(e.entry, `entries[${i}].entry`, url),
      };
    });
  }

  /**
   * tile returns GET /log/<tile path> (a hash tile or entry bundle), raw bytes, at most tileBytes(t):
   * SERVER_LIMIT_EXCEEDED past it. Not verified.
   */
  async tile(t: TileCoord): Promise<Uint8Array> {
    const path = `/log/${tilePath(t)}`;
    const res = await this.request(path, { accept: 'application/octet-stream' });
    return await this.body(res, tileBytes(t), `${this.baseUrl}${path}`, `${tilePath(t)}`);
  }
}
