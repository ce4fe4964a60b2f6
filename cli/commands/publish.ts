import { readFileSync } from 'node:fs';
import { Args, Flags } from '@oclif/core';
import { canonicalJson } from '../../log/canonical-json.js';
import { type Attestation, parseAttestation } from '../../log/signet.js';
import { deadlineFrom, exitCodesHelp, SigCommand, TIMEOUT_FLAGS } from '../base.js';
import { CliError } from '../errors.js';
import { EXIT, type ExitCode, worse } from '../exit-codes.js';
import { resolveTarget } from '../ids.js';
import { clientFor, failureReport, type PublishResult, publishTo } from '../remote.js';

/** BATCH is how many attestations go in one POST (servers accept at least this many by default). */
const BATCH = 50;

/** Publish is `sig publish`: sends attestations to every configured server and keeps verified receipts. */
export default class Publish extends SigCommand {
  static override summary = 'Publish attestations to every configured server; keep each verified receipt.';
  static override description =
    `Arguments are files (their attestations in the local repo are sent), identifiers, or attestation JSON files; --all sends the whole local repo. Each receipt is checked offline before it is kept in $SIG_DIR/receipts: the entry bytes hash to the leaf, the entry holds exactly the attestation sent, the inclusion proof verifies against the receipt's checkpoint, that checkpoint is signed by the pinned keys and consistent with the last one kept. 429/503 answers are retried after Retry-After (up to 4 tries).\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.STALE, EXIT.INVALID, EXIT.FORK, EXIT.UNAVAILABLE, EXIT.REFUSED])}\n(3 here: no server configured.)`;
  static override examples = [
    '<%= config.bin %> publish release.tar.gz',
    '<%= config.bin %> publish --all --json',
    '<%= config.bin %> publish sha256:4dca0fd5f424a31b03ab807cbae77eb32bf2d089eed1cee154b3afed458de0dc --server local',
  ];
  static override strict = false;
  static override args = {
    target: Args.string({ description: 'file, identifier or attestation JSON file (repeatable)' }),
  };
  static override flags = {
    all: Flags.boolean({ description: 'publish every attestation in the local repo' }),
    server: Flags.string({ description: 'only this server (name or URL; repeatable)', multiple: true }),
    ...TIMEOUT_FLAGS,
  };

  async run(): Promise<{ attestations: number; servers: PublishResult[] }> {
    const { argv, flags } = await this.parse(Publish);
    const targets = argv as string[];
    if (targets.length === 0 && !flags.all)
      throw new CliError('USAGE', 'give files or identifiers to publish, or --all');
    const atts: Attestation[] = [];
    const seen = new Set<string>();
    const add = (a: Attestation) => {
      const c = canonicalJson(a);
      if (!seen.has(c)) {
        seen.add(c);
        atts.push(a);
      }
    };
    const files = flags.all ? this.home.allAttestationFiles() : [];
    for (const t of targets) {
      const asJson = attestationFile(t);
      if (asJson) {
        add(asJson);
        continue;
      }
      const { id } = await resolveTarget(t);
      const list = this.home.attestationFiles(id);
      if (list.length === 0)
        throw new CliError(
          'USAGE',
          `no attestation of ${id} in the local repo: make one with \`sig attest\``,
        );
      files.push(...list);
    }
    for (const f of files) add(parseAttestation(JSON.parse(readFileSync(f, 'utf8'))));
    if (atts.length === 0) throw new CliError('USAGE', 'nothing to publish: the local repo is empty');

    const servers = flags.server ? flags.server.map((s) => this.home.server(s)) : this.home.servers();
    if (servers.length === 0) {
      throw new CliError('NO_SERVER', 'no server configured: add one with `sig server add <url>`');
    }
    const keys = [...new Set(atts.map((a) => a.key))]
      .map((fp) => this.home.readPublicKeyArmored(fp))
      .filter((k): k is string => k !== undefined);

    const deadline = deadlineFrom(flags.timeout);
    const results: PublishResult[] = [];
    let worst: ExitCode = EXIT.OK;
    for (const s of servers) {
      const client = clientFor(s, (m) => this.warnLine(m), deadline);
      try {
        let merged: PublishResult | undefined;
        for (let i = 0; i < atts.length; i += BATCH) {
          const r = await publishTo(this.home, s, client, atts.slice(i, i + BATCH), keys);
          merged = merged
            ? {
                ...r,
                receipts: [...(merged.receipts ?? []), ...(r.receipts ?? [])],
                alreadyLogged: (merged.alreadyLogged ?? 0) + (r.alreadyLogged ?? 0),
              }
            : r;
        }
        results.push(merged!);
        this.log(
          `${s.name}: published ${merged!.receipts!.length}${merged!.alreadyLogged ? ` (${merged!.alreadyLogged} already logged)` : ''} at index ${merged!.receipts!.map((r) => r.index).join(', ')}; receipts verified and kept, tree size ${merged!.treeSize}`,
        );
      } catch (e) {
        const r = failureReport(s, e);
        results.push(r);
        worst = worse(worst, r.error!.exitCode);
        process.stderr.write(
          `sig: ${s.name}: ${r.status.toUpperCase()}: ${r.error!.code}: ${r.error!.message}\n`,
        );
      }
    }
    this.setExit(worst);
    return { attestations: atts.length, servers: results };
  }
}

/** attestationFile returns the attestation in a JSON file, or undefined when t is not one. */
function attestationFile(t: string): Attestation | undefined {
  if (!t.endsWith('.json')) return undefined;
  try {
    const v = JSON.parse(readFileSync(t, 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && 'data' in v && 'sig' in v) return parseAttestation(v);
  } catch {
    return undefined;
  }
  return undefined;
}
