// web/build.mjs: builds the explorer into dist/explorer/ (served by server/http/ui.ts): esbuild bundles
// web/src/main.ts with the log/ code it uses into assets/app.js (one ES module, minified, for browsers),
// copies index.html, style.css and the icon, and turns docs/openapi.yaml into openapi.json (served by
// server/http/openapi.ts, so the server needs no YAML parser). Run by `npm run build`; tests call build().
//
// Every file is written to a temporary name and renamed into place, so a server (or another test
// process building at the same time: the output is deterministic) never reads half a file.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'explorer');

function put(file, data) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** build writes dist/explorer and returns the sizes of what it wrote (bytes, and gzipped). */
export async function build() {
  const result = await esbuild.build({
    entryPoints: [join(root, 'web', 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    legalComments: 'none',
    write: false,
    outfile: join(out, 'assets', 'app.js'),
    logLevel: 'warning',
  });
  const js = result.outputFiles[0].contents;
  put(join(out, 'assets', 'app.js'), js);
  const css = readFileSync(join(root, 'web', 'style.css'));
  put(join(out, 'assets', 'app.css'), css);
  put(join(out, 'assets', 'icon.svg'), readFileSync(join(root, 'web', 'icon.svg')));
  put(join(out, 'index.html'), readFileSync(join(root, 'web', 'index.html')));
  const api = parse(readFileSync(join(root, 'docs', 'openapi.yaml'), 'utf8'));
  put(join(out, 'openapi.json'), `${JSON.stringify(api, null, 2)}\n`);
  return {
    js: js.length,
    jsGzip: gzipSync(js).length,
    css: css.length,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await build();
  console.log(
    `explorer: dist/explorer/assets/app.js ${(s.js / 1024).toFixed(0)} KiB (${(s.jsGzip / 1024).toFixed(0)} KiB gzipped), app.css ${(s.css / 1024).toFixed(1)} KiB`,
  );
}
