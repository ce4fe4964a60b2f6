/**
 * Locating ../shared/vectors (test vectors made by other implementations; see its README).
 *
 * Tests read the vectors in place, never copies. In CI (CI=true) a missing folder is a failure; on a
 * developer's machine the test is skipped with a message that says where the folder should be.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** projectRoot is the folder holding package.json. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** vectorsDir is where the shared vectors live, overridable with SIG_VECTORS_DIR. */
export const vectorsDir = process.env.SIG_VECTORS_DIR ?? resolve(projectRoot, '..', 'shared', 'vectors');

/**
 * vectorPath returns the absolute path of a vector file or folder, or undefined when the vectors are
 * missing outside CI. It throws in CI, so a clone without shared/ fails loudly instead of passing.
 */
export function vectorPath(rel: string): string | undefined {
  const p = join(vectorsDir, rel);
  if (existsSync(p)) return p;
  const msg = `test vectors not found at ${p} (expected ../shared/vectors beside the project; set SIG_VECTORS_DIR to override)`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(msg);
  console.warn(`skipping: ${msg}`);
  return undefined;
}

/** readVectorJson parses a JSON vector file. */
export function readVectorJson<T = unknown>(absPath: string): T {
  return JSON.parse(readFileSync(absPath, 'utf8')) as T;
}

/** listFiles returns every file below dir, recursively, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}
