/**
 * nav: in-page navigation over real URLs (history.pushState), so every search and entry has a URL to
 * share. main.ts registers the router; pages only link and navigate (no import cycle back to main).
 */
import { h } from './dom.js';

let router: () => void = () => {};

/** setRouter registers what shows the page for the current URL. */
export function setRouter(f: () => void): void {
  router = f;
}

/** navigate shows `url` (same origin) and records it in the history. */
export function navigate(url: string): void {
  history.pushState(null, '', url);
  router();
}

/** link returns an in-page link to `href`. */
export function link(href: string, text: string, attrs: Record<string, string> = {}): HTMLAnchorElement {
  return h('a', { href, 'data-nav': '', ...attrs }, text);
}
