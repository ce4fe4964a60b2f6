/**
 * witnesses: witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) checked in the page with
 * log/cosignature.ts. The log does not say which witnesses it asks, and a page cannot take the log's
 * word for whom to trust anyway: the reader pins witness keys here (kept in this browser's
 * localStorage), like `sig server add --witness`. Each pinned witness's line must verify over the
 * checkpoint; lines by other keys are counted, not checked.
 */
import { cosignatureTimestamp, cosignatureVerifier } from '../../log/cosignature.js';
import { openNote, parseNote } from '../../log/note.js';
import { type Check, errorText, h } from './dom.js';

const STORE = 'sig-explorer-witnesses';
/** MAX_PINNED bounds the keys kept (each is one signature check per checkpoint shown). */
const MAX_PINNED = 16;

/** pinnedWitnesses returns the witness vkeys this browser pinned. */
export function pinnedWitnesses(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(STORE) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, MAX_PINNED) : [];
  } catch {
    return [];
  }
}

/** witnessForm returns the home page's form to pin witness keys (one vkey per line). */
export function witnessForm(onSaved: () => void): HTMLElement {
  const area = h('textarea', { id: 'witness-keys', rows: '3', spellcheck: 'false', autocomplete: 'off' });
  area.value = pinnedWitnesses().join('\n');
  const status = h('p', { class: 'hint', id: 'witness-status', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'witness-form' },
    h('label', { for: 'witness-keys' }, 'Witness keys you trust (cosignature/v1 vkeys, one per line)'),
    area,
    h('button', { type: 'submit' }, 'Save and check'),
    status,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const keys = area.value
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    try {
      if (keys.length > MAX_PINNED) throw new Error(`at most ${MAX_PINNED} keys`);
      for (const k of keys) cosignatureVerifier(k);
    } catch (e) {
      status.textContent = `Not saved: ${errorText(e)}`;
      status.className = 'error';
      return;
    }
    localStorage.setItem(STORE, JSON.stringify(keys));
    status.textContent = `Saved ${keys.length} witness key(s) in this browser.`;
    status.className = 'hint';
    onSaved();
  });
  return h(
    'details',
    { class: 'witnesses' },
    h('summary', {}, 'Witnesses'),
    h(
      'p',
      { class: 'hint' },
      'A witness cosigns a checkpoint only if it is consistent with every one it saw before. Pin the witnesses you trust (their vkey, as their /v1/server shows it) and every page checks their cosignatures.',
    ),
    form,
  );
}

/**
 * checkCosignatures marks `check` for the cosignature lines of `note` (a checkpoint of `origin`): fail
 * when a pinned witness's line does not verify or no pinned witness cosigned; ok when at least one did
 * and none failed (naming any pinned witness that did not); skip when no witness is pinned.
 */
export async function checkCosignatures(note: string, origin: string, check: Check): Promise<void> {
  const others = parseNote(note).signatures.filter((s) => s.name !== origin).length;
  const pinned = pinnedWitnesses();
  if (pinned.length === 0) {
    check.skip(
      others === 0
        ? 'no witness cosignature lines on this checkpoint'
        : `${others} cosignature line(s); pin the witnesses you trust on the home page to check them`,
    );
    return;
  }
  const cosigned: string[] = [];
  const missing: string[] = [];
  for (const vkey of pinned) {
    const v = cosignatureVerifier(vkey);
    try {
      const opened = await openNote(note, [v]);
      const line = opened.verified[0]!;
      const at = new Date(Number(cosignatureTimestamp(line.signature)) * 1000);
      cosigned.push(`${v.name} at ${at.toISOString()}`);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'NOTE_UNVERIFIED') {
        missing.push(v.name);
        continue;
      }
      check.fail(`witness ${v.name}: ${errorText(e)}`);
      return;
    }
  }
  if (cosigned.length === 0) {
    check.fail(`no cosignature by a pinned witness (${missing.join(', ')})`);
    return;
  }
  check.ok(
    `cosigned by ${cosigned.join('; ')}${missing.length > 0 ? `; not by ${missing.join(', ')}` : ''} (${cosigned.length} of ${pinned.length} pinned)`,
  );
}
