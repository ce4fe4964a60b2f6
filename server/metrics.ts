/**
 * The service's counters for /metrics (server/http/metrics.ts renders them as Prometheus text). Each
 * counter lives next to the code that moves it:
 *   - publishes accepted, duplicates and the backlog gauge: server/admission.ts (Admission);
 *   - the tree size and timestamp of the latest checkpoint seen: server/reader.ts (LogReader);
 *   - rejections by error code: server/log-service.ts (every publish and key request ends there);
 *   - batches, batch sizes, integration latency and checkpoints signed: IntegrationMetrics below, moved by
 *     each sequencer round of this process (server/sequencer.ts RoundResult).
 * snapshotMetrics gathers them into one ServiceMetrics. Everything counts since process start.
 */
import type { WitnessingMetrics } from './cosigning/witnessing.js';
import type { RoundResult } from './sequencer.js';

/** BATCH_SIZE_BUCKETS are the upper bounds of the batch size histogram. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;
/** LATENCY_BUCKETS_MS are the upper bounds of the integration latency histogram (ms). */
export const LATENCY_BUCKETS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Histogram is a cumulative Prometheus-style histogram: counts[i] = observations <= le[i]. */
export interface Histogram {
  le: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

/** ServiceMetrics are the counters the HTTP layer exposes on /metrics (all since process start,
 *  except the gauges backlog, treeSize, checkpoint*). */
export interface ServiceMetrics {
  publishesAccepted: number;
  duplicates: number;
  /** rejections by error code (LogError and ServiceError codes). */
  rejections: Record<string, number>;
  batches: number;
  batchSize: Histogram;
  /** integrationLatencyMs: from acceptance to integration, per entry this process integrated. */
  integrationLatencyMs: Histogram;
  checkpointsSigned: number;
  /** backlog: pending rows, as last seen. */
  backlog: number;
  /** treeSize: of the latest checkpoint, as last seen. */
  treeSize: number;
  checkpointTimestamp: Date | undefined;
  checkpointAgeSeconds: number | undefined;
  /** witnessing: the log role's figures (server/cosigning/), when WITNESS_POLICY asks for cosignatures. */
  witnessing?: WitnessingMetrics;
}

/** histogram returns an empty histogram with upper bounds `le`. */
export function histogram(le: readonly number[]): Histogram {
  return { le, counts: le.map(() => 0), sum: 0, count: 0 };
}

/** observe adds one observation `v` to `h`. */
export function observe(h: Histogram, v: number): void {
  h.sum += v;
  h.count++;
  h.le.forEach((b, i) => {
    if (v <= b) h.counts[i]!++;
  });
}

/** IntegrationMetrics counts what this process's integration rounds did. */
export class IntegrationMetrics {
  batches = 0;
  readonly batchSize = histogram(BATCH_SIZE_BUCKETS);
  readonly integrationLatencyMs = histogram(LATENCY_BUCKETS_MS);
  checkpointsSigned = 0;

  /** count adds one committed round (a batch integrated, a checkpoint signed, or both). */
  count(r: RoundResult): void {
    if (r.integrated > 0) {
      this.batches++;
      observe(this.batchSize, r.integrated);
      for (const l of r.latencyMs) observe(this.integrationLatencyMs, l);
    }
    if (r.checkpoint) this.checkpointsSigned++;
  }
}

/** snapshotMetrics returns a copy of the counters (histograms and rejections copied too), with the
 *  checkpoint's age computed now. */
export function snapshotMetrics(parts: {
  admission: { publishesAccepted: number; duplicates: number; backlog: number };
  rejections: Record<string, number>;
  integration: IntegrationMetrics;
  checkpoint: { treeSize: number; checkpointTimestamp: Date | undefined };
}): ServiceMetrics {
  const { admission, integration } = parts;
  const ts = parts.checkpoint.checkpointTimestamp;
  const copy = (h: Histogram): Histogram => ({ ...h, counts: [...h.counts] });
  return {
    publishesAccepted: admission.publishesAccepted,
    duplicates: admission.duplicates,
    rejections: { ...parts.rejections },
    batches: integration.batches,
    batchSize: copy(integration.batchSize),
    integrationLatencyMs: copy(integration.integrationLatencyMs),
    checkpointsSigned: integration.checkpointsSigned,
    backlog: admission.backlog,
    treeSize: parts.checkpoint.treeSize,
    checkpointTimestamp: ts,
    checkpointAgeSeconds: ts ? Math.max(0, (Date.now() - ts.getTime()) / 1000) : undefined,
  };
}
