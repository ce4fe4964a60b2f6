/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): one text for one JSON value.
 *
 * The log's entry bytes (log/entry.ts), the server's dedup key (attestationDigest) and the size bound
 * of an attestation (log/signet.ts) are all computed over this text, so every implementation that
 * follows RFC 8785 gets the same bytes. It lives on its own so that entry.ts and signet.ts can both use
 * it without importing each other. Pure: no I/O.
 */
import { LogError } from './errors.js';

/** Containers nested deeper than this are refused by canonicalJson (a guard for the stack, not a format rule). */
const MAX_CANONICAL_DEPTH = 64;

/** A string containing an unpaired UTF-16 surrogate (in a `u` regex, paired surrogates are one code point). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * canonicalJson returns the RFC 8785 (JSON Canonicalization Scheme) text of a JSON value: object members
 * sorted by the UTF-16 code units of their names at every level (§3.2.3), numbers in the ECMAScript
 * Number::toString form (§3.2.2.3; -0 is written 0), strings escaped as JSON.stringify does (§3.2.2.2),
 * no whitespace. It throws ENTRY_INVALID (details.path) for anything that is not JSON data: non-finite
 * numbers, strings with lone surrogates (not representable in UTF-8), undefined, bigint, functions,
 * symbols, objects other than plain objects and arrays, sparse arrays, or nesting deeper than 64.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  writeCanonical(value, out, 0, '$');
  return out.join('');
}

/** known: the canonical text of each value freezeCanonical froze, and how deep its containers nest. */
const known = new WeakMap<object, { text: string; nesting: number }>();

/**
 * freezeCanonical deep-freezes `value` (plain objects and arrays all the way down) and returns its
 * canonicalJson. The text is remembered with the value: canonicalJson of anything that contains this
 * very object writes the remembered text instead of walking it again (frozen, it cannot have changed),
 * so a value made once and then embedded (an attestation's data in the entry, the dedup key, the size
 * bound) is canonicalised once. Throws what canonicalJson throws, and then freezes nothing.
 */
export function freezeCanonical(value: object): string {
  const text = canonicalJson(value);
  known.set(value, { text, nesting: deepFreeze(value) });
  return text;
}

/** deepFreeze freezes v and every container in it; returns how many container levels lie below v. */
function deepFreeze(v: object): number {
  let below = 0;
  for (const x of Object.values(v)) {
    if (typeof x === 'object' && x !== null) below = Math.max(below, deepFreeze(x) + 1);
  }
  Object.freeze(v);
  return below;
}

function writeCanonical(v: unknown, out: string[], depth: number, path: string): void {
  if (v === null) {
    out.push('null');
    return;
  }
  switch (typeof v) {
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(v)) notJson(path, `a finite number, found ${String(v)}`);
      // ES Number::toString is exactly RFC 8785 §3.2.2.3; String(-0) is already "0".
      out.push(String(v));
      return;
    case 'string':
      if (LONE_SURROGATE.test(v)) notJson(path, 'a string without lone UTF-16 surrogates');
      out.push(JSON.stringify(v));
      return;
    case 'object':
      break;
    default:
      notJson(path, `a JSON value, found ${typeof v}`);
  }
  const hit = known.get(v);
  // Deeper than the guard allows here: write it out, so the error names the path as it always did.
  if (hit !== undefined && depth + hit.nesting < MAX_CANONICAL_DEPTH) {
    out.push(hit.text);
    return;
  }
  if (depth >= MAX_CANONICAL_DEPTH) notJson(path, `nesting at most ${MAX_CANONICAL_DEPTH} deep`);
  if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      if (!(i in v)) notJson(`${path}[${i}]`, 'a JSON value, found a hole in a sparse array');
      writeCanonical(v[i], out, depth + 1, `${path}[${i}]`);
    }
    out.push(']');
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) notJson(path, 'a plain object or array');
  const obj = v as Record<string, unknown>;
  // The default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(obj).sort();
  out.push('{');
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) out.push(',');
    if (LONE_SURROGATE.test(k)) notJson(path, 'member names without lone UTF-16 surrogates');
    const member = obj[k];
    if (member === undefined) notJson(`${path}.${k}`, 'a JSON value, found undefined');
    out.push(JSON.stringify(k), ':');
    writeCanonical(member, out, depth + 1, `${path}.${k}`);
  }
  out.push('}');
}

function notJson(path: string, expected: string): never {
  throw new LogError('ENTRY_INVALID', `canonical JSON: expected ${expected} at ${path}`, { path });
}
