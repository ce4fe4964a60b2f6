/**
 * The explorer (web/): its pages and static assets, built by web/build.mjs into dist/explorer/ (`npm run
 * build`). UI routes only: `/`, `/search`, `/entry/<index>` answer the one page (index.html; the page
 * routes itself, so every search and entry has a URL to share), `/assets/*` its script and style.
 *
 * These routes get their own Content-Security-Policy, `'self'` only: no inline script or style, no
 * other origin, nothing framed. Every API route keeps the strict policy of middleware.ts
 * securityHeaders (`default-src 'none'`), which runs first and is replaced here only for these routes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Router as ExpressRouter, type RequestHandler, Router } from 'express';
import { HttpError } from './errors.js';

/** UI_CSP is the explorer's Content-Security-Policy: its own origin only. */
export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * packageRoot returns the folder of the sig-server package.json above this file (the same from
 * server/http/ under tsx and dist/server/http/ when built). Throws if there is none.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'sig-server') return dir;
    } catch {
      // no package.json here: keep going up
    }
    dir = dirname(dir);
  }
  throw new Error('packageRoot: no sig-server package.json above server/http');
}

/** explorerDir returns where web/build.mjs writes the explorer (dist/explorer under the package root). */
export function explorerDir(): string {
  return join(packageRoot(), 'dist', 'explorer');
}

const ASSET_NAME = /^[A-Za-z0-9_-]{1,100}\.(js|css|svg)$/;
const ASSET_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

const uiHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', UI_CSP);
  // The page and its assets change with each build: revalidate (they are small).
  res.setHeader('Cache-Control', 'no-cache');
  next();
};

/** uiRoutes returns the router of the explorer's pages and assets. */
export function uiRoutes(): ExpressRouter {
  const dir = explorerDir();
  const r = Router();
  const page: RequestHandler = (_req, res, next) => {
    const file = join(dir, 'index.html');
    if (!existsSync(file)) {
      next(
        new HttpError('NOT_FOUND', 'the explorer is not built: run `npm run build` (web/build.mjs)', {
          field: 'path',
        }),
      );
      return;
    }
    res.type('text/html; charset=utf-8').send(readFileSync(file));
  };
  r.get('/', uiHeaders, page);
  r.get('/search', uiHeaders, page);
  r.get('/entry/:index', uiHeaders, page);
  r.get('/assets/:name', uiHeaders, (req, res, next) => {
    // Only plain names the build makes (app.js, app.css, icon.svg): nothing from the request
    // reaches the file system but a name that cannot leave the folder.
    const name = String(req.params.name);
    const m = ASSET_NAME.exec(name);
    const file = m ? join(dir, 'assets', name) : undefined;
    if (file === undefined || !existsSync(file)) {
      next(new HttpError('NOT_FOUND', `no such asset: ${req.path.slice(0, 200)}`, { field: 'path' }));
      return;
    }
    res.type(ASSET_TYPES[m?.[1] ?? 'js']!);
    res.send(readFileSync(file));
  });
  return r;
}
