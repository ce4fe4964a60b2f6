import { Args, Flags } from '@oclif/core';
import { base64Encode } from '../../log/bytes.js';
import { hashLeaf } from '../../log/hash.js';
import { verifyInclusion } from '../../log/proof.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { CliError, withContext } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { authenticatedRoot, parseIndexArg, pickServer } from '../logread.js';
import { clientFor, fetchCheckpoint } from '../remote.js';

/** LogProofInclusion is `sig log proof inclusion <index>`. */
export default class LogProofInclusion extends SigCommand {
  static override summary = 'Fetch and verify an inclusion proof (RFC 9162 §2.1.3) for an entry.';
  static override description =
    `Against the current signed checkpoint, or with --size against an older tree whose root is computed from the tiles and proved consistent with the signed one.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.INVALID, EXIT.FORK, EXIT.UNAVAILABLE])}`;
  static override examples = [
    '<%= config.bin %> log proof inclusion 3',
    '<%= config.bin %> log proof inclusion 3 --size 10 --json',
  ];
  static override args = { index: Args.string({ description: 'entry index', required: true }) };
  static override flags = {
    server: Flags.string({ description: 'server name or URL (default: the only one)' }),
    size: Flags.string({ description: 'tree size (default: the current checkpoint)' }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(LogProofInclusion);
    const index = parseIndexArg(args.index, 'index');
    const s = pickServer(this.home, flags.server);
    const client = clientFor(s, (m) => this.warnLine(m), deadlineFrom(flags.timeout));
    const { checkpoint: cp } = await fetchCheckpoint(this.home, s, client);
    const size = flags.size !== undefined ? parseIndexArg(flags.size, '--size') : cp.checkpoint.treeSize;
    if (index >= size) throw new CliError('USAGE', `index ${index} is not in a tree of size ${size}`);
    const root = await authenticatedRoot(s, client, cp, size);
    const got = (await client.entries(index, 1)).find((e) => e.index === index);
    if (!got)
      throw new CliError('SERVER_RESPONSE_INVALID', `server ${s.name}: no entry ${index} in GET /v1/entries`);
    const leafHash = hashLeaf(got.entry);
    const proof = await client.inclusionProof(index, size);
    await withContext(`server ${s.name}: inclusion proof of entry ${index} in tree size ${size}`, () =>
      verifyInclusion(index, size, leafHash, proof, root),
    );
    this.log(
      `index ${index}, tree size ${size}\nleaf hash ${base64Encode(leafHash)}\nroot ${base64Encode(root)}`,
    );
    for (const h of proof) this.log(`  ${base64Encode(h)}`);
    this.info('verified');
    return {
      server: s.name,
      index,
      treeSize: size,
      leafHash: base64Encode(leafHash),
      rootHash: base64Encode(root),
      inclusionProof: proof.map(base64Encode),
      verified: true,
    };
  }
}
