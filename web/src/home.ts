/**
 * Home: the log's latest checkpoint verified in the page (both log signatures, origin, freshness), the
 * log's keys, a plot of tree size over time, and the newest entries (each links to its entry page,
 * where its inclusion proof is checked).
 */
import { base64Encode } from '../../log/bytes.js';
import { classifyEntry } from '../../log/index-map.js';
import { getJson } from './api.js';
import { Check, checkList, errorText, h } from './dom.js';
import { link } from './nav.js';
import { type Point, sizePlot } from './plot.js';
import { type CheckpointChecks, decodeB64, hex, latestCheckpoint, loadIdentity } from './verify.js';
import { witnessForm } from './witnesses.js';

/** checkpointChecks returns a fresh set of the checkpoint's checks. */
export function checkpointChecks(): CheckpointChecks {
  return {
    ed25519: new Check('checkpoint-ed25519', 'Checkpoint signature (Ed25519)'),
    openpgp: new Check('checkpoint-openpgp', 'Checkpoint signature (OpenPGP)'),
    origin: new Check('checkpoint-origin', 'Checkpoint origin'),
    freshness: new Check('checkpoint-freshness', 'Freshness'),
    cosignatures: new Check('checkpoint-cosignatures', 'Witness cosignatures'),
  };
}

/** renderHome fills `view` with the home page. */
export async function renderHome(view: HTMLElement, stillHere: () => boolean): Promise<void> {
  document.title = 'Sig Server explorer';
  const id = await loadIdentity();
  const checks = checkpointChecks();
  const facts = h('dl', { class: 'facts' });
  view.append(h('h2', {}, 'The log'), facts, checkList('Checked in this page', Object.values(checks)));
  const fact = (k: string, v: Node | string) => facts.append(h('dt', {}, k), h('dd', {}, v));
  fact('Origin', id.origin);
  const { note, verified } = await latestCheckpoint(id, checks);
  if (!stillHere()) return;
  if (verified) {
    fact('Tree size', verified.checkpoint.treeSize.toString());
    fact('Root hash', h('code', { class: 'hash' }, base64Encode(verified.checkpoint.rootHash)));
    fact('Signed', verified.timestamp.toISOString());
  }
  fact('Log key (Ed25519)', h('code', { class: 'hash' }, id.vkey));
  fact('Log key (OpenPGP)', h('code', { class: 'hash' }, id.fingerprint));
  view.append(
    h(
      'details',
      {},
      h('summary', {}, 'The signed checkpoint'),
      h('pre', { class: 'note' }, note),
      h(
        'p',
        { class: 'hint' },
        'The keys above are the ones this server says it has: compare them with the ones you pinned (sig server list).',
      ),
    ),
  );
  const plot = h(
    'section',
    { 'aria-labelledby': 'plot-title' },
    h('h2', { id: 'plot-title' }, 'Tree size over time'),
  );
  const newest = h(
    'section',
    { 'aria-labelledby': 'newest-title' },
    h('h2', { id: 'newest-title' }, 'Newest entries'),
  );
  view.append(
    witnessForm(() => {
      location.reload();
    }),
    plot,
    newest,
  );
  await Promise.all([
    fillPlot(plot),
    verified ? fillNewest(newest, verified.checkpoint.treeSize) : skipNewest(newest),
  ]);
}

async function fillPlot(section: HTMLElement): Promise<void> {
  try {
    const r = await getJson('/v1/checkpoints?points=200');
    const raw = Array.isArray(r.checkpoints) ? r.checkpoints : [];
    const points: Point[] = [];
    for (const p of raw.slice(0, 500) as { treeSize?: unknown; signedAt?: unknown }[]) {
      const at = typeof p.signedAt === 'string' ? new Date(p.signedAt) : undefined;
      if (!Number.isSafeInteger(p.treeSize) || !at || Number.isNaN(at.getTime())) continue;
      points.push({ treeSize: p.treeSize as number, signedAt: at });
    }
    section.append(sizePlot(points));
  } catch (e) {
    section.append(h('p', { class: 'error' }, `The plot could not load: ${errorText(e)}`));
  }
}

function skipNewest(section: HTMLElement): void {
  section.append(h('p', { class: 'error' }, 'Not shown: the checkpoint did not verify.'));
}

async function fillNewest(section: HTMLElement, treeSize: bigint): Promise<void> {
  // The last ten entries; the server may cut a page to its QUERY_PAGE_LIMIT, so follow on (bounded).
  let start = treeSize > 10n ? treeSize - 10n : 0n;
  const rows: { index?: unknown; entry?: unknown }[] = [];
  for (let i = 0; i < 10 && start < treeSize; i++) {
    const r = await getJson(`/v1/entries?start=${start}&limit=10`);
    const page = (Array.isArray(r.entries) ? r.entries : []) as { index?: unknown; entry?: unknown }[];
    if (page.length === 0) break;
    rows.push(...page.slice(0, 10 - rows.length));
    start += BigInt(page.length);
  }
  const list = h('ul', { class: 'entries' });
  for (const row of rows.slice(0, 10).reverse()) {
    if (!Number.isSafeInteger(row.index)) continue;
    const index = row.index as number;
    let what: string;
    try {
      const k = classifyEntry(decodeB64(row.entry, 'entry'));
      what =
        k.kind === 'index'
          ? `index leaf (size ${k.leaf.size}, root ${hex(k.leaf.root).slice(0, 12)}…)`
          : `${k.attestation.data.ok ? 'ok' : 'NOT ok'} · ${k.attestation.data.id} · by ${k.attestation.key.slice(0, 16)}…`;
    } catch (e) {
      what = `unreadable entry: ${errorText(e)}`;
    }
    list.append(h('li', {}, link(`/entry/${index}`, `#${index}`), ' ', what));
  }
  if (rows.length === 0) section.append(h('p', {}, 'The log is empty.'));
  else section.append(h('p', { class: 'hint' }, 'Open an entry to check its inclusion proof.'), list);
}
