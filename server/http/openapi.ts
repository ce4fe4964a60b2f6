/**
 * GET /openapi.json: the OpenAPI 3.1 description of this API (docs/openapi.yaml, turned into JSON by
 * web/build.mjs at `npm run build`, so the server needs no YAML parser). The API's strict CSP applies.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Router as ExpressRouter, Router } from 'express';
import { HttpError } from './errors.js';
import { explorerDir } from './ui.js';

/** openapiRoutes returns the router of GET /openapi.json. */
export function openapiRoutes(): ExpressRouter {
  const file = join(explorerDir(), 'openapi.json');
  const r = Router();
  r.get('/openapi.json', (_req, res) => {
    if (!existsSync(file)) {
      throw new HttpError('NOT_FOUND', 'the OpenAPI document is not built: run `npm run build`', {
        field: 'path',
      });
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/json; charset=utf-8').send(readFileSync(file));
  });
  return r;
}
