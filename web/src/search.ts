/**
 * Search: by identifier, by signer fingerprint, or by a file hashed in the page (sha256:<hex>; the file
 * never leaves the browser). Every answer page is checked here: its checkpoint, each entry's bytes and
 * inclusion proof, each attestation's signature with its signer's key, that it matches the query, and,
 * when the server keeps the index, that the answer is complete (log/index-answer.ts). Statuses follow
 * the newest-per-key rule of cli/trust.ts: a key's newest attestation (by signature time) speaks for it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { hexEncode } from '../../log/bytes.js';
import { parseEntry } from '../../log/entry.js';
import { type IndexAnswer as Answer, IndexAnswer, parseIndexObject } from '../../log/index-answer.js';
import type { Attestation } from '../../log/signet.js';
import { getJson } from './api.js';
import { Check, checkList, errorText, h } from './dom.js';
import { checkpointChecks } from './home.js';
import { link, navigate } from './nav.js';
import {
  checkCheckpoint,
  checkInclusion,
  checkSignature,
  decodeB64,
  decodeProof,
  type LogIdentity,
  loadIdentity,
  type VerifiedCheckpoint,
} from './verify.js';

/** MAX_PAGES bounds the pages one search follows (each at most the server's page limit). */
const MAX_PAGES = 20;
/** HASH_CHUNK is how much of a dropped file is read at a time. */
const HASH_CHUNK = 4 * 1024 * 1024;

type Query = { by: 'id' | 'key'; value: string };

/** renderSearch fills `view` with the search form and, when the URL holds a query, its checked answer. */
export async function renderSearch(
  view: HTMLElement,
  params: URLSearchParams,
  stillHere: () => boolean,
): Promise<void> {
  const id = params.get('id');
  const key = params.get('key');
  const query: Query | undefined =
    id !== null && id !== ''
      ? { by: 'id', value: id }
      : key !== null && key !== ''
        ? { by: 'key', value: key }
        : undefined;
  document.title = query ? `Search ${query.value} · Sig Server explorer` : 'Search · Sig Server explorer';
  view.append(h('h2', {}, 'Search'), searchForm(query));
  if (!query) return;
  const invalid = queryProblem(query);
  if (invalid !== undefined) {
    // Said here, before any request: the server would refuse it the same way (400 PARAM_INVALID).
    view.append(h('p', { class: 'error', role: 'alert', 'data-query-error': '' }, invalid));
    return;
  }
  const results = h('section', {
    class: 'results',
    'aria-live': 'polite',
    'aria-labelledby': 'results-title',
  });
  results.append(
    h('h2', { id: 'results-title' }, `Attestations ${query.by === 'id' ? 'for' : 'by'} ${query.value}`),
  );
  view.append(results);
  await showAnswer(results, query, await loadIdentity(), stillHere);
}

/** queryProblem says what is wrong with a query the server would refuse (server/http/params.ts), if anything. */
function queryProblem(q: Query): string | undefined {
  if (q.by === 'key' && !/^[0-9A-Fa-f]{40}$/.test(q.value)) {
    return `A signer fingerprint is 40 hexadecimal digits (an OpenPGP v4 fingerprint); "${q.value.slice(0, 60)}" is not one.`;
  }
  if (q.by === 'id' && (q.value.length > 4096 || q.value.includes('\u0000'))) {
    return 'An identifier is 1 to 4096 characters, without NUL.';
  }
  return undefined;
}

function searchForm(query: Query | undefined): HTMLElement {
  const by = h(
    'select',
    { id: 'by', name: 'by' },
    h('option', { value: 'id' }, 'Identifier'),
    h('option', { value: 'key' }, 'Signer fingerprint'),
  );
  by.value = query?.by ?? 'id';
  const input = h('input', {
    id: 'q',
    name: 'q',
    type: 'search',
    required: '',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'sha256:… or https://… or a 40-digit fingerprint',
  });
  input.value = query?.value ?? '';
  const form = h(
    'form',
    { class: 'search', role: 'search' },
    h('label', { for: 'by' }, 'Search by'),
    by,
    h('label', { for: 'q' }, 'Value'),
    input,
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v !== '') navigate(`/search?${new URLSearchParams({ [by.value]: v })}`);
  });
  const file = h('input', { id: 'file', type: 'file' });
  const status = h(
    'p',
    { class: 'hint', id: 'file-status', 'aria-live': 'polite' },
    'The file is hashed in this page and never uploaded.',
  );
  const drop = h(
    'div',
    { class: 'drop', id: 'drop' },
    h('label', { for: 'file' }, 'Or drop a file here, or choose one, to look up its sha256:'),
    file,
    status,
  );
  const hashFile = async (f: File) => {
    status.textContent = `Hashing ${f.name} (${f.size} bytes) in this page…`;
    const digest = await sha256File(f);
    status.textContent = `${f.name}: sha256:${digest} (computed in this page; not uploaded)`;
    navigate(`/search?${new URLSearchParams({ id: `sha256:${digest}` })}`);
  };
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void hashFile(f);
  });
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const f = ev.dataTransfer?.files[0];
    if (f) void hashFile(f);
  });
  return h('div', {}, form, drop);
}

/** sha256File returns the hex SHA-256 of a file, read in chunks (any size, bounded memory). */
export async function sha256File(f: Blob): Promise<string> {
  const hash = sha256.create();
  for (let at = 0; at < f.size; at += HASH_CHUNK) {
    hash.update(new Uint8Array(await f.slice(at, at + HASH_CHUNK).arrayBuffer()));
  }
  return hexEncode(hash.digest());
}

interface Card {
  att: Attestation;
  index: bigint;
  status: HTMLElement;
  signedAt: Date | undefined;
}

async function showAnswer(out: HTMLElement, query: Query, id: LogIdentity, stillHere: () => boolean) {
  const cpChecks = checkpointChecks();
  const complete = new Check('index-complete', 'Complete answer (index)');
  const badge = h('p', { class: 'badge-slot' });
  out.append(badge, checkList('Checked in this page', [...Object.values(cpChecks), complete]));
  const list = h('ol', { class: 'cards' });
  out.append(list);
  const cards: Card[] = [];
  let answer: Answer | undefined;
  let indexError: string | undefined;
  let first: VerifiedCheckpoint | undefined;
  let firstNote = '';
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const qs = new URLSearchParams({ [query.by]: query.value });
    if (cursor !== null) qs.set('cursor', cursor);
    const r = await getJson(`/v1/attestations?${qs}`);
    if (!stillHere()) return;
    const note = typeof r.checkpoint === 'string' ? r.checkpoint : '';
    let cp: VerifiedCheckpoint | undefined;
    if (page === 0) {
      firstNote = note;
      first = await checkCheckpoint(note, id, cpChecks);
      cp = first;
    } else if (note === firstNote) {
      cp = first;
    } else {
      // A later page against a newer checkpoint (a server without the index): check that one too.
      cp = await checkCheckpoint(note, id, checkpointChecks());
    }
    const items = Array.isArray(r.attestations) ? (r.attestations as Record<string, unknown>[]) : [];
    const decoded = await Promise.all(items.map((it) => showItem(list, it, query, cp)));
    for (const d of decoded) if (d.card) cards.push(d.card);
    try {
      answer = indexStep(answer, r, query, id, cp, decoded, page);
    } catch (e) {
      indexError ??= errorText(e);
    }
    cursor = typeof r.next === 'string' ? r.next : null;
    if (cursor === null) break;
  }
  markStatuses(cards);
  if (cards.length === 0) list.replaceWith(h('p', { class: 'empty' }, 'No attestation in the log matches.'));
  finishIndex(complete, badge, answer, indexError, id, cursor);
}

function finishIndex(
  complete: Check,
  badge: HTMLElement,
  answer: Answer | undefined,
  indexError: string | undefined,
  id: LogIdentity,
  cursor: string | null,
): void {
  if (indexError !== undefined) {
    complete.fail(indexError);
    return;
  }
  if (cursor !== null) {
    complete.fail(
      `more than ${MAX_PAGES} pages: the page stopped reading, so it cannot say the answer is complete`,
    );
    return;
  }
  if (!answer) {
    complete.skip(
      id.indexVersion === undefined
        ? 'this server keeps no index: the answer is proved included, not complete'
        : 'the answer carried no index',
    );
    return;
  }
  try {
    const verdict = answer.finish();
    if (!verdict.complete) {
      complete.skip(verdict.reason ?? 'not complete');
      return;
    }
    complete.ok(
      `the index proves ${verdict.entries} entr${verdict.entries === 1 ? 'y is' : 'ies are'} all there is`,
    );
    badge.append(h('span', { class: 'badge complete', 'data-badge': 'complete' }, '✓ complete'));
  } catch (e) {
    complete.fail(errorText(e));
  }
}

type Decoded = { card?: Card; item?: { index: bigint; entry: Uint8Array; inclusionProof: Uint8Array[] } };

function indexStep(
  answer: Answer | undefined,
  r: Record<string, unknown>,
  query: Query,
  id: LogIdentity,
  cp: VerifiedCheckpoint | undefined,
  decoded: Decoded[],
  page: number,
): Answer | undefined {
  if (!Object.hasOwn(r, 'index')) {
    if (id.indexVersion !== undefined)
      throw new Error('the server advertises the index but the answer has none');
    return undefined;
  }
  if (!cp) throw new Error('the checkpoint did not verify, so nothing can be proved complete');
  const index = parseIndexObject(r.index);
  const tree = { treeSize: cp.checkpoint.treeSize, rootHash: cp.checkpoint.rootHash };
  const items = decoded.map((d) => {
    if (!d.item) throw new Error('an entry of the answer could not be read');
    return d.item;
  });
  if (page === 0 || !answer) {
    const a = new IndexAnswer(tree, [query], index);
    a.page(items);
    return a;
  }
  answer.page(items, tree, index);
  return answer;
}

async function showItem(
  list: HTMLElement,
  it: Record<string, unknown>,
  query: Query,
  cp: VerifiedCheckpoint | undefined,
): Promise<Decoded> {
  const bytesCheck = new Check('entry-bytes', 'Entry bytes');
  const inclusion = new Check('inclusion-proof', 'Inclusion proof');
  const signature = new Check('attestation-signature', 'Attestation signature');
  const matches = new Check('matches-query', 'Matches the query');
  const status = h('span', { class: 'status', 'data-status': 'unknown' }, 'status: not decided');
  const head = h('div', { class: 'card-head' });
  const card = h(
    'li',
    { class: 'card' },
    head,
    status,
    checkList('Checks', [bytesCheck, inclusion, signature, matches]),
  );
  list.append(card);
  const index =
    Number.isSafeInteger(it.index) && (it.index as number) >= 0 ? BigInt(it.index as number) : undefined;
  let entry: Uint8Array;
  let proof: Uint8Array[];
  try {
    if (index === undefined) throw new Error('index is not a non-negative safe integer');
    entry = decodeB64(it.entry, 'entry');
    proof = decodeProof(it.inclusionProof, 'inclusionProof');
  } catch (e) {
    for (const c of [bytesCheck, inclusion, signature, matches]) c.fail(errorText(e));
    return {};
  }
  head.append(link(`/entry/${index}`, `Entry #${index}`));
  const item = { index, entry, inclusionProof: proof };
  checkInclusion(index, entry, proof, cp, inclusion);
  let att: Attestation;
  let loggedAt: string;
  try {
    ({ attestation: att, loggedAt } = parseEntry(entry));
    bytesCheck.ok(`canonical JSON, ${entry.length} bytes`);
  } catch (e) {
    bytesCheck.fail(errorText(e));
    signature.skip('the entry could not be read');
    matches.fail('the entry could not be read');
    return { item };
  }
  const d = att.data;
  head.append(
    ' ',
    h('span', { class: d.ok ? 'ok-flag' : 'bad-flag' }, d.ok ? 'ok: true' : 'ok: false'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Identifier'),
      h('dd', {}, h('code', {}, d.id)),
      h('dt', {}, 'Signer'),
      h('dd', {}, link(`/search?key=${att.key}`, att.key)),
      h('dt', {}, 'Comment'),
      h('dd', {}, typeof d.comment === 'string' ? d.comment : '(none)'),
      h('dt', {}, 'Logged'),
      h('dd', {}, loggedAt),
    ),
  );
  const wanted = query.by === 'id' ? d.id === query.value : att.key === query.value.toUpperCase();
  if (wanted)
    matches.ok(query.by === 'id' ? 'its identifier is the one asked for' : 'its signer is the one asked for');
  else matches.fail(`asked for ${query.value}, got ${query.by === 'id' ? d.id : att.key}`);
  const signedAt = await checkSignature(att, signature);
  return { card: { att, index, status, signedAt }, item };
}

/**
 * markStatuses applies the newest-per-key rule (cli/trust.ts markSuperseded): per signer, the
 * attestation with the newest verified signature time speaks; a tie goes to ok: false. Older ones are
 * superseded; one whose signature did not verify is invalid and never counts.
 */
function markStatuses(cards: readonly Card[]): void {
  const newest = new Map<string, Card>();
  for (const c of cards) {
    if (c.signedAt === undefined) continue;
    const cur = newest.get(c.att.key);
    const t = c.signedAt.getTime();
    const ct = cur?.signedAt?.getTime() ?? -1;
    if (!cur || t > ct || (t === ct && !c.att.data.ok && cur.att.data.ok)) newest.set(c.att.key, c);
  }
  const seen = new Set<bigint>();
  for (const c of cards) {
    const set = (s: string, text: string) => {
      c.status.dataset.status = s;
      c.status.textContent = text;
    };
    if (seen.has(c.index)) continue;
    seen.add(c.index);
    const w = newest.get(c.att.key);
    if (c.signedAt === undefined) set('invalid', 'status: invalid (its signature did not verify)');
    else if (w !== c && w) set('superseded', `status: superseded by entry #${w.index} of the same key`);
    else if (c.att.data.ok) set('ok', 'status: ok (the newest word of its key)');
    else set('bad', 'status: marked bad (the newest word of its key)');
  }
}
