import { Args } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';

/** ServerRemove is `sig server remove`: forgets a server, its pinned keys and kept checkpoints. */
export default class ServerRemove extends SigCommand {
  static override summary =
    'Remove a server (its pinned keys and kept checkpoints; receipts and evidence stay).';
  static override description = exitCodesHelp([EXIT.OK, EXIT.USAGE]);
  static override examples = [
    '<%= config.bin %> server remove 127.0.0.1_8080',
    '<%= config.bin %> server remove http://127.0.0.1:8080',
  ];
  static override args = { server: Args.string({ description: 'name or URL', required: true }) };

  async run(): Promise<{ removed: string }> {
    const { args } = await this.parse(ServerRemove);
    const s = this.home.server(args.server);
    this.home.setServers(this.home.servers().filter((x) => x.name !== s.name));
    this.home.removeServerState(s.name);
    this.log(`removed ${s.name} (${s.url})`);
    return { removed: s.name };
  }
}
