/**
 * base: what every `sig` command shares. `--json` (oclif's enableJsonFlag: the command's result is
 * printed as JSON on stdout), errors mapped to exit codes in one place (cli/exit-codes.ts) and printed
 * as `sig: <CODE>: message` on stderr (or `{"error": {code, message, details}}` with --json), warnings
 * on stderr, and a yes/no question that refuses to guess when there is no terminal.
 */
import { createInterface } from 'node:readline/promises';
import { Command, Flags } from '@oclif/core';
import { base64Encode } from '../log/bytes.js';
import { isLogError } from '../log/errors.js';
import { DEFAULT_TIMEOUT, Deadline } from './client.js';
import { parseDuration, SigHome } from './config.js';
import { CliError } from './errors.js';
import { EXIT, EXIT_DESCRIPTIONS, type ExitCode, exitCodeFor } from './exit-codes.js';

/** jsonReplacer prints bigints as numbers (safe) or strings, and bytes as base64. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return base64Encode(v);
  return v;
}

/**
 * openPrompt reads answers line by line from stdin, prompting on stderr. Lines typed ahead (or piped)
 * are buffered, not lost between questions. An answer at end of input is ''.
 */
export function openPrompt(): { ask(question: string): Promise<string>; close(): void } {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  return {
    async ask(question: string) {
      process.stderr.write(question);
      const next = await lines.next();
      return next.done ? '' : String(next.value);
    },
    close: () => rl.close(),
  };
}

/** exitCodesHelp is the exit-code table appended to every command's --help. */
export function exitCodesHelp(codes: readonly ExitCode[]): string {
  return `Exit codes:\n${codes.map((c) => `  ${c}  ${EXIT_DESCRIPTIONS[c]}`).join('\n')}`;
}

/**
 * TIMEOUT_FLAGS is `--timeout`, the overall deadline of every command that talks to servers (cli/client.ts
 * Deadline): requests, bodies and retry waits all end by then. Spread into a command's flags.
 */
export const TIMEOUT_FLAGS = {
  timeout: Flags.string({
    description:
      'overall deadline of the command (90s, 5m, 1h): every request, download and retry wait ends by then (exit 6 past it)',
    default: DEFAULT_TIMEOUT,
  }),
};

/** deadlineFrom returns the Deadline of a `--timeout` value (USAGE when it is not a duration). */
export function deadlineFrom(timeout: string): Deadline {
  return new Deadline(parseDuration(timeout) * 1000);
}

/** SigCommand is the base class of every command. */
export abstract class SigCommand extends Command {
  static override enableJsonFlag = true;

  /** home is $SIG_DIR. */
  protected home = new SigHome();

  /** warnLine prints a warning on stderr, also under --json (stdout stays pure JSON). */
  protected warnLine(message: string): void {
    process.stderr.write(`sig: warning: ${message}\n`);
  }

  /** info prints a progress line on stderr unless --json. */
  protected info(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`);
  }

  /** interactive reports whether questions can be asked (stdin and stderr are terminals). */
  protected interactive(): boolean {
    return Boolean(process.stdin.isTTY && process.stderr.isTTY);
  }

  /** confirm asks a yes/no question on the terminal; NOT_INTERACTIVE without one (with how to answer by flag). */
  protected async confirm(question: string, howToAnswer: string): Promise<boolean> {
    if (!this.interactive()) {
      throw new CliError('NOT_INTERACTIVE', `cannot ask "${question}" without a terminal: ${howToAnswer}`);
    }
    const p = openPrompt();
    try {
      const a = (await p.ask(`${question} [y/N] `)).trim().toLowerCase();
      return a === 'y' || a === 'yes';
    } finally {
      p.close();
    }
  }

  /** setExit sets the exit code for a finished command whose answer is negative (e.g. not trusted). */
  protected setExit(code: ExitCode): void {
    if (code !== EXIT.OK && (process.exitCode === undefined || process.exitCode === 0))
      process.exitCode = code;
  }

  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, jsonReplacer, 2)}\n`);
  }

  protected override async catch(err: Error & { code?: string; oclif?: { exit?: number } }): Promise<void> {
    if (err.code === 'EEXIT') throw err; // this.exit(n): oclif handles it
    const code = exitCodeFor(err);
    process.exitCode = code;
    const known = err instanceof CliError || isLogError(err);
    // Operator errors from server/ (ConfigError CONFIG_INVALID, ServiceError codes) keep their code.
    const errCode = known ? err.code : typeof err.code === 'string' && !err.oclif ? err.code : 'USAGE';
    const details = known ? (err as CliError).details : {};
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: errCode, message: err.message, details }, exitCode: code });
    } else {
      process.stderr.write(`sig: ${errCode}: ${err.message}\n`);
      if (!known && process.env.SIG_DEBUG) process.stderr.write(`${err.stack}\n`);
    }
  }
}
