import { Flags } from '@oclif/core';
import { base64Encode } from '../../log/bytes.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { pickServer } from '../logread.js';
import { clientFor, fetchCheckpoint } from '../remote.js';
import { checkQuorum, unverifiedCosignatures, witnessLines } from '../witnesses.js';

/** LogCheckpoint is `sig log checkpoint`: the server's current checkpoint, verified and kept. */
export default class LogCheckpoint extends SigCommand {
  static override summary =
    "Show a server's current checkpoint, verified with its pinned keys and consistent with the last kept.";
  static override description = exitCodesHelp([
    EXIT.OK,
    EXIT.USAGE,
    EXIT.INVALID,
    EXIT.FORK,
    EXIT.UNAVAILABLE,
  ]);
  static override examples = [
    '<%= config.bin %> log checkpoint',
    '<%= config.bin %> log checkpoint --server local --json',
  ];
  static override flags = {
    server: Flags.string({ description: 'server name or URL (default: the only one)' }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(LogCheckpoint);
    const s = pickServer(this.home, flags.server);
    const got = await fetchCheckpoint(
      this.home,
      s,
      clientFor(s, (m) => this.warnLine(m), deadlineFrom(flags.timeout)),
    );
    const c = got.checkpoint.checkpoint;
    // The cosignatures: checked against the pinned witnesses, or listed as unverified when none are.
    const witnesses = await checkQuorum(s, got.checkpoint);
    const cosignatures = witnesses ? undefined : unverifiedCosignatures(got.checkpoint.note);
    const out = {
      server: s.name,
      origin: c.origin,
      treeSize: c.treeSize,
      rootHash: base64Encode(c.rootHash),
      timestamp: got.checkpoint.timestamp.toISOString(),
      fresh: got.freshness.fresh,
      ageSeconds: got.freshness.ageSeconds,
      previousSize: got.previousSize,
      note: got.checkpoint.note,
      ...(witnesses ? { witnesses } : { cosignatures }),
    };
    if (!this.jsonEnabled()) process.stdout.write(got.checkpoint.note);
    this.info(
      `verified: signed by the pinned keys at ${out.timestamp} (${out.ageSeconds}s ago, ${out.fresh ? 'fresh' : `STALE: ${got.freshness.reason}`}); ${got.previousSize === undefined ? 'first checkpoint kept' : `consistent with kept size ${got.previousSize}`}`,
    );
    for (const l of witnessLines({ witnesses })) this.info(l);
    for (const x of cosignatures ?? []) {
      this.info(
        `cosignature by ${x.name}, claims ${x.claimedTime} (not verified: no witness pinned for this server)`,
      );
    }
    if (!got.freshness.fresh) this.setExit(EXIT.STALE);
    return out;
  }
}
