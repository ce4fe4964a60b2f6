import { Args } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { normalizeFingerprint, type TrustConfig } from '../config.js';
import { EXIT } from '../exit-codes.js';

/** TrustAdd is `sig trust add`: count this key's attestations in `sig verify`. */
export default class TrustAdd extends SigCommand {
  static override summary = "Trust a key: its attestations count in `sig verify`'s policy.";
  static override description =
    `Check the fingerprint out of band first. The key itself is needed to verify; import it with \`sig key import\` or let \`sig verify --remote\` fetch it from a server (it must have this fingerprint).\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = ['<%= config.bin %> trust add 9C75CB915794A44DD7697E21571D8816D9886717'];
  static override args = { fingerprint: Args.string({ description: '40-hex fingerprint', required: true }) };

  async run(): Promise<TrustConfig> {
    const { args } = await this.parse(TrustAdd);
    const fp = normalizeFingerprint(args.fingerprint);
    const t = this.home.trust();
    if (!t.fingerprints.includes(fp)) t.fingerprints.push(fp);
    this.home.setTrust(t);
    this.log(
      `trusted ${fp}${this.home.readPublicKeyArmored(fp) ? '' : ' (no local copy of the key yet: `sig key import` it, or verify --remote fetches it)'}`,
    );
    return t;
  }
}
