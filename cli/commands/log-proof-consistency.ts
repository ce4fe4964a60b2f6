import { Args, Flags } from '@oclif/core';
import { base64Encode } from '../../log/bytes.js';
import { verifyConsistency } from '../../log/proof.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { CliError, withContext } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { authenticatedRoot, parseIndexArg, pickServer } from '../logread.js';
import { clientFor, fetchCheckpoint } from '../remote.js';

/** LogProofConsistency is `sig log proof consistency <from> <to>`. */
export default class LogProofConsistency extends SigCommand {
  static override summary = 'Fetch and verify a consistency proof (RFC 9162 §2.1.4) between two tree sizes.';
  static override description =
    `The root of <to> is the signed checkpoint's (or computed from the tiles and proved consistent with it); the root of <from> is computed from the tiles; the proof must then verify.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.INVALID, EXIT.FORK, EXIT.UNAVAILABLE])}`;
  static override examples = [
    '<%= config.bin %> log proof consistency 3 10',
    '<%= config.bin %> log proof consistency 1 5 --json',
  ];
  static override args = {
    from: Args.string({ description: 'smaller tree size', required: true }),
    to: Args.string({ description: 'larger tree size', required: true }),
  };
  static override flags = {
    server: Flags.string({ description: 'server name or URL (default: the only one)' }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(LogProofConsistency);
    const from = parseIndexArg(args.from, 'from');
    const to = parseIndexArg(args.to, 'to');
    if (from > to) throw new CliError('USAGE', `from (${from}) must not be larger than to (${to})`);
    const s = pickServer(this.home, flags.server);
    const client = clientFor(s, (m) => this.warnLine(m), deadlineFrom(flags.timeout));
    const { checkpoint: cp } = await fetchCheckpoint(this.home, s, client);
    const rootTo = await authenticatedRoot(s, client, cp, to);
    const rootFrom = await authenticatedRoot(s, client, cp, from);
    const proof = from === 0n || from === to ? [] : await client.consistencyProof(from, to);
    if (from > 0n) {
      await withContext(`server ${s.name}: consistency proof ${from} -> ${to}`, () =>
        verifyConsistency(from, to, proof, rootFrom, rootTo),
      );
    }
    this.log(`from ${from} (root ${base64Encode(rootFrom)}) to ${to} (root ${base64Encode(rootTo)})`);
    for (const h of proof) this.log(`  ${base64Encode(h)}`);
    this.info('verified');
    return {
      server: s.name,
      from,
      to,
      rootFrom: base64Encode(rootFrom),
      rootTo: base64Encode(rootTo),
      consistencyProof: proof.map(base64Encode),
      verified: true,
    };
  }
}
