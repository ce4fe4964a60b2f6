/**
 * Bounded HTTP reads shared by every client here: the CLI (cli/client.ts), the peer follower
 * (server/peers/client.ts) and the cosigning loop (server/cosigning/witness-client.ts). Whatever a
 * server sends is hostile until verified (SPEC.md "Limits"), so each request is bounded in time and
 * each body in bytes before any work is done on it.
 *
 * No I/O of its own: it uses the platform's timers and consumes a WHATWG stream that the caller
 * opened, so the browser bundle may use it too (test/log-purity).
 */

/**
 * timeoutSignal: an AbortSignal that aborts with a TimeoutError after `ms`, or when `outer` aborts
 * (with its reason).
 *
 * Why not AbortSignal.any([AbortSignal.timeout(ms), outer]): in Node 20 the timer of
 * AbortSignal.timeout holds its signal only weakly, and `any` holds its sources weakly too, so nothing
 * keeps the timeout alive and a garbage collection can drop it before it fires (nodejs/node#57736).
 * Here the timer's callback holds the controller until it fires. The timer is unref'd where the
 * platform has that, so it never keeps a finished process alive; `any` registers on `outer` weakly,
 * so a long-lived `outer` (a follower's stop signal) gains no listener per request.
 */
export function timeoutSignal(ms: number, outer?: AbortSignal): AbortSignal {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException(`The operation timed out after ${ms} ms`, 'TimeoutError')),
    ms,
  );
  (timer as { unref?: () => void }).unref?.();
  return outer ? AbortSignal.any([ac.signal, outer]) : ac.signal;
}

/** isTimeout reports whether `signal` aborted for its own timeout (timeoutSignal), not an outer stop. */
export function isTimeout(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError';
}

/** BodyRead is what readBody read: the bytes, and whether the body was longer than the cap. */
export interface BodyRead {
  bytes: Uint8Array;
  /** over: the body (or its declared Content-Length) passed the cap; bytes holds at most `cap` bytes. */
  over: boolean;
}

/**
 * readBody reads `res`'s body, at most `cap` bytes, and stops at once (cancelling the rest, never
 * reading it) when it passes the cap: a declared Content-Length past the cap is refused before any byte
 * is read (unless `prefix`: callers that keep the first `cap` bytes, such as an error message); past the
 * cap while streaming, `over` comes back with the first `cap` bytes.
 *
 * With `signal`, every read races it (raceAbort): when it aborts, the body is cancelled and its reason
 * is thrown. A stream error is thrown as is.
 */
export async function readBody(
  res: Response,
  cap: number,
  signal?: AbortSignal,
  prefix = false,
): Promise<BodyRead> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (!prefix && Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel().catch(() => {});
    return { bytes: new Uint8Array(0), over: true };
  }
  const reader = res.body?.getReader();
  if (!reader) return { bytes: new Uint8Array(0), over: false };
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  try {
    for (;;) {
      const { done, value } = signal ? await raceAbort(reader.read(), signal) : await reader.read();
      if (done) break;
      if (total + value.length > cap) {
        chunks.push(value.subarray(0, cap - total));
        total = cap;
        over = true;
        await reader.cancel().catch(() => {});
        break;
      }
      chunks.push(value);
      total += value.length;
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  }
  if (chunks.length === 1 && chunks[0]!.length === total) return { bytes: chunks[0]!, over };
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, over };
}

/**
 * raceAbort settles as `p` does, or rejects with `signal`'s reason as soon as it aborts. The HTTP
 * clients wrap fetch and each body read in it. fetch's own signal alone was not enough: a peer that
 * sent headers and then nothing held a follower's round for good, its timeout long passed, while seven
 * other hostile peers kept the heap busy (test/peers-hostile; likely undici's weak link from the
 * signal to the request it aborts). Racing the read against a signal the caller holds does not depend
 * on that link.
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
