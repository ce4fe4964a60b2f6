/**
 * log/signature-canonical.ts and log/openpgp-packet.ts: the canonical form of a signature packet and
 * the dedup digest.
 *
 * External vectors first: the GnuPG 2.2 signatures of ../shared/vectors/signet (legacy-format headers,
 * an Issuer Key ID in the unhashed area: the spelling most real Signet signatures have). Then
 * signatures made here by openpgp.js with fresh keys of every kind the log verifies (EdDSALegacy,
 * Ed25519, ECDSA P-256, a v6 Ed25519 key) and the fixture RSA key. Then property tests (fast-check):
 * every spelling test/helpers/signature-spellings.ts can write (a parser written from RFC 9580
 * alone) canonicalises to the same bytes; a change to anything signed or pinned never does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import test from 'ava';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { base64Encode, hexEncode } from '../log/bytes.js';
import { canonicalJson } from '../log/canonical-json.js';
import { attestationDigest } from '../log/entry.js';
import { LogError } from '../log/errors.js';
import { packetFraming, packetHeader } from '../log/openpgp-packet.js';
import { canonicalSig, canonicalSignature, dedupDigest } from '../log/signature-canonical.js';
import {
  type Attestation,
  parseAttestation,
  readPublicKey,
  signAttestation,
  verifyAttestation,
} from '../log/signet.js';
import { fromB64 } from './helpers/bytes.js';
import { codeOf } from './helpers/errors.js';
import {
  type HeaderForm,
  headerForms,
  type SignatureParts,
  spell,
  splitSignature,
  subpacket,
  subpacketWidths,
} from './helpers/signature-spellings.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';

interface VectorCase {
  name: string;
  key: string;
  attestation: Attestation;
  signedAt?: string;
  valid: boolean;
}

const vectorsFile = vectorPath('signet/attestations.json');
const validCases = vectorsFile
  ? readVectorJson<{ cases: VectorCase[] }>(vectorsFile).cases.filter((c) => c.valid)
  : [];

/** Signatures of every kind the log verifies, each with its key (made once per run). */
const samples = (async () => {
  const out: { name: string; att: Attestation; key: openpgp.PublicKey }[] = [];
  for (const c of validCases.slice(0, 2)) {
    const key = await readPublicKey(readFileSync(vectorPath(`signet/${c.key}`)!, 'utf8'));
    out.push({ name: `GnuPG ${c.name}`, att: parseAttestation(c.attestation), key });
  }
  const made = [
    [
      'EdDSALegacy',
      await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'a' }] }),
    ],
    ['Ed25519', await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'b' }] })],
    ['ECDSA P-256', await openpgp.generateKey({ type: 'ecc', curve: 'nistP256', userIDs: [{ name: 'c' }] })],
  ] as const;
  for (const [name, k] of made) {
    const privateKey = await openpgp.readPrivateKey({ armoredKey: k.privateKey });
    const att = await signAttestation({ id: `sha256:${name}`, ok: true }, privateKey);
    out.push({ name: `openpgp.js ${name}`, att, key: await readPublicKey(k.publicKey) });
  }
  const fixture = vectorPath('signet/key-fixture.secret.asc');
  if (fixture) {
    const secret = await openpgp.readPrivateKey({ armoredKey: readFileSync(fixture, 'utf8') });
    const att = await signAttestation({ id: 'sha256:rsa', ok: true }, secret);
    out.push({ name: 'openpgp.js RSA (fixture key)', att, key: secret.toPublic() });
  }
  return out;
})();

/** A v6 signature (RFC 9580: salt, 4-octet area lengths) by a v6 Ed25519 key, over some bytes. */
async function v6Signature(): Promise<Uint8Array> {
  const { privateKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name: 'v6' }],
    format: 'object',
    config: { v6Keys: true },
  });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode('v6 data') });
  return openpgp.sign({ message, signingKeys: privateKey, detached: true, format: 'binary' });
}

test('packetHeader: the shortest OpenPGP-format length at every boundary, read back by packetFraming', (t) => {
  const cases: [number, string][] = [
    [0, 'c200'],
    [191, 'c2bf'],
    [192, 'c2c000'],
    [8383, 'c2dfff'],
    [8384, 'c2ff000020c0'],
    [0xffffffff, 'c2ffffffffff'],
  ];
  for (const [length, want] of cases) {
    const h = packetHeader(2, length);
    t.is(hexEncode(h), want, `length ${length}`);
    t.deepEqual(packetFraming(h), { tag: 2, bodyStart: h.length, end: h.length + length });
  }
  t.throws(() => packetHeader(64, 1));
  t.throws(() => packetHeader(2, -1));
});

test(`vectors: the ${validCases.length} GnuPG signatures canonicalise to an OpenPGP-format header and an empty unhashed area, and still verify`, async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  t.true(validCases.length > 0);
  for (const c of validCases) {
    const key = await readPublicKey(readFileSync(vectorPath(`signet/${c.key}`)!, 'utf8'));
    const att = parseAttestation(c.attestation);
    const sent = fromB64(att.sig);
    const canon = canonicalSignature(sent);
    const before = splitSignature(sent);
    const after = splitSignature(canon);
    t.is(sent[0], 0x89, `${c.name}: GnuPG writes a legacy header with a 2-octet length`);
    t.is(canon[0], 0xc2, c.name);
    t.true(before.unhashed.length > 0, `${c.name}: GnuPG puts the Issuer Key ID in the unhashed area`);
    t.is(after.unhashed.length, 0, c.name);
    t.deepEqual(after.signed, before.signed, c.name);
    t.deepEqual(after.pinned, before.pinned, c.name);
    t.deepEqual(after.values, before.values, c.name);
    t.deepEqual(canonicalSignature(canon), canon, `${c.name}: idempotent`);
    // Everything signed is kept: the canonical form verifies as the original does (the issuer is
    // named by the Issuer Fingerprint in the hashed area).
    const canonical = { ...att, sig: base64Encode(canon) };
    await verifyAttestation(canonical, key);
    t.deepEqual(dedupDigest(canonical), dedupDigest(att), c.name);
    t.deepEqual(attestationDigest(canonical), attestationDigest(att), `${c.name}: one dedup key`);
  }
});

test('openpgp.js signatures are already canonical (OpenPGP header, no unhashed subpackets): unchanged', async (t) => {
  for (const s of await samples) {
    if (s.name.startsWith('GnuPG')) continue;
    t.is(canonicalSig(s.att.sig), s.att.sig, s.name);
    await verifyAttestation(s.att, s.key);
  }
  const v6 = await v6Signature();
  t.deepEqual(canonicalSignature(v6), v6, 'v6');
});

test('dedupDigest and attestationDigest are SHA-256 of the canonical JSON of {data, key, sig: canonicalSig(sig)}', async (t) => {
  for (const s of await samples) {
    const want = sha256(
      new TextEncoder().encode(
        canonicalJson({ data: s.att.data, key: s.att.key, sig: canonicalSig(s.att.sig) }),
      ),
    );
    t.deepEqual(dedupDigest(s.att), want, s.name);
    t.notDeepEqual(dedupDigest({ ...s.att, data: { ...s.att.data, ok: !s.att.data.ok } }), want, s.name);
    t.deepEqual(attestationDigest(s.att), want, `${s.name}: attestationDigest is the dedup key`);
  }
  // A sig no signature packet reader can read (shape-valid base64: it never verifies) is hashed as it is.
  const [first] = await samples;
  const junk = { ...first!.att, sig: 'iQEzBAABCAAe' };
  t.is(
    codeOf(() => dedupDigest(junk)),
    'SIGNATURE_MALFORMED',
  );
  t.deepEqual(
    attestationDigest(junk),
    sha256(new TextEncoder().encode(canonicalJson({ data: junk.data, key: junk.key, sig: junk.sig }))),
  );
});

/** spellingOf is a fast-check arbitrary of spellings of `p` (every header that fits, any unhashed area, MPI padding). */
function spellingOf(p: SignatureParts) {
  const sub = fc
    .tuple(fc.integer({ min: 1, max: 127 }), fc.uint8Array({ maxLength: 300 }))
    .chain(([type, body]) =>
      fc.constantFrom(...subpacketWidths(body.length)).map((w) => subpacket(type, body, w)),
    );
  const unhashed = fc
    .array(sub, { maxLength: 4 })
    .map((subs) => Uint8Array.from(subs.flatMap((x) => [...x])))
    .filter((u) => u.length < 65536);
  const mpiPad = fc.array(
    fc.record({ zeros: fc.integer({ min: 0, max: 3 }), bits: fc.integer({ min: 0, max: 7 }) }),
    {
      minLength: p.values.length,
      maxLength: p.values.length,
    },
  );
  return fc.tuple(unhashed, mpiPad).chain(([u, pad]) => {
    const probe = spell(p, { header: 'old4', unhashed: u, mpiPad: pad });
    const bodyLength = probe.length - 5;
    return fc
      .constantFrom<HeaderForm>(...headerForms(bodyLength))
      .map((header) => ({ header, unhashed: u, mpiPad: pad }));
  });
}

test('property: every spelling of a real signature (header, lengths, unhashed area, MPI padding) canonicalises to the same bytes', async (t) => {
  const sigs: { name: string; packet: Uint8Array }[] = (await samples).map((s) => ({
    name: s.name,
    packet: fromB64(s.att.sig),
  }));
  sigs.push({ name: 'v6 Ed25519', packet: await v6Signature() });
  for (const { name, packet } of sigs) {
    const parts = splitSignature(packet);
    const canon = canonicalSignature(packet);
    fc.assert(
      fc.property(spellingOf(parts), (s) => {
        const spelled = spell(parts, s);
        assert.deepEqual(canonicalSignature(spelled), canon, `${name} spelled ${JSON.stringify(s.header)}`);
      }),
      { numRuns: 200 },
    );
    t.pass(name);
  }
});

test('property: a change to anything signed or pinned (signed part, hash prefix, salt, values) changes the canonical bytes or is refused', async (t) => {
  const sigs = [...(await samples).map((s) => fromB64(s.att.sig)), await v6Signature()];
  for (const packet of sigs) {
    const parts = splitSignature(packet);
    const canon = canonicalSignature(packet);
    const regions: (keyof Pick<SignatureParts, 'signed' | 'pinned'> | number)[] = [
      'signed',
      'pinned',
      ...parts.values.map((_, k) => k),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...regions),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (region, at, x) => {
          const copy: SignatureParts = {
            ...parts,
            signed: parts.signed.slice(),
            pinned: parts.pinned.slice(),
            values: parts.values.map((v) => v.slice()),
          };
          const target = typeof region === 'number' ? copy.values[region]! : copy[region];
          if (target.length === 0) return;
          const i = at % target.length;
          target[i]! ^= x;
          // A value whose first octet becomes 0 is shorter: the spelling must say so.
          if (typeof region === 'number' && copy.mpi) {
            let v = target;
            while (v.length > 0 && v[0] === 0) v = v.subarray(1);
            copy.values[region] = v;
          }
          let changed: Uint8Array;
          try {
            changed = canonicalSignature(
              spell(copy, { header: 'new5', unhashed: parts.unhashed, mpiPad: [] }),
            );
          } catch (e) {
            assert.ok(e instanceof LogError && e.code === 'SIGNATURE_MALFORMED', String(e));
            return;
          }
          assert.notDeepEqual(changed, canon);
        },
      ),
      { numRuns: 300 },
    );
  }
  t.pass();
});

test('canonicalSignature refuses what is not exactly one v4 or v6 signature packet it can read (SIGNATURE_MALFORMED)', async (t) => {
  const good = fromB64((await samples).find((s) => s.name.includes('EdDSALegacy'))!.att.sig);
  const parts = splitSignature(good);
  const body = good.subarray(2);
  const withBody = (b: Uint8Array) => Uint8Array.from([...packetHeader(2, b.length), ...b]);
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array()],
    ['not a packet', Uint8Array.of(0x02, 0x00)],
    ['a literal data packet', Uint8Array.from([...packetHeader(11, body.length), ...body])],
    ['a partial body length', Uint8Array.of(0xc2, 0xe0, ...body)],
    ['an indeterminate length', Uint8Array.of(0x8b, ...body)],
    ['truncated', good.subarray(0, good.length - 1)],
    ['a trailing octet', Uint8Array.of(...good, 0)],
    ['version 3', withBody(Uint8Array.of(3, ...body.subarray(1)))],
    ['version 5', withBody(Uint8Array.of(5, ...body.subarray(1)))],
    ['public-key algorithm 99', withBody(Uint8Array.of(body[0]!, body[1]!, 99, ...body.subarray(3)))],
    ['a hashed area running past the end', withBody(Uint8Array.of(...body.subarray(0, 4), 0xff, 0xff))],
    ['an octet after the values', withBody(Uint8Array.of(...body, 0))],
    ['a value cut short', withBody(body.subarray(0, body.length - 1))],
    ['no values', withBody(Uint8Array.of(...parts.signed, 0, 0, ...parts.pinned))],
  ];
  for (const [name, bytes] of cases)
    t.is(
      codeOf(() => canonicalSignature(bytes)),
      'SIGNATURE_MALFORMED',
      name,
    );
  t.is(
    codeOf(() => canonicalSig('not base64!')),
    'SIGNATURE_MALFORMED',
  );
  t.is(
    codeOf(() => canonicalSig('')),
    'SIGNATURE_MALFORMED',
  );
  t.is(
    codeOf(() => canonicalSig(`${base64Encode(good)}\n`)),
    'SIGNATURE_MALFORMED',
  );
});
