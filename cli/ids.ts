/**
 * ids: Signet resource identifiers. The identifier of a file is `sha256:<hex of its bytes>` (the form
 * the Signet clients use); anything with a `scheme:` prefix given with --id is taken as it is.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { CliError } from './errors.js';

/** sha256Id returns `sha256:<hex>` of a file's bytes ('-' reads stdin). */
export async function sha256Id(path: string): Promise<string> {
  const h = createHash('sha256');
  const stream = path === '-' ? process.stdin : createReadStream(path);
  for await (const chunk of stream) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** checkIdentifier returns id when it looks like `scheme:value`; USAGE otherwise. */
export function checkIdentifier(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9+.-]*:\S+$/.test(id)) {
    throw new CliError(
      'USAGE',
      `expected an identifier like sha256:<hex> or https://..., found ${JSON.stringify(id)}`,
    );
  }
  return id;
}

/**
 * resolveTarget returns the identifier for `sig verify`/`sig publish` arguments: a path to an existing
 * file (or '-') is hashed; otherwise it must be an identifier. USAGE when it is neither.
 */
export async function resolveTarget(arg: string): Promise<{ id: string; file?: string }> {
  if (arg === '-' || (existsSync(arg) && statSync(arg).isFile()))
    return { id: await sha256Id(arg), file: arg };
  if (/^[A-Za-z0-9][A-Za-z0-9+.-]*:\S+$/.test(arg)) return { id: arg };
  throw new CliError('USAGE', `${JSON.stringify(arg)} is neither a file nor an identifier like sha256:<hex>`);
}
