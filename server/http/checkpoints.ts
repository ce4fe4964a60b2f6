/**
 * GET /v1/checkpoints?points=N: tree size over time from the stored checkpoints, for the explorer's plot
 * (web/src/home.ts). At most `points` (2..500, default 100) checkpoints spread evenly over the signing
 * order, oldest first, each `{treeSize, signedAt}`. `signedAt` is the integrator's clock as stored, not a
 * signed value: the explorer labels the plot "as reported by the server". A client that wants a verified
 * history keeps checkpoints itself (`sig audit`).
 */
import { type Router as ExpressRouter, Router } from 'express';
import type { HttpContext } from './context.js';
import { num } from './encode.js';
import { HttpError } from './errors.js';
import { queryIndex } from './params.js';

/** MAX_HISTORY_POINTS bounds one answer: `points` index lookups, whatever the number of checkpoints. */
export const MAX_HISTORY_POINTS = 500;
/** DEFAULT_HISTORY_POINTS is the answer's size when `points` is not given. */
export const DEFAULT_HISTORY_POINTS = 100;

/** checkpointRoutes returns the router of GET /v1/checkpoints. */
export function checkpointRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.get('/v1/checkpoints', async (req, res) => {
    const points = queryIndex(req, 'points', BigInt(DEFAULT_HISTORY_POINTS));
    if (points < 2n || points > BigInt(MAX_HISTORY_POINTS)) {
      throw new HttpError(
        'PARAM_INVALID',
        `points must be from 2 to ${MAX_HISTORY_POINTS}; found ${points}`,
        {
          field: 'points',
        },
      );
    }
    const samples = await ctx.service.checkpointHistory(Number(points));
    res.setHeader('Cache-Control', 'no-cache');
    res.json({
      checkpoints: samples.map((s) => ({ treeSize: num(s.treeSize), signedAt: s.signedAt.toISOString() })),
    });
  });
  return r;
}
