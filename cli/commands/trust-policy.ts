import { Flags } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import type { TrustPolicy } from '../config.js';
import { EXIT } from '../exit-codes.js';

/** TrustPolicyCommand is `sig trust policy`: shows or sets the Signet policy (defaults 1 and 0). */
export default class TrustPolicyCommand extends SigCommand {
  static override summary = 'Show or set the policy: at least N trusted ok, at most M trusted not-ok.';
  static override description =
    `Signet's defaults are --min-ok 1 --max-not-ok 0: one trusted key says ok and no trusted key (in its newest attestation) says not ok.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    '<%= config.bin %> trust policy',
    '<%= config.bin %> trust policy --min-ok 2 --max-not-ok 0',
  ];
  static override flags = {
    'min-ok': Flags.integer({ description: 'trusted ok attestations needed', min: 0 }),
    'max-not-ok': Flags.integer({ description: 'trusted not-ok attestations tolerated', min: 0 }),
  };

  async run(): Promise<TrustPolicy> {
    const { flags } = await this.parse(TrustPolicyCommand);
    const t = this.home.trust();
    if (flags['min-ok'] !== undefined) t.policy.minOk = flags['min-ok'];
    if (flags['max-not-ok'] !== undefined) t.policy.maxNotOk = flags['max-not-ok'];
    if (flags['min-ok'] !== undefined || flags['max-not-ok'] !== undefined) this.home.setTrust(t);
    this.log(`policy: at least ${t.policy.minOk} trusted ok, at most ${t.policy.maxNotOk} trusted not-ok`);
    return t.policy;
  }
}
