/**
 * Naive references for log/cosignature.ts, log/witness.ts and log/policy.ts, written from the C2SP
 * texts without reading the code under test, with other primitives (node:crypto's Ed25519 and SHA-256,
 * Buffer's base64, test/reference.ts's recursive RFC 6962 proofs):
 * - refCosign: c2sp.org/tlog-cosignature cosignature/v1, the message and the line, byte for byte;
 * - refQuorum: c2sp.org/tlog-policy quorum by brute force: a group of threshold k is met when SOME
 *   k-subset of its members is all met (the code counts instead);
 * - refDecide: c2sp.org/tlog-witness add-checkpoint, the rules in the spec's order, on a model where
 *   the test knows every tree's leaves: a proof is right when it is the one PROOF(m, D[n]) of RFC 6962
 *   §2.1.2 over the submitted tree and that tree's first m leaves have the cosigned root.
 */
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { refMth, refProof } from './reference.js';

// --- c2sp.org/tlog-cosignature ---

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The Ed25519 public key of a 32-byte seed, by node:crypto. */
export function refPublicKey(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** SHA-256(name || 0x0A || type || key)[:4] as a uint32 (c2sp.org/signed-note key IDs). */
export function refKeyId(name: string, type: number, key: Uint8Array): number {
  const h = createHash('sha256');
  h.update(Buffer.from(name, 'utf8'));
  h.update(Buffer.from([0x0a, type]));
  h.update(key);
  return h.digest().readUInt32BE(0);
}

/** The vkey `<name>+<hex8>+<base64(type || key)>` (c2sp.org/signed-note "Verifier keys"). */
export function refVkey(name: string, type: number, key: Uint8Array): string {
  const id = refKeyId(name, type, key).toString(16).padStart(8, '0');
  return `${name}+${id}+${Buffer.concat([Buffer.from([type]), key]).toString('base64')}`;
}

/** The cosigner skey in the Go sumdb/note layout with type 0x04 (our text form). */
export function refSkey(name: string, seed: Uint8Array): string {
  const id = refKeyId(name, 0x04, refPublicKey(seed)).toString(16).padStart(8, '0');
  return `PRIVATE+KEY+${name}+${id}+${Buffer.concat([Buffer.from([0x04]), seed]).toString('base64')}`;
}

/** `cosignature/v1\ntime <T>\n<text>` (c2sp.org/tlog-cosignature "Ed25519 signed message"). */
export function refCosignatureMessage(timestamp: bigint | string, text: string): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`, 'utf8');
}

/** Ed25519 by node:crypto of message under seed. */
export function refEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  return new Uint8Array(sign(null, message, key));
}

/**
 * The cosignature line `— <name> base64(keyID || uint64be(T) || Ed25519(message))\n`. `message`
 * overrides the signed bytes (to sign something a verifier must refuse); `timestamp` may be any
 * uint64 (including ones over 2^63 - 1).
 */
export function refCosignLine(
  name: string,
  seed: Uint8Array,
  timestamp: bigint,
  text: string,
  message: Uint8Array = refCosignatureMessage(timestamp, text),
): string {
  const raw = Buffer.alloc(4 + 8 + 64);
  raw.writeUInt32BE(refKeyId(name, 0x04, refPublicKey(seed)), 0);
  raw.writeBigUInt64BE(timestamp, 4);
  Buffer.from(refEd25519(seed, message)).copy(raw, 12);
  return `\u2014 ${name} ${raw.toString('base64')}\n`;
}

// --- c2sp.org/tlog-policy ---

/** A policy reduced to what a quorum depends on: witness names, groups, the quorum. */
export interface RefPolicy {
  witnesses: string[];
  groups: { name: string; threshold: number; members: string[] }[];
  quorum: string;
}

/** Every k-subset of xs. */
function subsets<T>(xs: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [head, ...rest] = xs as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

/** Whether `cosigned` meets the quorum: brute force over the subsets of each group's members. */
export function refQuorum(p: RefPolicy, cosigned: ReadonlySet<string>): boolean {
  const groups = new Map(p.groups.map((g) => [g.name, g]));
  const met = (name: string): boolean => {
    if (name === 'none') return true;
    const g = groups.get(name);
    if (g === undefined) return cosigned.has(name);
    return subsets(g.members, g.threshold).some((s) => s.every(met));
  };
  return met(p.quorum);
}

// --- c2sp.org/tlog-witness ---

/** A tree the test knows: its leaf hashes. A checkpoint is a prefix of one. */
export type Leaves = readonly Uint8Array[];

/** What a request is made of, in the model. */
export interface RefRequest {
  originKnown: boolean;
  /** 'good': a trusted key signed; 'none': only unknown keys; 'bad': a trusted key's line is corrupt. */
  signature: 'good' | 'none' | 'bad';
  oldSize: number;
  /** The tree the checkpoint is a prefix of, and its size. */
  tree: Leaves;
  size: number;
  /** Replaces the checkpoint's root (a lying log); undefined: refMth(tree[0..size]). */
  root?: Uint8Array;
  proof: Uint8Array[];
}

/** The witness's state in the model: none, or the cosigned prefix of a tree. */
export type RefState = undefined | { tree: Leaves; size: number };

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/**
 * The status c2sp.org/tlog-witness prescribes for the request, by its rules in order (409: with the size).
 */
export function refDecide(req: RefRequest, state: RefState): { status: number; size?: number } {
  if (!req.originKnown) return { status: 404 };
  if (req.signature !== 'good') return { status: 403 };
  if (req.oldSize > req.size) return { status: 400 };
  const stored = state?.size ?? 0;
  if (req.oldSize !== stored) return { status: 409, size: stored };
  const root = req.root ?? refMth(req.tree.slice(0, req.size));
  const empty = createHash('sha256').digest();
  if (req.size === 0 && !same(root, empty)) return { status: 422 };
  const storedRoot = state === undefined ? empty : refMth(state.tree.slice(0, state.size));
  if (req.oldSize === 0) return { status: req.proof.length === 0 ? 200 : 422 };
  if (req.oldSize === req.size)
    return { status: req.proof.length === 0 && same(root, storedRoot) ? 200 : 422 };
  // The one right proof over the submitted tree, and that tree must extend the cosigned one.
  const right = refProof(req.oldSize, req.tree.slice(0, req.size));
  const proofOk = right.length === req.proof.length && right.every((h, i) => same(h, req.proof[i]!));
  const extends_ = same(refMth(req.tree.slice(0, req.oldSize)), storedRoot);
  const rootOk = req.root === undefined || same(req.root, refMth(req.tree.slice(0, req.size)));
  return { status: proofOk && extends_ && rootOk ? 200 : 422 };
}
