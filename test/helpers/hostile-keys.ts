/**
 * Hostile OpenPGP keys for tests, made from real keys and real packets (no mocks): copies of a key with
 * a signature replaced, stripped or corrupted, and keys whose parameters make verification expensive.
 * Each maker says how its key was made, so a failing test can be reproduced by hand.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import * as openpgp from 'openpgp';

// biome-ignore lint/suspicious/noExplicitAny: openpgp's packet list type is not generic enough here
type Packet = any;

/** SubkeySigner is a signer whose attestations are made by a signing subkey (as GnuPG keys do). */
export interface SubkeySigner {
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.PublicKey;
  fingerprint: string;
}

/** newSubkeySigner returns a fresh v4 Ed25519 key with a signing subkey, made a day ago. */
export async function newSubkeySigner(name: string): Promise<SubkeySigner> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name }],
    subkeys: [{ sign: true }],
    date: new Date(Date.now() - 86_400_000),
    format: 'object',
  });
  return { privateKey, publicKey, fingerprint: publicKey.getFingerprint().toUpperCase() };
}

/** packetsOf returns the packets of a key, in order, freshly parsed (changing them changes no key). */
export async function packetsOf(key: openpgp.Key): Promise<Packet[]> {
  const copy = await openpgp.readKey({ binaryKey: key.toPublic().write() });
  return [...copy.toPacketList()];
}

/** armorPackets returns the armored public key block of `packets` (as given: no checks). */
export function armorPackets(packets: readonly Packet[]): string {
  const list = new openpgp.PacketList<Packet>();
  list.push(...packets);
  return openpgp.armor(openpgp.enums.armor.publicKey, list.write());
}

/** corrupted returns a copy of the signature packet with its last byte (inside the signature value) flipped:
 *  its hash prefix still matches, so only the real verification can tell it is wrong. */
export function corrupted(sig: openpgp.SignaturePacket): openpgp.SignaturePacket {
  const body = sig.write();
  // Flip the lowest bit, or the next one when the value is 1 (a DSA s = 1, say): a signature value of
  // zero is not a wrong signature but an unwritable packet (openpgp.js: "Zero MPI").
  body[body.length - 1]! ^= body[body.length - 1] === 0x01 ? 0x02 : 0x01;
  const out = new openpgp.SignaturePacket();
  (out as unknown as { read(b: Uint8Array): void }).read(body);
  return out;
}

const isSig = (p: Packet, type: number) => p instanceof openpgp.SignaturePacket && p.signatureType === type;

/**
 * newerInvalidBinding returns a copy of `s`'s public key whose subkey binding signature is replaced by a
 * newer-dated one that does not verify: the key re-bound a minute ago (openpgp.reformatKey; it was made a
 * day ago), that
 * binding's signature value corrupted (issue 8, attack 1).
 */
export async function newerInvalidBinding(s: SubkeySigner): Promise<string> {
  const later = await openpgp.reformatKey({
    privateKey: s.privateKey,
    userIDs: s.publicKey.users.map((u) => ({ name: u.userID!.name })),
    date: new Date(Date.now() - 60_000),
    format: 'object',
  });
  const newer = (await packetsOf(later.publicKey)).find((p) =>
    isSig(p, openpgp.enums.signature.subkeyBinding),
  );
  return armorPackets(
    (await packetsOf(s.publicKey)).map((p) =>
      isSig(p, openpgp.enums.signature.subkeyBinding) ? corrupted(newer) : p,
    ),
  );
}

/** stripped returns the public key with every signature removed: self-signatures, bindings, revocations. */
export async function stripped(key: openpgp.Key): Promise<string> {
  return armorPackets((await packetsOf(key)).filter((p) => !(p instanceof openpgp.SignaturePacket)));
}

/** withThirdPartyCertification returns `key` certified on its first user ID by `certifier`. */
export async function withThirdPartyCertification(
  key: openpgp.PublicKey,
  certifier: openpgp.PrivateKey,
): Promise<openpgp.PublicKey> {
  return (await key.signAllUsers([certifier])) as openpgp.PublicKey;
}

function mpi(bits: number, top = true): Uint8Array {
  const bytes = randomBytes(Math.ceil(bits / 8));
  if (top) bytes[0]! |= 0x80 >> ((8 - (bits % 8)) % 8);
  const head = new Uint8Array([bits >> 8, bits & 0xff]);
  return new Uint8Array([...head, ...bytes]);
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** rawKeyPacket returns a v4 public key packet (RFC 9580 §5.5.2) of `algorithm` with the given MPIs. */
async function rawKeyPacket(algorithm: number, mpis: Uint8Array[]): Promise<openpgp.PublicKeyPacket> {
  const created = Math.floor(Date.now() / 1000) - 3600;
  const body = new Uint8Array([4, ...u32(created), algorithm, ...mpis.flatMap((m) => [...m])]);
  const p = new openpgp.PublicKeyPacket();
  await p.read(body);
  return p;
}

/**
 * selfCertification returns a positive certification of `userID` that names `primary` as its issuer,
 * with the right hash prefix (so openpgp.js goes on to the real verification) and the given signature
 * values (MPIs): what an attacker sends to make a verifier do the math.
 */
function selfCertification(
  primary: openpgp.PublicKeyPacket,
  userID: openpgp.UserIDPacket,
  values: Uint8Array[],
): openpgp.SignaturePacket {
  const created = Math.floor(Date.now() / 1000) - 60;
  const fpr = primary.getFingerprintBytes()!;
  const hashed = [5, 2, ...u32(created), 22, 33, 4, ...fpr];
  const unhashed = [9, 16, ...(primary.getKeyID() as unknown as { write(): Uint8Array }).write()];
  const head = [4, openpgp.enums.signature.certPositive, primary.algorithm, openpgp.enums.hash.sha256];
  const build = (prefix: number[]) =>
    new Uint8Array([
      ...head,
      hashed.length >> 8,
      hashed.length & 0xff,
      ...hashed,
      unhashed.length >> 8,
      unhashed.length & 0xff,
      ...unhashed,
      ...prefix,
      ...values.flatMap((v) => [...v]),
    ]);
  const sig = new openpgp.SignaturePacket();
  (sig as unknown as { read(b: Uint8Array): void }).read(build([0, 0]));
  const toHash = (sig as unknown as { toHash(t: number, d: object): Uint8Array }).toHash(
    openpgp.enums.signature.certPositive,
    { userID, key: primary },
  );
  const h = sha256(toHash);
  const out = new openpgp.SignaturePacket();
  (out as unknown as { read(b: Uint8Array): void }).read(build([h[0]!, h[1]!]));
  return out;
}

/**
 * expensiveDsaKey returns an armored DSA key with `bits`-bit p, q, g and y (made of random bytes), a user
 * ID and a self-certification with the right hash prefix: before the fix, openpgp.js did seconds of
 * modular exponentiation on it before refusing DSA (issue 8, attack 2).
 */
export async function expensiveDsaKey(bits = 8192, name = 'dsa'): Promise<string> {
  // q odd and s = 1, so r < q and s has an inverse: openpgp.js goes on to two bits-sized modExps.
  const q = mpi(bits);
  q[q.length - 1]! |= 1;
  const primary = await rawKeyPacket(openpgp.enums.publicKey.dsa, [mpi(bits), q, mpi(bits), mpi(bits)]);
  const uid = openpgp.UserIDPacket.fromObject({ name });
  const one = new Uint8Array([0, 1, 1]);
  return armorPackets([primary, uid, selfCertification(primary, uid, [mpi(bits - 1), one])]);
}

/** rsaKeyWithExponent returns an armored RSA key of `bits` with a public exponent of `eBits` bits. */
export async function rsaKeyWithExponent(bits: number, eBits: number, name = 'rsa'): Promise<string> {
  const primary = await rawKeyPacket(openpgp.enums.publicKey.rsaEncryptSign, [mpi(bits), mpi(eBits)]);
  const uid = openpgp.UserIDPacket.fromObject({ name });
  return armorPackets([primary, uid, selfCertification(primary, uid, [mpi(bits - 1)])]);
}

/**
 * manyUserIds returns `key` with `n` extra user IDs, each with a copy of a (non-verifying) signature
 * claiming the primary key as issuer: a size attack on the count limits.
 */
export async function manyUserIds(key: openpgp.PublicKey, n: number): Promise<string> {
  const packets = await packetsOf(key);
  const cert = packets.find((p) => isSig(p, openpgp.enums.signature.certPositive));
  const extra: Packet[] = [];
  for (let i = 0; i < n; i++)
    extra.push(openpgp.UserIDPacket.fromObject({ name: `extra ${i}` }), corrupted(cert));
  const firstSubkey = packets.findIndex((p) => p instanceof openpgp.PublicSubkeyPacket);
  const at = firstSubkey < 0 ? packets.length : firstSubkey;
  return armorPackets([...packets.slice(0, at), ...extra, ...packets.slice(at)]);
}
