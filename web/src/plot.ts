/**
 * plot: tree size over time as a hand-drawn SVG line (no chart library: ~60 lines beat a dependency).
 * The points are the server's stored checkpoints (GET /v1/checkpoints), not verified: the caption says so.
 */
import { h, svg } from './dom.js';

/** Point is one checkpoint's size and time. */
export interface Point {
  treeSize: number;
  signedAt: Date;
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 24, top: 16, bottom: 28 };

/** sizePlot returns a figure with the plot and a caption; an accessible summary is its label. */
export function sizePlot(points: readonly Point[]): HTMLElement {
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last) return h('p', {}, 'No checkpoints yet.');
  const t0 = first.signedAt.getTime();
  const t1 = Math.max(last.signedAt.getTime(), t0 + 1);
  const maxSize = Math.max(1, ...points.map((p) => p.treeSize));
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (s: number) => H - PAD.bottom - (s / maxSize) * (H - PAD.top - PAD.bottom);
  // A step line: the tree keeps its size until the next checkpoint (a slope would invent sizes).
  const d = points
    .map((p, i) =>
      i === 0
        ? `M${x(p.signedAt.getTime()).toFixed(1)},${y(p.treeSize).toFixed(1)}`
        : `H${x(p.signedAt.getTime()).toFixed(1)} V${y(p.treeSize).toFixed(1)}`,
    )
    .join(' ');
  const summary = `Tree size grew from ${first.treeSize} on ${first.signedAt.toISOString()} to ${last.treeSize} on ${last.signedAt.toISOString()}, over ${points.length} stored checkpoints.`;
  const label = (tx: number, ty: number, text: string, anchor = 'end') =>
    svg('text', { x: tx, y: ty, 'text-anchor': anchor, class: 'axis-label' }, document.createTextNode(text));
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'plot' },
    svg('line', { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: 'axis' }),
    svg('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom, class: 'axis' }),
    label(PAD.left - 6, y(maxSize) + 4, String(maxSize)),
    label(PAD.left - 6, y(0) + 4, '0'),
    label(PAD.left, H - 8, shortTime(first.signedAt), 'start'),
    label(W - PAD.right, H - 8, shortTime(last.signedAt)),
    svg('path', { d, class: 'line' }),
    ...points.map((p) =>
      svg('circle', { cx: x(p.signedAt.getTime()), cy: y(p.treeSize), r: 3, class: 'dot' }),
    ),
  );
  return h(
    'figure',
    { class: 'plot-figure' },
    chart,
    h(
      'figcaption',
      {},
      `${summary} Times are the server's record of when it signed each checkpoint (not verified here).`,
    ),
  );
}

function shortTime(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 16);
}
