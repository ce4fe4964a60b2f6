/**
 * The read path, c2sp.org/tlog-tiles under the prefix /log (SPEC.md "HTTP API"):
 * - GET /log/checkpoint: the latest signed note, text/plain, `Cache-Control: no-cache` (clients always
 *   revalidate: freshness is the point of a checkpoint);
 * - GET /log/tile/<L>/<N>[.p/<W>] and /log/tile/entries/<N>[.p/<W>]: application/octet-stream. A full
 *   tile never changes (`public, max-age=31536000, immutable`); a partial tile is short-cached, since the
 *   client should move to the full tile once it exists.
 * Paths are parsed by log/tiles.ts parseTilePath (strict: 400 TILE_PATH_INVALID on junk); a tile the
 * current tree does not have is 404 NOT_FOUND.
 */
import { type Router as ExpressRouter, Router } from 'express';
import { parseTilePath, TILE_WIDTH } from '../../log/tiles.js';
import type { HttpContext } from './context.js';
import { HttpError } from './errors.js';

/** FULL_TILE_CACHE is the Cache-Control of full tiles (immutable). */
export const FULL_TILE_CACHE = 'public, max-age=31536000, immutable';
/** PARTIAL_TILE_CACHE is the Cache-Control of partial tiles. */
export const PARTIAL_TILE_CACHE = 'public, max-age=5';

/** logRoutes returns the /log router. */
export function logRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.get('/log/checkpoint', async (_req, res) => {
    const cp = await ctx.service.latestCheckpoint();
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/plain; charset=utf-8').send(cp.note);
  });
  r.get('/log/tile/*path', async (req, res) => {
    // req.path is not percent-decoded: parseTilePath sees exactly what the client sent.
    const tile = parseTilePath(req.path.slice('/log/'.length));
    const data = await ctx.service.readTile(tile);
    if (data === undefined) {
      throw new HttpError('NOT_FOUND', `tile ${req.path} is not in the tree (yet)`, { field: 'path' });
    }
    res.setHeader('Cache-Control', tile.width === TILE_WIDTH ? FULL_TILE_CACHE : PARTIAL_TILE_CACHE);
    res.type('application/octet-stream').send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return r;
}
