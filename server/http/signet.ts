/**
 * The existing Signet Node client's endpoints (SPEC.md "Compatibility with the existing Signet Node
 * client"):
 * - GET /sig/<id> -> `{"ok": true, "attestations": [{data, key, sig}, ...]}` (`[]` when none), in log order;
 * - POST /sig `{"attestations": [...]}` -> `{"ok": true}`, or `{"ok": false, "error": "..."}` with the
 *   4xx of the failure. The signer's key must already be known (POST /v1/keys); no receipts here.
 * Errors on these paths use the client's shape (res.locals.signetErrors, see errors.ts).
 */
import { type Router as ExpressRouter, Router } from 'express';
import { parseEntry } from '../../log/entry.js';
import { checkPublishBody } from './attestations.js';
import type { HttpContext } from './context.js';
import { HttpError } from './errors.js';
import { parseId } from './params.js';

/** MAX_SIG_ANSWER bounds the attestations GET /sig/<id> returns (it has no pagination). */
export const MAX_SIG_ANSWER = 10_000;

/** signetRoutes returns the router of /sig. */
export function signetRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.use('/sig', (_req, res, next) => {
    res.locals.signetErrors = true;
    next();
  });
  r.get('/sig/*id', async (req, res) => {
    let id: string;
    try {
      id = decodeURIComponent(req.path.slice('/sig/'.length));
    } catch {
      throw new HttpError('PARAM_INVALID', 'the id in /sig/<id> is not valid percent-encoding', {
        field: 'id',
      });
    }
    parseId('id', id);
    const attestations: unknown[] = [];
    let after: bigint | undefined;
    for (;;) {
      // The Signet answer has no proofs nor index: skip the lookups (noIndex).
      const q: { id: string; limit: number; after?: bigint; noIndex: true } = {
        id,
        limit: ctx.config.queryPageLimit,
        noIndex: true,
      };
      if (after !== undefined) q.after = after;
      const page = await ctx.service.findAttestations(q);
      for (const it of page.items) attestations.push(parseEntry(it.entry).attestation);
      if (page.next === undefined || attestations.length >= MAX_SIG_ANSWER) break;
      after = page.next;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.json({ ok: true, attestations });
  });
  r.post('/sig', ...ctx.writeGuard, async (req, res) => {
    const { attestations } = checkPublishBody(req.body, ctx.config, false);
    const receipts = await ctx.service.publish(attestations, []);
    ctx.metrics.published(receipts.length);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ ok: true });
  });
  return r;
}
