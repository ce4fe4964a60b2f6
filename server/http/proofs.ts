/**
 * GET /v1/proof/inclusion?index=&size= (RFC 9162 §2.1.3), GET /v1/proof/consistency?from=&to=
 * (RFC 9162 §2.1.4), GET /v1/entries?start=&limit= (the feed in log order).
 *
 * Sizes are checked against the latest checkpoint here so the answer names the parameter: a proof for a
 * tree the log has not signed is useless to a client, and a size past the tree is 400 INDEX_OUT_OF_RANGE.
 */
import { type Router as ExpressRouter, Router } from 'express';
import { base64Encode } from '../../log/bytes.js';
import type { HttpContext } from './context.js';
import { num } from './encode.js';
import { HttpError } from './errors.js';
import { queryIndex, queryLimit } from './params.js';

function outOfRange(field: string, message: string, details: Record<string, unknown> = {}): HttpError {
  // INDEX_OUT_OF_RANGE is a log/errors.ts code; HttpError carries it with the parameter's name.
  return new HttpError('INDEX_OUT_OF_RANGE', message, { field, ...details });
}

/** proofRoutes returns the router of the proof and entries endpoints. */
export function proofRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  const treeSize = async () => (await ctx.service.latestCheckpoint()).checkpoint.treeSize;

  r.get('/v1/proof/inclusion', async (req, res) => {
    const index = queryIndex(req, 'index');
    const size = queryIndex(req, 'size');
    if (index >= size) throw outOfRange('index', `index ${index} must be less than size ${size}`);
    const current = await treeSize();
    if (size > current) {
      throw outOfRange('size', `size ${size} is larger than the latest checkpoint's tree size ${current}`, {
        treeSize: num(current),
      });
    }
    const proof = await ctx.service.proveInclusion(index, size);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.json({ index: num(index), treeSize: num(size), inclusionProof: proof.map(base64Encode) });
  });

  r.get('/v1/proof/consistency', async (req, res) => {
    const from = queryIndex(req, 'from');
    const to = queryIndex(req, 'to');
    if (from > to) throw outOfRange('from', `from ${from} must not be larger than to ${to}`);
    const current = await treeSize();
    if (to > current) {
      throw outOfRange('to', `to ${to} is larger than the latest checkpoint's tree size ${current}`, {
        treeSize: num(current),
      });
    }
    const proof = await ctx.service.proveConsistency(from, to);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.json({ from: num(from), to: num(to), consistencyProof: proof.map(base64Encode) });
  });

  r.get('/v1/entries', async (req, res) => {
    const start = queryIndex(req, 'start', 0n);
    const limit = queryLimit(req, ctx.config.queryPageLimit);
    const entries = await ctx.service.entries(start, limit);
    res.setHeader('Cache-Control', 'no-cache');
    res.json({ entries: entries.map((e) => ({ index: num(e.index), entry: base64Encode(e.entry) })) });
  });
  return r;
}
