/**
 * log/ is pure (docs/contracts.md, STYLE.md "The house"): no database, HTTP, file system, network
 * or process access, so the client verifies with exactly the code the server proves with. This scans
 * every source file under log/ (comments stripped, strings kept) for imports of I/O modules, dynamic
 * imports, require(), fetch( and process.env. The scanner is itself tested on samples first.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import test from 'ava';
import { projectRoot } from './helpers/vectors.js';

/** Node core modules that do I/O, with or without the `node:` prefix (subpaths too: fs/promises). */
const CORE_IO = new Set([
  'fs',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'dgram',
  'dns',
  'tls',
  'cluster',
]);

/** Why importing `spec` from log/ is forbidden, or undefined when it is fine. */
function forbiddenModule(spec: string): string | undefined {
  const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
  const root = bare.split('/')[0]!;
  if (CORE_IO.has(root)) return `${spec}: Node I/O module`;
  if (bare === 'pg' || bare.startsWith('pg/') || bare.startsWith('pg-')) return `${spec}: Postgres driver`;
  if (bare.startsWith('@electric-sql/')) return `${spec}: embedded database`;
  if (bare.startsWith('express')) return `${spec}: HTTP server`;
  if (root === 'undici' || root === 'node-fetch' || root === 'axios') return `${spec}: HTTP client`;
  return undefined;
}

/** Removes // and /* comments, keeping string and template literals (and their contents) intact. */
function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every violation in one source text. */
function violations(src: string): string[] {
  const code = stripComments(src);
  const found: string[] = [];
  const specs = [
    ...code.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1/g),
    ...code.matchAll(/\bimport\s*(['"])([^'"]+)\1/g),
    ...code.matchAll(/\brequire\s*\(\s*(['"])([^'"]+)\1/g),
  ].map((m) => m[2]!);
  for (const spec of specs) {
    const why = forbiddenModule(spec);
    if (why) found.push(why);
  }
  // `import('openpgp').PublicKey` in a type is a type reference, not a dynamic import (its module is
  // still checked above); `import('x').then(...)` and every other import( are dynamic imports.
  for (const m of code.matchAll(/\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)\s*\.\s*([A-Za-z_$][\w$]*)/g)) {
    const why = forbiddenModule(m[2]!);
    if (why) found.push(why);
  }
  const runtime = code.replace(
    /\bimport\s*\(\s*(['"])[^'"]+\1\s*\)\s*\.\s*(?!then\b|catch\b|finally\b)[A-Za-z_$]/g,
    '',
  );
  if (/\bimport\s*\(/.test(runtime)) found.push('dynamic import()');
  if (/\brequire\s*\(/.test(code)) found.push('require()');
  if (/\bfetch\s*\(/.test(code)) found.push('fetch(');
  if (/\bprocess\s*\.\s*env\b/.test(code) || /\bprocess\s*\[\s*['"]env['"]\s*\]/.test(code))
    found.push('process.env');
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return sourceFiles(p);
      return /\.(ts|mts|cts|js|mjs|cjs)$/.test(name) ? [p] : [];
    });
}

test('the purity scanner catches what it must and nothing else (samples)', (t) => {
  const bad: [string, string][] = [
    ["import pg from 'pg';", 'pg'],
    ["import { Pool } from 'pg-pool';", 'pg-pool'],
    ["import { PGlite } from '@electric-sql/pglite';", 'pglite'],
    ["import express from 'express';", 'express'],
    ["import { rateLimit } from 'express-rate-limit';", 'express-rate-limit'],
    ["import { readFileSync } from 'node:fs';", 'node:fs'],
    ["import * as fs from 'fs';", 'fs'],
    ["import { readFile } from 'node:fs/promises';", 'fs/promises'],
    ["import net from 'node:net';", 'node:net'],
    ["import { createServer } from 'http';", 'http'],
    ["import https from 'node:https';", 'node:https'],
    ["import { spawn } from 'node:child_process';", 'child_process'],
    ["import dgram from 'node:dgram';", 'dgram'],
    ["import { lookup } from 'dns';", 'dns'],
    ["import { request } from 'undici';", 'undici'],
    ["import 'node:fs';", 'side-effect import'],
    ["export { readFileSync } from 'node:fs';", 're-export'],
    ["import {\n  readFileSync,\n} from 'node:fs';", 'multi-line import'],
    ["const m = await import('./x.js');", 'dynamic import'],
    ["import('./x.js').then((m) => m.run());", 'dynamic import with then'],
    ["type S = import('express-rate-limit').Store;", 'type reference to a forbidden module'],
    ["const fs = require('fs');", 'require'],
    ["const r = await fetch('https://example.com');", 'fetch'],
    ['const r = await globalThis.fetch(url);', 'globalThis.fetch'],
    ['const d = process.env.DATA_DIR;', 'process.env'],
    ["const d = process['env'];", "process['env']"],
  ];
  for (const [src, what] of bad) t.true(violations(src).length > 0, `not caught: ${what}`);
  const good = [
    "import { sha256 } from '@noble/hashes/sha2.js';",
    "import * as openpgp from 'openpgp';",
    "import { LogError } from './errors.js';",
    "import type { TileFetcher } from './tiles.js';",
    '// Storage is reached through fetch(tiles): see tiles.ts. process.env is not read here.',
    "/* import fs from 'node:fs' */ const x = 1;",
    "const url = 'https://c2sp.org/tlog-tiles'; // a URL in a string is not a comment",
    'async function run(fetchTiles) { return fetchTiles([]); }',
    "const s = 'a string that mentions node:fs';",
    "export function f(key: import('openpgp').PublicKey): void {}",
  ];
  for (const src of good) t.deepEqual(violations(src), [], `false alarm: ${src}`);
});

const logDir = join(projectRoot, 'log');
const files = sourceFiles(logDir);

test(`log/ is pure: no I/O imports, dynamic imports, fetch( or process.env (${files.length} files scanned)`, (t) => {
  t.true(files.length >= 4, 'log/ holds at least errors, hash, tiles and proof');
  for (const f of files) {
    const found = violations(readFileSync(f, 'utf8'));
    t.deepEqual(
      found,
      [],
      `${relative(projectRoot, f)} must stay pure (log/ has no I/O): ${found.join(', ')}`,
    );
  }
  t.log(files.map((f) => relative(projectRoot, f)).join(', '));
});
