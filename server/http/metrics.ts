/**
 * Prometheus text exposition (format 0.0.4) for GET /metrics: the HTTP layer's own counters (requests by
 * route and status, rejections by code, attestations published) and LogService.metrics() (publishes,
 * batch sizes, integration latency, ...), backlog and checkpoint age.
 */
import { renderWitnessingMetrics } from '../cosigning/metrics.js';
import type { Histogram, ServiceMetrics } from '../log-service.js';

/** HttpMetrics counts what the HTTP layer sees. */
export interface HttpMetrics {
  request(method: string, route: string, status: number): void;
  rejected(code: string): void;
  published(count: number): void;
  render(): string[];
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** createHttpMetrics returns fresh counters. */
export function createHttpMetrics(): HttpMetrics {
  const requests = new Map<string, number>();
  const rejections = new Map<string, number>();
  let published = 0;
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  return {
    request: (method, route, status) =>
      bump(requests, `method="${esc(method)}",route="${esc(route)}",status="${status}"`),
    rejected: (code) => bump(rejections, `code="${esc(code)}"`),
    published: (n) => {
      published += n;
    },
    render() {
      const out = [
        '# HELP sig_http_requests_total HTTP requests answered, by method, route and status.',
        '# TYPE sig_http_requests_total counter',
      ];
      for (const [labels, n] of requests) out.push(`sig_http_requests_total{${labels}} ${n}`);
      out.push(
        '# HELP sig_http_rejections_total Requests rejected with an error code, by code (the reason).',
        '# TYPE sig_http_rejections_total counter',
      );
      for (const [labels, n] of rejections) out.push(`sig_http_rejections_total{${labels}} ${n}`);
      out.push(
        '# HELP sig_http_published_attestations_total Attestations answered with a receipt over HTTP (including duplicates).',
        '# TYPE sig_http_published_attestations_total counter',
        `sig_http_published_attestations_total ${published}`,
      );
      return out;
    },
  };
}

/** histogramLines returns Prometheus histogram lines for a service Histogram (cumulative counts per `le`). */
function histogramLines(name: string, help: string, h: Histogram, scale = 1): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  h.le.forEach((le, i) => {
    out.push(`${name}_bucket{le="${le * scale}"} ${h.counts[i] ?? 0}`);
  });
  out.push(
    `${name}_bucket{le="+Inf"} ${h.count}`,
    `${name}_sum ${h.sum * scale}`,
    `${name}_count ${h.count}`,
  );
  return out;
}

/**
 * renderServiceMetrics returns Prometheus lines for a LogService.metrics() snapshot: publishes accepted,
 * duplicates, rejections by reason, batches and their sizes, integration latency, checkpoints signed,
 * backlog (`backlog` overrides the snapshot's last-seen value when given), tree size and checkpoint age.
 */
export function renderServiceMetrics(m: ServiceMetrics, backlog?: number): string[] {
  const out: string[] = [];
  const one = (name: string, type: string, help: string, value: number) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  one(
    'sig_publishes_accepted_total',
    'counter',
    'Attestations accepted for the log (new entries).',
    m.publishesAccepted,
  );
  one(
    'sig_publishes_duplicate_total',
    'counter',
    'Publishes of an attestation already logged (answered with its existing receipt).',
    m.duplicates,
  );
  out.push(
    '# HELP sig_publish_rejections_total Publishes rejected by the service, by reason (error code).',
    '# TYPE sig_publish_rejections_total counter',
  );
  for (const [reason, n] of Object.entries(m.rejections)) {
    out.push(`sig_publish_rejections_total{reason="${esc(reason)}"} ${n}`);
  }
  one('sig_batches_total', 'counter', 'Batches integrated by this process.', m.batches);
  out.push(...histogramLines('sig_batch_size', 'Entries per integrated batch.', m.batchSize));
  out.push(
    ...histogramLines(
      'sig_integration_latency_seconds',
      'Time from accepting an attestation to integrating it, per entry this process integrated.',
      m.integrationLatencyMs,
      1 / 1000,
    ),
  );
  one('sig_checkpoints_signed_total', 'counter', 'Checkpoints signed by this process.', m.checkpointsSigned);
  one('sig_backlog', 'gauge', 'Accepted attestations waiting for integration.', backlog ?? m.backlog);
  one('sig_tree_size', 'gauge', 'Tree size of the latest checkpoint.', m.treeSize);
  if (m.checkpointAgeSeconds !== undefined) {
    one(
      'sig_checkpoint_age_seconds',
      'gauge',
      'Age of the latest checkpoint signature.',
      m.checkpointAgeSeconds,
    );
  }
  out.push(...renderWitnessingMetrics(m.witnessing));
  return out;
}
