/**
 * POST /witness/add-checkpoint: the witness role's one endpoint (c2sp.org/tlog-witness, submission
 * prefix `<server URL>/witness`). Thin: bound and read the body, call server/witness/witness.ts
 * Witness.addCheckpoint, write its answer:
 *   - 200 `text/plain; charset=utf-8`: the cosignature lines;
 *   - 409 `text/x.tlog.size`: the size of the latest cosigned checkpoint and a newline;
 *   - 400, 403, 404, 422: the JSON error body of every endpoint (server/http/errors.ts), with
 *     details.reason (log/witness.ts AddCheckpointRefusal).
 * The body is read raw (no JSON parser, no content-encoding: a compressed body is refused before it is
 * inflated) and bounded to MAX_ADD_CHECKPOINT_BYTES before anything parses it; a larger one is the 400
 * the spec has for a bad request. Not rate limited per IP like publishes: the callers are logs, which
 * submit every checkpoint, and an unauthenticated request costs at most a parse (404) or one signature
 * check per trusted key (403) before it is refused.
 *
 * The spec defines no read endpoint for the latest cosigned checkpoint ("TBD Monitor Retrieval
 * Mechanism"), so none is served here; /v1/server advertises the witness's name, vkey and logs.
 */
import express, {
  type ErrorRequestHandler,
  type Router as ExpressRouter,
  type RequestHandler,
  Router,
} from 'express';
import { formatTreeSizeBody, MAX_ADD_CHECKPOINT_BYTES, TREE_SIZE_CONTENT_TYPE } from '../../log/witness.js';
import type { Witness } from '../witness/witness.js';
import type { HttpContext } from './context.js';
import { HttpError } from './errors.js';

/** WITNESS_PREFIX is the submission prefix of the witness (c2sp.org/tlog-witness). */
export const WITNESS_PREFIX = '/witness';

/** Answers 503 SHUTTING_DOWN while the process drains, as the other write routes do. */
function notClosing(state: { closing: boolean }): RequestHandler {
  return (_req, _res, next) => {
    next(
      state.closing
        ? new HttpError(
            'SHUTTING_DOWN',
            'the server is shutting down: retry shortly (another process may answer)',
          )
        : undefined,
    );
  };
}

/** Reads the body as bytes, at most MAX_ADD_CHECKPOINT_BYTES, identity encoding only. */
const rawBody = express.raw({ limit: MAX_ADD_CHECKPOINT_BYTES, type: () => true, inflate: false });

/** Turns the raw parser's refusals into the 400 of c2sp.org/tlog-witness (a bad request). */
const bodyRefused: ErrorRequestHandler = (err, _req, _res, next) => {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') {
    next(
      new HttpError(
        'WITNESS_REQUEST_INVALID',
        `add-checkpoint request: the body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`,
        { part: 'body', max: MAX_ADD_CHECKPOINT_BYTES },
      ),
    );
  } else if (type === 'encoding.unsupported') {
    next(
      new HttpError(
        'WITNESS_REQUEST_INVALID',
        'add-checkpoint request: send the body without Content-Encoding (identity)',
        { part: 'body' },
      ),
    );
  } else {
    next(err);
  }
};

/** witnessRoutes returns the router of POST /witness/add-checkpoint for `witness`. */
export function witnessRoutes(ctx: HttpContext, witness: Witness): ExpressRouter {
  const r = Router();
  const addCheckpoint: RequestHandler = async (req, res) => {
    const body: Uint8Array = Buffer.isBuffer(req.body) ? req.body : new Uint8Array(0);
    const a = await witness.addCheckpoint(body);
    res.setHeader('Cache-Control', 'no-store');
    switch (a.status) {
      case 200:
        res.status(200).type('text/plain; charset=utf-8').send(a.body);
        return;
      case 409:
        // A Buffer, so express adds no charset: the type is exactly text/x.tlog.size (the spec's MUST).
        res.status(409).setHeader('Content-Type', TREE_SIZE_CONTENT_TYPE);
        res.send(Buffer.from(formatTreeSizeBody(a.treeSize), 'utf8'));
        return;
      default:
        throw new HttpError(a.code, a.message, { reason: a.reason, origin: a.origin });
    }
  };
  r.post(`${WITNESS_PREFIX}/add-checkpoint`, notClosing(ctx.state), rawBody, bodyRefused, addCheckpoint);
  return r;
}
