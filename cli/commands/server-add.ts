import { Args, Flags } from '@oclif/core';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { formatDuration, parseDuration, type ServerEntry } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { hasIndex } from '../index-check.js';
import { checkServerName, fetchServerOffer, pinServer } from '../remote.js';
import { pinWitnesses, type QuorumReport, witnessLines, witnessPolicyFromFlags } from '../witnesses.js';

/** ServerAdd is `sig server add`: pins a server by its keys after the user checked them. */
export default class ServerAdd extends SigCommand {
  static override summary = 'Add a server, pinned by its keys, with a freshness policy.';
  static override description =
    `Reads GET /v1/server, shows the origin, the OpenPGP fingerprint and the Ed25519 vkey, and asks before pinning them; compare them with what the operator publishes. In scripts pass --fingerprint <fp> (pins only if it matches) or --yes. Then fetches the current checkpoint, verifies it with the pinned keys, and keeps it: every later checkpoint must be consistent with it. Whether the server has the index (/v1/server "index": {"version": 1}) is pinned too: from then on every checkpoint from it must end with a valid index leaf, and every answer must prove itself complete (exit 4 otherwise).\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.INVALID, EXIT.UNAVAILABLE])}`;
  static override examples = [
    '<%= config.bin %> server add https://sig.example.com',
    '<%= config.bin %> server add http://127.0.0.1:8080 --fingerprint 0123456789ABCDEF0123456789ABCDEF01234567',
    '<%= config.bin %> server add http://127.0.0.1:8080 --yes --max-age 1h --name local',
  ];
  static override args = { url: Args.string({ description: 'the server URL', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'pin the keys the server shows without asking' }),
    fingerprint: Flags.string({ description: "pin only if the server's OpenPGP fingerprint is this" }),
    'max-age': Flags.string({
      description: 'a checkpoint older than this is stale (90s, 30m, 24h, 7d)',
      default: '24h',
    }),
    name: Flags.string({
      description:
        "local name (default: host_port): 1 to 100 of A-Z a-z 0-9 . _ -, starting with a letter, digit or '_'",
    }),
    witness: Flags.string({
      description:
        'pin a witness by its cosigner vkey (c2sp.org/tlog-cosignature; repeatable): verify and audit then require the quorum of their cosignatures',
      multiple: true,
    }),
    quorum: Flags.string({
      description: 'how many of the --witness must cosign: a number, all (default) or any',
    }),
    'witness-policy': Flags.string({
      description: 'pin witnesses, groups and the quorum from a c2sp.org/tlog-policy file instead',
    }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<{
    server: ServerEntry;
    treeSize: bigint;
    checkpointTime: string;
    fresh: boolean;
    witnesses?: QuorumReport;
  }> {
    const { args, flags } = await this.parse(ServerAdd);
    const maxAgeSeconds = parseDuration(flags['max-age']);
    if (flags.name !== undefined) checkServerName(flags.name);
    const witnessPolicy = witnessPolicyFromFlags(flags);
    const offer = await fetchServerOffer(
      args.url,
      { name: flags.name, maxAgeSeconds },
      (m) => this.warnLine(m),
      deadlineFrom(flags.timeout),
    );
    const e = offer.entry;
    const witnesses = await pinWitnesses(e, witnessPolicy, offer.checkpoint);
    const show = [
      `server       ${e.url}`,
      `origin       ${e.origin}`,
      `OpenPGP key  ${e.fingerprint}${offer.userIds.length ? `  ${offer.userIds.join(', ')}` : ''}`,
      `vkey         ${e.vkey}`,
      ...witnessLines({ witnesses }).map((l) => `witnesses    ${l}`),
      `checkpoint   size ${offer.checkpoint.checkpoint.treeSize}, signed ${offer.checkpoint.timestamp.toISOString()} (verified with these keys)`,
      `index        ${hasIndex(e) ? 'version 1: every answer is checked complete, every checkpoint must end with an index leaf' : 'none: answers prove inclusion only, not completeness'}`,
    ].join('\n');
    if (!this.jsonEnabled()) process.stderr.write(`${show}\n`);
    if (!offer.freshness.fresh) this.warnLine(`stale: ${offer.freshness.reason}`);
    if (witnesses && !witnesses.met) {
      this.warnLine(
        'the current checkpoint does not carry the witness quorum: verify and audit will fail until it does',
      );
    }
    if (flags.fingerprint === undefined && !flags.yes) {
      const ok = await this.confirm(
        `Pin ${e.url} with these keys?`,
        `pass --fingerprint ${e.fingerprint} (after checking it with the operator) or --yes`,
      );
      if (!ok) throw new CliError('USAGE', 'not added');
    }
    pinServer(this.home, offer, flags.fingerprint);
    this.log(`added ${e.name}: ${e.url} (stale after ${formatDuration(e.maxAgeSeconds)})`);
    return {
      server: e,
      treeSize: offer.checkpoint.checkpoint.treeSize,
      checkpointTime: offer.checkpoint.timestamp.toISOString(),
      fresh: offer.freshness.fresh,
      ...(witnesses ? { witnesses } : {}),
    };
  }
}
