/**
 * Issue 8 "Tests": fast-check-mutated copies of a victim's key, and whole hostile keys, sent through every
 * path that takes keys (POST /v1/keys, and POST /v1/attestations with "keys") of a real in-process server
 * (127.0.0.1 port 0, verify workers on, so the intake runs where production runs it: server/verify-pool.ts).
 *
 * Seed: a victim (test/helpers/hostile-keys.ts newSubkeySigner) with a second signing subkey that it has
 * revoked; its key stored by a publish of one `ok: true` and one `ok: false` attestation signed by the
 * first subkey. So there is something to lose: two logged attestations, a subkey binding, a revocation.
 *
 * Each case is a list of mutations of the victim's packets (test/helpers/hostile-keys.ts packetsOf): drop,
 * duplicate, move, corrupt a signature (corrupted), re-date one (a newer signature of the same type from
 * openpgp.reformatKey, made invalid, as newerInvalidBinding does), add user IDs with invalid
 * self-certifications or real third-party ones, splice in a packet of another key (an honest donor, or a
 * DSA/RSA key chosen to be expensive, as primary or as subkey), flip bits, truncate the binary or the
 * armor; or a whole hostile key (expensiveDsaKey 8192/16384, rsaKeyWithExponent(4096, 4096) and (8192,
 * 17)); and sometimes a hostile key sent beside the mutated one. Each case goes through POST /v1/keys,
 * then through a publish of a fresh attestation by the victim with the same "keys".
 *
 * Properties, after every request:
 *   (a) no 5xx; a 4xx has the JSON error body with a documented code (server/http/errors.ts HTTP_STATUS)
 *       of exactly that status, and is never WORK_BUDGET_EXCEEDED (every key here is refused by the
 *       limits before any math, or is cheap to check: the budget is a backstop, not the defence). On the
 *       publish path the attestation is the victim's own and valid, so it is never refused for its
 *       signature or key (SIGNATURE_INVALID, KEY_MISMATCH, KEY_UNKNOWN): a refusal names a sent key;
 *   (b) the stored key (GET /v1/keys/<fp>, read with log/keys.ts readSignerKey) verifies every
 *       attestation the victim published (log/signet.ts verifyAttestation), still holds the revocation
 *       of the second subkey, and the victim can still publish a fresh attestation (200, alternately on
 *       POST /v1/attestations and on the Signet client's POST /sig, which takes no keys). Moreover the
 *       stored armor is unchanged: no mutation adds a signature that verifies (each only drops, repeats,
 *       reorders or invalidates the victim's own packets, or brings in other keys' packets), so a changed
 *       key could only mean an unverified packet was kept;
 *   (c) GET /healthz, polled about every 50 ms from a worker thread for the whole run, answers 200
 *       every time, within 500 ms but for at most 1% of the polls, and never later than 2 s. This bounds
 *       how long anything blocks the event loop (the server's and this process's: they are the same one);
 *       it is not a speed target. The 1% and the 2 s leave room for a machine whose cores are shared with
 *       other test files (a PGlite query waits for the CPU like anything else: a 597 ms poll was seen at a
 *       load average of 16 on 2 cores); a key whose math runs on the event loop blocks it for seconds at
 *       a time (12 s was measured with the algorithm check removed), which fails both bounds. The maximum,
 *       the count and the polls over 500 ms are printed.
 *
 * Both backends run, one after the other (not at once: two fuzzers on two shared cores would measure
 * each other in (c)); the merge is a compare-and-set write (server/store.ts), written differently per
 * backend. FUZZ_KEYS_RUNS scales the cases per backend; FUZZ_SEED replays a run (the Postgres run uses
 * FUZZ_SEED + 1, for other cases; each run prints its seed).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { readSignerKey } from '../log/keys.js';
import { type Attestation, signAttestation, signatureIssuer, verifyAttestation } from '../log/signet.js';
import { HTTP_STATUS } from '../server/http/errors.js';
import {
  armorPackets,
  corrupted,
  expensiveDsaKey,
  newSubkeySigner,
  packetsOf,
  rsaKeyWithExponent,
  type SubkeySigner,
  withThirdPartyCertification,
} from './helpers/hostile-keys.js';
import { postJson, startTestServer, testConfig } from './helpers/http.js';
import { pgliteBackend, postgresBackend, type StoreBackend } from './helpers/stores.js';

/** Cases per backend: each sends 2 requests and checks after each (0.15 to 0.3 s a case on 2 busy cores). */
const RUNS = Number(process.env.FUZZ_KEYS_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const HEALTH_EVERY_MS = 50;
const HEALTH_BOUND_MS = 500;
/** HEALTH_HARD_BOUND_MS: no poll may take longer, whatever the machine's load (see (c)). */
const HEALTH_HARD_BOUND_MS = 2000;

type Packet = Awaited<ReturnType<typeof packetsOf>>[number];
const isSig = (p: Packet): p is openpgp.SignaturePacket => p instanceof openpgp.SignaturePacket;

/** Material is made once (generating keys is slow) and mutated per case. */
interface Material {
  victim: SubkeySigner;
  /** signingKeyId: the subkey that signs the victim's attestations (16 hex, upper case). */
  signingKeyId: string;
  /** revokedKeyId: the victim's second signing subkey, revoked before the seed publish. */
  revokedKeyId: string;
  /** packets of the victim's public key, revocation included. */
  packets: Packet[];
  /** newer: signatures by the victim newer than all the others (openpgp.reformatKey), each spoiled. */
  newer: openpgp.SignaturePacket[];
  /** userIds: extra user IDs, each with a spoiled self-certification and a real third-party one. */
  userIds: { uid: Packet; selfCert: openpgp.SignaturePacket; thirdParty: openpgp.SignaturePacket }[];
  /** donors: packets of other keys (an honest one, and expensive ones as primary keys and as subkeys). */
  donors: Packet[];
  /** hostile: whole keys whose verification cost is chosen by their maker. */
  hostile: { name: string; armored: string }[];
}

/** keyIdOf returns the 16-hex key ID of a (sub)key, upper case. */
const keyIdOf = (k: { getKeyID(): openpgp.KeyID }) => k.getKeyID().toHex().toUpperCase();

/** asSubkey returns the key packet `p` re-read as a subkey packet (same algorithm and parameters). */
async function asSubkey(p: openpgp.PublicKeyPacket): Promise<Packet> {
  const s = new openpgp.PublicSubkeyPacket();
  await s.read(p.write());
  return s;
}

/**
 * spoiled returns `sig` with two bytes of its signature value flipped (the last one by corrupted). A
 * 'corrupt' mutation flips the last byte again, which would turn a merely corrupted copy back into the
 * valid signature it was made from; a spoiled one stays invalid, so no mutation brings back a valid
 * signature the stored key does not already have.
 */
function spoiled(sig: openpgp.SignaturePacket): openpgp.SignaturePacket {
  const body = sig.write();
  body[body.length - 2]! ^= 0x01;
  const out = new openpgp.SignaturePacket();
  (out as unknown as { read(b: Uint8Array): void }).read(body);
  return corrupted(out);
}

async function makeMaterial(): Promise<Material> {
  // The victim: newSubkeySigner's key (made a day ago, signing subkey A), plus signing subkey B made
  // 12 hours ago and revoked 6 hours ago.
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
  const base = await newSubkeySigner('victim');
  const withB = await base.privateKey.addSubkey({ sign: true, date: hoursAgo(12) });
  const b = withB.subkeys[1]!;
  const revokedB = await b.revoke(
    withB.keyPacket as openpgp.SecretKeyPacket,
    { flag: openpgp.enums.reasonForRevocation.keyRetired, string: 'retired' },
    hoursAgo(6),
  );
  const revocation = revokedB.revocationSignatures[0]!;
  const list = [...withB.toPacketList()];
  const bAt = list.findIndex((p) => p instanceof openpgp.SecretSubkeyPacket && keyIdOf(p) === keyIdOf(b));
  list.splice(bAt + 2, 0, revocation); // after B and its binding
  const privateList = new openpgp.PacketList<Packet>();
  privateList.push(...list);
  const privateKey = await openpgp.readPrivateKey({ binaryKey: privateList.write() });
  const victim: SubkeySigner = {
    privateKey,
    publicKey: privateKey.toPublic(),
    fingerprint: base.fingerprint,
  };

  // Someone else: an honest donor, who also certifies the victim's extra user IDs.
  const donor = await newSubkeySigner('donor');
  const extraNames = ['victim', 'Victim <victim@example.org>', 'x'.repeat(200), '\u202evictim'];
  const later = await openpgp.reformatKey({
    privateKey,
    userIDs: [{ name: 'victim' }, ...extraNames.slice(1).map((name) => ({ name }))],
    // Newer than every signature of the victim, and in the past (openpgp.js skips future-dated ones).
    date: new Date(Date.now() - 60_000),
    format: 'object',
  });
  const certified = await withThirdPartyCertification(later.publicKey, donor.privateKey);
  const laterPackets = await packetsOf(later.publicKey);
  const newer = laterPackets.filter(isSig).map((s) => spoiled(s));
  const userIds = certified.users.map((u) => ({
    uid: u.userID!,
    selfCert: spoiled(u.selfCertifications[0]!),
    thirdParty: u.otherCertifications[0]!,
  }));

  const hostile = [
    { name: 'dsa-8192', armored: await expensiveDsaKey(8192) },
    { name: 'dsa-16384', armored: await expensiveDsaKey(16384) },
    { name: 'rsa-4096-e4096', armored: await rsaKeyWithExponent(4096, 4096) },
    { name: 'rsa-8192-e17', armored: await rsaKeyWithExponent(8192, 17) },
  ];
  const donors = await packetsOf(donor.publicKey);
  for (const h of hostile) {
    const packets = [...(await openpgp.readKey({ armoredKey: h.armored })).toPacketList()];
    donors.push(...packets, await asSubkey(packets[0] as openpgp.PublicKeyPacket));
  }

  const signing = (await signatureIssuer(await signAttestation({ id: 'probe', ok: true }, privateKey))).keyId;
  return {
    victim,
    signingKeyId: signing,
    revokedKeyId: keyIdOf(b),
    packets: await packetsOf(victim.publicKey),
    newer,
    userIds,
    donors,
    hostile,
  };
}

// ---------------------------------------------------------------------------------------------
// Mutations. Positions are naturals taken modulo the list's length when applied, so every one applies
// to whatever list the earlier mutations left.

type Mutation =
  | { op: 'drop'; at: number }
  | { op: 'duplicate'; at: number; to: number }
  | { op: 'move'; at: number; to: number }
  | { op: 'corrupt'; sig: number }
  | { op: 'redate'; sig: number; pick: number }
  | {
      op: 'userId';
      pick: number;
      cert: 'self-invalid' | 'third-party' | 'both';
      copies: number;
      to: number;
    }
  | { op: 'splice'; pick: number; to: number };

interface Encoding {
  /** flips: bits flipped in the binary packets (position taken modulo its length). */
  flips: { at: number; bit: number }[];
  /** truncate: keep this many thousandths of the binary, or of the armored text. */
  truncate: { where: 'binary' | 'armor'; keep: number } | null;
}

type Case =
  | { kind: 'mutated'; mutations: Mutation[]; encoding: Encoding; beside: number | null }
  | { kind: 'hostile'; pick: number };

const nat = fc.nat({ max: 1000 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: nat }),
  fc.record({ op: fc.constant('duplicate' as const), at: nat, to: nat }),
  fc.record({ op: fc.constant('move' as const), at: nat, to: nat }),
  fc.record({ op: fc.constant('corrupt' as const), sig: nat }),
  fc.record({ op: fc.constant('redate' as const), sig: nat, pick: nat }),
  fc.record({
    op: fc.constant('userId' as const),
    pick: nat,
    cert: fc.constantFrom('self-invalid' as const, 'third-party' as const, 'both' as const),
    // 40 copies pass KEY_LIMITS.maxUserIds (32): refused by count before any verification.
    copies: fc.constantFrom(1, 1, 2, 5, 40),
    to: nat,
  }),
  fc.record({ op: fc.constant('splice' as const), pick: nat, to: nat }),
);
const encodingArb: fc.Arbitrary<Encoding> = fc.record({
  flips: fc.oneof(
    { weight: 8, arbitrary: fc.constant<Encoding['flips']>([]) },
    fc.array(fc.record({ at: fc.nat(), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 3 }),
  ),
  truncate: fc.oneof(
    { weight: 8, arbitrary: fc.constant(null) },
    fc.record({ where: fc.constantFrom('binary' as const, 'armor' as const), keep: fc.nat({ max: 999 }) }),
  ),
});
const caseArb: fc.Arbitrary<Case> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      mutations: fc.array(mutationArb, { minLength: 1, maxLength: 6 }),
      encoding: encodingArb,
      beside: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, nat),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), pick: nat }) },
);

function applyMutation(m: Material, list: Packet[], mu: Mutation): void {
  const at = (n: number) => n % list.length;
  const to = (n: number) => n % (list.length + 1);
  const sigs = () => list.flatMap((p, i) => (isSig(p) ? [i] : []));
  switch (mu.op) {
    case 'drop':
      if (list.length > 0) list.splice(at(mu.at), 1);
      return;
    case 'duplicate':
      if (list.length > 0) list.splice(to(mu.to), 0, list[at(mu.at)]);
      return;
    case 'move': {
      if (list.length === 0) return;
      const [p] = list.splice(at(mu.at), 1);
      list.splice(to(mu.to), 0, p);
      return;
    }
    case 'corrupt': {
      const s = sigs();
      if (s.length === 0) return;
      const i = s[mu.sig % s.length]!;
      list[i] = corrupted(list[i]);
      return;
    }
    case 'redate': {
      // A newer signature of the same type (certification, subkey binding), spoiled: it claims to
      // supersede the old one. Types the later copy has none of (revocations) get any newer one.
      const s = sigs();
      if (s.length === 0) return;
      const i = s[mu.sig % s.length]!;
      const same = m.newer.filter((n) => n.signatureType === list[i].signatureType);
      const from = same.length > 0 ? same : m.newer;
      list[i] = from[mu.pick % from.length]!;
      return;
    }
    case 'userId': {
      const u = m.userIds[mu.pick % m.userIds.length]!;
      const certs =
        mu.cert === 'self-invalid'
          ? [u.selfCert]
          : mu.cert === 'third-party'
            ? [u.thirdParty]
            : [u.selfCert, u.thirdParty];
      const add: Packet[] = [];
      for (let i = 0; i < mu.copies; i++) add.push(u.uid, ...certs);
      list.splice(to(mu.to), 0, ...add);
      return;
    }
    case 'splice':
      list.splice(to(mu.to), 0, m.donors[mu.pick % m.donors.length]);
      return;
  }
}

/** describePackets names each packet of a list (tag, and for a signature its type and issuer key ID). */
function describePackets(list: readonly Packet[]): string {
  return list
    .map((p) => {
      if (isSig(p)) {
        const type = (p.signatureType as number).toString(16).padStart(2, '0');
        return `sig 0x${type} by ${p.issuerKeyID.toHex().toUpperCase()}`;
      }
      if (p instanceof openpgp.UserIDPacket) return `userID ${JSON.stringify(p.userID.slice(0, 30))}`;
      if (p instanceof openpgp.PublicSubkeyPacket)
        return `subkey ${keyIdOf(p)} (${p.getAlgorithmInfo().algorithm})`;
      if (p instanceof openpgp.PublicKeyPacket)
        return `key ${keyIdOf(p)} (${p.getAlgorithmInfo().algorithm})`;
      return p.constructor.name;
    })
    .join(', ');
}

/**
 * keysOf returns the armored keys a case sends (the mutated victim key, and a hostile one beside it) and
 * a description of the packets, for failure messages.
 */
function keysOf(m: Material, c: Case): { keys: string[]; packets: string } {
  if (c.kind === 'hostile') {
    const h = m.hostile[c.pick % m.hostile.length]!;
    return { keys: [h.armored], packets: h.name };
  }
  const list = [...m.packets];
  for (const mu of c.mutations) applyMutation(m, list, mu);
  let armored: string;
  const { flips, truncate } = c.encoding;
  if (flips.length === 0 && truncate?.where !== 'binary') {
    armored = armorPackets(list);
  } else {
    const packets = new openpgp.PacketList<Packet>();
    packets.push(...list);
    let bytes = packets.write();
    for (const f of flips) if (bytes.length > 0) bytes[f.at % bytes.length]! ^= 1 << f.bit;
    if (truncate?.where === 'binary')
      bytes = bytes.subarray(0, Math.floor((bytes.length * truncate.keep) / 1000));
    armored = openpgp.armor(openpgp.enums.armor.publicKey, bytes);
  }
  if (truncate?.where === 'armor')
    armored = armored.slice(0, Math.floor((armored.length * truncate.keep) / 1000));
  // An empty string is refused by the HTTP layer's shape check, before the intake: send one byte at least.
  if (armored.length === 0) armored = '-';
  const packets = describePackets(list);
  if (c.beside === null) return { keys: [armored], packets };
  const h = m.hostile[c.beside % m.hostile.length]!;
  return c.beside % 2 === 0
    ? { keys: [armored, h.armored], packets: `[${packets}], ${h.name}` }
    : { keys: [h.armored, armored], packets: `${h.name}, [${packets}]` };
}

// ---------------------------------------------------------------------------------------------

/** Codes that would mean the victim's own valid attestation was judged with a key that lost something. */
const VERIFICATION_CODES = new Set(['SIGNATURE_INVALID', 'KEY_MISMATCH', 'KEY_UNKNOWN']);

/** Tally counts requests per path, and answers per status or error code. */
class Tally {
  readonly byPath = new Map<string, Map<string, number>>();
  add(path: string, answer: string): void {
    const m = this.byPath.get(path) ?? new Map<string, number>();
    m.set(answer, (m.get(answer) ?? 0) + 1);
    this.byPath.set(path, m);
  }
  total(path: string): number {
    return [...(this.byPath.get(path)?.values() ?? [])].reduce((a, b) => a + b, 0);
  }
  line(path: string): string {
    const m = [...(this.byPath.get(path) ?? new Map<string, number>()).entries()].sort();
    return `${path}: ${this.total(path)} requests (${m.map(([k, n]) => `${k} ${n}`).join(', ')})`;
  }
}

/** checkAnswer throws unless `r` is a 200 or a 4xx with the documented JSON error body (property a). */
function checkAnswer(
  what: string,
  r: { status: number; body: { error?: { code?: unknown; details?: unknown } } },
  publish: boolean,
): string {
  if (r.status === 200) return '200';
  const detail = `${what} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 400)}`;
  if (r.status >= 500 || r.status < 400) throw new Error(detail);
  const code = r.body?.error?.code;
  if (typeof code !== 'string' || HTTP_STATUS[code] !== r.status) {
    throw new Error(`${detail} (not a documented error code of that status)`);
  }
  if (code === 'WORK_BUDGET_EXCEEDED') {
    // The budget is the backstop: every key here is refused by size, algorithm or count before any math,
    // or is cheap to check. Reaching it means the intake let expensive math through.
    throw new Error(`${detail} (the intake's limits let expensive math through)`);
  }
  if (publish && VERIFICATION_CODES.has(code)) {
    throw new Error(`${detail} (the victim's own valid attestation was refused: its key lost something)`);
  }
  const rule = (r.body.error?.details as { rule?: unknown } | undefined)?.rule;
  return typeof rule === 'string' ? `${code}/${rule}` : code;
}

/**
 * HEALTH_POLLER is the code of the health poller's thread: GET /healthz, then wait HEALTH_EVERY_MS, until
 * told to stop; then it posts the slowest answer's time, the count and the failures. It runs in a worker
 * thread because the server shares this test's event loop: a poller on that loop sleeps through a block
 * (its timer fires only after it) and would measure nothing; on its own thread it asks on time and waits
 * as any client would.
 */
const HEALTH_POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
let running = true;
parentPort.once('message', () => { running = false; });
(async () => {
  let max = 0, count = 0, slow = 0;
  const failures = [];
  while (running) {
    const start = performance.now();
    try {
      const r = await fetch(workerData.url + '/healthz');
      await r.arrayBuffer();
      if (r.status !== 200) failures.push('healthz answered ' + r.status);
    } catch (e) {
      failures.push('healthz failed: ' + e.message);
    }
    const ms = performance.now() - start;
    max = Math.max(max, ms);
    if (ms >= workerData.bound) slow++;
    count++;
    // Pacing, not synchronisation: nothing waits on this timer but the next poll.
    await new Promise((resolve) => setTimeout(resolve, workerData.every));
  }
  parentPort.postMessage({ max, count, slow, failures });
})();
`;

/** HealthPoller runs HEALTH_POLLER against `url` from construction until stop() (property c). */
class HealthPoller {
  private readonly worker: Worker;
  private result: Promise<{ max: number; count: number; slow: number; failures: string[] }> | undefined;
  constructor(url: string) {
    this.worker = new Worker(HEALTH_POLLER, {
      eval: true,
      workerData: { url, every: HEALTH_EVERY_MS, bound: HEALTH_BOUND_MS },
    });
  }
  /** stop ends the polling and returns the slowest answer (ms), the number of polls, how many took
   *  HEALTH_BOUND_MS or longer, and the failures. */
  stop(): Promise<{ max: number; count: number; slow: number; failures: string[] }> {
    this.result ??= (async () => {
      const answer = once(this.worker, 'message');
      this.worker.postMessage('stop');
      const [r] = (await answer) as [{ max: number; count: number; slow: number; failures: string[] }];
      await this.worker.terminate();
      return r;
    })();
    return this.result;
  }
}

let material: Material | undefined;

test.before(async () => {
  material = await makeMaterial();
});

let freshCount = 0;
/** fresh returns a new attestation by the victim (a new id each time). */
function fresh(m: Material, ok = true): Promise<Attestation> {
  const id = `sha256:${createHash('sha256').update(`fuzz-keys ${SEED} ${freshCount++}`).digest('hex')}`;
  return signAttestation({ id, ok }, m.victim.privateKey);
}

async function fuzzBackend(t: ExecutionContext, b: StoreBackend, seed: number): Promise<void> {
  const m = material!;
  const h = await startTestServer(testConfig(b, { 'verify-workers': 1 }));
  const tally = new Tally();
  let health: HealthPoller | undefined;
  try {
    // Seed: the victim's key (with the revocation) stored by a publish of ok: true and ok: false.
    const seeded = [await fresh(m, true), await fresh(m, false)];
    for (const a of seeded) t.is((await signatureIssuer(a)).keyId, m.signingKeyId, 'signed by subkey A');
    const first = await postJson(`${h.url}/v1/attestations`, {
      attestations: seeded,
      keys: [m.victim.publicKey.armor()],
    });
    t.is(first.status, 200, JSON.stringify(first.body));
    const keyUrl = `${h.url}/v1/keys/${m.victim.fingerprint}`;
    const storedArmor = async () => {
      const r = await fetch(keyUrl);
      const text = await r.text();
      if (r.status !== 200)
        throw new Error(`GET /v1/keys/<victim> answered ${r.status}: ${text.slice(0, 300)}`);
      return text;
    };
    const seedArmor = await storedArmor();
    const seedKey = await readSignerKey(seedArmor);
    const revoked = seedKey.getSubkeys().find((s) => keyIdOf(s) === m.revokedKeyId);
    t.truthy(revoked, 'the revoked subkey is stored');
    await t.throwsAsync(revoked!.verify(), { message: /revoked/i }, 'stored with its revocation');
    // published: the seed attestations, and the most recent fresh ones (older fresh ones are the same kind).
    const published: Attestation[] = [...seeded];
    const remember = (a: Attestation) => {
      published.push(a);
      if (published.length > seeded.length + 2) published.splice(seeded.length, 1);
    };

    /** stillWhole checks property (b) after a request. */
    const stillWhole = async (after: string) => {
      const armor = await storedArmor();
      const key = await readSignerKey(armor);
      for (const a of published) {
        try {
          await verifyAttestation(a, key);
        } catch (e) {
          throw new Error(
            `after ${after}: logged ${a.data.id} (ok ${a.data.ok}) no longer verifies: ${(e as Error).message}`,
          );
        }
      }
      const sub = key.getSubkeys().find((s) => keyIdOf(s) === m.revokedKeyId);
      const stillRevoked = sub
        ? await sub.verify().then(
            () => false,
            (e: Error) => /revoked/i.test(e.message),
          )
        : false;
      if (!stillRevoked)
        throw new Error(`after ${after}: the revocation of subkey ${m.revokedKeyId} is gone`);
      if (armor !== seedArmor) {
        throw new Error(
          `after ${after}: the stored key changed, though nothing sent could verify:\n${armor}`,
        );
      }
      // Alternately through the Signet client's POST /sig, which takes no keys: the stored copy is used.
      const a = await fresh(m);
      const path = freshCount % 2 === 0 ? '/v1/attestations' : '/sig';
      const r = await postJson(`${h.url}${path}`, { attestations: [a] });
      tally.add(`check: fresh publish, POST ${path}`, String(r.status));
      if (r.status !== 200) {
        throw new Error(
          `after ${after}: the victim can no longer publish (POST ${path}): ${r.status} ${JSON.stringify(r.body)}`,
        );
      }
      remember(a);
    };

    health = new HealthPoller(h.url);
    const property = fc.asyncProperty(caseArb, async (c) => {
      const { keys, packets } = keysOf(m, c);
      try {
        await sendCase(c, keys);
      } catch (e) {
        throw new Error(`${(e as Error).message}\npackets sent: ${packets}\nkeys sent:\n${keys.join('\n')}`);
      }
    });
    const sendCase = async (c: Case, keys: string[]) => {
      const viaKeys = await postJson(`${h.url}/v1/keys`, { keys });
      tally.add('POST /v1/keys', checkAnswer('POST /v1/keys', viaKeys, false));
      await stillWhole('POST /v1/keys');
      // ok: true or false, as the seed: both kinds must keep verifying.
      const att = await fresh(m, c.kind === 'mutated' && c.mutations.length % 2 === 0);
      const viaPublish = await postJson(`${h.url}/v1/attestations`, { attestations: [att], keys });
      tally.add(
        'POST /v1/attestations with keys',
        checkAnswer('POST /v1/attestations with keys', viaPublish, true),
      );
      if (viaPublish.status === 200) remember(att);
      await stillWhole('POST /v1/attestations with keys');
    };
    // No shrinking: the server's state carries over from case to case (that is the point: merges of
    // merges), so once a case has changed the stored key every later replay fails too, and a shrunk case
    // would be noise. The failing case is reported as generated, with the seed to replay the run.
    const details = await fc.check(property, { numRuns: RUNS, seed, endOnFailure: true });
    const polled = await health.stop();

    const lines = [
      `fuzz-keys [${b.name}] seed ${seed}: ${details.numRuns} cases${details.failed ? ' (FAILED)' : ''}`,
      tally.line('POST /v1/keys'),
      tally.line('POST /v1/attestations with keys'),
      tally.line('check: fresh publish, POST /v1/attestations'),
      tally.line('check: fresh publish, POST /sig'),
      `GET /healthz: ${polled.count} polls, max ${polled.max.toFixed(1)} ms, ${polled.slow} over ${HEALTH_BOUND_MS} ms (bounds: at most 1% over ${HEALTH_BOUND_MS} ms, none over ${HEALTH_HARD_BOUND_MS} ms)`,
    ];
    for (const l of lines) t.log(l);
    console.log(lines.join('\n  '));
    if (details.failed) {
      const e = details.errorInstance;
      t.fail(
        `${fc.defaultReportMessage(details)}\nerror: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    } else t.is(details.numRuns, RUNS, 'every case ran');
    t.true(tally.total('POST /v1/keys') >= RUNS, 'every case went through POST /v1/keys');
    t.true(tally.total('POST /v1/attestations with keys') >= RUNS, 'and through a publish with keys');
    t.deepEqual(polled.failures, [], 'healthz answered 200 throughout');
    t.true(polled.count > 0, 'healthz was polled');
    t.true(
      polled.slow <= polled.count / 100,
      `healthz answered within ${HEALTH_BOUND_MS} ms but for at most 1% of ${polled.count} polls (${polled.slow} slower)`,
    );
    t.true(
      polled.max < HEALTH_HARD_BOUND_MS,
      `healthz answered within ${HEALTH_HARD_BOUND_MS} ms every time (max ${polled.max} ms)`,
    );
  } finally {
    await health?.stop();
    await h.close();
  }
}

// One backend after the other (test.serial): see the file comment on (c).
test.serial('fuzz: mutated and hostile keys on both key paths [pglite]', async (t) => {
  const b = await pgliteBackend('fuzz-keys');
  try {
    await fuzzBackend(t, b, SEED);
  } finally {
    await b.cleanup();
  }
});

test.serial('fuzz: mutated and hostile keys on both key paths [postgres]', async (t) => {
  const b = await postgresBackend('fuzz-keys');
  if (!b) {
    t.pass('Postgres not available (skipped; PG_REQUIRED=1 makes this a failure)');
    return;
  }
  try {
    await fuzzBackend(t, b, SEED + 1);
  } finally {
    await b.cleanup();
  }
});
