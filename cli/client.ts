/**
 * client: the CLI's HTTP client for one Sig Server (docs/contracts.md "HTTP wire format"). It only
 * transports and checks the shape of answers (safe integers, base64, strings); every proof and
 * signature is verified by the caller with log/ (cli/verify.ts), with the server's PINNED keys.
 *
 * Failures: SERVER_UNAVAILABLE (network, timeout, 5xx, 429/503 still busy after the bounded retries),
 * SERVER_REFUSED (other 4xx, with the server's error code and message), SERVER_RESPONSE_INVALID (an
 * answer of the wrong shape).
 */
import { CliError } from './errors.js';

/** RetryPolicy bounds the retries of 429 and 503 answers (which carry Retry-After, SPEC.md limits). */
export interface RetryPolicy {
  /** attempts is the total number of tries (1 = no retry). */
  attempts: number;
  /** maxWaitMs caps one wait, whatever Retry-After says. */
  maxWaitMs: number;
}

/** DEFAULT_RETRY: up to 4 tries, at most 30 s per wait. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, maxWaitMs: 30_000 };

/** ServerInfo is GET /v1/server, checked for shape. */
export interface ServerInfo {
  origin: string;
  vkey: string;
  openpgp: { fingerprint: string; publicKey: string };
  limits: Record<string, unknown>;
  intervals: Record<string, unknown>;
  version: string;
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

/** strictBase64 decodes standard base64 (with padding), rejecting anything else. */
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

/** SigClient talks to one server at baseUrl. */
export class SigClient {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  /** onRetry is told about each wait (for a message on stderr). */
  onRetry?: (info: { url: string; status: number; waitMs: number; attempt: number }) => void;

  constructor(baseUrl: string, opts: { retry?: RetryPolicy; timeoutMs?: number } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /**
   * request sends one request, retrying 429/503 after Retry-After (bounded), and returns the response
   * once it is 2xx or 404-with-allow404. Throws SERVER_UNAVAILABLE or SERVER_REFUSED otherwise.
   */
  async request(
    path: string,
    init: { method?: string; body?: unknown; accept?: string } = {},
    allow404 = false,
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: init.method ?? 'GET',
          headers: {
            accept: init.accept ?? 'application/json',
            ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        throw new CliError(
          'SERVER_UNAVAILABLE',
          `${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}; is the server running and the URL right?`,
          { url },
        );
      }
      if (res.ok || (allow404 && res.status === 404)) return res;
      const body = await res.text().catch(() => '');
      if ((res.status === 429 || res.status === 503) && attempt < this.retry.attempts) {
        const ra = Number(res.headers.get('retry-after'));
        const waitMs = Math.min(
          Number.isFinite(ra) && ra >= 0 ? ra * 1000 : 1000 * attempt,
          this.retry.maxWaitMs,
        );
        this.onRetry?.({ url, status: res.status, waitMs, attempt });
        await new Promise((r) => setTimeout(r, waitMs));
        continue;
      }
      let code: string | undefined;
      let message = body.slice(0, 300);
      let details: unknown;
      try {
        const j = JSON.parse(body) as { error?: { code?: string; message?: string; details?: unknown } };
        if (j.error) {
          code = j.error.code;
          message = j.error.message ?? message;
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

  async json(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
    const res = await this.request(path, init);
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw invalid('a JSON body', text, `${this.baseUrl}${path}`);
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
    };
  }

  /** checkpoint returns GET /log/checkpoint: the signed note text, verbatim. */
  async checkpoint(): Promise<string> {
    const res = await this.request('/log/checkpoint', { accept: 'text/plain' });
    return await res.text();
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

  /** key returns GET /v1/keys/<fp> (armored), or undefined when the server does not know it. */
  async key(fingerprint: string): Promise<string | undefined> {
    const res = await this.request(
      `/v1/keys/${encodeURIComponent(fingerprint)}`,
      { accept: 'application/pgp-keys' },
      true,
    );
    if (res.status === 404) return undefined;
    return await res.text();
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

  /** tile returns GET /log/<path> (a hash tile or entry bundle), raw bytes. */
  async tile(path: string): Promise<Uint8Array> {
    const res = await this.request(`/log/${path}`, { accept: 'application/octet-stream' });
    return new Uint8Array(await res.arrayBuffer());
  }
}
