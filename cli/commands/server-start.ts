import { Flags, type Interfaces } from '@oclif/core';
import { SETTINGS } from '../../server/config.js';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { serve } from '../serve.js';

const settingFlags: Record<string, Interfaces.OptionFlag<string | undefined>> = {};
for (const s of SETTINGS) {
  settingFlags[s.flag] = Flags.string({
    description: `${s.description} [env ${s.env}${s.default === undefined ? '' : `, default ${s.default}`}]`,
    helpGroup: 'SERVER',
  });
}

/**
 * ServerStart is `sig server start`: runs a Sig Server until SIGINT/SIGTERM (for operators). bin/sig.js
 * runs plain flag lists without oclif (cli/serve.ts serveDirect); this class serves --help, usage errors
 * and anything else oclif must parse, then calls the same serve.
 */
export default class ServerStart extends SigCommand {
  static override enableJsonFlag = false;
  static override summary = 'Run a Sig Server (operators). Stops gracefully on SIGINT/SIGTERM.';
  static override description =
    `Every setting is a flag here or an environment variable (flags win); the README's Configuration table lists them. With no DATABASE_URL it runs on an embedded PGlite database in --data-dir, and makes its keys there at first start (mode 0600).\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    '<%= config.bin %> server start',
    '<%= config.bin %> server start --port 8080 --data-dir ./data --origin sig.example.com/log',
    'DATABASE_URL=postgres://sig@db/sig <%= config.bin %> server start --host 0.0.0.0',
  ];
  static override flags = settingFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(ServerStart);
    // The same path as bin/sig.js's direct route (cli/serve.ts): serves until SIGINT/SIGTERM.
    await serve(flags as Record<string, string | undefined>);
  }
}
