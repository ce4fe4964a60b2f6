/**
 * Operations: GET /healthz (`{"ok": true, "treeSize": n}`, or 503 `{"ok": false}` when the database does
 * not answer) and GET /metrics (Prometheus text format 0.0.4).
 */
import { type Router as ExpressRouter, Router } from 'express';
import { renderReplicaMetrics } from '../read-replica.js';
import type { HttpContext } from './context.js';
import { num } from './encode.js';
import { renderServiceMetrics } from './metrics.js';
import { renderPeerMetrics } from './peers.js';

/** opsRoutes returns the router of /healthz and /metrics. */
export function opsRoutes(ctx: HttpContext): ExpressRouter {
  const r = Router();
  r.get('/healthz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    let treeSize: bigint;
    try {
      treeSize = (await ctx.service.latestCheckpoint()).checkpoint.treeSize;
    } catch (err) {
      ctx.logger.error('health check failed', { err });
      res.status(503).json({ ok: false, error: 'the log does not answer (see the server log)' });
      return;
    }
    res.status(ctx.state.closing ? 503 : 200).json({ ok: !ctx.state.closing, treeSize: num(treeSize) });
  });
  r.get('/metrics', async (_req, res) => {
    const lines = [
      ...renderServiceMetrics(ctx.service.metrics(), await ctx.service.backlog()),
      ...ctx.metrics.render(),
      ...renderPeerMetrics(ctx.service.peerCounters()),
      ...renderReplicaMetrics(await ctx.service.replicaFigures()),
    ];
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/plain; version=0.0.4; charset=utf-8').send(`${lines.join('\n')}\n`);
  });
  return r;
}
