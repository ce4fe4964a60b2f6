/**
 * The configuration's types and value parsers (server/config.ts holds the table of settings that uses
 * them): Config, Setting, ConfigError, and one parser per kind of value. Every parser validates one raw
 * string and throws a ConfigError that names the variable and the flag, what was found and what is
 * expected.
 */
import { isIP } from 'node:net';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import type { PeerSpec } from './peers/config.js';

/** TrustProxy is express's `trust proxy` setting: off, on, a hop count, or a list of addresses/subnets. */
export type TrustProxy = boolean | number | string[];

/** Config is the validated configuration of one server process. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  /** databaseReadUrl: a streaming replica for the read paths (server/read-replica.ts). */
  databaseReadUrl: string | undefined;
  origin: string | undefined;
  noteKeyFile: string | undefined;
  openpgpKeyFile: string | undefined;
  integrate: boolean;
  checkpointIntervalMs: number;
  republishIntervalMs: number;
  batchMaxSize: number;
  batchMaxAgeMs: number;
  maxBacklog: number;
  publishWaitMs: number;
  maxBodyBytes: number;
  maxAttestationBytes: number;
  maxAttestationsPerRequest: number;
  rateLimitWindowMs: number;
  rateLimitPublishes: number;
  trustProxy: TrustProxy;
  logLevel: LogLevel;
  queryPageLimit: number;
  shutdownTimeoutMs: number;
  verifyWorkers: number | undefined;
  verifyBudgetMs: number;
  /** peers: the logs this server follows (PEERS, server/peers/config.ts); undefined: none. */
  peers: PeerSpec[] | undefined;
  witnessPolicy: string | undefined;
  witnessFailOpen: boolean;
  witnessLogs: string | undefined;
  witnessKeyFile: string | undefined;
  witnessName: string | undefined;
}

/** Setting describes one row of the configuration table. */
export interface Setting<K extends keyof Config = keyof Config> {
  /** key is the property of Config it sets. */
  key: K;
  /** env is the environment variable. */
  env: string;
  /** flag is the long flag of `sig server start`, without the dashes. */
  flag: string;
  /** default is shown in help and the README; undefined means "not set". */
  default: string | undefined;
  description: string;
  /** parse validates a raw value (never undefined) and throws ConfigError. */
  parse(raw: string, s: Setting<K>): Config[K];
}

/** ConfigError is an operator error in the configuration; `setting` is the environment variable. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

export function fail(s: Setting, raw: string, expected: string): never {
  throw new ConfigError(
    s.env,
    `${s.env} (--${s.flag}) must be ${expected}; found ${JSON.stringify(raw)}. ` +
      `Fix it in the environment or on the command line${s.default === undefined ? '' : `, or unset it for the default ${s.default}`}.`,
  );
}

export function integer(min: number, max: number, unit = '') {
  return (raw: string, s: Setting): number => {
    const t = raw.trim();
    if (!/^(0|[1-9][0-9]*)$/.test(t)) fail(s, raw, `a whole number from ${min} to ${max}${unit}`);
    const n = Number(t);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      fail(s, raw, `a whole number from ${min} to ${max}${unit}`);
    return n;
  };
}

export function text(check: (v: string) => string | undefined) {
  return (raw: string, s: Setting): string => {
    const problem = check(raw);
    if (problem !== undefined) fail(s, raw, problem);
    return raw;
  };
}

export function optionalText(check: (v: string) => string | undefined) {
  return (raw: string, s: Setting): string | undefined => {
    if (raw === '') return undefined;
    return text(check)(raw, s);
  };
}

export function bool(raw: string, s: Setting): boolean {
  const t = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  fail(s, raw, 'true or false');
}

/** Origin lines are note key names too (c2sp.org/signed-note): non-empty, no spaces, no '+'. */
export function checkOrigin(v: string): string | undefined {
  if (v.length === 0 || v.length > 255)
    return 'a log name of 1 to 255 characters such as "sig.example.com/log"';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\s+\u0000-\u001f\u007f]/u.test(v)) return 'a log name without spaces, control characters or "+"';
  return undefined;
}

export function checkDatabaseUrl(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'a Postgres URL such as postgres://user:password@host:5432/sig';
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    return 'a postgres:// or postgresql:// URL';
  }
  return undefined;
}

export function trustProxy(raw: string, s: Setting): TrustProxy {
  const t = raw.trim();
  if (['', '0', 'false', 'no', 'off'].includes(t.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(t.toLowerCase())) return true;
  if (/^[1-9][0-9]?$/.test(t)) return Number(t);
  const parts = t.split(',').map((p) => p.trim());
  for (const p of parts) {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(p)) continue;
    const [addr, bits, extra] = p.split('/');
    const family = isIP(addr ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || extra !== undefined) {
      fail(
        s,
        raw,
        'false, true, a hop count (1-99), or a comma-separated list of addresses, subnets (10.0.0.0/8) ' +
          'or the names loopback, linklocal, uniquelocal',
      );
    }
  }
  return parts;
}

export function logLevel(raw: string, s: Setting): LogLevel {
  const t = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(t)) fail(s, raw, `one of ${LOG_LEVELS.join(', ')}`);
  return t as LogLevel;
}
