/**
 * WITNESS_LOGS: the logs this server witnesses (SPEC.md "Witnesses"). A file of c2sp.org/tlog-policy
 * `log <vkey> [<url>]` lines; the vkey is an Ed25519 signed-note key (type 0x01) whose name is the log's
 * origin. Several lines may name one origin (a log rotating its key): a checkpoint signed by any of
 * them is accepted (c2sp.org/tlog-witness: "a list of supported log public keys"; "each log uniquely
 * identified by its origin line"). Comments (`#`) and empty lines as tlog-policy has them; any other
 * keyword is refused, so a full policy file given here by mistake is not half-read.
 *
 * The lines are read by log/policy.ts parseWitnessPolicy (one parser for log lines everywhere), with
 * its limits (64 KiB, 256 logs) and strict readings.
 */
import { readFileSync } from 'node:fs';
import { isLogError } from '../../log/errors.js';
import type { Verifier } from '../../log/note.js';
import { POLICY_LIMITS, parseWitnessPolicy } from '../../log/policy.js';
import type { WitnessedLog } from '../../log/witness.js';
import { ServiceError } from '../errors.js';

/** WitnessLog is one witnessed log: origin, the verifiers of its keys (log/witness.ts), vkeys and URLs. */
export interface WitnessLog extends WitnessedLog {
  /** vkeys are the log's verifier keys as written in the file, in file order. */
  vkeys: string[];
  /** urls are the URLs given on its lines (informational: advertised on /v1/server), in file order. */
  urls: string[];
}

/** WitnessLogs maps an origin to its WitnessLog. */
export type WitnessLogs = ReadonlyMap<string, WitnessLog>;

function configError(file: string, message: string, details: Record<string, unknown> = {}): ServiceError {
  return new ServiceError('CONFIG_INVALID', `WITNESS_LOGS (${file}): ${message}`, { file, ...details });
}

/**
 * parseWitnessLogs returns the logs in a WITNESS_LOGS file's text, by origin, in file order. `file`
 * names it in errors. Throws ServiceError CONFIG_INVALID (the message names the file and line and how
 * to fix it) for: a keyword other than `log`, anything parseWitnessPolicy refuses on a log line (not an
 * Ed25519 vkey, a bad URL, a duplicate key, over the limits), two keys of one origin with the same key
 * ID (openNote could not tell their lines apart). A file without log lines is a witness of no log yet.
 */
export function parseWitnessLogs(text: string, file = 'WITNESS_LOGS'): WitnessLogs {
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const keyword = raw.trim().split(/[ \t]+/)[0] ?? '';
    if (keyword === '' || keyword.startsWith('#') || keyword === 'log') continue;
    throw configError(
      file,
      `line ${i + 1}: only "log <vkey> [<url>]" lines belong here, found ${JSON.stringify(keyword.slice(0, 40))} (witnesses and quorum belong in WITNESS_POLICY)`,
      { line: i + 1 },
    );
  }
  let policy: ReturnType<typeof parseWitnessPolicy>;
  try {
    // The quorum line tlog-policy requires is ours, after the file's own lines (their numbers stay right).
    policy = parseWitnessPolicy(`${text}${text === '' || text.endsWith('\n') ? '' : '\n'}quorum none\n`);
  } catch (e) {
    if (!isLogError(e, 'POLICY_INVALID')) throw e;
    throw configError(file, e.message.replace(/^policy /, ''), { line: e.details.line });
  }
  const out = new Map<string, WitnessLog>();
  for (const l of policy.logs) {
    const log = out.get(l.origin) ?? { origin: l.origin, verifiers: [], vkeys: [], urls: [] };
    const verifiers = log.verifiers as Verifier[];
    if (verifiers.some((v) => v.keyId === l.verifier.keyId)) {
      throw configError(
        file,
        `two keys of ${JSON.stringify(l.origin)} have the key ID ${l.verifier.keyId.toString(16).padStart(8, '0')}: remove one`,
      );
    }
    verifiers.push(l.verifier);
    log.vkeys.push(l.vkey);
    if (l.url !== undefined) log.urls.push(l.url);
    out.set(l.origin, log);
  }
  // No log line is allowed: a new witness starts with none, to make its key and publish its vkey
  // before any log lists it (README "Gossip"); it answers 404 to every add-checkpoint until then.
  return out;
}

/**
 * loadWitnessLogs reads and parses the WITNESS_LOGS file at `path` (at most POLICY_LIMITS.bytes read).
 * Throws ServiceError CONFIG_INVALID when it cannot be read, is larger, or parseWitnessLogs refuses it.
 */
export function loadWitnessLogs(path: string): WitnessLogs {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw configError(path, `cannot read the file: ${(e as Error).message}`);
  }
  if (data.length > POLICY_LIMITS.bytes) {
    throw configError(path, `the file is ${data.length} bytes; at most ${POLICY_LIMITS.bytes} are read`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw configError(path, 'the file is not valid UTF-8');
  }
  return parseWitnessLogs(text, path);
}
