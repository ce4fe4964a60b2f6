/**
 * serve: what `sig server start` runs, reached two ways with the same code:
 *   - bin/sig.js calls serveDirect for `sig server start <flags>` when every argument is a plain server
 *     setting flag (plainServerFlags): no oclif, no command table, nothing of the client CLI is loaded
 *     (oclif's start and the 21 command modules cost about 1 s before the server even begins to open);
 *   - anything else (`--help`, an unknown or repeated flag, a value that looks like a flag, a positional
 *     argument) goes through oclif as every other command does: cli/commands/server-start.ts parses the
 *     same SETTINGS flags and calls serve. Errors oclif reports are therefore exactly its own.
 * Errors after parsing (a bad setting, a database that will not open) are printed and mapped to an exit
 * code the way SigCommand.catch (cli/base.ts) does, so both ways print and exit alike.
 */
import { loadConfig, SETTINGS } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { exitCodeFor } from './exit-codes.js';

/**
 * serve loads the configuration from the environment and `flags` (flags win), starts the server and
 * serves until SIGINT/SIGTERM (the returned promise never settles: server/main.ts shutdownOnSignals
 * exits the process). Throws ConfigError for a bad setting and what startServer throws.
 */
export async function serve(flags: Record<string, string | undefined>): Promise<never> {
  const config = loadConfig(process.env, flags);
  const logger = createLogger(config.logLevel);
  // Loaded here, not at the top: a bad setting is reported before express and the database load.
  const { startServer, shutdownOnSignals } = await import('../server/main.js');
  const handle = await startServer(config, { logger });
  return shutdownOnSignals(handle, logger);
}

/**
 * plainServerFlags returns the flags of `args` (the arguments after `server start`) when each is a
 * SETTINGS flag given once, as `--name=value` or `--name value` with a value not starting with `-`;
 * otherwise undefined (the caller lets oclif parse them: help, usage errors).
 */
export function plainServerFlags(args: readonly string[]): Record<string, string> | undefined {
  const known = new Set(SETTINGS.map((s) => s.flag));
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z0-9-]+)(?:=([\s\S]*))?$/.exec(args[i]!);
    if (!m || !known.has(m[1]!) || Object.hasOwn(flags, m[1]!)) return undefined;
    let value = m[2];
    if (value === undefined) {
      value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
    }
    flags[m[1]!] = value;
  }
  return flags;
}

/**
 * serveDirect runs `sig server start` with `args` without oclif when plainServerFlags accepts them, and
 * returns false (nothing done) when it does not. It returns true only after a failure, with the error
 * printed on stderr (`sig: <CODE>: <message>`, as SigCommand.catch prints it) and process.exitCode set;
 * while serving it never returns.
 */
export async function serveDirect(args: readonly string[]): Promise<boolean> {
  const flags = plainServerFlags(args);
  if (!flags) return false;
  try {
    await serve(flags);
  } catch (e) {
    const err = e as Error & { code?: unknown };
    process.exitCode = exitCodeFor(err);
    const code = typeof err.code === 'string' ? err.code : 'USAGE';
    process.stderr.write(`sig: ${code}: ${err.message}\n`);
    if (process.env.SIG_DEBUG) process.stderr.write(`${err.stack}\n`);
  }
  return true;
}
