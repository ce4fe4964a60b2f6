import { Flags } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { generateKey, KEY_TYPES } from '../keys.js';

/** KeyGenerate is `sig key generate`: a new Ed25519 OpenPGP key pair under $SIG_DIR/keys. */
export default class KeyGenerate extends SigCommand {
  static override summary = 'Make a new OpenPGP signing key (Ed25519 by default) under $SIG_DIR/keys.';
  static override description =
    `The first secret key becomes the default signing key of \`sig attest\`.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    '<%= config.bin %> key generate --name "Ada Lovelace" --email ada@example.com',
    '<%= config.bin %> key generate --name ci-bot --trust --json',
  ];
  static override flags = {
    name: Flags.string({ description: 'name in the user ID', required: true }),
    email: Flags.string({ description: 'email address in the user ID' }),
    type: Flags.string({ description: 'key type', options: [...KEY_TYPES], default: 'ed25519' }),
    default: Flags.boolean({ description: 'make it the default signing key even if one is set' }),
    trust: Flags.boolean({
      description: 'also trust it (`sig trust add`), so `sig verify` counts your own attestations',
    }),
  };

  async run(): Promise<{
    fingerprint: string;
    publicKeyFile: string;
    secretKeyFile: string;
    default: boolean;
  }> {
    const { flags } = await this.parse(KeyGenerate);
    const fp = await generateKey(
      this.home,
      flags.name,
      flags.email,
      flags.type as (typeof KEY_TYPES)[number],
    );
    if (flags.default) this.home.setDefaultKey(fp);
    if (flags.trust) {
      const t = this.home.trust();
      if (!t.fingerprints.includes(fp)) t.fingerprints.push(fp);
      this.home.setTrust(t);
    }
    const out = {
      fingerprint: fp,
      publicKeyFile: this.home.publicKeyPath(fp),
      secretKeyFile: this.home.secretKeyPath(fp),
      default: this.home.defaultKey() === fp,
      trusted: this.home.trust().fingerprints.includes(fp),
    };
    this.log(
      `generated key ${fp}${out.default ? ' (default signing key)' : ''}${out.trusted ? ', trusted' : ''}`,
    );
    this.log(`  public: ${out.publicKeyFile}\n  secret: ${out.secretKeyFile} (mode 0600)`);
    return out;
  }
}
