/**
 * main: runs the `sig` CLI (bin/sig.js imports the compiled dist/cli/main.js). oclif finds package.json
 * from `dir` and loads the explicit command table (cli/commands.ts). Auto-transpiling is turned off:
 * the CLI always runs the compiled JavaScript in dist/ (`npm run build` first), never sources through a
 * loader, so tests and users run exactly the same code.
 *
 * Errors inside a command are mapped to exit codes by SigCommand.catch (cli/base.ts, using
 * cli/exit-codes.ts). Errors before a command runs (an unknown command) are usage errors: exit 1, never
 * oclif's own codes, which would collide with the table (oclif uses 2 for "command not found").
 */
import { flush, run, settings } from '@oclif/core';
import { EXIT } from './exit-codes.js';

/** main runs the CLI with argv and returns once the command finished; the exit code is process.exitCode. */
export async function main(dir: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  settings.enableAutoTranspile = false;
  try {
    await run(argv, dir);
  } catch (e) {
    const err = e as Error & { oclif?: { exit?: number }; code?: string };
    if (err.code === 'EEXIT' && err.oclif?.exit === 0) {
      process.exitCode = 0;
    } else if (err.code === 'EEXIT') {
      process.exitCode ??= err.oclif?.exit ?? EXIT.USAGE;
    } else {
      process.stderr.write(`sig: USAGE: ${err.message}\n`);
      process.exitCode = EXIT.USAGE;
    }
  } finally {
    await flush();
  }
}
