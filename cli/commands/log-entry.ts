import { Args, Flags } from '@oclif/core';
import { base64Encode } from '../../log/bytes.js';
import { hashLeaf } from '../../log/hash.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { parseIndexArg, pickServer } from '../logread.js';
import { verifyLogEntry } from '../pinned.js';
import { clientFor, fetchCheckpoint } from '../remote.js';

/** LogEntry is `sig log entry <index>`: one entry, with its inclusion proof verified. */
export default class LogEntry extends SigCommand {
  static override summary =
    'Show one log entry (an attestation entry or an index leaf), proved included in the current signed checkpoint.';
  static override description = exitCodesHelp([
    EXIT.OK,
    EXIT.USAGE,
    EXIT.INVALID,
    EXIT.FORK,
    EXIT.UNAVAILABLE,
  ]);
  static override examples = [
    '<%= config.bin %> log entry 0',
    '<%= config.bin %> log entry 41 --server local --json',
  ];
  static override args = { index: Args.string({ description: 'entry index (0-based)', required: true }) };
  static override flags = {
    server: Flags.string({ description: 'server name or URL (default: the only one)' }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<Record<string, unknown>> {
    const { args, flags } = await this.parse(LogEntry);
    const index = parseIndexArg(args.index, 'index');
    const s = pickServer(this.home, flags.server);
    const client = clientFor(s, (m) => this.warnLine(m), deadlineFrom(flags.timeout));
    const { checkpoint: cp } = await fetchCheckpoint(this.home, s, client);
    if (index >= cp.checkpoint.treeSize) {
      throw new CliError('USAGE', `index ${index} is not in the tree (size ${cp.checkpoint.treeSize})`);
    }
    const got = (await client.entries(index, 1)).find((e) => e.index === index);
    if (!got)
      throw new CliError(
        'SERVER_RESPONSE_INVALID',
        `server ${s.name}: GET /v1/entries?start=${index}&limit=1 did not return entry ${index}`,
      );
    const inclusionProof = await client.inclusionProof(index, cp.checkpoint.treeSize);
    const view = await verifyLogEntry(s, cp, { index, entry: got.entry, inclusionProof });
    const out = {
      server: s.name,
      index,
      treeSize: cp.checkpoint.treeSize,
      leafHash: base64Encode(hashLeaf(got.entry)),
      kind: view.kind,
      entry: view.kind === 'index' ? { index: view.index } : view.entry,
      entryBytes: base64Encode(got.entry),
      inclusionProof: inclusionProof.map(base64Encode),
    };
    this.log(Buffer.from(got.entry).toString('utf8'));
    if (view.kind === 'index') {
      this.info(
        `index leaf: the map root over the ${view.index.size} entries before it is ${view.index.root}${view.index.size === index ? '' : ` (it names size ${view.index.size}, not its position ${index}: \`sig audit --full\` reports it)`}`,
      );
    }
    this.info(
      `verified: entry ${index} is included in the checkpoint of size ${cp.checkpoint.treeSize} signed ${cp.timestamp.toISOString()}`,
    );
    return out;
  }
}
