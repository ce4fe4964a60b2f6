/**
 * dom: the explorer's few DOM helpers (no framework: the pages are small, and the bundle is mostly
 * log/'s crypto). `h` builds elements with text only: nothing from the server is ever parsed as HTML.
 */

type Child = Node | string | null | undefined | false;

/** h returns a new element with attributes (strings; `class`, `for`, aria-*, data-*) and children as text or nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** svg returns a new SVG element with attributes. */
export function svg(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: Node[]
): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** CheckState is what the page knows of one check: not yet computed, held, failed, or not applicable. */
export type CheckState = 'pending' | 'ok' | 'fail' | 'skip';

/**
 * Check is one line of the checks list. Its mark is green only after `ok()` is called, and `ok()` is
 * called only by code that ran the check in this page and saw it hold (never on the server's word).
 */
export class Check {
  readonly el: HTMLLIElement;
  private readonly detail: HTMLSpanElement;
  private readonly mark: HTMLSpanElement;

  constructor(
    readonly id: string,
    readonly label: string,
  ) {
    this.mark = h('span', { class: 'mark', 'aria-hidden': 'true' }, '…');
    this.detail = h('span', { class: 'detail' }, 'checking…');
    this.el = h(
      'li',
      { class: 'check', 'data-check': id, 'data-state': 'pending' },
      this.mark,
      h('span', { class: 'label' }, label),
      ': ',
      this.detail,
    );
  }

  private set(state: CheckState, mark: string, say: string, text: string): void {
    this.el.dataset.state = state;
    this.mark.textContent = mark;
    this.detail.textContent = text;
    this.el.setAttribute('aria-label', `${this.label}: ${say}. ${text}`);
  }

  /** ok marks the check as held, computed in this page. */
  ok(text: string): void {
    this.set('ok', '✓', 'verified in this page', text);
  }

  /** fail marks the check as failed, in red, with what failed. */
  fail(text: string): void {
    this.set('fail', '✗', 'FAILED', text);
  }

  /** skip marks the check as not run, and why (grey: neither held nor failed). */
  skip(text: string): void {
    this.set('skip', '–', 'not checked', text);
  }
}

/** checkList returns a labelled list holding the checks. */
export function checkList(title: string, checks: readonly Check[]): HTMLElement {
  return h(
    'section',
    { class: 'checks', 'aria-label': title },
    h('h3', {}, title),
    h('ul', {}, ...checks.map((c) => c.el)),
  );
}

/** errorText returns "CODE: message" for a LogError-like error, else the message. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

/** shortHex returns the first n hex digits of bytes, with an ellipsis. */
export function shortHex(hex: string, n = 16): string {
  return hex.length > n ? `${hex.slice(0, n)}…` : hex;
}
