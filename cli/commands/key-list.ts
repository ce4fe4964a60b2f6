import * as openpgp from 'openpgp';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { describeKey, type KeyInfo } from '../keys.js';

/** KeyList is `sig key list`: the keys under $SIG_DIR/keys. */
export default class KeyList extends SigCommand {
  static override summary = 'List the keys under $SIG_DIR/keys (yours and those you imported).';
  static override description = exitCodesHelp([EXIT.OK, EXIT.USAGE]);
  static override examples = ['<%= config.bin %> key list', '<%= config.bin %> key list --json'];

  async run(): Promise<{ keys: KeyInfo[] }> {
    await this.parse(KeyList);
    const def = this.home.defaultKey();
    const trusted = new Set(this.home.trust().fingerprints);
    const keys: KeyInfo[] = [];
    for (const k of this.home.keyFiles()) {
      const armored = this.home.readPublicKeyArmored(k.fingerprint);
      if (!armored) continue;
      const key = await openpgp.readKey({ armoredKey: armored });
      keys.push(describeKey(key, k.secret, def));
    }
    if (keys.length === 0)
      this.log('no keys: `sig key generate --name "Your Name"` or `sig key import <file>`');
    for (const k of keys) {
      const tags = [
        k.secret ? 'secret' : 'public',
        k.default ? 'default' : '',
        trusted.has(k.fingerprint) ? 'trusted' : '',
      ]
        .filter(Boolean)
        .join(', ');
      this.log(`${k.fingerprint}  ${k.algorithm}  ${k.created.slice(0, 10)}  [${tags}]`);
      for (const u of k.userIds) this.log(`    ${u}`);
    }
    return { keys };
  }
}
