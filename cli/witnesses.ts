/**
 * witnesses: the witnesses and quorum pinned for a server (`sig server add --witness/--quorum` or
 * `--witness-policy`), and the check that a checkpoint from that server carries the quorum
 * (SPEC.md "Witnesses"; c2sp.org/tlog-cosignature, c2sp.org/tlog-policy).
 *
 * The pin is a c2sp.org/tlog-policy text kept in the server's servers.json entry (`witnessPolicy`),
 * parsed with log/policy.ts whenever it is used (a bad one is LOCAL_DATA_INVALID). URLs and `log`
 * lines in a policy file are allowed and not used: the server's own keys are pinned separately.
 *
 * What a checkpoint must show (checkQuorum), on top of cli/pinned.ts (the log's own signatures,
 * freshness, consistency with the kept checkpoint):
 * - every cosignature line by a pinned witness (name and key ID) verifies over the checkpoint text
 *   (cosignature/v1); one that does not is invalid data (NOTE_SIGNATURE_INVALID, exit 4), never
 *   skipped: a server that appends a broken line in a pinned witness's name is misbehaving;
 * - a witness counts when its newest valid cosignature is fresh by the server's max age (and not more
 *   than 5 minutes in the future), so an old cosigned checkpoint replayed later does not pass;
 * - the fresh witnesses meet the pinned quorum (log/policy.ts quorumSatisfied), else
 *   WITNESS_QUORUM_NOT_MET (its own exit code). Every witness is reported either way.
 */
import { readFileSync } from 'node:fs';
import { cosignatureTimestamp, cosignatureVerifier } from '../log/cosignature.js';
import { isLogError, LogError } from '../log/errors.js';
import { type NoteSignature, openNote, parseNote } from '../log/note.js';
import { parseWitnessPolicy, quorumSatisfied, type WitnessPolicy } from '../log/policy.js';
import { MAX_FUTURE_SKEW_SECONDS, type ServerEntry } from './config.js';
import { CliError } from './errors.js';
import type { VerifiedCheckpoint } from './pinned.js';

/** WitnessedEntry is a servers.json entry with its pinned witness policy (absent: no witnesses). */
export type WitnessedEntry = ServerEntry & { witnessPolicy?: string };

/** WitnessCheck is what one pinned witness's cosignature on a checkpoint showed. */
export interface WitnessCheck {
  /** witness: the policy-local name; name and keyId: the cosigner key's. */
  witness: string;
  vkey: string;
  /** cosigned: a valid, fresh cosignature; stale: valid but too old (or ahead); missing: none. */
  status: 'cosigned' | 'stale' | 'missing';
  /** time: the newest valid cosignature's timestamp (ISO 8601), ageSeconds its age now. */
  time?: string;
  ageSeconds?: number;
  reason?: string;
}

/** QuorumReport is a checkpoint's witnesses against the pinned quorum. */
export interface QuorumReport {
  quorum: string;
  met: boolean;
  witnesses: WitnessCheck[];
  /** unpinned: cosignature-sized lines by keys that are not pinned (names only; not believed). */
  unpinned: string[];
}

/**
 * witnessPolicyFromFlags returns the tlog-policy text to pin from `sig server add` flags: the
 * policy file as is (`--witness-policy`), or one `witness` line per `--witness <vkey>` (named after
 * the vkey's key name) and the quorum `--quorum` (a number k of them, `all` (default) or `any`).
 * Undefined when no witness is given. Throws USAGE for flags that do not make a policy
 * (POLICY_INVALID is turned into USAGE with the policy's own message).
 */
export function witnessPolicyFromFlags(flags: {
  witness?: string[] | undefined;
  quorum?: string | undefined;
  'witness-policy'?: string | undefined;
}): string | undefined {
  const vkeys = flags.witness ?? [];
  let text: string;
  if (flags['witness-policy'] !== undefined) {
    if (vkeys.length > 0 || flags.quorum !== undefined) {
      throw new CliError('USAGE', '--witness-policy cannot be combined with --witness or --quorum');
    }
    try {
      text = readFileSync(flags['witness-policy'], 'utf8');
    } catch (e) {
      throw new CliError('USAGE', `--witness-policy ${flags['witness-policy']}: ${(e as Error).message}`);
    }
  } else {
    if (vkeys.length === 0) {
      if (flags.quorum !== undefined) throw new CliError('USAGE', '--quorum needs at least one --witness');
      return undefined;
    }
    const names = vkeys.map((v) => {
      try {
        return cosignatureVerifier(v).name;
      } catch (e) {
        throw new CliError('USAGE', `--witness ${JSON.stringify(v)}: ${(e as Error).message}`);
      }
    });
    const q = flags.quorum ?? 'all';
    if (!/^(all|any|[1-9][0-9]{0,5})$/.test(q)) {
      throw new CliError(
        'USAGE',
        `--quorum must be all, any or a number of witnesses, found ${JSON.stringify(q)}`,
      );
    }
    text = `${names.map((n, i) => `witness ${n} ${vkeys[i]}`).join('\n')}\ngroup pinned-quorum ${q} ${names.join(' ')}\nquorum pinned-quorum\n`;
  }
  let policy: WitnessPolicy;
  try {
    policy = parseWitnessPolicy(text);
  } catch (e) {
    if (isLogError(e, 'POLICY_INVALID')) throw new CliError('USAGE', `witness policy: ${e.message}`);
    throw e;
  }
  return policy.witnesses.length === 0 || policy.quorum === 'none' ? undefined : text;
}

/** pinnedPolicy returns the witness policy pinned for a server, or undefined; LOCAL_DATA_INVALID if it does not parse. */
export function pinnedPolicy(server: ServerEntry): WitnessPolicy | undefined {
  const text = (server as WitnessedEntry).witnessPolicy;
  if (text === undefined) return undefined;
  try {
    if (typeof text !== 'string') throw new LogError('POLICY_INVALID', 'witnessPolicy is not a string');
    return parseWitnessPolicy(text);
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw new CliError(
      'LOCAL_DATA_INVALID',
      `servers.json: the witness policy pinned for ${server.name} is invalid (${e.message}); \`sig server remove ${server.name}\` and add it again`,
      { name: server.name },
    );
  }
}

/**
 * checkQuorum returns how the checkpoint's cosignatures meet the server's pinned quorum, or undefined
 * when no witness is pinned. Throws NOTE_SIGNATURE_INVALID (exit 4) when a pinned witness's line does
 * not verify. It does not throw for a quorum not met: requireQuorum does.
 */
export async function checkQuorum(
  server: ServerEntry,
  cp: VerifiedCheckpoint,
  now: Date = new Date(),
): Promise<QuorumReport | undefined> {
  const policy = pinnedPolicy(server);
  if (!policy) return undefined;
  let verified: NoteSignature[] = [];
  try {
    verified = (
      await openNote(
        cp.note,
        policy.witnesses.map((w) => w.verifier),
      )
    ).verified;
  } catch (e) {
    if (isLogError(e, 'NOTE_SIGNATURE_INVALID')) {
      throw new LogError(
        'NOTE_SIGNATURE_INVALID',
        `server ${server.name}: a cosignature in the name of a pinned witness does not verify over the checkpoint of size ${cp.checkpoint.treeSize}: ${e.message}`,
        e.details,
      );
    }
    if (!isLogError(e, 'NOTE_UNVERIFIED')) throw e;
  }
  const witnesses = policy.witnesses.map((w): WitnessCheck => {
    const lines = verified.filter((s) => s.name === w.verifier.name && s.keyId === w.verifier.keyId);
    if (lines.length === 0) return { witness: w.name, vkey: w.vkey, status: 'missing' };
    let t = 0n; // the newest of its lines (bigints: no Math.max)
    for (const s of lines) {
      const x = cosignatureTimestamp(s.signature);
      if (x > t) t = x;
    }
    const seconds = Number(t);
    const ageSeconds = Math.round(now.getTime() / 1000 - seconds);
    const time = seconds * 1000 <= 8.64e15 ? new Date(seconds * 1000).toISOString() : `${t}`;
    if (ageSeconds > server.maxAgeSeconds) {
      return {
        witness: w.name,
        vkey: w.vkey,
        status: 'stale',
        time,
        ageSeconds,
        reason: `cosigned ${ageSeconds}s ago; the policy for ${server.name} allows ${server.maxAgeSeconds}s`,
      };
    }
    if (-ageSeconds > MAX_FUTURE_SKEW_SECONDS) {
      return {
        witness: w.name,
        vkey: w.vkey,
        status: 'stale',
        time,
        ageSeconds,
        reason: `cosigned ${-ageSeconds}s in the future`,
      };
    }
    return { witness: w.name, vkey: w.vkey, status: 'cosigned', time, ageSeconds };
  });
  const fresh = witnesses.filter((w) => w.status === 'cosigned').map((w) => w.witness);
  const known = new Set(verified.map((s) => `${s.name} ${s.keyId}`));
  const unpinned = parseNote(cp.note)
    .signatures.filter((s) => s.signature.length === 72 && !known.has(`${s.name} ${s.keyId}`))
    .map((s) => s.name);
  return { quorum: policy.quorum, met: quorumSatisfied(policy, fresh), witnesses, unpinned };
}

/**
 * requireQuorum is checkQuorum that throws WITNESS_QUORUM_NOT_MET (details.witnesses: every witness's
 * check) when the pinned quorum is not met. Undefined when no witness is pinned.
 */
export async function requireQuorum(
  server: ServerEntry,
  cp: VerifiedCheckpoint,
  now: Date = new Date(),
): Promise<QuorumReport | undefined> {
  const r = await checkQuorum(server, cp, now);
  if (r && !r.met) {
    throw new CliError(
      'WITNESS_QUORUM_NOT_MET',
      `server ${server.name}: the checkpoint of size ${cp.checkpoint.treeSize} does not carry the pinned witness quorum (${r.quorum}): ${describeWitnesses(r).join('; ')}. Without it this answer could be a view shown to you alone`,
      { quorum: r.quorum, witnesses: r.witnesses },
    );
  }
  return r;
}

/** describeWitnesses returns one short line per pinned witness, for the human output. */
export function describeWitnesses(r: QuorumReport): string[] {
  return r.witnesses.map((w) =>
    w.status === 'missing'
      ? `${w.witness}: no cosignature`
      : `${w.witness}: ${w.status === 'cosigned' ? 'cosigned' : 'STALE cosignature'} at ${w.time} (${w.ageSeconds}s ago)${w.reason ? `, ${w.reason}` : ''}`,
  );
}

/** witnessLines returns the human lines of a report's witnesses: the quorum, then one line per witness. */
export function witnessLines(r: { witnesses?: QuorumReport | undefined }): string[] {
  if (!r.witnesses) return [];
  const w = r.witnesses;
  return [
    `witness quorum ${w.quorum}: ${w.met ? 'met' : 'NOT MET'}`,
    ...describeWitnesses(w).map((l) => `  ${l}`),
    ...(w.unpinned.length > 0 ? [`  not pinned (ignored): ${w.unpinned.join(', ')}`] : []),
  ];
}

/**
 * pinWitnesses records the witness policy to pin (witnessPolicyFromFlags) in the server's entry before
 * it is written, and returns how the server's current checkpoint meets it (checkQuorum: throws
 * NOTE_SIGNATURE_INVALID for a pinned witness's line that does not verify). Undefined with no policy.
 */
export async function pinWitnesses(
  entry: ServerEntry,
  policy: string | undefined,
  cp: VerifiedCheckpoint,
): Promise<QuorumReport | undefined> {
  if (policy === undefined) return undefined;
  (entry as WitnessedEntry).witnessPolicy = policy;
  return checkQuorum(entry, cp);
}

/**
 * unverifiedCosignatures lists the cosignature-shaped lines of a note (72 bytes after the key ID:
 * cosignature/v1) with the time each claims, for `sig log checkpoint` on a server with no witness
 * pinned: nothing here is verified, and the output says so.
 */
export function unverifiedCosignatures(note: string): { name: string; claimedTime: string }[] {
  return parseNote(note)
    .signatures.filter((s) => s.signature.length === 72)
    .map((s) => {
      const t = cosignatureTimestamp(s.signature);
      const ms = Number(t) * 1000;
      return { name: s.name, claimedTime: ms <= 8.64e15 ? new Date(ms).toISOString() : `${t}` };
    });
}
