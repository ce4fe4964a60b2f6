import { Flags, type Interfaces } from '@oclif/core';
import { loadConfig, SETTINGS } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';

const settingFlags: Record<string, Interfaces.OptionFlag<string | undefined>> = {};
for (const s of SETTINGS) {
  settingFlags[s.flag] = Flags.string({
    description: `${s.description} [env ${s.env}${s.default === undefined ? '' : `, default ${s.default}`}]`,
    helpGroup: 'SERVER',
  });
}

/** ServerStart is `sig server start`: runs a Sig Server until SIGINT/SIGTERM (for operators). */
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
    const config = loadConfig(process.env, flags as Record<string, string | undefined>);
    const logger = createLogger(config.logLevel);
    // Loaded here, not at the top: every other command starts faster without express and the database.
    const { startServer, shutdownOnSignals } = await import('../../server/main.js');
    const handle = await startServer(config, { logger });
    // Serves until SIGINT/SIGTERM; the same path as server/main.ts run directly (it exits the process).
    await shutdownOnSignals(handle, logger);
  }
}
