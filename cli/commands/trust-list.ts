import { exitCodesHelp, SigCommand } from '../base.js';
import type { TrustConfig } from '../config.js';
import { EXIT } from '../exit-codes.js';

/** TrustList is `sig trust list`: trusted fingerprints and the policy. */
export default class TrustList extends SigCommand {
  static override summary = 'List trusted keys and the trust policy.';
  static override description = exitCodesHelp([EXIT.OK, EXIT.USAGE]);
  static override examples = ['<%= config.bin %> trust list', '<%= config.bin %> trust list --json'];

  async run(): Promise<TrustConfig> {
    await this.parse(TrustList);
    const t = this.home.trust();
    this.log(`policy: at least ${t.policy.minOk} trusted ok, at most ${t.policy.maxNotOk} trusted not-ok`);
    if (t.fingerprints.length === 0) this.log('no trusted keys: `sig trust add <fingerprint>`');
    for (const fp of t.fingerprints)
      this.log(`${fp}${this.home.readPublicKeyArmored(fp) ? '' : '  (key not imported)'}`);
    return t;
  }
}
