/**
 * GET /v1/server: the log's identity (origin, Ed25519 vkey, OpenPGP fingerprint and armored public key),
 * its limits and intervals, and the server version from package.json (SPEC.md "HTTP API").
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Router as ExpressRouter, Router } from 'express';
import { INDEX_VERSION } from '../../log/index-map.js';
import type { HttpContext } from './context.js';
import { WITNESS_PREFIX } from './witness.js';

let cachedVersion: string | undefined;

/**
 * serverVersion returns the `version` of the sig-server package.json, looked up from this file's folder
 * upwards (the same from server/http/ under tsx and dist/server/http/ when built). Throws if not found.
 */
export function serverVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sig-server' && typeof pkg.version === 'string') {
        cachedVersion = pkg.version;
        return pkg.version;
      }
    } catch {
      // no package.json here: keep going up
    }
    dir = dirname(dir);
  }
  throw new Error('serverVersion: no sig-server package.json above server/http');
}

/** infoRoutes returns the router of GET /v1/server. */
export function infoRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.get('/v1/server', (_req, res) => {
    const info = ctx.service.info();
    const c = ctx.config;
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.json({
      origin: info.origin,
      vkey: info.vkey,
      openpgp: { fingerprint: info.openpgpFingerprint, publicKey: info.openpgpPublicKey },
      limits: {
        maxBodyBytes: c.maxBodyBytes,
        maxAttestationBytes: c.maxAttestationBytes,
        maxAttestationsPerRequest: c.maxAttestationsPerRequest,
        rateLimitPublishes: c.rateLimitPublishes,
        rateLimitWindowMs: c.rateLimitWindowMs,
        maxBacklog: c.maxBacklog,
        queryPageLimit: c.queryPageLimit,
      },
      intervals: { checkpointMs: c.checkpointIntervalMs, republishMs: c.republishIntervalMs },
      // SPEC.md "The index": every checkpoint ends with an index leaf, and answers carry lookups.
      index: { version: INDEX_VERSION },
      // The witness role (SPEC.md "Witnesses"), when on: what a log puts in its WITNESS_POLICY.
      ...(ctx.witness ? { witness: { ...ctx.witness.info(), submissionPrefix: WITNESS_PREFIX } } : {}),
      version: serverVersion(),
    });
  });
  return r;
}
