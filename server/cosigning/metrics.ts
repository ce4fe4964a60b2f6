/**
 * The log role's lines of GET /metrics (Prometheus text, rendered by server/http/metrics.ts): per
 * witness of WITNESS_POLICY, the size it last cosigned, when it last returned a valid cosignature,
 * cosignatures and 409 resyncs counted, and failures by reason; and whether the log fails open.
 */
import type { WitnessingMetrics } from './witnessing.js';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** renderWitnessingMetrics returns the Prometheus lines of the log role; none when it is off. */
export function renderWitnessingMetrics(m: WitnessingMetrics | undefined): string[] {
  if (m === undefined) return [];
  const out: string[] = [];
  const family = (name: string, type: string, help: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`);
  };
  const w = (name: string) => `{witness="${esc(name)}"}`;
  family(
    'sig_witness_fail_open',
    'gauge',
    'Whether checkpoints missing the witness quorum are served anyway (WITNESS_FAIL_OPEN).',
    [['', m.failOpen ? 1 : 0]],
  );
  if (m.signedSize !== undefined) {
    family(
      'sig_witness_submitted_tree_size',
      'gauge',
      'Tree size of the newest checkpoint submitted to the witnesses.',
      [['', Number(m.signedSize)]],
    );
  }
  family(
    'sig_witness_cosigned_tree_size',
    'gauge',
    'Tree size of the latest checkpoint each witness cosigned.',
    m.witnesses.filter((x) => x.cosignedSize !== undefined).map((x) => [w(x.name), Number(x.cosignedSize)]),
  );
  family(
    'sig_witness_last_success_timestamp_seconds',
    'gauge',
    'When each witness last returned a valid cosignature (Unix time).',
    m.witnesses
      .filter((x) => x.lastSuccessAt !== undefined)
      .map((x) => [w(x.name), Math.floor(x.lastSuccessAt!.getTime() / 1000)]),
  );
  family(
    'sig_witness_cosignatures_total',
    'counter',
    'Valid cosignatures received from each witness by this process.',
    m.witnesses.map((x) => [w(x.name), x.cosignatures]),
  );
  family(
    'sig_witness_resyncs_total',
    'counter',
    'add-checkpoint requests resent after a 409 (the witness had another size), per witness.',
    m.witnesses.map((x) => [w(x.name), x.resyncs]),
  );
  family(
    'sig_witness_failures_total',
    'counter',
    'Failed add-checkpoint requests per witness and reason (timeout, network, refused, unverified, response-invalid, cosignature-invalid, ...).',
    m.witnesses.flatMap((x) =>
      Object.entries(x.failures).map(([reason, n]): [string, number] => [
        `{witness="${esc(x.name)}",reason="${esc(reason)}"}`,
        n,
      ]),
    ),
  );
  return out;
}
