/**
 * main: runs the `sig` CLI (bin/sig.js imports the compiled dist/cli/main.js). oclif finds package.json
 * from `dir` and loads the explicit command table (cli/commands.ts). Auto-transpiling is turned off:
 * the CLI always runs the compiled JavaScript in dist/ (`npm run build` first), never src through a
 * loader, so tests and users run exactly the same code.
 */
import { execute, settings } from '@oclif/core';

/** main runs the CLI with argv and returns once the command finished; the exit code is process.exitCode. */
export async function main(dir: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  settings.enableAutoTranspile = false;
  await execute({ dir, args: argv });
}
