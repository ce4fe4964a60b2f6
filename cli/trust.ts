/**
 * trust: the Signet trust policy over attestations found locally and on servers (shared/vectors/README.md):
 * the newest attestation (by OpenPGP signature time) of each key for an identifier wins; the identifier
 * is trusted when at least policy.minOk trusted keys say ok and at most policy.maxNotOk say not ok.
 *
 * Fail closed (issue 8): a LOGGED attestation by a trusted key that does not verify (its signature
 * fails, or no usable copy of the key can be found) is never dropped: nobody can tell whether it is the
 * newest word of that key, so the verdict is "cannot decide", naming the key and the entries (server,
 * index). A check that fails must never quietly weaken a verdict. Local attestation files that do not
 * verify are still reported as invalid and not counted, as every Signet client does: whoever can
 * corrupt a local file can as well delete it.
 */
import type { PublicKey } from 'openpgp';
import { canonicalJson } from '../log/canonical-json.js';
import { isLogError } from '../log/errors.js';
import { type Attestation, verifyAttestation } from '../log/signet.js';
import type { TrustPolicy } from './config.js';

/** Status is the verdict on one attestation, as printed. */
export type Status = 'trusted ok' | 'marked bad' | 'untrusted' | 'unknown' | 'invalid' | 'superseded';

/** LoggedAt names one log entry holding an attestation: the server's local name and the entry's index. */
export interface LoggedAt {
  server: string;
  index: bigint;
}

/** Candidate is one attestation found locally or on servers (deduplicated by its RFC 8785 bytes). */
export interface Candidate {
  attestation: Attestation;
  /** sources are 'local' and the names of the servers that returned it. */
  sources: string[];
  /** entries are the log entries (server, index) that hold it; empty when only local. */
  entries: LoggedAt[];
}

/**
 * CandidateSet collects attestations, merging the sources and entries of identical ones (RFC 8785
 * bytes) in one map lookup each: linear in the number added.
 */
export class CandidateSet {
  private readonly byBytes = new Map<string, { cand: Candidate; seen: Set<string> }>();

  /** add adds an attestation found at `source` (and, for a server, at log entry `at`). */
  add(att: Attestation, source: string, at?: LoggedAt): void {
    const c = canonicalJson(att);
    let x = this.byBytes.get(c);
    if (!x) {
      x = { cand: { attestation: att, sources: [], entries: [] }, seen: new Set() };
      this.byBytes.set(c, x);
    }
    if (!x.seen.has(`s ${source}`)) {
      x.seen.add(`s ${source}`);
      x.cand.sources.push(source);
    }
    const e = at && `e ${at.server}\n${at.index}`;
    if (at && e && !x.seen.has(e)) {
      x.seen.add(e);
      x.cand.entries.push(at);
    }
  }

  /** addAll adds every candidate of another set. */
  addAll(other: CandidateSet): void {
    for (const c of other.list()) {
      for (const s of c.sources) this.add(c.attestation, s);
      for (const e of c.entries) this.add(c.attestation, e.server, e);
    }
  }

  /** list returns the candidates in the order they were first added. */
  list(): Candidate[] {
    return [...this.byBytes.values()].map((x) => x.cand);
  }

  /** size is the number of distinct attestations. */
  get size(): number {
    return this.byBytes.size;
  }
}

/** Judged is one attestation with its status. */
export interface Judged {
  id: string;
  key: string;
  ok: boolean;
  status: Status;
  signedAt?: string;
  reason?: string;
  sources: string[];
  entries: LoggedAt[];
  attestation: Attestation;
}

/** Verdict is the policy's answer for an identifier. */
export type Verdict = 'trusted' | 'marked bad' | 'not trusted' | 'cannot decide';

/** Judgement is the result of judge(). */
export interface Judgement {
  verdict: Verdict;
  trustedOk: number;
  trustedNotOk: number;
  policy: TrustPolicy;
  attestations: Judged[];
  /** undecided are the logged attestations by trusted keys that do not verify (verdict "cannot decide"). */
  undecided: Judged[];
}

/** FoundKey is what a KeyLookup found: the key, or why there is none. */
export type FoundKey = { key: PublicKey } | { key?: undefined; reason: string };

/** KeyLookup returns the public key of a fingerprint, or why none can be used. */
export type KeyLookup = (fingerprint: string) => Promise<FoundKey>;

/**
 * judge verifies every candidate's signature (verifyAttestation with the signer's key), keeps the
 * newest per key (a newer ok:false revokes an older ok:true; on equal times not-ok wins), and applies
 * the policy to trusted keys. Keys of signers you do not trust are looked up for at most
 * `maxUntrustedKeys` signers (the others are reported unknown; they do not count either way). A logged
 * attestation by a trusted key that does not verify makes the verdict "cannot decide" (file comment).
 * Never throws for a bad attestation.
 */
export async function judge(
  candidates: readonly Candidate[],
  lookup: KeyLookup,
  trusted: readonly string[],
  policy: TrustPolicy,
  maxUntrustedKeys = Number.POSITIVE_INFINITY,
): Promise<Judgement> {
  const trustedSet = new Set(trusted.map((f) => f.toUpperCase()));
  const judged = await checkCandidates(candidates, lookup, trustedSet, maxUntrustedKeys);
  markSuperseded(judged);
  const out = judged.map(({ time: _t, ...j }) => j);
  const undecided = out.filter(
    (j) =>
      (j.status === 'invalid' || j.status === 'unknown') && trustedSet.has(j.key) && j.entries.length > 0,
  );
  const trustedOk = out.filter((j) => j.status === 'trusted ok').length;
  const trustedNotOk = out.filter((j) => j.status === 'marked bad').length;
  const verdict: Verdict =
    undecided.length > 0
      ? 'cannot decide'
      : trustedNotOk > policy.maxNotOk
        ? 'marked bad'
        : trustedOk >= policy.minOk
          ? 'trusted'
          : 'not trusted';
  return { verdict, trustedOk, trustedNotOk, policy, attestations: out, undecided };
}

/** A Judged with its signature time in milliseconds, when its signature verified. */
type Timed = Judged & { time?: number };

/**
 * Verifies each candidate with its signer's key (looked up for at most maxUntrustedKeys untrusted
 * signers) and returns them in the candidates' order, with their status before superseding.
 */
async function checkCandidates(
  candidates: readonly Candidate[],
  lookup: KeyLookup,
  trustedSet: ReadonlySet<string>,
  maxUntrustedKeys: number,
): Promise<Timed[]> {
  const untrustedLooked = new Set<string>();
  const judged: Timed[] = new Array(candidates.length);
  // Trusted signers first: their keys decide the verdict, so they are looked up before any time goes
  // to the keys of signers who do not count. The output keeps the candidates' order.
  const order = [...candidates.keys()].sort(
    (x, y) =>
      Number(!trustedSet.has(candidates[x]!.attestation.key)) -
      Number(!trustedSet.has(candidates[y]!.attestation.key)),
  );
  for (const i of order) {
    const c = candidates[i]!;
    const a = c.attestation;
    const base = {
      id: a.data.id,
      key: a.key,
      ok: a.data.ok,
      sources: c.sources,
      entries: c.entries,
      attestation: a,
    };
    const isTrusted = trustedSet.has(a.key);
    if (!isTrusted && !untrustedLooked.has(a.key)) {
      if (untrustedLooked.size >= maxUntrustedKeys) {
        judged[i] = {
          ...base,
          status: 'unknown',
          reason: `not checked: more than ${maxUntrustedKeys} signers you do not trust answered; their attestations do not count anyway`,
        };
        continue;
      }
      untrustedLooked.add(a.key);
    }
    const found = await lookup(a.key);
    if (!found.key) {
      judged[i] = { ...base, status: 'unknown', reason: found.reason };
      continue;
    }
    try {
      const { signedAt } = await verifyAttestation(a, found.key);
      judged[i] = {
        ...base,
        status: isTrusted ? (a.data.ok ? 'trusted ok' : 'marked bad') : 'untrusted',
        signedAt: signedAt.toISOString(),
        time: signedAt.getTime(),
      };
    } catch (e) {
      if (!isLogError(e)) throw e;
      judged[i] = { ...base, status: 'invalid', reason: `${e.code}: ${e.message}` };
    }
  }
  return judged;
}

/**
 * Newest per key wins: marks every verified attestation superseded unless it is the newest of its key
 * (on equal times not-ok wins).
 */
function markSuperseded(judged: Timed[]): void {
  const newest = new Map<string, Timed>();
  for (const j of judged) {
    if (j.time === undefined) continue;
    const cur = newest.get(j.key);
    if (!cur || j.time > cur.time! || (j.time === cur.time && !j.ok && cur.ok)) newest.set(j.key, j);
  }
  for (const j of judged) {
    if (j.time === undefined) continue;
    const winner = newest.get(j.key)!;
    if (winner !== j) {
      j.status = 'superseded';
      j.reason = `superseded by a newer attestation of the same key signed ${winner.signedAt} (ok: ${winner.ok})`;
    }
  }
}
