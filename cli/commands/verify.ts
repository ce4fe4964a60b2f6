import { Args, Flags } from '@oclif/core';
import { parseAttestation } from '../../log/signet.js';
import { deadlineFrom, exitCodesHelp, openPrompt, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { CLIENT_LIMITS, type Deadline } from '../client.js';
import type { ServerEntry, TrustPolicy } from '../config.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode, worse } from '../exit-codes.js';
import { resolveTarget } from '../ids.js';
import {
  clientFor,
  collectLocal,
  failureReport,
  fetchServerOffer,
  pinServer,
  queryServer,
  type ServerReport,
} from '../remote.js';
import { type KeyReport, SignerKeys } from '../signer-keys.js';
import { CandidateSet, type Judged, judge, type Verdict } from '../trust.js';
import { witnessLines } from '../witnesses.js';

/** VerifyResult is what `sig verify --json` prints. */
export interface VerifyResult {
  id: string;
  verdict: Verdict | 'stale';
  trustedOk: number;
  trustedNotOk: number;
  policy: TrustPolicy;
  servers: ServerReport[];
  attestations: Judged[];
  /** undecided: logged attestations by trusted keys that do not verify (verdict "cannot decide"). */
  undecided: Judged[];
  /** keys: where each signer's key came from, and how the servers' copies compared. */
  keys: KeyReport[];
  localProblems: { file: string; reason: string }[];
  warnings: string[];
  exitCode: ExitCode;
}

/**
 * ServersAsked is what asking the servers gave: the servers asked, their reports, the exit code so far,
 * and whether none gave a fresh answer.
 */
interface ServersAsked {
  servers: ServerEntry[];
  reports: ServerReport[];
  exit: ExitCode;
  noFresh: boolean;
}

/** Verify is `sig verify`: the trust policy over local attestations and (with --remote) every server's. */
export default class Verify extends SigCommand {
  static override summary =
    'Is this file (or identifier) trusted? Local attestations, and with --remote every server.';
  static override description =
    `Counts the newest attestation (by OpenPGP signature time) of each trusted key: a newer ok:false revokes an older ok:true. Trusted when at least N trusted keys say ok and at most M say not ok (\`sig trust policy\`).

With --remote, asks every configured server (GET /v1/attestations, all pages) and believes nothing it did not check: the checkpoint's signatures by the server's pinned keys, its freshness (stale when its OpenPGP signature is older than the server's --max-age or more than 5 minutes in the future), every inclusion proof, every attestation's signature, and consistency with the checkpoint kept from last time (never a smaller tree). For a server with the index (pinned at \`sig server add\`): the answer's index leaf, lookup proof, count and chain over all pages, so the answer is reported complete (servers[].complete in --json); a failed check names what failed (a missing entry, the chain, the count, the proof, the index leaf) and is exit 4. The new checkpoint is kept. With no fresh server it stops unless --allow-stale. A server answer past ${CLIENT_LIMITS.pages} pages or ${CLIENT_LIMITS.items} attestations is refused whole (exit 4).

Signer keys come from $SIG_DIR/keys when you have them; otherwise from EVERY server asked, each copy checked (only self-signatures that verify are kept) and all merged: a server serving a stripped copy cannot take away a subkey or a revocation another server has. Copies that are unusable or disagree are reported.

Fail closed: a logged attestation by a trusted key that does not verify (or whose key cannot be found) is never dropped: the verdict is CANNOT DECIDE (exit 8), naming the key and the entries (server, index).

Each attestation is reported as: trusted ok, marked bad (trusted not ok), untrusted (key not trusted), unknown (no key to check it), invalid (signature fails), superseded (an older one by the same key). Each server as: fresh, stale, invalid, fork, unavailable, refused.

${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.NOT_TRUSTED, EXIT.STALE, EXIT.INVALID, EXIT.FORK, EXIT.UNAVAILABLE, EXIT.UNDECIDED])}`;
  static override examples = [
    '<%= config.bin %> verify release.tar.gz',
    '<%= config.bin %> verify release.tar.gz --remote',
    '<%= config.bin %> verify sha256:4dca0fd5f424a31b03ab807cbae77eb32bf2d089eed1cee154b3afed458de0dc --remote --json',
    '<%= config.bin %> verify release.tar.gz --remote --allow-stale',
  ];
  static override args = {
    target: Args.string({ description: "file ('-' for stdin) or identifier", required: true }),
  };
  static override flags = {
    remote: Flags.boolean({ description: 'also ask every configured server' }),
    'allow-stale': Flags.boolean({
      description: 'go on (with a warning) when no server gives a fresh answer',
    }),
    server: Flags.string({ description: 'only this server (name or URL; repeatable)', multiple: true }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<VerifyResult> {
    const { args, flags } = await this.parse(Verify);
    const deadline = deadlineFrom(flags.timeout);
    const { id } = await resolveTarget(args.target);
    const warnings: string[] = [];
    const warn = (m: string) => {
      warnings.push(m);
      this.warnLine(m);
    };
    const candidates = new CandidateSet();
    const localProblems = await collectLocal(this.home, id, candidates, parseAttestation);
    for (const p of localProblems) warn(`local file ${p.file} skipped: ${p.reason}`);

    const asked: ServersAsked = flags.remote
      ? await this.askServers(id, candidates, flags, warn, deadline)
      : { servers: [], reports: [], exit: EXIT.OK, noFresh: false };
    let exit = asked.exit;

    const trust = this.home.trust();
    const aborted = asked.noFresh && !flags['allow-stale'];
    const keys = new SignerKeys(this.home, asked.servers, (s) => clientFor(s, warn, deadline), warn);
    const j = await judge(
      candidates.list(),
      keys.lookup,
      trust.fingerprints,
      trust.policy,
      CLIENT_LIMITS.untrustedSignerKeys,
    );
    if (!aborted && j.verdict === 'cannot decide') exit = worse(exit, EXIT.UNDECIDED);
    else if (!aborted && j.verdict !== 'trusted') exit = worse(exit, EXIT.NOT_TRUSTED);
    const result: VerifyResult = {
      id,
      verdict: aborted ? 'stale' : j.verdict,
      trustedOk: j.trustedOk,
      trustedNotOk: j.trustedNotOk,
      policy: j.policy,
      servers: asked.reports,
      attestations: j.attestations,
      undecided: j.undecided,
      keys: await keys.reports(),
      localProblems,
      warnings,
      exitCode: exit,
    };
    this.print(result, aborted);
    this.setExit(exit);
    return result;
  }

  /**
   * askServers (--remote) asks each server (--server, else all configured, else one offered) for the
   * attestations of id and adds those of the fresh answers to candidates (of every answer with
   * --allow-stale). Returns the servers, their reports and the exit code so far: an invalid answer or a
   * fork fails the run, and so does having no fresh answer (noFresh) unless --allow-stale.
   */
  private async askServers(
    id: string,
    candidates: CandidateSet,
    flags: { server?: string[]; 'allow-stale': boolean },
    warn: (m: string) => void,
    deadline: Deadline,
  ): Promise<ServersAsked> {
    const reports: ServerReport[] = [];
    let exit: ExitCode = EXIT.OK;
    let noFresh = false;
    let servers = flags.server ? flags.server.map((s) => this.home.server(s)) : this.home.servers();
    if (servers.length === 0) servers = await this.offerServer(warn, deadline);
    const fromServers: { server: ServerEntry; report: ServerReport; atts: CandidateSet }[] = [];
    for (const s of servers) {
      try {
        const atts = new CandidateSet();
        const report = await queryServer(this.home, s, clientFor(s, warn, deadline), id, atts);
        fromServers.push({ server: s, report, atts });
        reports.push(report);
        if (report.status === 'stale') warn(`server ${s.name} is stale: ${report.reason}`);
      } catch (e) {
        const r = failureReport(s, e);
        reports.push(r);
        // Invalid data and forks are attacks or bugs: they fail the run even if another server answers.
        // A server that is down or refuses only matters when no server gives a fresh answer (below).
        if (r.status === 'invalid' || r.status === 'fork' || r.status === 'unwitnessed') {
          exit = worse(exit, r.error!.exitCode);
        }
        warn(`server ${s.name}: ${r.status}: ${r.error!.code}: ${r.error!.message}`);
      }
    }
    const fresh = fromServers.filter((x) => x.report.status === 'fresh');
    const usable = fresh.length > 0 ? fresh : flags['allow-stale'] ? fromServers : [];
    if (fresh.length === 0) {
      noFresh = true;
      if (flags['allow-stale']) {
        warn(
          servers.length === 0
            ? 'no server configured: answering from local attestations only (--allow-stale)'
            : 'no server gave a fresh answer: going on with stale answers (--allow-stale); a replayed old answer could hide a newer not-ok',
        );
      } else {
        const all = (status: string) => reports.length > 0 && reports.every((r) => r.status === status);
        exit = worse(
          exit,
          all('unavailable') ? EXIT.UNAVAILABLE : all('refused') ? EXIT.REFUSED : EXIT.STALE,
        );
      }
    }
    for (const x of usable) candidates.addAll(x.atts);
    return { servers, reports, exit, noFresh };
  }

  /** offerServer handles --remote with no server: asks for one on a terminal, else says how to add one. */
  private async offerServer(warn: (m: string) => void, deadline: Deadline): Promise<ServerEntry[]> {
    if (!this.interactive()) {
      warn('no server configured: add one with `sig server add <url>` (then verify again with --remote)');
      return [];
    }
    process.stderr.write('sig: no server configured.\n');
    // One readline for both questions, so answers typed ahead are not lost between them.
    const rl = openPrompt();
    let offer: Awaited<ReturnType<typeof fetchServerOffer>>;
    try {
      const url = (await rl.ask('Server URL to add (empty to skip): ')).trim();
      if (url === '') {
        warn('no server configured: add one with `sig server add <url>`');
        return [];
      }
      offer = await fetchServerOffer(url, {}, warn, deadline);
      process.stderr.write(
        `origin       ${offer.entry.origin}\nOpenPGP key  ${offer.entry.fingerprint}\nvkey         ${offer.entry.vkey}\n`,
      );
      const answer = (await rl.ask(`Pin ${offer.entry.url} with these keys? [y/N] `)).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') throw new CliError('USAGE', 'not added');
    } finally {
      rl.close();
    }
    pinServer(this.home, offer);
    return [offer.entry];
  }

  private print(r: VerifyResult, aborted: boolean): void {
    if (this.jsonEnabled()) return;
    const head = aborted
      ? 'STALE: no configured server gave a fresh answer; not deciding (use --allow-stale to decide anyway)'
      : r.verdict === 'trusted'
        ? 'TRUSTED'
        : r.verdict === 'marked bad'
          ? 'MARKED BAD'
          : r.verdict === 'cannot decide'
            ? `CANNOT DECIDE: ${r.undecided.length} logged attestation(s) by trusted keys do not verify; whichever is the newest word of that key cannot be known`
            : 'NOT TRUSTED';
    this.log(`${r.id}: ${head}`);
    for (const u of r.undecided) {
      const where = u.entries.map((e) => `server ${e.server} index ${e.index}`).join(', ');
      this.log(`  ${u.key} ok=${u.ok} at ${where}: ${u.reason}`);
    }
    this.log(
      `  ${r.trustedOk} trusted ok, ${r.trustedNotOk} marked bad; policy: at least ${r.policy.minOk} trusted ok, at most ${r.policy.maxNotOk} marked bad`,
    );
    if (r.servers.length > 0) this.log('servers:');
    for (const s of r.servers) {
      const detail =
        s.error !== undefined
          ? `${s.error.code}: ${s.error.message}`
          : `tree size ${s.treeSize}, checkpoint signed ${s.checkpointTime} (${s.ageSeconds}s ago), ${s.attestations} attestation(s)${s.completeness ? `; ${s.completeness}` : ''}${s.reason ? `; ${s.reason}` : ''}`;
      this.log(`  ${s.status.padEnd(11)} ${s.server}: ${detail}`);
      for (const w of witnessLines(s)) this.log(`              ${w}`);
    }
    if (r.attestations.length === 0) this.log('attestations: none found (unknown)');
    else this.log('attestations:');
    for (const a of r.attestations) {
      const comment =
        typeof a.attestation.data.comment === 'string' ? ` "${a.attestation.data.comment}"` : '';
      this.log(
        `  ${a.status.padEnd(11)} ${a.key} ok=${a.ok}${a.signedAt ? ` signed ${a.signedAt}` : ''} [${sourcesOf(a)}]${comment}${a.reason ? `\n              ${a.reason}` : ''}`,
      );
    }
  }
}

/** sourcesOf says where an attestation was found: 'local' and each server, with its entry index. */
function sourcesOf(a: Judged): string {
  return a.sources
    .map((src) => {
      const idx = a.entries.filter((e) => e.server === src).map((e) => e.index);
      return idx.length > 0 ? `${src} #${idx.join(',')}` : src;
    })
    .join(', ');
}
