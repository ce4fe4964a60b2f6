/**
 * POST /v1/attestations and GET /v1/attestations (SPEC.md "HTTP API"; docs/contracts.md wire format).
 *
 * POST checks the request's shape and limits here (body object, `attestations` a non-empty array of at
 * most MAX_ATTESTATIONS_PER_REQUEST items, each at most MAX_ATTESTATION_BYTES of canonical JSON, `keys`
 * an optional array of strings), then LogService.publish verifies every item before it stores anything
 * and answers one receipt per attestation, in order.
 */
import { type Router as ExpressRouter, type Request, Router } from 'express';
import { canonicalJson } from '../../log/canonical-json.js';
import { LogError } from '../../log/errors.js';
import type { Config } from '../config.js';
import type { HttpContext } from './context.js';
import { encodeIndex, encodeProofItem, encodeReceipt } from './encode.js';
import { HttpError } from './errors.js';
import { parseDecimal, parseFingerprint, parseId, queryLimit, queryString } from './params.js';

/** MAX_KEYS_PER_REQUEST bounds the keys of one request (the body limit bounds their size). */
const MAX_KEYS_PER_REQUEST = 100;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * checkPublishBody returns the attestations and armored keys of a publish body, after checking its
 * shape and the request limits. Throws REQUEST_INVALID (400), TOO_MANY_ATTESTATIONS (413),
 * ATTESTATION_TOO_LARGE (413, details.item). `allowKeys` is false for POST /sig, which takes none.
 */
export function checkPublishBody(
  body: unknown,
  config: Config,
  allowKeys: boolean,
): { attestations: unknown[]; keys: string[] } {
  const shape = allowKeys
    ? '{"attestations": [...], "keys": ["<armored key>", ...]}'
    : '{"attestations": [...]}';
  if (!isObject(body)) {
    throw new HttpError('REQUEST_INVALID', `request body must be a JSON object ${shape}`, { field: 'body' });
  }
  const atts = body.attestations;
  if (!Array.isArray(atts)) {
    throw new HttpError('REQUEST_INVALID', `attestations must be an array; body must be ${shape}`, {
      field: 'attestations',
    });
  }
  if (atts.length === 0) {
    throw new HttpError('REQUEST_INVALID', 'attestations is empty: send at least one', {
      field: 'attestations',
    });
  }
  const max = config.maxAttestationsPerRequest;
  if (atts.length > max) {
    throw new HttpError(
      'TOO_MANY_ATTESTATIONS',
      `a request may carry at most ${max} attestations; this one has ${atts.length}: split it`,
      { field: 'attestations', limit: max, found: atts.length },
    );
  }
  atts.forEach((att, item) => {
    let size: number;
    try {
      size = Buffer.byteLength(canonicalJson(att), 'utf8');
    } catch (err) {
      if (err instanceof LogError) {
        throw new HttpError('ATTESTATION_INVALID', `attestation ${item} is not JSON data: ${err.message}`, {
          item,
          field: 'attestation',
        });
      }
      throw err;
    }
    if (size > config.maxAttestationBytes) {
      throw new HttpError(
        'ATTESTATION_TOO_LARGE',
        `attestation ${item} is ${size} bytes of canonical JSON; the limit is ${config.maxAttestationBytes}`,
        { item, field: 'attestation', limit: config.maxAttestationBytes, found: size },
      );
    }
  });
  let keys: string[] = [];
  if (body.keys !== undefined) {
    if (!allowKeys) {
      throw new HttpError('REQUEST_INVALID', 'POST /sig takes no keys: send them with POST /v1/keys first', {
        field: 'keys',
      });
    }
    keys = checkKeyList(body.keys);
  }
  return { attestations: atts, keys };
}

/** checkKeyList returns `v` as an array of strings (armored keys) or throws REQUEST_INVALID naming the item. */
export function checkKeyList(v: unknown): string[] {
  if (!Array.isArray(v)) {
    throw new HttpError('REQUEST_INVALID', 'keys must be an array of armored OpenPGP public keys', {
      field: 'keys',
    });
  }
  if (v.length > MAX_KEYS_PER_REQUEST) {
    throw new HttpError(
      'REQUEST_INVALID',
      `keys may hold at most ${MAX_KEYS_PER_REQUEST} keys; found ${v.length}`,
      {
        field: 'keys',
      },
    );
  }
  v.forEach((k, item) => {
    if (typeof k !== 'string' || k.length === 0) {
      throw new HttpError(
        'REQUEST_INVALID',
        `keys[${item}] must be a non-empty string (an armored public key)`,
        {
          field: 'keys',
          item,
        },
      );
    }
  });
  return v as string[];
}

/** queryLookups returns the `id` and `key` of a query (at least one; PARAM_INVALID otherwise). */
function queryLookups(req: Request): { id?: string; key?: string } {
  const rawId = queryString(req, 'id');
  const rawKey = queryString(req, 'key');
  if (rawId === undefined && rawKey === undefined) {
    throw new HttpError('PARAM_INVALID', 'give id, key or both (?id=...&key=...)', { field: 'id' });
  }
  return {
    ...(rawId !== undefined ? { id: parseId('id', rawId) } : {}),
    ...(rawKey !== undefined ? { key: parseFingerprint('key', rawKey) } : {}),
  };
}

/**
 * parseCursor reads a cursor: `<size>.<after>`, as `next` gives it (SPEC.md "Query answers": every page
 * answers against the first page's checkpoint, whose size the cursor carries), or a bare `<after>` from
 * a server before the index (answered against the latest checkpoint).
 */
function parseCursor(raw: string): { size?: bigint; after: bigint } {
  const dot = raw.indexOf('.');
  if (dot < 0) return { after: parseDecimal('cursor', raw) };
  const size = parseDecimal('cursor', raw.slice(0, dot));
  const after = parseDecimal('cursor', raw.slice(dot + 1));
  if (after >= size) {
    throw new HttpError('PARAM_INVALID', `cursor ${raw.slice(0, 60)}: its index must be below its size`, {
      field: 'cursor',
    });
  }
  return { size, after };
}

/** attestationRoutes returns the router of POST and GET /v1/attestations. */
export function attestationRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.post('/v1/attestations', ...ctx.writeGuard, async (req, res) => {
    const { attestations, keys } = checkPublishBody(req.body, ctx.config, true);
    const receipts = await ctx.service.publish(attestations, keys);
    ctx.metrics.published(receipts.length);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ receipts: receipts.map(encodeReceipt) });
  });
  r.get('/v1/attestations', async (req, res) => {
    const q: { id?: string; key?: string; after?: bigint; size?: bigint; limit: number } = {
      ...queryLookups(req),
      limit: queryLimit(req, ctx.config.queryPageLimit),
    };
    const cursor = queryString(req, 'cursor');
    if (cursor !== undefined) Object.assign(q, parseCursor(cursor));
    const page = await ctx.service.findAttestations(q);
    const size = page.checkpoint.checkpoint.treeSize;
    res.setHeader('Cache-Control', 'no-cache');
    res.json({
      checkpoint: page.checkpoint.note,
      attestations: page.items.map(encodeProofItem),
      index: encodeIndex(page.index),
      next: page.next === undefined ? null : `${size}.${page.next}`,
    });
  });
  // GET /v1/index: the latest checkpoint and the index object of a query, without the entries.
  r.get('/v1/index', async (req, res) => {
    const found = await ctx.service.findIndex(queryLookups(req));
    res.setHeader('Cache-Control', 'no-cache');
    res.json({ checkpoint: found.checkpoint.note, index: encodeIndex(found.index) });
  });
  return r;
}
