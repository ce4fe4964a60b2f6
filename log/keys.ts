/**
 * Signer keys from outside: the one intake rule for every path that accepts or uses an attestation
 * signer's OpenPGP key (the server's publish with keys, POST /v1/keys, the keys it uses for /sig and
 * for verification, and the CLI's keys from servers). Pure: no I/O.
 *
 * A key from outside is hostile until verified. readSignerKey works in this order, so that no
 * expensive math runs before the key is known to be cheap to check:
 *   1. size: the input is at most KEY_LIMITS.maxBytes (KEY_TOO_LARGE);
 *   2. parse (no math): exactly one v4 public key (KEY_INVALID);
 *   3. algorithms of every key packet (KEY_ALGORITHM_REFUSED): EdDSA on Ed25519 (legacy and RFC 9580
 *      forms), ECDSA on NIST P-256/384/521, RSA of 2048 to 4096 bits with a public exponent of at most
 *      32 bits; encryption subkeys may also be ECDH on Curve25519 or the NIST curves, or X25519.
 *      Anything else (DSA or ElGamal of any size, other curves) is refused: their verification cost
 *      is chosen by whoever made the key (an 8192-bit DSA group costs seconds per signature);
 *   4. drop without math what cannot be a self-signature: signatures whose issuer is not the primary
 *      key (third-party certifications), whose algorithm is not the primary's, or whose hash is not
 *      SHA-2 or SHA-3; drop user attributes (Signet has no use for photos);
 *   5. counts (KEY_TOO_LARGE): user IDs, subkeys and self-signatures per component are capped;
 *   6. verify every remaining signature by the primary key (RFC 9580 §5.2.4: certifications, subkey
 *      bindings with the embedded primary key binding of signing subkeys, revocations, direct-key
 *      signatures), cryptographically and without regard to time (expiry is the verifier's business
 *      at use); keep only what verifies. User IDs and subkeys left with no valid self-signature go.
 *      A key left with no valid user ID is refused (KEY_INVALID, rule "no-valid-user-id").
 *
 * mergeSignerKeys is the one merge rule: the union of the verified components of two such keys. It
 * can add valid components and revocations; it never replaces a valid signature with one that does
 * not verify (an incoming copy only ever contributes signatures that verified), and never removes a
 * revocation (everything the base copy had is kept).
 *
 * Every refusal is a LogError whose details.rule names the rule that was broken.
 */

import type { PublicKey } from 'openpgp';
import * as openpgp from 'openpgp';
import { base64Encode, bytesEqual } from './bytes.js';
import { LogError } from './errors.js';
import { fingerprintHex, readPublicKey } from './signet.js';

/** KeyLimits bound a signer key before any signature on it is verified. */
export interface KeyLimits {
  /** maxBytes: the armored text (or binary packets) at most this long. */
  maxBytes: number;
  /** maxUserIds: user IDs with at least one signature by the primary key. */
  maxUserIds: number;
  /** maxSubkeys: subkeys of the key. */
  maxSubkeys: number;
  /** maxSignaturesPerComponent: self-signatures on the primary key, one user ID or one subkey. */
  maxSignaturesPerComponent: number;
}

/** KEY_LIMITS are the limits of readSignerKey and mergeSignerKeys (the README's Limits table). */
export const KEY_LIMITS: KeyLimits = {
  maxBytes: 64 * 1024,
  maxUserIds: 32,
  maxSubkeys: 16,
  maxSignaturesPerComponent: 16,
};

const A = openpgp.enums.publicKey;
const S = openpgp.enums.signature;
const H = openpgp.enums.hash;

/** Algorithms a primary key or a signing subkey may use. */
const SIGNING_ALGORITHMS: ReadonlySet<number> = new Set([
  A.rsaEncryptSign,
  A.rsaSign,
  A.ecdsa,
  A.eddsaLegacy,
  A.ed25519,
]);
/** Algorithms an encryption-only subkey may use besides the signing ones (no math is ever done with them). */
const ENCRYPTION_ALGORITHMS: ReadonlySet<number> = new Set([A.rsaEncrypt, A.ecdh, A.x25519]);
/** Curves by algorithm (openpgp.js enums.curve names). */
const CURVES: Readonly<Record<number, ReadonlySet<string>>> = {
  [A.ecdsa]: new Set(['nistP256', 'nistP384', 'nistP521']),
  [A.eddsaLegacy]: new Set(['ed25519Legacy']),
  [A.ecdh]: new Set(['curve25519Legacy', 'nistP256', 'nistP384', 'nistP521']),
};
const RSA_ALGORITHMS: ReadonlySet<number> = new Set([A.rsaEncryptSign, A.rsaSign, A.rsaEncrypt]);
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 4096;
/** RSA public exponents above 32 bits make a verification cost like a signing; nobody uses them. */
const RSA_MAX_EXPONENT_BITS = 32;
/** Hashes a self-signature may use: SHA-2 and SHA-3 (SHA-1 and older are not collision resistant). */
const HASHES: ReadonlySet<number> = new Set([H.sha224, H.sha256, H.sha384, H.sha512, H.sha3_256, H.sha3_512]);
const CERTIFICATIONS: ReadonlySet<number> = new Set([
  S.certGeneric,
  S.certPersona,
  S.certCasual,
  S.certPositive,
]);

type KeyPacket = openpgp.PublicKeyPacket | openpgp.PublicSubkeyPacket;

function refuse(
  code: 'KEY_INVALID' | 'KEY_TOO_LARGE' | 'KEY_ALGORITHM_REFUSED',
  rule: string,
  message: string,
  details: Record<string, unknown> = {},
): never {
  throw new LogError(code, message, { ...details, rule });
}

/**
 * checkAlgorithm throws KEY_ALGORITHM_REFUSED unless `packet` uses an allowed algorithm and size
 * (see the file comment). `role` is "primary key" or "subkey <fingerprint>", for the message.
 */
function checkAlgorithm(packet: KeyPacket, role: string, signing: boolean): void {
  const algo = packet.algorithm as number;
  const info = packet.getAlgorithmInfo();
  const allowed = SIGNING_ALGORITHMS.has(algo) || (!signing && ENCRYPTION_ALGORITHMS.has(algo));
  if (!allowed) {
    refuse(
      'KEY_ALGORITHM_REFUSED',
      'algorithm',
      `the ${role} uses ${info.algorithm}${info.bits ? ` (${info.bits} bits)` : ''}, which this log does not accept: ` +
        'use Ed25519, ECDSA on P-256/384/521, or RSA of 2048 to 4096 bits',
      { algorithm: info.algorithm, component: role },
    );
  }
  const curves = CURVES[algo];
  if (curves && !curves.has(String(info.curve))) {
    refuse(
      'KEY_ALGORITHM_REFUSED',
      'curve',
      `the ${role} uses ${info.algorithm} on the curve ${String(info.curve)}, which this log does not accept`,
      { algorithm: info.algorithm, curve: String(info.curve), component: role },
    );
  }
  if (RSA_ALGORITHMS.has(algo)) {
    const bits = info.bits ?? 0;
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      refuse(
        'KEY_ALGORITHM_REFUSED',
        'rsa-bits',
        `the ${role} is RSA of ${bits} bits; this log accepts ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`,
        { algorithm: info.algorithm, bits, component: role },
      );
    }
    const e = (packet.publicParams as { e?: Uint8Array }).e ?? new Uint8Array();
    if (bitLength(e) > RSA_MAX_EXPONENT_BITS) {
      refuse(
        'KEY_ALGORITHM_REFUSED',
        'rsa-exponent',
        `the ${role} has an RSA public exponent of ${bitLength(e)} bits; this log accepts at most ${RSA_MAX_EXPONENT_BITS}`,
        { component: role },
      );
    }
  }
}

function bitLength(b: Uint8Array): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/** byPrimary keeps the signatures that can be self-signatures of `primary` (step 4, no math). */
function byPrimary(sigs: readonly openpgp.SignaturePacket[], primary: KeyPacket): openpgp.SignaturePacket[] {
  const id = primary.getKeyID();
  const fpr = primary.getFingerprintBytes();
  return sigs.filter(
    (s) =>
      s.issuerKeyID.equals(id) &&
      (!s.issuerFingerprint || bytesEqual(s.issuerFingerprint, fpr ?? new Uint8Array())) &&
      s.publicKeyAlgorithm === primary.algorithm &&
      HASHES.has(s.hashAlgorithm as number),
  );
}

function checkCount(n: number, max: number, what: string, rule: string): void {
  if (n > max) {
    refuse('KEY_TOO_LARGE', rule, `the key has ${n} ${what}; this log accepts at most ${max}`, {
      count: n,
      max,
    });
  }
}

/** verified returns the signatures in `sigs` that verify by `primary` over `data` as `type`s in `types`. */
async function verified(
  sigs: readonly openpgp.SignaturePacket[],
  primary: KeyPacket,
  types: ReadonlySet<number>,
  data: object,
  embeddedFor?: KeyPacket,
): Promise<openpgp.SignaturePacket[]> {
  const out: openpgp.SignaturePacket[] = [];
  for (const s of sigs) {
    const type = s.signatureType as number;
    if (!types.has(type)) continue;
    try {
      // date null: cryptographic validity only; when a signature or key expires is decided at use.
      await s.verify(primary, type, data, null as unknown as Date);
      if (embeddedFor && type === S.subkeyBinding && canSign(s)) {
        // A signing subkey must sign back (RFC 9580 §5.2.1: primary key binding, embedded): else
        // anyone could bind someone else's signing key to their own primary.
        const back = s.embeddedSignature;
        if (
          !back ||
          back.publicKeyAlgorithm !== embeddedFor.algorithm ||
          !HASHES.has(back.hashAlgorithm as number)
        )
          continue;
        await back.verify(embeddedFor, S.keyBinding, data, null as unknown as Date);
      }
      out.push(s);
    } catch {
      // Does not verify: dropped (the file comment, step 6).
    }
  }
  return out;
}

function canSign(binding: openpgp.SignaturePacket): boolean {
  const flags = binding.keyFlags?.[0] ?? 0;
  return (flags & openpgp.enums.keyFlags.signData) !== 0;
}

/** ReadKeyOptions adjust readSignerKey for copies the caller stored itself (server/key-cache.ts). */
export interface ReadKeyOptions {
  /** limits: default KEY_LIMITS. */
  limits?: KeyLimits;
  /** requireUserId: refuse a key left with no valid user ID (default true). */
  requireUserId?: boolean;
}

/**
 * readSignerKey returns the verified part of the one v4 OpenPGP public key in `input` (armored text or
 * binary packets), as a new key holding only the primary key, the user IDs, subkeys and signatures by
 * the primary key that verify (the file comment gives the steps). Throws LogError KEY_TOO_LARGE,
 * KEY_ALGORITHM_REFUSED or KEY_INVALID, with details.rule naming the rule that was broken.
 */
export async function readSignerKey(
  input: string | Uint8Array,
  opts: ReadKeyOptions = {},
): Promise<PublicKey> {
  const limits = opts.limits ?? KEY_LIMITS;
  if (input.length > limits.maxBytes) {
    refuse(
      'KEY_TOO_LARGE',
      'size',
      `the key is ${input.length} bytes; this log accepts keys of at most ${limits.maxBytes} bytes (drop third-party signatures and photos: gpg --export-options export-minimal)`,
      { size: input.length, max: limits.maxBytes },
    );
  }
  const key = await readPublicKey(input);
  return sanitize(key, limits, opts.requireUserId !== false);
}

/** Component is one part of a key with the signatures on it, as sanitize and merge see it. */
interface Parts {
  primary: openpgp.PublicKeyPacket;
  /** key revocations and direct-key signatures */
  direct: openpgp.SignaturePacket[];
  users: { packet: openpgp.UserIDPacket; sigs: openpgp.SignaturePacket[] }[];
  subkeys: { packet: openpgp.PublicSubkeyPacket; sigs: openpgp.SignaturePacket[] }[];
}

async function sanitize(key: PublicKey, limits: KeyLimits, requireUserId: boolean): Promise<PublicKey> {
  const primary = key.keyPacket as openpgp.PublicKeyPacket;
  checkAlgorithm(primary, 'primary key', true);
  const subkeys = key.getSubkeys();
  checkCount(subkeys.length, limits.maxSubkeys, 'subkeys', 'subkeys');
  for (const sk of subkeys) {
    if (sk.keyPacket.version !== 4)
      refuse('KEY_INVALID', 'version', `subkey ${sk.getFingerprint().toUpperCase()} is not a version 4 key`);
    checkAlgorithm(sk.keyPacket as KeyPacket, `subkey ${sk.getFingerprint().toUpperCase()}`, false);
  }
  // Step 4 and 5: what could be self-signatures, counted before any of them is verified.
  const direct = byPrimary(
    [
      ...key.revocationSignatures,
      ...(key as unknown as { directSignatures: openpgp.SignaturePacket[] }).directSignatures,
    ],
    primary,
  );
  checkCount(direct.length, limits.maxSignaturesPerComponent, 'signatures on its primary key', 'signatures');
  const users = key.users
    .filter((u) => u.userID !== null)
    .map((u) => ({
      packet: u.userID!,
      sigs: byPrimary([...u.selfCertifications, ...u.revocationSignatures], primary),
    }))
    .filter((u) => u.sigs.length > 0);
  checkCount(users.length, limits.maxUserIds, 'user IDs', 'user-ids');
  const subs = subkeys.map((sk) => ({
    packet: sk.keyPacket as openpgp.PublicSubkeyPacket,
    sigs: byPrimary([...sk.bindingSignatures, ...sk.revocationSignatures], primary),
  }));
  for (const c of [...users, ...subs]) {
    checkCount(
      c.sigs.length,
      limits.maxSignaturesPerComponent,
      'signatures on one user ID or subkey',
      'signatures',
    );
  }
  // Step 6: verify by the primary key, keep what verifies.
  const parts: Parts = {
    primary,
    direct: await verified(direct, primary, new Set([S.keyRevocation, S.key]), { key: primary }),
    users: [],
    subkeys: [],
  };
  for (const u of users) {
    const types = new Set([...CERTIFICATIONS, S.certRevocation]);
    const sigs = await verified(u.sigs, primary, types, { userID: u.packet, key: primary });
    if (sigs.some((s) => CERTIFICATIONS.has(s.signatureType as number)))
      parts.users.push({ packet: u.packet, sigs });
  }
  for (const sk of subs) {
    const types = new Set([S.subkeyBinding, S.subkeyRevocation]);
    const sigs = await verified(sk.sigs, primary, types, { key: primary, bind: sk.packet }, sk.packet);
    if (sigs.some((s) => s.signatureType === S.subkeyBinding))
      parts.subkeys.push({ packet: sk.packet, sigs });
  }
  if (requireUserId && parts.users.length === 0) {
    refuse(
      'KEY_INVALID',
      'no-valid-user-id',
      `key ${fingerprintHex(key)} has no user ID with a valid self-signature by its primary key`,
      { key: fingerprintHex(key) },
    );
  }
  return build(parts);
}

/** build makes a public key of `parts`, in the RFC 9580 §10.1 transferable public key order. */
function build(p: Parts): PublicKey {
  const list = new openpgp.PacketList<
    openpgp.AnyKeyPacket | openpgp.UserIDPacket | openpgp.SignaturePacket
  >();
  list.push(p.primary, ...p.direct);
  for (const u of p.users) list.push(u.packet, ...u.sigs);
  for (const s of p.subkeys) list.push(s.packet, ...s.sigs);
  return new openpgp.PublicKey(list as unknown as openpgp.PacketList<openpgp.AnyPacket>);
}

function partsOf(key: PublicKey): Parts {
  return {
    primary: key.keyPacket as openpgp.PublicKeyPacket,
    direct: [
      ...key.revocationSignatures,
      ...(key as unknown as { directSignatures: openpgp.SignaturePacket[] }).directSignatures,
    ],
    users: key.users
      .filter((u) => u.userID !== null)
      .map((u) => ({ packet: u.userID!, sigs: [...u.selfCertifications, ...u.revocationSignatures] })),
    subkeys: key.getSubkeys().map((sk) => ({
      packet: sk.keyPacket as openpgp.PublicSubkeyPacket,
      sigs: [...sk.bindingSignatures, ...sk.revocationSignatures],
    })),
  };
}

const packetId = (p: { write(): Uint8Array }) => base64Encode(p.write());

/** union appends to `into` the signatures of `from` it does not have (same packet bytes). */
function union(into: openpgp.SignaturePacket[], from: readonly openpgp.SignaturePacket[]): void {
  const have = new Set(into.map(packetId));
  for (const s of from) {
    const id = packetId(s);
    if (!have.has(id)) {
      have.add(id);
      into.push(s);
    }
  }
}

/**
 * mergeSignerKeys returns the union of two keys returned by readSignerKey for the same primary key:
 * everything `base` has, in its order, then what `incoming` adds (user IDs and subkeys new to `base`,
 * and signatures on shared ones). Since both hold only signatures that verified, the merge adds valid
 * components and revocations and never removes anything. Throws KEY_INVALID (rule "fingerprint") for
 * two different keys and KEY_TOO_LARGE when the union passes the limits.
 */
export function mergeSignerKeys(
  base: PublicKey,
  incoming: PublicKey,
  limits: KeyLimits = KEY_LIMITS,
): PublicKey {
  const fp = fingerprintHex(base);
  if (fingerprintHex(incoming) !== fp) {
    refuse('KEY_INVALID', 'fingerprint', `cannot merge key ${fingerprintHex(incoming)} into key ${fp}`, {
      key: fp,
    });
  }
  const out = partsOf(base);
  const add = partsOf(incoming);
  union(out.direct, add.direct);
  for (const u of add.users) {
    const same = out.users.find((x) => x.packet.userID === u.packet.userID);
    if (same) union(same.sigs, u.sigs);
    else out.users.push({ packet: u.packet, sigs: [...u.sigs] });
  }
  for (const s of add.subkeys) {
    const fpr = s.packet.getFingerprint();
    const same = out.subkeys.find((x) => x.packet.getFingerprint() === fpr);
    if (same) union(same.sigs, s.sigs);
    else out.subkeys.push({ packet: s.packet, sigs: [...s.sigs] });
  }
  checkCount(out.users.length, limits.maxUserIds, 'user IDs once merged', 'user-ids');
  checkCount(out.subkeys.length, limits.maxSubkeys, 'subkeys once merged', 'subkeys');
  for (const c of [{ sigs: out.direct }, ...out.users, ...out.subkeys]) {
    checkCount(
      c.sigs.length,
      limits.maxSignaturesPerComponent,
      'signatures on one component once merged',
      'signatures',
    );
  }
  const merged = build(out);
  const size = merged.write().length;
  if (size > limits.maxBytes) {
    refuse(
      'KEY_TOO_LARGE',
      'size',
      `the key would be ${size} bytes once merged; this log keeps at most ${limits.maxBytes}`,
      {
        size,
        max: limits.maxBytes,
      },
    );
  }
  return merged;
}
