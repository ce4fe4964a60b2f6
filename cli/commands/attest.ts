import { createHash } from 'node:crypto';
import { Args, Flags } from '@oclif/core';
import { canonicalJson } from '../../log/canonical-json.js';
import {
  type Attestation,
  type AttestationData,
  signAttestation,
  verifyAttestation,
} from '../../log/signet.js';
import { exitCodesHelp, SigCommand } from '../base.js';
import { writeFileAtomic } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { checkIdentifier, sha256Id } from '../ids.js';
import { secretKey, signingKeyFingerprint } from '../keys.js';

/**
 * attestationFileName names an attestation in the local repo: signer, signature time, and a digest of
 * its bytes, so two attestations never overwrite each other and a listing sorts by signer and time.
 */
export function attestationFileName(att: Attestation, signedAt: Date): string {
  const digest = createHash('sha256').update(canonicalJson(att)).digest('hex').slice(0, 12);
  return `${att.key}-${signedAt.toISOString().replace(/[:.]/g, '-')}-${digest}.json`;
}

/** Attest is `sig attest`: signs a Signet attestation and keeps it in the local repo. */
export default class Attest extends SigCommand {
  static override summary = 'Sign an attestation about a file or identifier, kept in $SIG_DIR/attestations.';
  static override description =
    `The identifier of a file is sha256:<hex of its bytes>. --not-ok says the resource is bad; a newer attestation by the same key replaces an older one (that is how you revoke). Publish it with \`sig publish\`.\n\nThe signature covers the Python Signet client's serialisation of "data", which every Signet tool verifies.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE])}`;
  static override examples = [
    '<%= config.bin %> attest release.tar.gz --ok --comment "reviewed the diff"',
    '<%= config.bin %> attest release.tar.gz --not-ok --comment "CVE-2031-1234"',
    '<%= config.bin %> attest --id sha256:4dca0fd5f424a31b03ab807cbae77eb32bf2d089eed1cee154b3afed458de0dc --ok --json',
    'curl -s https://example.com/install.sh | <%= config.bin %> attest - --not-ok',
  ];
  static override args = {
    file: Args.string({ description: "the file to attest ('-' for stdin)" }),
  };
  static override flags = {
    id: Flags.string({ description: 'attest this identifier instead of a file', exclusive: ['file'] }),
    ok: Flags.boolean({ description: 'the resource is good (the default)', exclusive: ['not-ok'] }),
    'not-ok': Flags.boolean({ description: 'the resource is bad', exclusive: ['ok'] }),
    comment: Flags.string({ description: 'free text kept in data.comment' }),
    reviewed: Flags.boolean({ description: 'set data.reviewed (as the Signet clients do)', allowNo: true }),
    key: Flags.string({ description: 'fingerprint of the signing key (default: the default key)' }),
  };

  async run(): Promise<{ attestation: Attestation; file: string; signedAt: string }> {
    const { args, flags } = await this.parse(Attest);
    if (!args.file && !flags.id)
      throw new CliError('USAGE', 'give a file to attest, `-` for stdin, or --id <identifier>');
    if (args.file && flags.id) throw new CliError('USAGE', 'give either a file or --id, not both');
    const id = flags.id ? checkIdentifier(flags.id) : await sha256Id(args.file!);
    const data: AttestationData = { id, ok: !flags['not-ok'] };
    if (flags.reviewed !== undefined) data.reviewed = flags.reviewed;
    if (flags.comment !== undefined) data.comment = flags.comment;
    const fp = signingKeyFingerprint(this.home, flags.key);
    const key = await secretKey(this.home, fp);
    const attestation = await signAttestation(data, key);
    // Check what was made with the same code every verifier uses, before keeping it.
    const { signedAt } = await verifyAttestation(attestation, key.toPublic());
    const file = `${this.home.attestationDir(id)}/${attestationFileName(attestation, signedAt)}`;
    writeFileAtomic(file, `${JSON.stringify(attestation)}\n`);
    this.log(`${data.ok ? 'ok' : 'NOT ok'}: ${id}`);
    this.log(`signed by ${fp} at ${signedAt.toISOString()}`);
    this.log(`kept in ${file}; publish it with \`sig publish ${args.file ?? id}\``);
    this.log(JSON.stringify(attestation));
    return { attestation, file, signedAt: signedAt.toISOString() };
  }
}
