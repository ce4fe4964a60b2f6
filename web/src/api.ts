/**
 * api: the explorer's reads from its own server (same origin: the CSP allows nothing else). Everything
 * that comes back is hostile until verified in the page (verify.ts): the size of every answer is bounded
 * before it is parsed, and every field is checked before it is used.
 */

/** MAX_ANSWER_BYTES bounds one answer (a page of attestations with proofs stays far below). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** TIMEOUT_MS bounds one request. */
const TIMEOUT_MS = 20_000;

/** ApiError is an answer that is not the 2xx the page asked for. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function read(path: string): Promise<{ status: number; text: string }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(path, { signal: ctl.signal, credentials: 'omit', cache: 'no-cache' });
    const len = Number(res.headers.get('content-length') ?? '0');
    if (len > MAX_ANSWER_BYTES) throw new ApiError(res.status, 'ANSWER_TOO_LARGE', `${path}: ${len} bytes`);
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) throw new ApiError(res.status, 'ANSWER_TOO_LARGE', path);
    if (!res.ok) {
      let code = `HTTP_${res.status}`;
      let message = text.slice(0, 300);
      try {
        const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
        if (typeof e?.code === 'string') code = e.code;
        if (typeof e?.message === 'string') message = e.message;
      } catch {
        // not JSON: keep the text
      }
      throw new ApiError(res.status, code, message);
    }
    return { status: res.status, text };
  } finally {
    clearTimeout(timer);
  }
}

/** getText returns the body of a 2xx answer to GET path. Throws ApiError. */
export async function getText(path: string): Promise<string> {
  return (await read(path)).text;
}

/** getJson returns the parsed JSON object of a 2xx answer to GET path. Throws ApiError. */
export async function getJson(path: string): Promise<Record<string, unknown>> {
  const { text } = await read(path);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ApiError(200, 'ANSWER_INVALID', `${path}: not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ApiError(200, 'ANSWER_INVALID', `${path}: not a JSON object`);
  }
  return v as Record<string, unknown>;
}
