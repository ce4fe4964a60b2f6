/**
 * Entry: one entry's bytes as logged, parsed (an attestation entry or an index leaf, log/index-map.ts
 * classifyEntry), and its inclusion proof in the latest verified checkpoint drawn as the path from the
 * leaf to the root (RFC 9162 §2.1.3.2), checked with log/proof.ts verifyInclusion.
 */
import { base64Encode } from '../../log/bytes.js';
import { hashChildren, hashLeaf } from '../../log/hash.js';
import { classifyEntry } from '../../log/index-map.js';
import { getJson } from './api.js';
import { Check, checkList, errorText, h } from './dom.js';
import { checkpointChecks } from './home.js';
import { link } from './nav.js';
import {
  checkInclusion,
  checkSignature,
  decodeB64,
  decodeProof,
  latestCheckpoint,
  loadIdentity,
} from './verify.js';

/** renderEntry fills `view` with entry `index`. */
export async function renderEntry(view: HTMLElement, index: bigint, stillHere: () => boolean): Promise<void> {
  document.title = `Entry #${index} · Sig Server explorer`;
  view.append(h('h2', {}, `Entry #${index}`));
  const id = await loadIdentity();
  const cpChecks = checkpointChecks();
  const bytesCheck = new Check('entry-bytes', 'Entry bytes');
  const inclusion = new Check('inclusion-proof', 'Inclusion proof');
  const signature = new Check('attestation-signature', 'Attestation signature');
  view.append(
    checkList('Checked in this page', [...Object.values(cpChecks), bytesCheck, inclusion, signature]),
  );
  const { verified } = await latestCheckpoint(id, cpChecks);
  if (!stillHere()) return;
  const size = verified?.checkpoint.treeSize;
  if (size !== undefined && index >= size) {
    for (const c of [bytesCheck, inclusion, signature]) c.skip(`the log has ${size} entries`);
    view.append(
      h('p', { class: 'error', role: 'alert' }, `No entry #${index}: the log has ${size} entries.`),
    );
    return;
  }
  const r = await getJson(`/v1/entries?start=${index}&limit=1`);
  const row = (Array.isArray(r.entries) ? r.entries[0] : undefined) as
    | { index?: unknown; entry?: unknown }
    | undefined;
  if (!row || row.index !== Number(index)) {
    for (const c of [bytesCheck, inclusion, signature]) c.fail(`the server sent no entry #${index}`);
    return;
  }
  const entry = decodeB64(row.entry, 'entry');
  let proof: Uint8Array[] = [];
  if (verified) {
    try {
      const p = await getJson(`/v1/proof/inclusion?index=${index}&size=${verified.checkpoint.treeSize}`);
      proof = decodeProof(p.inclusionProof, 'inclusionProof');
    } catch (e) {
      inclusion.fail(errorText(e));
    }
  }
  if (inclusion.el.dataset.state === 'pending') checkInclusion(index, entry, proof, verified, inclusion);
  view.append(
    h('h3', {}, 'Bytes as logged'),
    h('pre', { class: 'bytes', tabindex: '0', 'aria-label': 'entry bytes' }, new TextDecoder().decode(entry)),
  );
  await showParsed(view, entry, bytesCheck, signature);
  if (verified)
    view.append(pathDrawing(index, verified.checkpoint.treeSize, entry, proof, verified.checkpoint.rootHash));
}

async function showParsed(
  view: HTMLElement,
  entry: Uint8Array,
  bytesCheck: Check,
  signature: Check,
): Promise<void> {
  try {
    const k = classifyEntry(entry);
    bytesCheck.ok(
      `${k.kind === 'index' ? 'an index leaf' : 'an attestation entry'}, canonical JSON, ${entry.length} bytes`,
    );
    if (k.kind === 'index') {
      signature.skip('an index leaf carries no signature');
      view.append(
        h('h3', {}, 'Index leaf'),
        h(
          'p',
          {},
          `The index root over the ${k.leaf.size} entries before it: `,
          h('code', { class: 'hash' }, base64Encode(k.leaf.root)),
        ),
      );
      return;
    }
    const att = k.attestation;
    view.append(
      h('h3', {}, 'Attestation'),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Identifier'),
        h('dd', {}, link(`/search?id=${encodeURIComponent(att.data.id)}`, att.data.id)),
        h('dt', {}, 'ok'),
        h('dd', {}, String(att.data.ok)),
        h('dt', {}, 'Signer'),
        h('dd', {}, link(`/search?key=${att.key}`, att.key)),
        h('dt', {}, 'Comment'),
        h('dd', {}, typeof att.data.comment === 'string' ? att.data.comment : '(none)'),
      ),
    );
    await checkSignature(att, signature);
  } catch (e) {
    bytesCheck.fail(errorText(e));
    signature.skip('the entry could not be read');
  }
}

/**
 * pathDrawing draws the inclusion proof as the path from the leaf to the root: at each step the
 * sibling hash (left or right) and the hash it makes, as RFC 9162 §2.1.3.2 walks it. The drawing is
 * only a picture: the verdict is the Inclusion proof check above (log/proof.ts).
 */
function pathDrawing(
  index: bigint,
  size: bigint,
  entry: Uint8Array,
  proof: Uint8Array[],
  root: Uint8Array,
): HTMLElement {
  const steps = h('ol', { class: 'path' });
  let fn = index;
  let sn = size - 1n;
  let r = hashLeaf(entry);
  const node = (label: string, hash: Uint8Array, cls: string) =>
    h(
      'li',
      { class: `node ${cls}` },
      h('span', { class: 'node-label' }, label),
      h('code', { class: 'hash' }, base64Encode(hash)),
    );
  steps.append(node(`leaf #${index}`, r, 'leaf'));
  for (const [i, p] of proof.entries()) {
    if (sn === 0n) break;
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      steps.append(node(`+ sibling ${i + 1} on the left`, p, 'sibling'));
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) [fn, sn] = [fn >> 1n, sn >> 1n];
    } else {
      r = hashChildren(r, p);
      steps.append(node(`+ sibling ${i + 1} on the right`, p, 'sibling'));
    }
    fn >>= 1n;
    sn >>= 1n;
    steps.append(node('= node', r, 'inner'));
  }
  steps.append(node(`root of the ${size}-entry tree (signed checkpoint)`, root, 'root'));
  return h(
    'section',
    { 'aria-labelledby': 'path-title' },
    h('h3', { id: 'path-title' }, 'Path to the root'),
    steps,
  );
}
