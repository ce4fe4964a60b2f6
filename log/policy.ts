/**
 * Witness policies: c2sp.org/tlog-policy, which logs to accept, which witnesses to ask, and how many
 * of them must cosign (the quorum).
 *
 * ```
 * log <vkey> [<url>]                       a log: Ed25519 signed-note vkey (type 0x01); name = origin
 * witness <name> <vkey> [<url>]            a witness: cosignature/v1 vkey (type 0x04)
 * group <name> all|any|<k> <name>...       met when at least k (all: n, any: 1) of its n members are
 * quorum <name>                            exactly one; `none` asks for no cosignature at all
 * ```
 *
 * Lines end in a newline; items are separated by spaces and tabs only; leading and trailing
 * whitespace, empty lines and lines whose first non-blank character is `#` are ignored. Witnesses and
 * groups share one namespace; `none` is predefined (quorum only, never a group member). A group or the
 * quorum names only names defined on earlier lines, so there are no cycles; each name is a group
 * member at most once in the whole file (sigsum-go reads it so too: a witness contributes to the
 * quorum in one way only); 1 <= k <= n. Two logs, or two witnesses, with the same public key are
 * duplicates. Allowed octets: tab, newline, 0x20-0x7E and 0x80-0xFF (as UTF-8 here).
 *
 * Stricter than the spec, or where it leaves a choice (each refused with POLICY_INVALID naming the
 * line): input must be UTF-8 (names are compared as the exact code points, never normalised); a
 * numeric threshold is a canonical decimal (`02` is refused); a `#` after the items of a line is not a
 * comment (the spec has whole-line comments only), so it is an extra item; URLs must be absolute
 * http: or https: URLs; a `log` vkey must be Ed25519 (type 0x01, as our logs and Go's sumdb sign) and
 * a `witness` vkey cosignature/v1 (type 0x04: ML-DSA-44, type 0x06, is not supported yet); the last
 * line may lack its newline. Limits (POLICY_LIMITS) are above the 32 logs, 32 witnesses and 32 groups
 * the spec recommends supporting. Pure: no I/O.
 */
import { base64DecodeStrict } from './bytes.js';
import { type CosignatureVerifier, cosignatureVerifier } from './cosignature.js';
import { isLogError, LogError } from './errors.js';
import { ed25519Verifier, type NoteSignature, type Verifier } from './note.js';

/**
 * POLICY_LIMITS bounds a policy file: bytes, and logs, witnesses and groups (each at least 32,
 * c2sp.org/tlog-policy).
 */
export const POLICY_LIMITS = { bytes: 64 * 1024, logs: 256, witnesses: 256, groups: 256 } as const;

/** POLICY_NONE is the predefined quorum name that asks for no cosignature (c2sp.org/tlog-policy). */
export const POLICY_NONE = 'none';

/** PolicyLog is a `log` line: the vkey (its key name is the log's origin), its verifier, its URL if given. */
export interface PolicyLog {
  vkey: string;
  origin: string;
  verifier: Verifier;
  url?: string;
}

/**
 * PolicyWitness is a `witness` line: the policy-local name, the cosigner's vkey and verifier, its URL if
 * given.
 */
export interface PolicyWitness {
  name: string;
  vkey: string;
  verifier: CosignatureVerifier;
  url?: string;
}

/** PolicyGroup is a `group` line: met when at least `threshold` of `members` (witness or group names) are. */
export interface PolicyGroup {
  name: string;
  threshold: number;
  members: string[];
}

/**
 * WitnessPolicy is a parsed c2sp.org/tlog-policy: logs, witnesses and groups in file order, and the
 * quorum's name.
 */
export interface WitnessPolicy {
  logs: PolicyLog[];
  witnesses: PolicyWitness[];
  groups: PolicyGroup[];
  /** A witness or group name, or POLICY_NONE. */
  quorum: string;
}

// The octets c2sp.org/tlog-policy forbids: control characters other than tab and newline, and DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const THRESHOLD = /^[1-9][0-9]*$/;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function policyError(
  line: number | undefined,
  message: string,
  details: Record<string, unknown> = {},
): LogError {
  return new LogError(
    'POLICY_INVALID',
    line === undefined ? `policy: ${message}` : `policy line ${line}: ${message}`,
    {
      line,
      ...details,
    },
  );
}

function policyText(input: string | Uint8Array): string {
  const max = POLICY_LIMITS.bytes;
  let s: string;
  if (typeof input === 'string') {
    const n = input.length > max ? input.length : utf8Encoder.encode(input).length;
    if (n > max)
      throw policyError(undefined, `file is ${n} bytes; at most ${max} are accepted`, { size: n, max });
    if (LONE_SURROGATE.test(input)) throw policyError(undefined, 'not well-formed Unicode (lone surrogate)');
    s = input;
  } else {
    if (!(input instanceof Uint8Array)) {
      throw policyError(undefined, `expected a string or Uint8Array, got ${typeof input}`);
    }
    if (input.length > max) {
      throw policyError(undefined, `file is ${input.length} bytes; at most ${max} are accepted`, {
        size: input.length,
        max,
      });
    }
    try {
      s = utf8Decoder.decode(input);
    } catch {
      throw policyError(undefined, 'not valid UTF-8');
    }
  }
  return s;
}

/** The public key inside a vkey (after the type byte), for duplicate checks; the vkey was parsed already. */
function vkeyPublicKey(vkey: string): string {
  const b = vkey.indexOf('+', vkey.indexOf('+') + 1);
  return Array.from(base64DecodeStrict(vkey.slice(b + 1))!.subarray(1), (x) =>
    x.toString(16).padStart(2, '0'),
  ).join('');
}

function checkUrl(line: number, url: string | undefined): void {
  if (url === undefined) return;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw policyError(line, `${JSON.stringify(url)} is not an absolute URL`, { field: 'url' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw policyError(line, `URL ${JSON.stringify(url)} is not http: or https:`, { field: 'url' });
  }
}

function keyOf<V>(line: number, what: string, make: () => V): V {
  try {
    return make();
  } catch (e) {
    if (!isLogError(e)) throw e;
    throw policyError(line, `invalid ${what}: ${e.message}`, { field: 'vkey', cause: e.code });
  }
}

/** PolicyState is what parseWitnessPolicy has read so far, line by line. */
interface PolicyState {
  logs: PolicyLog[];
  witnesses: PolicyWitness[];
  groups: PolicyGroup[];
  quorum: string | undefined;
  /** Every defined name -> the line that defined it. */
  defined: Map<string, number>;
  /** Every name already listed as a group member -> the line of that group. */
  member: Map<string, number>;
  logKeys: Map<string, number>;
  witnessKeys: Map<string, number>;
}

/** PolicyLine is a line that is neither blank nor a comment: its number, keyword and items. */
interface PolicyLine {
  line: number;
  keyword: string;
  args: string[];
}

/** Throws unless the raw line has only allowed characters (no control characters but tab, no DEL). */
function checkCharacters(line: number, raw: string): void {
  const bad = FORBIDDEN.exec(raw);
  if (bad) {
    const c = bad[0].charCodeAt(0);
    const hint = c === 0x0d ? ' (carriage return: use \\n line ends)' : '';
    throw policyError(
      line,
      `character 0x${c.toString(16).padStart(2, '0')}${hint} is not allowed (only tab and newline of the control characters)`,
      { column: bad.index + 1 },
    );
  }
}

/** Throws unless the line has min to max items after its keyword. */
function arity({ line, keyword, args }: PolicyLine, min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) {
    throw policyError(line, `expected "${usage}", found ${args.length} item(s) after "${keyword}"`, {
      keyword,
    });
  }
}

/** Throws unless name is still free: witnesses and groups share one namespace with `none`. */
function checkFree(state: PolicyState, { line, keyword }: PolicyLine, name: string): void {
  const at = state.defined.get(name);
  if (at !== undefined) {
    throw policyError(
      line,
      name === POLICY_NONE
        ? `the name "none" is predefined (quorum none); choose another name`
        : `duplicate name ${JSON.stringify(name)} (defined on line ${at}; witnesses and groups share one namespace)`,
      { keyword, name },
    );
  }
}

/** Reads a `log <vkey> [<url>]` line into state. */
function parseLogLine(state: PolicyState, l: PolicyLine): void {
  const { line, keyword } = l;
  arity(l, 1, 2, 'log <vkey> [<url>]');
  const [vkey, url] = l.args as [string, string | undefined];
  const verifier = keyOf(line, 'log vkey (an Ed25519 signed-note vkey, type 0x01)', () =>
    ed25519Verifier(vkey),
  );
  checkUrl(line, url);
  const pk = vkeyPublicKey(vkey);
  const dup = state.logKeys.get(pk);
  if (dup !== undefined) throw policyError(line, `duplicate log: the key of line ${dup} again`, { keyword });
  state.logKeys.set(pk, line);
  if (state.logs.length >= POLICY_LIMITS.logs)
    throw policyError(line, `more than ${POLICY_LIMITS.logs} logs`);
  state.logs.push(
    url === undefined
      ? { vkey, origin: verifier.name, verifier }
      : { vkey, origin: verifier.name, verifier, url },
  );
}

/** Reads a `witness <name> <vkey> [<url>]` line into state. */
function parseWitnessLine(state: PolicyState, l: PolicyLine): void {
  const { line, keyword } = l;
  arity(l, 2, 3, 'witness <name> <vkey> [<url>]');
  const [name, vkey, url] = l.args as [string, string, string | undefined];
  checkFree(state, l, name);
  const verifier = keyOf(line, 'witness vkey (a cosignature/v1 vkey, type 0x04)', () =>
    cosignatureVerifier(vkey),
  );
  checkUrl(line, url);
  const pk = vkeyPublicKey(vkey);
  const dup = state.witnessKeys.get(pk);
  if (dup !== undefined) {
    throw policyError(line, `duplicate witness: the key of line ${dup} again`, { keyword, name });
  }
  state.witnessKeys.set(pk, line);
  if (state.witnesses.length >= POLICY_LIMITS.witnesses) {
    throw policyError(line, `more than ${POLICY_LIMITS.witnesses} witnesses`);
  }
  state.defined.set(name, line);
  state.witnesses.push(url === undefined ? { name, vkey, verifier } : { name, vkey, verifier, url });
}

/** The threshold of group `name`: `all`, `any` or a canonical decimal k with 1 <= k <= n. */
function groupThreshold({ line, keyword }: PolicyLine, name: string, k: string, n: number): number {
  if (k === 'all') return n;
  if (k === 'any') return 1;
  if (THRESHOLD.test(k) && k.length <= 6 && Number(k) <= n) return Number(k);
  throw policyError(
    line,
    `group ${JSON.stringify(name)}: threshold ${JSON.stringify(k)} is not "all", "any" or a decimal k with 1 <= k <= ${n} (its number of members)`,
    { keyword, name },
  );
}

/**
 * Records m as a member of group `name`; throws when m is `none`, not defined on an earlier line, the
 * group itself, or already a member of this or another group.
 */
function addGroupMember(state: PolicyState, { line, keyword }: PolicyLine, name: string, m: string): void {
  if (m === POLICY_NONE) {
    throw policyError(line, `group ${JSON.stringify(name)}: "none" cannot be a group member`, {
      keyword,
      name,
    });
  }
  if (!state.defined.has(m) && m !== name) {
    throw policyError(
      line,
      `group ${JSON.stringify(name)}: undefined name ${JSON.stringify(m)} (a member must be a witness or group defined on an earlier line)`,
      { keyword, name, member: m },
    );
  }
  if (m === name) {
    throw policyError(line, `group ${JSON.stringify(name)} lists itself (a cycle)`, {
      keyword,
      name,
      member: m,
    });
  }
  const at = state.member.get(m);
  if (at !== undefined) {
    throw policyError(
      line,
      `group ${JSON.stringify(name)}: ${JSON.stringify(m)} is already a member ${at === line ? 'of this group' : `of the group on line ${at}`} (each name can be a group member once)`,
      { keyword, name, member: m },
    );
  }
  state.member.set(m, line);
}

/** Reads a `group <name> all|any|<k> <name>...` line into state. */
function parseGroupLine(state: PolicyState, l: PolicyLine): void {
  const { line } = l;
  arity(l, 3, Number.POSITIVE_INFINITY, 'group <name> all|any|<k> <name>...');
  const [name, k, ...members] = l.args as [string, string, ...string[]];
  checkFree(state, l, name);
  const threshold = groupThreshold(l, name, k, members.length);
  for (const m of members) addGroupMember(state, l, name, m);
  state.defined.set(name, line);
  if (state.groups.length >= POLICY_LIMITS.groups)
    throw policyError(line, `more than ${POLICY_LIMITS.groups} groups`);
  state.groups.push({ name, threshold, members });
}

/** Reads a `quorum <name>` line into state. */
function parseQuorumLine(state: PolicyState, l: PolicyLine): void {
  const { line, keyword } = l;
  arity(l, 1, 1, 'quorum <name>');
  const [name] = l.args as [string];
  if (state.quorum !== undefined)
    throw policyError(line, 'a second quorum line (a policy has exactly one)', { keyword });
  if (!state.defined.has(name)) {
    throw policyError(
      line,
      `undefined name ${JSON.stringify(name)} (the quorum must be "none" or a witness or group defined on an earlier line)`,
      { keyword, name },
    );
  }
  state.quorum = name;
}

/**
 * parseWitnessPolicy returns the policy in a c2sp.org/tlog-policy file (see the file comment for the
 * syntax and the strict readings). Throws POLICY_INVALID with details.line (1-based; undefined for
 * file-wide problems: size, encoding, no quorum line) for: a forbidden character (control characters,
 * DEL, carriage return), an unknown keyword, a wrong number of items, an invalid vkey for its role, a
 * bad URL, a duplicate log or witness key, a name defined twice (or `none`), a group or quorum naming
 * an undefined or later-defined name (so no cycles), a group member listed twice or in two groups, a
 * group member `none`, a threshold outside 1..n or not canonical decimal, a second quorum line, no
 * quorum line, or more than POLICY_LIMITS.
 */
export function parseWitnessPolicy(input: string | Uint8Array): WitnessPolicy {
  const text = policyText(input);
  const state: PolicyState = {
    logs: [],
    witnesses: [],
    groups: [],
    quorum: undefined,
    defined: new Map([[POLICY_NONE, 0]]),
    member: new Map(),
    logKeys: new Map(),
    witnessKeys: new Map(),
  };
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the newline ending the last line
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    checkCharacters(line, raw);
    const trimmed = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [keyword, ...args] = trimmed.split(/[ \t]+/) as [string, ...string[]];
    const l: PolicyLine = { line, keyword, args };
    switch (keyword) {
      case 'log':
        parseLogLine(state, l);
        break;
      case 'witness':
        parseWitnessLine(state, l);
        break;
      case 'group':
        parseGroupLine(state, l);
        break;
      case 'quorum':
        parseQuorumLine(state, l);
        break;
      default:
        throw policyError(
          line,
          `unknown keyword ${JSON.stringify(keyword.slice(0, 40))} (expected log, witness, group or quorum)`,
          { keyword: keyword.slice(0, 40) },
        );
    }
  }
  const { logs, witnesses, groups, quorum } = state;
  if (quorum === undefined)
    throw policyError(undefined, 'no quorum line (use "quorum none" to ask for no cosignatures)');
  return { logs, witnesses, groups, quorum };
}

/**
 * formatWitnessPolicy returns the c2sp.org/tlog-policy text of policy: log, witness and group lines in
 * order, then the quorum line; thresholds as numbers. parseWitnessPolicy of the result gives the same
 * policy. Throws POLICY_INVALID when it would not (the check is that parse).
 */
export function formatWitnessPolicy(policy: WitnessPolicy): string {
  const line = (...items: (string | undefined)[]): string =>
    `${items.filter((x) => x !== undefined).join(' ')}\n`;
  let out = '';
  for (const l of policy.logs) out += line('log', l.vkey, l.url);
  for (const w of policy.witnesses) out += line('witness', w.name, w.vkey, w.url);
  for (const g of policy.groups) out += line('group', g.name, String(g.threshold), ...g.members);
  out += line('quorum', policy.quorum);
  parseWitnessPolicy(out);
  return out;
}

/**
 * cosignedWitnesses returns the names of the policy's witnesses whose key made one of the signature
 * lines, matched by key name and key ID. Pass lines that openNote has verified with the witnesses'
 * verifiers (policy.witnesses[i].verifier): this does not verify anything itself. It never throws.
 */
export function cosignedWitnesses(policy: WitnessPolicy, verified: readonly NoteSignature[]): Set<string> {
  const out = new Set<string>();
  for (const w of policy.witnesses) {
    if (verified.some((s) => s.name === w.verifier.name && s.keyId === w.verifier.keyId)) out.add(w.name);
  }
  return out;
}

/**
 * quorumSatisfied reports whether the witnesses named (policy-local names, e.g. from cosignedWitnesses)
 * meet the policy's quorum (c2sp.org/tlog-policy): `none` always; a witness when it is named; a group
 * when at least its threshold of members are met. Throws a plain Error when a name is not a witness of
 * the policy (the caller's bug).
 */
export function quorumSatisfied(policy: WitnessPolicy, cosigned: Iterable<string>): boolean {
  const witnesses = new Set(policy.witnesses.map((w) => w.name));
  const met = new Set<string>();
  for (const name of cosigned) {
    if (!witnesses.has(name))
      throw new Error(`quorumSatisfied: ${JSON.stringify(name)} is not a witness of the policy`);
    met.add(name);
  }
  // Groups only name earlier lines, so one pass in file order settles every group.
  for (const g of policy.groups) {
    let n = 0;
    for (const m of g.members) if (met.has(m)) n++;
    if (n >= g.threshold) met.add(g.name);
  }
  return policy.quorum === POLICY_NONE || met.has(policy.quorum);
}
