import { readFileSync } from 'node:fs';
import { Args } from '@oclif/core';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { asKeyData, importKeys } from '../keys.js';

/** KeyImport is `sig key import`: keeps public and secret keys from an armored or binary file. */
export default class KeyImport extends SigCommand {
  static override summary =
    'Import OpenPGP keys (public or secret, armored or binary, e.g. from gpg --export).';
  static override description =
    `Public keys are what \`sig verify\` checks others' attestations with; a secret key lets you sign. A passphrase-protected secret key is decrypted at use with $SIG_PASSPHRASE.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    'gpg --armor --export 0x9C75CB915794A44D > friend.asc && <%= config.bin %> key import friend.asc',
    'gpg --armor --export-secret-keys me@example.com | <%= config.bin %> key import -',
  ];
  static override args = {
    file: Args.string({ description: "key file, or '-' for stdin", required: true }),
  };

  async run(): Promise<{ imported: { fingerprint: string; secret: boolean }[] }> {
    const { args } = await this.parse(KeyImport);
    const buf = readFileSync(args.file === '-' ? 0 : args.file);
    const imported = await importKeys(this.home, asKeyData(buf));
    for (const k of imported) this.log(`imported ${k.secret ? 'secret' : 'public'} key ${k.fingerprint}`);
    return { imported };
  }
}
