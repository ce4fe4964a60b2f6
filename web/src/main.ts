/**
 * The explorer's entry point: a tiny router over real URLs (`/`, `/search?id=…|key=…`, `/entry/<n>`),
 * so every search and entry can be shared; links inside the page move with history.pushState.
 */
import { errorText, h } from './dom.js';
import { renderEntry } from './entry.js';
import { renderHome } from './home.js';
import { navigate, setRouter } from './nav.js';
import { renderSearch } from './search.js';

let generation = 0;

async function route(): Promise<void> {
  const main = document.getElementById('main')!;
  const mine = ++generation;
  // data-state: 'loading' until this page has done all its work (tests and scripts wait on 'done').
  main.dataset.state = 'loading';
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  const path = location.pathname;
  for (const a of document.querySelectorAll('nav a')) {
    const here = a.getAttribute('href') === path;
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const stillHere = () => mine === generation;
  try {
    const entry = /^\/entry\/(0|[1-9][0-9]{0,15})$/.exec(path);
    if (path === '/') await renderHome(view, stillHere);
    else if (path === '/search') await renderSearch(view, new URLSearchParams(location.search), stillHere);
    else if (entry) await renderEntry(view, BigInt(entry[1]!), stillHere);
    else view.append(h('h2', {}, 'Not found'), h('p', {}, `No page at ${path}.`));
  } catch (e) {
    if (!stillHere()) return;
    const why = `The page could not load: ${errorText(e)}`;
    view.append(h('p', { class: 'error', role: 'alert', 'data-load-error': '' }, why));
    // Checks the failure left unstarted are not checked: say so, rather than "checking…" forever.
    for (const li of view.querySelectorAll<HTMLElement>('li.check[data-state="pending"]')) {
      li.dataset.state = 'skip';
      li.querySelector('.mark')!.textContent = '–';
      li.querySelector('.detail')!.textContent = `not checked: ${why}`;
    }
  }
  if (!stillHere()) return;
  summarize(view);
  main.dataset.state = 'done';
}

/**
 * summarize puts, at the top of a page whose checks are done, one red line naming every check that
 * failed (the reader may not scroll to the one that matters). Nothing is said when all held: the marks
 * in the list speak for themselves.
 */
function summarize(view: HTMLElement): void {
  const failed = [...view.querySelectorAll('li.check[data-state="fail"] .label')].map(
    (e) => e.textContent ?? '',
  );
  if (failed.length === 0) return;
  const names = [...new Set(failed)];
  view.prepend(
    h(
      'p',
      { class: 'error summary', role: 'alert', 'data-summary': 'fail' },
      `✗ ${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${names.join(', ')}. Do not rely on what this page shows.`,
    ),
  );
}

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element | null)?.closest?.('a[data-nav]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  navigate(a.getAttribute('href')!);
  document.getElementById('main')?.focus();
});
window.addEventListener('popstate', () => void route());
setRouter(() => void route());
void route();
