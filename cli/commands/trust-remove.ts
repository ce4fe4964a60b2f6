import { Args } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { normalizeFingerprint, type TrustConfig } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

/** TrustRemove is `sig trust remove`. */
export default class TrustRemove extends SigCommand {
  static override summary = 'Stop trusting a key.';
  static override description = exitCodesHelp([EXIT.OK, EXIT.USAGE]);
  static override examples = ['<%= config.bin %> trust remove 9C75CB915794A44DD7697E21571D8816D9886717'];
  static override args = { fingerprint: Args.string({ description: '40-hex fingerprint', required: true }) };

  async run(): Promise<TrustConfig> {
    const { args } = await this.parse(TrustRemove);
    const fp = normalizeFingerprint(args.fingerprint);
    const t = this.home.trust();
    if (!t.fingerprints.includes(fp))
      throw new CliError('USAGE', `${fp} is not trusted: see \`sig trust list\``);
    t.fingerprints = t.fingerprints.filter((f) => f !== fp);
    this.home.setTrust(t);
    this.log(`no longer trusted: ${fp}`);
    return t;
  }
}
