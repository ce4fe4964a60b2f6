import { Args, Flags } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { normalizeFingerprint } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';

/** KeyExport is `sig key export`: prints an armored key. */
export default class KeyExport extends SigCommand {
  static override summary = 'Print an armored public key (or, with --secret, the secret key).';
  static override description =
    `Without a fingerprint, exports the default signing key.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    '<%= config.bin %> key export > me.asc',
    '<%= config.bin %> key export 9C75CB915794A44DD7697E21571D8816D9886717',
    '<%= config.bin %> key export --secret > backup.secret.asc',
  ];
  static override args = {
    fingerprint: Args.string({ description: 'fingerprint (default: the default signing key)' }),
  };
  static override flags = {
    secret: Flags.boolean({ description: 'export the secret key (handle with care)' }),
  };

  async run(): Promise<{ fingerprint: string; armored: string }> {
    const { args, flags } = await this.parse(KeyExport);
    const fp = args.fingerprint ? normalizeFingerprint(args.fingerprint) : this.home.defaultKey();
    if (!fp) throw new CliError('USAGE', 'no fingerprint given and no default key: see `sig key list`');
    const armored = flags.secret ? this.home.readSecretKeyArmored(fp) : this.home.readPublicKeyArmored(fp);
    if (!armored) {
      throw new CliError(
        'USAGE',
        `no ${flags.secret ? 'secret' : 'public'} key ${fp} in ${this.home.path('keys')}: see \`sig key list\``,
      );
    }
    if (!this.jsonEnabled()) process.stdout.write(armored.endsWith('\n') ? armored : `${armored}\n`);
    return { fingerprint: fp, armored };
  }
}
