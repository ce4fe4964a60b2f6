import { Flags } from '@oclif/core';
import { loadConfig, SETTINGS, type Setting } from '../../server/config.js';
import { exitCodesHelp, SigCommand } from '../base.js';
import { EXIT } from '../exit-codes.js';
import { Progress } from '../progress.js';

/** FSCK_SETTINGS: the two server settings fsck reads, with their variable, default and check (server/config.ts). */
const FSCK_SETTINGS = SETTINGS.filter((s) => s.key === 'databaseUrl' || s.key === 'dataDir');

/** settingFlag is the flag of a server setting, described as `sig server start` describes it. */
function settingFlag(s: Setting) {
  return Flags.string({
    description: `${s.description} [env ${s.env}${s.default === undefined ? '' : `, default ${s.default}`}]`,
  });
}

/**
 * ServerFsck is `sig server fsck` (operators): re-verifies a whole stored log offline from its database
 * (server/fsck.ts): every entry parses and its attestation verifies with the stored key, no gap or
 * duplicate, every tile recomputed from the entries equals the stored one, the root equals the stored
 * state and the checkpoints, every checkpoint's signatures verify and all are consistent. Prints a
 * summary (or the whole report with --json) and exits 4 (INVALID) on the first class of problem.
 */
export default class ServerFsck extends SigCommand {
  static override summary =
    "Re-verify a server's stored log offline: entries, signatures, tiles, root, checkpoints.";
  static override description =
    'Reads the database named by --database-url (DATABASE_URL) or the embedded PGlite database in --data-dir ' +
    '(DATA_DIR; stop that server first: PGlite is one process). Only reads; safe on a live Postgres. Exits 4 and ' +
    `names the first class of problem (SCHEMA, IDENTITY, ENTRIES, SIGNATURES, TILES, ROOT, CHECKPOINTS, INDEX, PENDING) when the log does not verify.\n\n${exitCodesHelp([EXIT.OK, EXIT.USAGE, EXIT.INVALID])}`;
  static override examples = [
    '<%= config.bin %> server fsck --data-dir ./data',
    'DATABASE_URL=postgres://sig@db/sig <%= config.bin %> server fsck --json',
    '<%= config.bin %> server fsck --database-url postgres://sig@db/sig --no-signatures',
  ];
  static override flags = {
    ...Object.fromEntries(FSCK_SETTINGS.map((s) => [s.flag, settingFlag(s)])),
    signatures: Flags.boolean({
      description: "Verify every attestation's OpenPGP signature (the slow part); --no-signatures skips it",
      default: true,
      allowNo: true,
    }),
    'batch-size': Flags.integer({
      description: 'Entries read per query',
      default: 5000,
      min: 1,
      max: 100_000,
    }),
  };

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(ServerFsck);
    // The server's own rules (flag, then environment, then default; validated) for the settings fsck
    // reads, and only those: the rest of the environment (PORT, limits) is the server's business.
    const env = Object.fromEntries(FSCK_SETTINGS.map((s) => [s.env, process.env[s.env]]));
    const given = Object.fromEntries(FSCK_SETTINGS.map((s) => [s.flag, flags[s.flag] as string | undefined]));
    const { databaseUrl, dataDir } = loadConfig(env, given);
    // Loaded here: other commands start faster without the database drivers.
    const { formatFsckReport, fsck } = await import('../../server/fsck.js');
    let bar: Progress | undefined;
    let shown = 0;
    const report = await fsck({
      databaseUrl,
      dataDir,
      signatures: flags.signatures,
      batchSize: flags['batch-size'],
      onProgress: (done, total) => {
        bar ??= new Progress('fsck entries', Number(total), !this.jsonEnabled());
        bar.tick(done - shown);
        shown = done;
      },
    });
    bar?.finish();
    if (!this.jsonEnabled()) process.stdout.write(formatFsckReport(report));
    if (!report.ok) {
      this.setExit(EXIT.INVALID);
      if (!this.jsonEnabled()) {
        process.stderr.write(
          `sig: FSCK_FAILED: ${report.firstClass}: ${report.problems[0]?.message ?? ''}\n`,
        );
      }
    }
    return { ...report } as Record<string, unknown>;
  }
}
