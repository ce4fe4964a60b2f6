/**
 * A new embedded (PGlite) database without running initdb each time. initdb inside PGlite takes about
 * 3.5 s of a fresh server's start (the bootstrap catalogs, template0 and postgres, in WebAssembly; then
 * the 40 MB result is copied file by file into the data directory). Its output does not depend on the
 * data directory, so it is made once per PGlite build, shut down cleanly, and kept in a cache folder;
 * each new data directory gets a copy of it (a few hundred ms), as Postgres's own CREATE DATABASE copies
 * template1. PGlite then finds a database ("resuming") and skips initdb.
 *
 * The cache is $XDG_CACHE_HOME/sig-server (default ~/.cache/sig-server), one folder per PGlite build
 * (version and wasm size): `pglite-<version>-<size>/pgdata` and the `complete` marker. When it cannot be
 * written (read-only home, no home), the data directory is made by PGlite's own initdb, as before.
 * Every log made from one template shares Postgres's system identifier (pg_control); PGlite never
 * replicates or archives WAL, where that identifier matters.
 *
 * Crash safety: a template is built in a folder of its own and renamed into place with its marker
 * written last, and a data directory's copy is made beside `<dataDir>/pglite` and renamed to it; dying at
 * any point leaves either nothing or a complete folder under the final name (PGlite's own initdb copies
 * its result straight into the final folder, where a crash could leave half a database). Temp folders of
 * a process that died are removed at the next start. No fsync: PGlite runs Postgres with fsync off (its
 * default `-F`), so the embedded store does not survive a power loss anyway, and PGlite's own copy did
 * not sync either.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/** FORMAT changes when what goes into a template changes (PGlite options of the initdb run). */
const FORMAT = 1;

/** defaultTemplateCache returns the cache folder: $XDG_CACHE_HOME/sig-server, or ~/.cache/sig-server. */
export function defaultTemplateCache(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'sig-server');
  const home = env.HOME ?? homedir();
  return home ? join(home, '.cache', 'sig-server') : undefined;
}

/** templateKey names the template of the installed PGlite build: version, wasm size, FORMAT. */
export function templateKey(): string {
  const dist = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  const pkg = JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string };
  const wasm = statSync(join(dist, 'pglite.wasm')).size;
  return `pglite-${pkg.version}-${wasm}-f${FORMAT}`;
}

/** How a PGlite data directory was found or made. */
export type PgliteOrigin = 'existing' | 'template' | 'initdb';

/**
 * preparePgliteDir makes `dir` (a PGlite data directory, `<dataDir>/pglite`) ready to open: when it
 * holds a database (PG_VERSION) nothing is done; when it is missing or empty it becomes a copy of the
 * template in `cache` (built first if missing). Returns 'initdb' when PGlite must run initdb itself: no
 * cache, a cache that cannot be written, or a `dir` that holds files but no database (left to PGlite as
 * before). The caller holds the data directory's lock.
 */
export async function preparePgliteDir(dir: string, cache: string | undefined): Promise<PgliteOrigin> {
  removeDeadTemps(dirname(dir));
  if (existsSync(join(dir, 'PG_VERSION'))) return 'existing';
  if (cache === undefined || (existsSync(dir) && readdirSync(dir).length > 0)) return 'initdb';
  let template: string;
  try {
    template = await ensureTemplate(cache);
  } catch (e) {
    // A cache that cannot be used (read-only, a file in the way, ...): the slow path, as before.
    if (typeof (e as NodeJS.ErrnoException).syscall === 'string') return 'initdb';
    throw e;
  }
  const tmp = `${dir}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    cpSync(template, tmp, { recursive: true });
    chmodSync(tmp, 0o700); // as openDb makes it for PGlite's initdb (the template keeps PGlite's mode)
    rmSync(dir, { recursive: true, force: true }); // empty (checked above)
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return 'template';
}

/**
 * ensureTemplate returns the pgdata folder of the template for the installed PGlite, building it first
 * when the cache has none: initdb in a folder of its own, a clean shutdown, the marker, then a rename
 * (when another process renamed its own first, that one is used).
 */
async function ensureTemplate(cache: string): Promise<string> {
  const key = templateKey();
  const final = join(cache, key);
  if (existsSync(join(final, 'complete'))) return join(final, 'pgdata');
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  removeDeadTemps(cache);
  const tmp = join(cache, `${key}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(tmp, { mode: 0o700 });
    const pg = await PGlite.create(join(tmp, 'pgdata'));
    await pg.close();
    writeFileSync(join(tmp, 'complete'), `${key}\n`, { mode: 0o600 });
    try {
      renameSync(tmp, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(join(final, 'complete'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return join(final, 'pgdata');
}

/** TEMP: the temp folders made here: `<name>.new-<pid>-<hex>` and `<name>.tmp-<pid>-<hex>`. */
const TEMP = /\.(?:new|tmp)-(\d+)-[0-9a-f]{8}$/;

/** removeDeadTemps removes the temp folders in `parent` whose process is gone (it died copying). */
function removeDeadTemps(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMP.exec(name)?.[1]);
    if (pid > 0 && !alive(pid)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/** alive reports whether process `pid` runs (this one included). */
export function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
