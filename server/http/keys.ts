/**
 * POST /v1/keys `{"keys": ["armored", ...]}` -> `{"fingerprints": ["40HEX", ...]}` and
 * GET /v1/keys/<fingerprint> -> the armored public key, `application/pgp-keys` (SPEC.md "HTTP API").
 */
import { type Router as ExpressRouter, Router } from 'express';
import { checkKeyList } from './attestations.js';
import type { HttpContext } from './context.js';
import { HttpError } from './errors.js';
import { parseFingerprint } from './params.js';

/** keyRoutes returns the router of /v1/keys. */
export function keyRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.post('/v1/keys', ...ctx.writeGuard, async (req, res) => {
    const body = req.body as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(
        'REQUEST_INVALID',
        'request body must be a JSON object {"keys": ["<armored key>", ...]}',
        {
          field: 'body',
        },
      );
    }
    const keys = checkKeyList((body as { keys?: unknown }).keys);
    if (keys.length === 0)
      throw new HttpError('REQUEST_INVALID', 'keys is empty: send at least one', { field: 'keys' });
    const fingerprints = await ctx.service.putKeys(keys);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ fingerprints });
  });
  r.get('/v1/keys/:fingerprint', async (req, res) => {
    const fpr = parseFingerprint('fingerprint', String(req.params.fingerprint));
    const armored = await ctx.service.getKey(fpr);
    if (armored === undefined) {
      throw new HttpError('NOT_FOUND', `no key with fingerprint ${fpr} is known to this server`, {
        field: 'fingerprint',
      });
    }
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.type('application/pgp-keys').send(armored);
  });
  return r;
}
