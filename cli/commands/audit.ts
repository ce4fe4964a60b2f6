import { Args, Flags } from '@oclif/core';
import { comparePeer, type FullAuditResult, fullAudit } from '../audit.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { parseDuration } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode, worse } from '../exit-codes.js';
import { auditForkEvidence } from '../fork-evidence.js';
import { IndexAudit } from '../index-audit.js';
import { clientFor, failureReport, fetchCheckpoint, type ServerReport } from '../remote.js';
import { SignerKeys } from '../signer-keys.js';
import { requireQuorum, witnessLines } from '../witnesses.js';

/** AuditReport is one server in one round. */
export interface AuditReport extends ServerReport {
  round: number;
  previousSize?: bigint;
  peers?: { peer: string; treeSize: bigint }[];
  full?: FullAuditResult;
}

/** Audit is `sig audit`: checks that servers' logs only grow, and raises the alarm on a fork. */
export default class Audit extends SigCommand {
  static override summary =
    "Check that each server's log only grows: consistency with every checkpoint seen before.";
  static override description =
    `For each server (default: all configured): fetches /log/checkpoint, verifies it with the pinned keys, proves it consistent with the last checkpoint kept (GET /v1/proof/consistency) and keeps it. On an inconsistency (equal sizes with different roots, or no valid consistency proof) both signed checkpoints are written to $SIG_DIR/evidence/<server>-<time>/ and the exit code is 5.

--peer compares with a checkpoint another auditor saw (a URL serving a checkpoint, or a file): equal sizes must have equal roots; different sizes need a consistency proof from the server.
--full streams every entry bundle and hash tile, recomputes the tree and compares each tile as it completes and the root with the checkpoint, replays the index (every index leaf must name its position and hold the map root recomputed from the entries before it; a wrong one writes evidence to $SIG_DIR/evidence/<server>-index-<time>/ and exits 9), and re-verifies every attestation (keys from $SIG_DIR/keys, else GET /v1/keys, read with the signer-key rules). It refuses at once a tree larger than it can check before --timeout (1,000,000 entries a second): raise --timeout for a large log.
--watch repeats every --interval (for --count rounds, default forever); a fork stops it. --timeout applies to each round.

${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.STALE, EXIT.INVALID, EXIT.FORK, EXIT.UNAVAILABLE, EXIT.INDEX_FRAUD])}`;
  static override examples = [
    '<%= config.bin %> audit',
    '<%= config.bin %> audit 127.0.0.1_8080 --peer https://other-auditor.example/sig/checkpoint',
    '<%= config.bin %> audit --full',
    '<%= config.bin %> audit --watch --interval 5m',
  ];
  static override strict = false;
  static override args = {
    server: Args.string({ description: 'server name or URL (repeatable; default: all)' }),
  };
  static override flags = {
    watch: Flags.boolean({ description: 'keep auditing every --interval' }),
    interval: Flags.string({ description: 'time between rounds with --watch (90s, 5m, 1h)', default: '5m' }),
    count: Flags.integer({ description: 'stop --watch after this many rounds', min: 1 }),
    peer: Flags.string({
      description: "another auditor's checkpoint: URL or file (repeatable)",
      multiple: true,
    }),
    evidence: Flags.string({
      description:
        "a server's fork evidence (file or URL: GET /v1/peers, or one evidence object): verify both signed checkpoints and the proof",
    }),
    vkey: Flags.string({
      description: "with --evidence: the log's pinned Ed25519 vkey (default: a configured server's)",
    }),
    full: Flags.boolean({ description: 'download and recompute the whole log, re-verify every attestation' }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<{ rounds: number; reports: AuditReport[]; exitCode: ExitCode }> {
    const { argv, flags } = await this.parse(Audit);
    if (flags.evidence !== undefined) {
      // Another server's evidence about a log it follows (cli/fork-evidence.ts): no server is asked.
      const log = this.jsonEnabled() ? undefined : (l: string) => this.log(l);
      const r = await auditForkEvidence(flags.evidence, {
        vkey: flags.vkey,
        servers: this.home.servers(),
        log,
      });
      this.setExit(r.exitCode);
      return { rounds: 0, reports: [], exitCode: r.exitCode, ...{ evidence: r.evidence } };
    }
    const names = argv as string[];
    const servers = names.length > 0 ? names.map((n) => this.home.server(n)) : this.home.servers();
    if (servers.length === 0)
      throw new CliError('NO_SERVER', 'no server configured: add one with `sig server add <url>`');
    const intervalMs = parseDuration(flags.interval) * 1000;
    const rounds = flags.watch ? (flags.count ?? Number.POSITIVE_INFINITY) : 1;
    const reports: AuditReport[] = [];
    let exit: ExitCode = EXIT.OK;
    let round = 0;
    for (; round < rounds; ) {
      round++;
      const deadline = deadlineFrom(flags.timeout);
      for (const s of servers) {
        const client = clientFor(s, (m) => this.warnLine(m), deadline);
        let r: AuditReport;
        try {
          const got = await fetchCheckpoint(this.home, s, client);
          r = {
            round,
            server: s.name,
            url: s.url,
            status: got.freshness.fresh ? 'fresh' : 'stale',
            treeSize: got.checkpoint.checkpoint.treeSize,
            previousSize: got.previousSize,
            checkpointTime: got.checkpoint.timestamp.toISOString(),
            ageSeconds: got.freshness.ageSeconds,
            ...(got.freshness.reason ? { reason: got.freshness.reason } : {}),
          };
          if (!got.freshness.fresh) exit = worse(exit, EXIT.STALE);
          // Pinned witnesses: the checkpoint must carry their quorum (throws WITNESS_QUORUM_NOT_MET).
          const witnesses = await requireQuorum(s, got.checkpoint);
          if (witnesses) r.witnesses = witnesses;
          for (const p of flags.peer ?? []) {
            r.peers ??= [];
            r.peers.push(await comparePeer(this.home, s, client, got.checkpoint, p));
          }
          if (flags.full) {
            const keys = new SignerKeys(this.home, [s], () => client);
            const index = new IndexAudit(this.home, s, client, got.checkpoint);
            r.full = await fullAudit(s, client, got.checkpoint, keys.lookup, !this.jsonEnabled(), index);
            if (r.full.invalidCount > 0) {
              r.status = 'invalid';
              exit = worse(exit, EXIT.INVALID);
            }
          }
        } catch (e) {
          r = { round, ...failureReport(s, e) };
          exit = worse(exit, r.error!.exitCode);
        }
        reports.push(r);
        this.print(r);
        if (r.status === 'fork') {
          this.setExit(exit);
          return { rounds: round, reports, exitCode: exit };
        }
      }
      if (round < rounds) await new Promise((res) => setTimeout(res, intervalMs));
    }
    this.setExit(exit);
    return { rounds: round, reports, exitCode: exit };
  }

  private print(r: AuditReport): void {
    if (r.error) {
      process.stderr.write(
        `sig: ${r.server}: ${r.status.toUpperCase()}: ${r.error.code}: ${r.error.message}\n`,
      );
      return;
    }
    if (this.jsonEnabled()) return;
    const grew =
      r.previousSize === undefined
        ? 'first checkpoint kept'
        : r.previousSize === r.treeSize
          ? `same size as last kept (${r.previousSize})`
          : `consistent with last kept size ${r.previousSize}`;
    this.log(
      `${r.status.padEnd(7)} ${r.server}: size ${r.treeSize}, signed ${r.checkpointTime} (${r.ageSeconds}s ago); ${grew}`,
    );
    if (r.reason) this.log(`        ${r.reason}`);
    for (const w of witnessLines(r)) this.log(`        ${w}`);
    for (const p of r.peers ?? []) this.log(`        consistent with peer ${p.peer} (size ${p.treeSize})`);
    if (r.full) {
      this.log(
        `        full: ${r.full.entries} entries in ${r.full.entryBundles} bundles and ${r.full.hashTiles} hash tiles recomputed to the signed root; ${r.full.attestationsVerified} attestations verified, ${r.full.invalidCount} invalid`,
      );
      const ix = r.full.index;
      if (ix) {
        this.log(
          `        index: ${ix.indexLeaves} index leaves checked against the map replayed over ${ix.replayed} entries (root ${ix.mapRoot})${ix.stoppedAt ? `; replay stopped at entry ${ix.stoppedAt.index}: ${ix.stoppedAt.reason}` : ''}`,
        );
      }
      for (const x of r.full.invalidAttestations) this.log(`        entry ${x.index}: ${x.reason}`);
      if (r.full.invalidCount > r.full.invalidAttestations.length)
        this.log(`        (and ${r.full.invalidCount - r.full.invalidAttestations.length} more)`);
    }
  }
}
