/**
 * Server configuration: one table of settings, read from flags (`sig server start --port 8080`) and
 * environment (`PORT=8080`), flags first, then environment, then the default (SPEC.md "Storage and
 * processes", "Limits"). The CLI builds its flags from SETTINGS and the README's Configuration table
 * lists the same rows, so the three never drift apart.
 *
 * Every value is validated here, once; a bad value is an operator error (ConfigError) whose message names
 * the variable and the flag, says what was found and what is expected.
 */
import { MAX_ATTESTATION_BYTES } from '../log/signet.js';
import {
  bool,
  type Config,
  ConfigError,
  checkDatabaseUrl,
  checkOrigin,
  fail,
  integer,
  logLevel,
  optionalText,
  type Setting,
  text,
  trustProxy,
} from './config-values.js';
import { LOG_LEVELS } from './logger.js';
import { peersSetting } from './peers/config.js';

export { type Config, ConfigError, type Setting, type TrustProxy } from './config-values.js';

const DAY_MS = 86_400_000;

/**
 * SETTINGS is the configuration table: key, environment variable, flag, default, description, parser.
 * The README's Configuration section lists the same rows in the same order.
 */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'port',
    env: 'PORT',
    flag: 'port',
    default: '8080',
    description: 'TCP port to listen on (0 picks a free port).',
    parse: integer(0, 65535),
  },
  {
    key: 'host',
    env: 'HOST',
    flag: 'host',
    default: '127.0.0.1',
    description: 'Address to listen on; 0.0.0.0 (as in docker) listens on every interface.',
    parse: text((v) => (v.trim() === '' || /\s/.test(v) ? 'a host name or IP address' : undefined)),
  },
  {
    key: 'dataDir',
    env: 'DATA_DIR',
    flag: 'data-dir',
    default: './data',
    description:
      'Directory for the embedded PGlite database (when DATABASE_URL is not set) and the server keys.',
    parse: text((v) => (v.trim() === '' ? 'a directory path' : undefined)),
  },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    flag: 'database-url',
    default: undefined,
    description: 'Postgres connection URL; when unset the server uses embedded PGlite in DATA_DIR.',
    parse: optionalText(checkDatabaseUrl),
  },
  {
    key: 'databaseReadUrl',
    env: 'DATABASE_READ_URL',
    flag: 'database-read-url',
    default: undefined,
    description:
      'Postgres connection URL of one streaming replica (a hot standby of DATABASE_URL) that answers the reads: checkpoint, tiles, entries, proofs and queries, each bounded by a checkpoint read from the replica itself. Writes, receipts and the integrator stay on DATABASE_URL, which is required with it (README "Operations").',
    parse: optionalText(checkDatabaseUrl),
  },
  {
    key: 'origin',
    env: 'ORIGIN',
    flag: 'origin',
    default: undefined,
    description:
      'The log name: first line of every checkpoint and the name of the note keys (e.g. sig.example.com/log). When unset: the one recorded in the database, or at first start `sig.local/<8 hex>`. Pick it once: a different origin is a different log.',
    parse: optionalText(checkOrigin),
  },
  {
    key: 'noteKeyFile',
    env: 'NOTE_KEY_FILE',
    flag: 'note-key-file',
    default: undefined,
    description:
      'File holding the Ed25519 note signing key (skey); when unset it is made at first start in DATA_DIR (mode 0600).',
    parse: optionalText(() => undefined),
  },
  {
    key: 'openpgpKeyFile',
    env: 'OPENPGP_KEY_FILE',
    flag: 'openpgp-key-file',
    default: undefined,
    description:
      'File holding the armored OpenPGP secret key that signs checkpoints; when unset it is made at first start in DATA_DIR (mode 0600).',
    parse: optionalText(() => undefined),
  },
  {
    key: 'integrate',
    env: 'INTEGRATE',
    flag: 'integrate',
    default: 'true',
    description:
      'Whether this process takes part in integrating (sequencing and signing); false makes a serve-only process.',
    parse: bool,
  },
  {
    key: 'checkpointIntervalMs',
    env: 'CHECKPOINT_INTERVAL_MS',
    flag: 'checkpoint-interval-ms',
    default: '1000',
    description:
      'Shortest time between two checkpoints that grow the tree; a publish on a log that has not grown for this long is integrated and checkpointed at once.',
    parse: integer(10, DAY_MS, ' (milliseconds)'),
  },
  {
    key: 'republishIntervalMs',
    env: 'REPUBLISH_INTERVAL_MS',
    flag: 'republish-interval-ms',
    default: '600000',
    description: 'Longest time between two checkpoints: a new one is signed even when nothing changed.',
    parse: integer(1000, DAY_MS, ' (milliseconds)'),
  },
  {
    key: 'batchMaxSize',
    env: 'BATCH_MAX_SIZE',
    flag: 'batch-max-size',
    default: '256',
    description: 'Most entries integrated in one batch (one transaction).',
    parse: integer(1, 65536),
  },
  {
    key: 'batchMaxAgeMs',
    env: 'BATCH_MAX_AGE_MS',
    flag: 'batch-max-age-ms',
    default: '200',
    description: 'Longest a pending entry waits before its batch is integrated.',
    parse: integer(0, 60_000, ' (milliseconds)'),
  },
  {
    key: 'maxBacklog',
    env: 'MAX_BACKLOG',
    flag: 'max-backlog',
    default: '10000',
    description:
      'Most entries waiting for integration; past it publishes get 503 BACKLOG_FULL with Retry-After.',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'publishWaitMs',
    env: 'PUBLISH_WAIT_MS',
    flag: 'publish-wait-ms',
    default: '30000',
    description:
      'Longest a publish waits for its entries to be integrated before answering 503 INTEGRATION_TIMEOUT.',
    parse: integer(100, 600_000, ' (milliseconds)'),
  },
  {
    key: 'maxBodyBytes',
    env: 'MAX_BODY_BYTES',
    flag: 'max-body-bytes',
    default: '1048576',
    description: 'Largest request body; larger ones get 413 BODY_TOO_LARGE.',
    parse: integer(1024, 64 * 1024 * 1024, ' (bytes)'),
  },
  {
    key: 'maxAttestationBytes',
    env: 'MAX_ATTESTATION_BYTES',
    flag: 'max-attestation-bytes',
    default: String(MAX_ATTESTATION_BYTES),
    description: `Largest attestation (canonical JSON); larger ones get 413 ATTESTATION_TOO_LARGE. At most ${MAX_ATTESTATION_BYTES}, so every entry fits a tile bundle.`,
    parse: integer(64, MAX_ATTESTATION_BYTES, ' (bytes)'),
  },
  {
    key: 'maxAttestationsPerRequest',
    env: 'MAX_ATTESTATIONS_PER_REQUEST',
    flag: 'max-attestations-per-request',
    default: '100',
    description: 'Most attestations in one POST; more get 413 TOO_MANY_ATTESTATIONS.',
    parse: integer(1, 10_000),
  },
  {
    key: 'rateLimitWindowMs',
    env: 'RATE_LIMIT_WINDOW_MS',
    flag: 'rate-limit-window-ms',
    default: '60000',
    description: 'Window of the per-IP publish rate limit.',
    parse: integer(1000, DAY_MS, ' (milliseconds)'),
  },
  {
    key: 'rateLimitPublishes',
    env: 'RATE_LIMIT_PUBLISHES',
    flag: 'rate-limit-publishes',
    default: '120',
    description:
      'Most write requests (POST /v1/attestations, POST /v1/keys, POST /sig) per client IP per window; more get 429 RATE_LIMITED with Retry-After. 0 turns the limit off.',
    parse: integer(0, 10_000_000),
  },
  {
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    flag: 'trust-proxy',
    default: 'false',
    description:
      "express 'trust proxy': which X-Forwarded-For hops to believe for the client IP (false, true, a hop count, or addresses/subnets). Set it when behind a reverse proxy, or every client shares the proxy's limit.",
    parse: trustProxy,
  },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    description: `Least severe level logged: ${LOG_LEVELS.join(', ')}.`,
    parse: logLevel,
  },
  {
    key: 'queryPageLimit',
    env: 'QUERY_PAGE_LIMIT',
    flag: 'query-page-limit',
    default: '100',
    description:
      'Most items in one page of GET /v1/attestations and GET /v1/entries (a larger ?limit= is cut to it).',
    parse: integer(1, 10_000),
  },
  {
    key: 'shutdownTimeoutMs',
    env: 'SHUTDOWN_TIMEOUT_MS',
    flag: 'shutdown-timeout-ms',
    default: '30000',
    description:
      'On SIGTERM/SIGINT, how long in-flight requests get to finish before their connections are cut.',
    parse: integer(0, 600_000, ' (milliseconds)'),
  },
  {
    key: 'verifyWorkers',
    env: 'VERIFY_WORKERS',
    flag: 'verify-workers',
    default: 'auto',
    description:
      'Worker threads that verify attestation signatures: auto is one less than the cores (at least 1); 0 verifies on the main thread.',
    parse: (raw, s) => (raw.trim() === 'auto' ? undefined : integer(0, 64)(raw, s)),
  },
  {
    key: 'verifyBudgetMs',
    env: 'VERIFY_BUDGET_MS',
    flag: 'verify-budget-ms',
    default: '3000',
    description:
      "The most one request's OpenPGP work (a signature, a key intake) may run in a verify worker; past it the work is stopped and the request gets 422 WORK_BUDGET_EXCEEDED.",
    parse: integer(10, 600_000),
  },
  {
    key: 'peers',
    env: 'PEERS',
    flag: 'peers',
    default: undefined,
    description:
      'File of `peer <url> <vkey>` lines: the logs this server follows (README "Run a volunteer server"). The integrating process checks every checkpoint of each peer against its pinned vkey and the last one kept, and logs every valid attestation the peer logged; GET /v1/peers shows how each peer is doing.',
    parse: (raw, s) => peersSetting(raw, (expected) => fail(s, raw, expected)),
  },
  {
    key: 'witnessPolicy',
    env: 'WITNESS_POLICY',
    flag: 'witness-policy',
    default: undefined,
    description:
      'c2sp.org/tlog-policy file naming the witnesses this log asks to cosign its checkpoints (`witness <name> <vkey> <url>`, the URL being the submission prefix), groups and the quorum. Unset, no witness or `quorum none`: nothing is asked. Otherwise only checkpoints whose cosignatures meet the quorum are served, with the cosignature lines appended.',
    parse: optionalText(() => undefined),
  },
  {
    key: 'witnessFailOpen',
    env: 'WITNESS_FAIL_OPEN',
    flag: 'witness-fail-open',
    default: 'false',
    description:
      'With WITNESS_POLICY: false (fail closed) serves only checkpoints that reached the quorum, so with witnesses down publishes wait and get 503 WITNESS_QUORUM_TIMEOUT; true also serves a checkpoint once every witness was tried for it, with the cosignatures it got.',
    parse: bool,
  },
  {
    key: 'witnessLogs',
    env: 'WITNESS_LOGS',
    flag: 'witness-logs',
    default: undefined,
    description:
      'File of `log <vkey> [<url>]` lines (c2sp.org/tlog-policy): the logs this server witnesses (origin = the vkey name). When set, POST /witness/add-checkpoint cosigns their checkpoints (c2sp.org/tlog-witness); unset: no witness role.',
    parse: optionalText(() => undefined),
  },
  {
    key: 'witnessKeyFile',
    env: 'WITNESS_KEY_FILE',
    flag: 'witness-key-file',
    default: undefined,
    description:
      'File holding the witness cosigner key (cosignature/v1, Ed25519); when unset it is made at first start in DATA_DIR as witness.key (mode 0600).',
    parse: optionalText(() => undefined),
  },
  {
    key: 'witnessName',
    env: 'WITNESS_NAME',
    flag: 'witness-name',
    default: undefined,
    description:
      'The witness name on its cosignatures and in its vkey, e.g. witness.example.com/w1; when unset: the name of the key in WITNESS_KEY_FILE, or for a new key `<origin>/witness`.',
    parse: optionalText(checkOrigin),
  },
];

/** FlagValues are parsed command-line flags keyed by Setting.flag (oclif gives strings, numbers, booleans). */
export type FlagValues = Record<string, string | number | boolean | undefined>;

/**
 * loadConfig returns the configuration from `flags` (keyed by Setting.flag, or by Config key), then
 * `env` (process.env by default), then the defaults. Empty environment values count as unset.
 * Throws ConfigError naming the first bad value and how to fix it.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  flags: FlagValues = {},
): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const flag = flags[s.flag] ?? flags[s.key];
    const fromEnv = env[s.env];
    const raw =
      flag !== undefined ? String(flag) : fromEnv !== undefined && fromEnv !== '' ? fromEnv : s.default;
    out[s.key] = raw === undefined ? undefined : (s.parse as (r: string, s: Setting) => unknown)(raw, s);
  }
  const config = out as unknown as Config;
  if (config.republishIntervalMs < config.checkpointIntervalMs) {
    throw new ConfigError(
      'REPUBLISH_INTERVAL_MS',
      `REPUBLISH_INTERVAL_MS (${config.republishIntervalMs}) must be at least CHECKPOINT_INTERVAL_MS ` +
        `(${config.checkpointIntervalMs}): raise REPUBLISH_INTERVAL_MS or lower CHECKPOINT_INTERVAL_MS.`,
    );
  }
  if (config.databaseReadUrl !== undefined && config.databaseUrl === undefined) {
    throw new ConfigError(
      'DATABASE_READ_URL',
      'DATABASE_READ_URL names a Postgres replica, but DATABASE_URL is not set: set DATABASE_URL to the primary (writes and the integrator go there), or unset DATABASE_READ_URL.',
    );
  }
  if (config.maxAttestationBytes > config.maxBodyBytes) {
    throw new ConfigError(
      'MAX_ATTESTATION_BYTES',
      `MAX_ATTESTATION_BYTES (${config.maxAttestationBytes}) is larger than MAX_BODY_BYTES (${config.maxBodyBytes}), ` +
        'so no request could carry such an attestation: raise MAX_BODY_BYTES or lower MAX_ATTESTATION_BYTES.',
    );
  }
  return config;
}

/** settingsTable returns the configuration table as Markdown rows (the README's Configuration section). */
export function settingsTable(): string {
  const rows = SETTINGS.map(
    (s) =>
      `| \`${s.env}\` | \`--${s.flag}\` | ${s.default === undefined ? '(unset)' : `\`${s.default}\``} | ${s.description} |`,
  );
  return ['| variable | flag | default | what |', '|---|---|---|---|', ...rows].join('\n');
}
