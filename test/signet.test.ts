/**
 * log/signet.ts: Signet attestations.
 *
 * External vectors: ../shared/vectors/signet (attestations signed by GnuPG 2.2 with the chromakode/signet
 * test key, in both Signet serialisations, plus invalid ones; see its README). Python serialisation
 * known answers below were produced by CPython 3.11.7: `json.dumps(data, sort_keys=True)`. Fresh keys
 * are ed25519 (openpgp.js), made per test run with fixed creation dates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { hexEncode } from '../log/bytes.js';
import { type ErrorCode, LogError } from '../log/errors.js';
import {
  type Attestation,
  type AttestationData,
  fingerprintHex,
  MAX_ATTESTATION_BYTES,
  MAX_SIGNATURE_CLOCK_SKEW_MS,
  nodeSerialization,
  parseAttestation,
  pythonSerialization,
  readPublicKey,
  signAttestation,
  signatureIssuer,
  verifyAttestation,
} from '../log/signet.js';
import { codeOf } from './helpers/errors.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';

interface VectorCase {
  name: string;
  key: string;
  attestation: Attestation;
  signedBytesHex?: string;
  signedAt?: string;
  valid: boolean;
  why?: string;
}

const FIXTURE_FPR = '9C75CB915794A44DD7697E21571D8816D9886717';
const vectorsFile = vectorPath('signet/attestations.json');
const cases = vectorsFile ? readVectorJson<{ cases: VectorCase[] }>(vectorsFile).cases : [];
const validCases = cases.filter((c) => c.valid);
const invalidCases = cases.filter((c) => !c.valid);

/**
 * The code each invalid vector must get, by its `why`. A new `why` in the vectors fails the test
 * until it is mapped here.
 */
const WHY_CODE: Record<string, ErrorCode> = {
  'data changed after signing': 'SIGNATURE_INVALID',
  'key field is not the signer': 'KEY_MISMATCH',
  'signature corrupted': 'SIGNATURE_INVALID',
  'signature is not base64 OpenPGP': 'SIGNATURE_MALFORMED',
};

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function vectorText(name: string): string {
  return readFileSync(vectorPath(`signet/${name}`)!, 'utf8');
}

/** The vectors write signature times as GnuPG does, YYYYMMDDTHHMMSS in UTC. */
function gnupgTime(s: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (!m) throw new Error(`unexpected signedAt ${s}`);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`;
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return e instanceof LogError ? e.code : `not a LogError: ${String(e)}`;
  }
  return 'no error';
}

test(`vectors: ${validCases.length} valid Signet attestations verify, at their signature time, over the bytes given`, async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  t.true(validCases.length > 0);
  for (const c of validCases) {
    const key = await readPublicKey(vectorText(c.key));
    const att = parseAttestation(c.attestation);
    const { signedAt } = await verifyAttestation(att, key);
    if (c.signedAt) t.is(signedAt.toISOString(), gnupgTime(c.signedAt), c.name);
    if (c.signedBytesHex) {
      const python = hexEncode(pythonSerialization(att.data));
      const node = hexEncode(nodeSerialization(att.data));
      if (c.name.endsWith('/python')) t.is(python, c.signedBytesHex, c.name);
      else if (c.name.endsWith('/node')) t.is(node, c.signedBytesHex, c.name);
      else t.fail(`${c.name}: cannot tell which serialisation it uses`);
      t.not(python, node);
    }
    t.deepEqual(await signatureIssuer(att), { fingerprint: att.key, keyId: att.key.slice(24) }, c.name);
  }
});

test(`vectors: ${invalidCases.length} invalid Signet attestations are rejected, each with its own code`, async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  t.true(invalidCases.length > 0);
  for (const c of invalidCases) {
    const want = WHY_CODE[c.why ?? ''];
    if (!want) {
      t.fail(`${c.name}: no expected code for why "${c.why}"; map it in WHY_CODE`);
      continue;
    }
    const key = await readPublicKey(vectorText(c.key));
    const got = await codeOfAsync(async () => verifyAttestation(parseAttestation(c.attestation), key));
    t.is(got, want, `${c.name} (${c.why})`);
  }
});

test('vectors: every single-bit flip of a GnuPG signature is rejected, except where OpenPGP encodings are malleable', async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  const c = validCases.find((x) => x.name === 'fixture/ok/python')!;
  const key = await readPublicKey(vectorText(c.key));
  const sig = Buffer.from(c.attestation.sig, 'base64');
  // Old-format packet, two-byte length (0x89): header 3 bytes, then version 4 (RFC 4880 §5.2.3).
  t.is(sig[0], 0x89);
  t.is(sig[3], 4);
  const hashedLen = sig.readUInt16BE(7);
  const unhashedStart = 9 + hashedLen + 2;
  const unhashedEnd = unhashedStart + sig.readUInt16BE(9 + hashedLen);
  // After the unhashed area: 2 bytes of digest prefix, then the RSA signature MPI's 2-byte bit count.
  const mpiBitCount = unhashedEnd + 2;
  const outcomes = new Map<string, number>();
  let malleable = 0;
  for (let i = 0; i < sig.length; i++) {
    const bad = Buffer.from(sig);
    bad[i]! ^= 0x01;
    const att = { ...c.attestation, sig: bad.toString('base64') };
    const code = await codeOfAsync(async () => verifyAttestation(parseAttestation(att), key));
    if (code === 'no error') {
      // Known OpenPGP malleabilities, the same signature spelled differently: the unhashed subpacket
      // area is not signed (RFC 4880 §5.2.3), and openpgp.js reads an MPI's length in whole bytes, so
      // the low bits of its bit count do not matter.
      const unhashed = i >= unhashedStart && i < unhashedEnd;
      t.true(unhashed || i === mpiBitCount + 1, `flip at byte ${i} still verifies`);
      malleable++;
    } else {
      t.true(
        ['SIGNATURE_INVALID', 'SIGNATURE_MALFORMED', 'KEY_MISMATCH'].includes(code),
        `byte ${i}: ${code}`,
      );
    }
    outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
  }
  t.true((outcomes.get('SIGNATURE_INVALID') ?? 0) > 200, JSON.stringify([...outcomes]));
  t.true(malleable <= unhashedEnd - unhashedStart + 1);
});

test('key-fixture.asc imports with its fingerprint; readPublicKey refuses private keys, garbage and several keys', async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  const key = await readPublicKey(vectorText('key-fixture.asc'));
  t.is(fingerprintHex(key), FIXTURE_FPR);
  t.false(key.isPrivate());
  // Binary packets work too.
  t.is(fingerprintHex(await readPublicKey(key.write())), FIXTURE_FPR);
  const refused: [string, string | Uint8Array][] = [
    ['the secret key', vectorText('key-fixture.secret.asc')],
    ['garbage', 'hello, I am a key'],
    ['empty', ''],
    ['binary garbage', new Uint8Array([1, 2, 3, 4])],
    ['a signature block', await openpgp.armor(openpgp.enums.armor.signature, new Uint8Array([0x88, 0x00]))],
    ['two keys', new Uint8Array([...key.write(), ...key.write()])],
  ];
  for (const [name, input] of refused)
    t.is(await codeOfAsync(() => readPublicKey(input)), 'KEY_INVALID', name);
});

test('signAttestation with key-fixture.secret.asc: verifies, and its sig is over the Python serialisation', async (t) => {
  if (!vectorsFile) return t.pass('skipped: ../shared/vectors missing');
  const priv = await openpgp.readPrivateKey({ armoredKey: vectorText('key-fixture.secret.asc') });
  const pub = await readPublicKey(vectorText('key-fixture.asc'));
  const data: AttestationData = { id: 'sha256:00ff', ok: false, reviewed: true, comment: 'naïve ☃ 😀' };
  const when = new Date('2026-01-02T03:04:05.000Z');
  const att = await signAttestation(data, priv, when);
  t.is(att.key, FIXTURE_FPR);
  t.deepEqual(att.data, data);
  t.is((await verifyAttestation(att, pub)).signedAt.toISOString(), when.toISOString());

  // Check the sig bytes directly with openpgp: a binary detached signature over the Python form only.
  const signature = await openpgp.readSignature({ binarySignature: Buffer.from(att.sig, 'base64') });
  t.is(signature.packets[0]!.signatureType, openpgp.enums.signature.binary);
  const overPython = await openpgp.verify({
    message: await openpgp.createMessage({ binary: pythonSerialization(data) }),
    signature,
    verificationKeys: pub,
  });
  t.true(await overPython.signatures[0]!.verified);
  const overNode = await openpgp.verify({
    message: await openpgp.createMessage({ binary: nodeSerialization(data) }),
    signature,
    verificationKeys: pub,
  });
  await t.throwsAsync(overNode.signatures[0]!.verified);
  t.is(
    text(pythonSerialization(data)),
    '{"comment": "na\\u00efve \\u2603 \\ud83d\\ude00", "id": "sha256:00ff", "ok": false, "reviewed": true}',
  );
});

/** Fresh ed25519 keys, made once: A has a signing subkey, B is another signer. */
const KEY_DATE = new Date('2026-01-01T00:00:00.000Z');
const SIGN_DATE = new Date('2026-03-01T12:00:00.000Z');
const keysP = (async () => {
  const gen = (name: string, subkeys: openpgp.SubkeyOptions[]) =>
    openpgp.generateKey({ type: 'ecc', userIDs: [{ name }], subkeys, date: KEY_DATE, format: 'object' });
  const a = await gen('A', [{ sign: true }]);
  const b = await gen('B', [{}]);
  return { a, b };
})();

const sample: AttestationData = { id: 'sha256:abcd', ok: true, reviewed: true, comment: 'fine' };

test('fresh ed25519 key: a signature by its signing subkey verifies with key = primary fingerprint', async (t) => {
  const { a } = await keysP;
  const att = await signAttestation(sample, a.privateKey, SIGN_DATE);
  const subkey = a.publicKey.subkeys[0]!;
  t.is(att.key, fingerprintHex(a.publicKey));
  t.deepEqual(await signatureIssuer(att), {
    fingerprint: subkey.getFingerprint().toUpperCase(),
    keyId: subkey.getKeyID().toHex().toUpperCase(),
  });
  t.is((await verifyAttestation(att, a.publicKey)).signedAt.getTime(), SIGN_DATE.getTime());
  // The same data signed by the primary key itself verifies too.
  const byPrimary = await openpgp.sign({
    message: await openpgp.createMessage({ binary: pythonSerialization(sample) }),
    signingKeys: a.privateKey,
    signingKeyIDs: a.privateKey.getKeyID(),
    detached: true,
    format: 'binary',
    date: SIGN_DATE,
  });
  const att2 = { ...att, sig: Buffer.from(byPrimary).toString('base64') };
  t.is((await signatureIssuer(att2)).keyId, a.publicKey.getKeyID().toHex().toUpperCase());
  t.is((await verifyAttestation(att2, a.publicKey)).signedAt.getTime(), SIGN_DATE.getTime());
});

test('fresh ed25519 key: key = subkey fingerprint is KEY_MISMATCH', async (t) => {
  const { a } = await keysP;
  const att = await signAttestation(sample, a.privateKey, SIGN_DATE);
  const subFpr = a.publicKey.subkeys[0]!.getFingerprint().toUpperCase();
  t.is(await codeOfAsync(() => verifyAttestation({ ...att, key: subFpr }, a.publicKey)), 'KEY_MISMATCH');
});

test("a signature by another key claiming the first key's fingerprint is KEY_MISMATCH", async (t) => {
  const { a, b } = await keysP;
  const byB = await signAttestation(sample, b.privateKey, SIGN_DATE);
  t.is((await verifyAttestation(byB, b.publicKey)).signedAt.getTime(), SIGN_DATE.getTime());
  const claimsA = { ...byB, key: fingerprintHex(a.publicKey) };
  // Checked with A's key (what a server finds under the claimed fingerprint): B's issuer is not in A.
  const e = await t.throwsAsync(verifyAttestation(claimsA, a.publicKey), { instanceOf: LogError });
  t.is(e?.code, 'KEY_MISMATCH');
  t.regex(e?.message ?? '', new RegExp(fingerprintHex(b.publicKey)));
  // Checked with B's key: the claimed fingerprint is not B's.
  t.is(await codeOfAsync(() => verifyAttestation(claimsA, b.publicKey)), 'KEY_MISMATCH');
  // A's own attestation checked with B's key.
  const byA = await signAttestation(sample, a.privateKey, SIGN_DATE);
  t.is(await codeOfAsync(() => verifyAttestation(byA, b.publicKey)), 'KEY_MISMATCH');
});

test('verifyAttestation accepts the Node serialisation and a text-mode signature, and rejects other data', async (t) => {
  const { a } = await keysP;
  const sign = async (message: openpgp.Message<Uint8Array | string>) =>
    Buffer.from(
      await openpgp.sign({
        message,
        signingKeys: a.privateKey,
        detached: true,
        format: 'binary',
        date: SIGN_DATE,
      }),
    ).toString('base64');
  const key = fingerprintHex(a.publicKey);
  const node = {
    data: sample,
    key,
    sig: await sign(await openpgp.createMessage({ binary: nodeSerialization(sample) })),
  };
  t.is((await verifyAttestation(node, a.publicKey)).signedAt.getTime(), SIGN_DATE.getTime());
  const textMode = {
    data: sample,
    key,
    sig: await sign(await openpgp.createMessage({ text: text(pythonSerialization(sample)) })),
  };
  t.is((await verifyAttestation(textMode, a.publicKey)).signedAt.getTime(), SIGN_DATE.getTime());
  // Signed over other bytes (compact JSON without sorting, indented JSON): neither Signet form.
  for (const other of [JSON.stringify({ ok: true, id: 'sha256:abcd', reviewed: true, comment: 'fine' })]) {
    const att = { data: sample, key, sig: await sign(await openpgp.createMessage({ binary: utf8(other) })) };
    t.is(await codeOfAsync(() => verifyAttestation(att, a.publicKey)), 'SIGNATURE_INVALID');
  }
});

test('nested objects: signatures are checked over data as the log stores it (nested keys sorted)', async (t) => {
  const { a } = await keysP;
  const key = fingerprintHex(a.publicKey);
  const sign = async (bytes: Uint8Array) =>
    Buffer.from(
      await openpgp.sign({
        message: await openpgp.createMessage({ binary: bytes }),
        signingKeys: a.privateKey,
        detached: true,
        format: 'binary',
        date: SIGN_DATE,
      }),
    ).toString('base64');
  // A Node client that signed nested members in sorted order: verifiable from the log entry.
  const sorted = { id: 'x', ok: true, meta: { a: 1, z: 2 } };
  t.is(
    text(nodeSerialization(parseAttestation({ data: sorted, key, sig: 'AAAA' }).data)),
    '{"id":"x","meta":{"a":1,"z":2},"ok":true}',
  );
  await t.notThrowsAsync(
    verifyAttestation(
      { data: sorted, key, sig: await sign(utf8('{"id":"x","meta":{"a":1,"z":2},"ok":true}')) },
      a.publicKey,
    ),
  );
  // Unsorted nested members cannot be re-checked by readers of the (RFC 8785) entry, so they are refused.
  const unsortedSig = await sign(utf8('{"id":"x","meta":{"z":2,"a":1},"ok":true}'));
  t.is(
    await codeOfAsync(() =>
      verifyAttestation(
        { data: { id: 'x', ok: true, meta: { z: 2, a: 1 } }, key, sig: unsortedSig },
        a.publicKey,
      ),
    ),
    'SIGNATURE_INVALID',
  );
});

test('signature times: up to MAX_SIGNATURE_CLOCK_SKEW_MS in the future is accepted, more is SIGNATURE_INVALID', async (t) => {
  const { a } = await keysP;
  const att = await signAttestation(sample, a.privateKey, SIGN_DATE);
  const before = (ms: number) => ({ now: new Date(SIGN_DATE.getTime() - ms) });
  await t.notThrowsAsync(verifyAttestation(att, a.publicKey, before(MAX_SIGNATURE_CLOCK_SKEW_MS - 1000)));
  t.is(
    await codeOfAsync(() => verifyAttestation(att, a.publicKey, before(MAX_SIGNATURE_CLOCK_SKEW_MS + 1000))),
    'SIGNATURE_INVALID',
  );
});

test('malformed sig fields: SIGNATURE_MALFORMED for non-canonical base64, several packets, non-document signatures', async (t) => {
  const { a } = await keysP;
  const att = await signAttestation(sample, a.privateKey, SIGN_DATE);
  const bytes = Buffer.from(att.sig, 'base64');
  // The self-certification signature packet inside A's public key: a signature, but not over a document.
  const certPacket = a.publicKey.users[0]!.selfCertifications[0]!.write();
  // Old-format packet header, tag 2 (signature), two-byte length (RFC 4880 §4.2.1).
  const certSig = new Uint8Array([0x89, certPacket.length >> 8, certPacket.length & 0xff, ...certPacket]);
  const armoredSig = await openpgp.armor(openpgp.enums.armor.signature, bytes);
  const noPad = att.sig.replace(/=+$/, '');
  const sigs: [string, string][] = [
    ['two signatures', Buffer.concat([bytes, bytes]).toString('base64')],
    ['a certification signature', Buffer.from(certSig).toString('base64')],
    ['armored text', Buffer.from(armoredSig).toString('base64')],
    [
      'base64url alphabet',
      att.sig.replace(/\+/g, '-').replace(/\//g, '_') +
        (att.sig.includes('+') || att.sig.includes('/') ? '' : '-'),
    ],
    ['whitespace', `${att.sig.slice(0, 8)}\n${att.sig.slice(8)}`],
    ['empty', ''],
    ['truncated', bytes.subarray(0, 20).toString('base64')],
    // openpgp.js alone would skip these packets; one signature must have one spelling.
    ['a trailing trust packet', Buffer.concat([bytes, Buffer.from([0xb0, 0x01, 0x00])]).toString('base64')],
    [
      'a leading marker packet',
      Buffer.concat([Buffer.from([0xa8, 0x03, 0x50, 0x47, 0x50]), bytes]).toString('base64'),
    ],
    ['a trailing zero byte', Buffer.concat([bytes, Buffer.from([0])]).toString('base64')],
  ];
  if (noPad !== att.sig) sigs.push(['padding dropped', noPad]);
  for (const [name, sig] of sigs) {
    const code = await codeOfAsync(async () =>
      verifyAttestation(parseAttestation({ ...att, sig }), a.publicKey),
    );
    t.is(code, 'SIGNATURE_MALFORMED', name);
  }
  // Non-zero padding bits decode to the same bytes: refused so one signature has one spelling.
  const alt = nonCanonicalBase64(att.sig);
  if (alt)
    t.is(
      codeOf(() => parseAttestation({ ...att, sig: alt })),
      'SIGNATURE_MALFORMED',
    );
  else t.pass('signature length has no padding bits');
  t.is(await codeOfAsync(() => signatureIssuer({ ...att, sig: 'AAAA' })), 'SIGNATURE_MALFORMED');
});

/** nonCanonicalBase64 sets a padding bit in the last data character, if there is one. */
function nonCanonicalBase64(b64: string): string | undefined {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  if (pad === 0) return undefined;
  const i = b64.length - pad - 1;
  const v = alphabet.indexOf(b64[i]!);
  return `${b64.slice(0, i)}${alphabet[v | 1]}${b64.slice(i + 1)}`;
}

test('signAttestation refuses a key that cannot sign (still encrypted) with KEY_INVALID', async (t) => {
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    userIDs: [{ name: 'locked' }],
    passphrase: 'secret',
    date: KEY_DATE,
    format: 'object',
  });
  t.is(await codeOfAsync(() => signAttestation(sample, privateKey, SIGN_DATE)), 'KEY_INVALID');
  t.is(await codeOfAsync(() => signAttestation({ id: '', ok: true }, privateKey)), 'ATTESTATION_INVALID');
});

test('readPublicKey refuses a version 6 key (Signet names keys by v4 fingerprint)', async (t) => {
  const { publicKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name: 'v6' }],
    config: { v6Keys: true },
    format: 'armored',
  });
  t.is(await codeOfAsync(() => readPublicKey(publicKey)), 'KEY_INVALID');
});

// --- parseAttestation ---------------------------------------------------------------------------

const good: Attestation = { data: { id: 'sha256:ab', ok: true }, key: FIXTURE_FPR, sig: 'iQEz' };

test('parseAttestation rejects each malformed field with ATTESTATION_INVALID naming it (22 cases)', (t) => {
  const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
  const cases: [string, unknown, string][] = [
    ['not an object', 'hello', 'attestation'],
    ['an array', [good], 'attestation'],
    ['null', null, 'attestation'],
    ['extra member', { ...good, extra: 1 }, 'extra'],
    ['no data', { key: good.key, sig: good.sig }, 'data'],
    ['data an array', { ...good, data: [] }, 'data'],
    ['no id', { ...good, data: { ok: true } }, 'data.id'],
    ['empty id', { ...good, data: { id: '', ok: true } }, 'data.id'],
    ['numeric id', { ...good, data: { id: 5, ok: true } }, 'data.id'],
    ['no ok', { ...good, data: { id: 'x' } }, 'data.ok'],
    ['ok a string', { ...good, data: { id: 'x', ok: 'true' } }, 'data.ok'],
    ['key lower case', { ...good, key: good.key.toLowerCase() }, 'key'],
    ['key 39 digits', { ...good, key: good.key.slice(1) }, 'key'],
    ['key a number', { ...good, key: 9 }, 'key'],
    ['no key', { data: good.data, sig: good.sig }, 'key'],
    ['sig a number', { ...good, sig: 5 }, 'sig'],
    ['lone surrogate in a value', { ...good, data: { ...good.data, comment: 'a\ud800' } }, 'data.comment'],
    ['lone surrogate in a name', { ...good, data: { ...good.data, '\udfff': 1 } }, 'data["\\udfff"]'],
    ['NaN', { ...good, data: { ...good.data, n: [Number.NaN] } }, 'data.n[0]'],
    ['Infinity', { ...good, data: { ...good.data, n: Number.POSITIVE_INFINITY } }, 'data.n'],
    ['undefined value', { ...good, data: { ...good.data, u: undefined } }, 'data.u'],
    ['depth 9', { ...good, data: { ...good.data, x: deep(8) } }, 'data.x.d.d.d.d.d.d.d'],
  ];
  for (const [name, v, field] of cases) {
    const e = t.throws(() => parseAttestation(v), { instanceOf: LogError }, name);
    t.is(e?.code, 'ATTESTATION_INVALID', name);
    t.is(e?.details.field, field, name);
  }
  // Depth 8 (data is depth 1) is fine.
  t.notThrows(() => parseAttestation({ ...good, data: { ...good.data, x: deep(6) } }));
  t.is(
    codeOf(() => parseAttestation({ ...good, data: { ...good.data, when: new Date(0) } })),
    'ATTESTATION_INVALID',
  );
  t.is(
    codeOf(() => parseAttestation({ ...good, sig: 'not base64 at all!' })),
    'SIGNATURE_MALFORMED',
  );
});

test('parseAttestation: size limit is exact at MAX_ATTESTATION_BYTES of canonical JSON (UTF-8)', (t) => {
  const with_ = (comment: string) => ({ ...good, data: { ...good.data, comment } });
  const base = utf8(
    JSON.stringify({ data: { comment: '', id: good.data.id, ok: true }, key: good.key, sig: good.sig }),
  ).length;
  const room = MAX_ATTESTATION_BYTES - base;
  t.notThrows(() => parseAttestation(with_('x'.repeat(room))));
  t.is(
    codeOf(() => parseAttestation(with_('x'.repeat(room + 1)))),
    'ATTESTATION_TOO_LARGE',
  );
  // 'é' is two UTF-8 bytes: half as many fit.
  const half = Math.floor(room / 2);
  t.notThrows(() => parseAttestation(with_('é'.repeat(half))));
  t.is(
    codeOf(() => parseAttestation(with_(`${'é'.repeat(half)}xx`))),
    'ATTESTATION_TOO_LARGE',
  );
  // Huge inputs are refused before they are serialised.
  t.is(
    codeOf(() => parseAttestation(with_('x'.repeat(10_000_000)))),
    'ATTESTATION_TOO_LARGE',
  );
});

test('parseAttestation returns a copy: other fields kept, nested keys sorted, __proto__ stays a member', (t) => {
  const input = JSON.parse(
    '{"sig":"iQEz","key":"9C75CB915794A44DD7697E21571D8816D9886717","data":{"ok":false,"id":"x","reviewed":true,"meta":{"z":[1,{"b":null,"a":"é"}],"a":1.5},"__proto__":{"polluted":true}}}',
  );
  const att = parseAttestation(input);
  t.is(JSON.stringify(att.data.meta), '{"a":1.5,"z":[1,{"a":"é","b":null}]}');
  t.true(Object.hasOwn(att.data, '__proto__'));
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.is(Object.getPrototypeOf(att.data), Object.prototype);
  input.data.reviewed = false;
  t.is(att.data.reviewed, true);
  t.deepEqual(Object.keys(att), ['data', 'key', 'sig']);
});

// --- the two serialisations ---------------------------------------------------------------------

test('serialisations of non-ASCII and astral characters match Python and Node by hand', (t) => {
  const e = { id: 'x', ok: true, comment: 'é' };
  t.is(text(pythonSerialization(e)), '{"comment": "\\u00e9", "id": "x", "ok": true}');
  t.is(hexEncode(nodeSerialization(e)), hexEncode(utf8('{"comment":"é","id":"x","ok":true}')));
  t.is(hexEncode(nodeSerialization(e)).includes('c3a9'), true);
  const smile = { id: 'x', ok: true, comment: '😀' };
  t.is(text(pythonSerialization(smile)), '{"comment": "\\ud83d\\ude00", "id": "x", "ok": true}');
  t.true(hexEncode(nodeSerialization(smile)).includes('f09f9880'));
  // Python output is pure ASCII.
  t.true([...pythonSerialization(smile)].every((b) => b < 0x80));
});

test('pythonSerialization matches CPython 3.11.7 json.dumps(sort_keys=True) (4 known answers)', (t) => {
  const known: [AttestationData, string][] = [
    [
      { id: 'x', ok: true, comment: 'a"b\\c\n\r\t\b\f\u0000\u001f\u007f/é\u2028\uffff' },
      '{"comment": "a\\"b\\\\c\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f/\\u00e9\\u2028\\uffff", "id": "x", "ok": true}',
    ],
    [
      {
        id: 'x',
        ok: false,
        n: [
          0.1, 1e16, 1.5, 1e-5, 0.0001, 1e22, 2.5e-7, -0.5, 123456789.123, 1e21, 5e-324,
          1.7976931348623157e308, 1.2345678901234567e19,
        ],
        i: [0, -1, 9007199254740991],
      },
      '{"i": [0, -1, 9007199254740991], "id": "x", "n": [0.1, 1e+16, 1.5, 1e-05, 0.0001, 1e+22, 2.5e-07, -0.5, 123456789.123, 1e+21, 5e-324, 1.7976931348623157e+308, 1.2345678901234567e+19], "ok": false}',
    ],
    [
      // Python sorts by code point: U+E000 before U+1F600 (UTF-16 order would put the emoji first).
      {
        id: 'x',
        ok: true,
        nested: { b: 1, a: [{ z: null, y: true }] },
        '\ue000': 1,
        '\u{1F600}': 2,
        é: 3,
        Z: 4,
      },
      '{"Z": 4, "id": "x", "nested": {"a": [{"y": true, "z": null}], "b": 1}, "ok": true, "\\u00e9": 3, "\\ue000": 1, "\\ud83d\\ude00": 2}',
    ],
    [{ id: 'x', ok: true, empty: {}, list: [] }, '{"empty": {}, "id": "x", "list": [], "ok": true}'],
  ];
  for (const [data, want] of known) t.is(text(pythonSerialization(data)), want);
});

test('nodeSerialization sorts only the top level; integer-like keys come first as in any JS object', (t) => {
  t.is(
    text(nodeSerialization({ ok: true, id: 'x', m: { z: 1, a: 2 } })),
    '{"id":"x","m":{"z":1,"a":2},"ok":true}',
  );
  t.is(text(nodeSerialization({ ok: true, id: 'x', '10': 1, '9': 2 })), '{"9":2,"10":1,"id":"x","ok":true}');
});

test('serialisations property: both parse back to the same data (fast-check)', (t) => {
  const value = fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)));
  const data = fc
    .tuple(
      fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), value, {
        maxKeys: 4,
        noNullPrototype: true,
      }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
      fc.boolean(),
    )
    .map(
      ([rest, id, ok]) => parseAttestation({ data: { ...rest, id, ok }, key: FIXTURE_FPR, sig: 'AAAA' }).data,
    );
  fc.assert(
    fc.property(data, (d) => {
      assert.deepEqual(JSON.parse(text(nodeSerialization(d))), JSON.parse(JSON.stringify(d)));
      const py = pythonSerialization(d);
      assert.ok(py.every((b) => b < 0x80));
      // Python's float repr and ES differ in form, never in value.
      assert.deepEqual(JSON.parse(text(py)), JSON.parse(JSON.stringify(d)));
    }),
    { numRuns: 300 },
  );
  t.pass('300 random data objects');
});
