import { exitCodesHelp, SigCommand } from '../base.js';
import { formatDuration } from '../config.js';
import { EXIT } from '../exit-codes.js';

/** ServerList is `sig server list`. */
export default class ServerList extends SigCommand {
  static override summary = 'List the configured servers, their pinned keys and the last checkpoint kept.';
  static override description = exitCodesHelp([EXIT.OK, EXIT.USAGE]);
  static override examples = ['<%= config.bin %> server list', '<%= config.bin %> server list --json'];

  async run(): Promise<{ servers: Array<Record<string, unknown>> }> {
    await this.parse(ServerList);
    const servers = this.home.servers().map((s) => {
      const kept = this.home.keptCheckpoint(s.name);
      const size = kept?.split('\n')[1];
      return {
        name: s.name,
        url: s.url,
        origin: s.origin,
        fingerprint: s.fingerprint,
        vkey: s.vkey,
        maxAgeSeconds: s.maxAgeSeconds,
        keptTreeSize: size !== undefined && /^\d+$/.test(size) ? Number(size) : null,
      };
    });
    if (servers.length === 0) this.log('no servers: `sig server add <url>`');
    for (const s of servers) {
      this.log(`${s.name}  ${s.url}`);
      this.log(`    origin ${s.origin}, OpenPGP ${s.fingerprint}`);
      this.log(`    vkey ${s.vkey}`);
      this.log(
        `    stale after ${formatDuration(s.maxAgeSeconds)}, kept checkpoint size ${s.keptTreeSize ?? 'none'}`,
      );
    }
    return { servers };
  }
}
