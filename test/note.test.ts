/**
 * Tests of log/note.ts: c2sp.org/signed-note with Ed25519 (Go sumdb/note compatible) and OpenPGP lines.
 *
 * Vectors: ../shared/vectors/signed-note/sumdb-note.json (golang.org/x/mod sumdb/note examples, see its
 * README). OpenPGP keys are generated here with openpgp.generateKey (real keys, real signatures).
 * Key IDs are recomputed independently with node:crypto.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { base64DecodeStrict, base64Encode } from '../log/bytes.js';
import { isLogError, LogError } from '../log/errors.js';
import {
  ed25519Signer,
  ed25519Verifier,
  formatNote,
  generateEd25519Key,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  type Note,
  openNote,
  openpgpKeyId,
  openpgpSignatureTime,
  openpgpSigner,
  openpgpVerifier,
  parseNote,
  signNote,
  type Verifier,
  vkeyFromSkey,
} from '../log/note.js';
import { fromHex } from './helpers/bytes.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';

const enc = new TextEncoder();

/** Key ID per c2sp.org/signed-note, computed with node:crypto (independent of log/note.ts). */
function refKeyId(name: string, ...parts: Uint8Array[]): number {
  const h = createHash('sha256');
  h.update(enc.encode(name));
  h.update(Uint8Array.of(0x0a));
  for (const p of parts) h.update(p);
  return h.digest().readUInt32BE(0);
}

// --- Go sumdb/note vectors ---

interface SumdbCase {
  desc: string;
  skey?: string;
  vkey?: string;
  text?: string;
  note: string;
}

const sumdbPath = vectorPath('signed-note/sumdb-note.json');
if (sumdbPath === undefined) {
  test.skip('sumdb/note vectors (../shared/vectors missing)', () => {});
} else {
  const cases = readVectorJson<{ cases: SumdbCase[] }>(sumdbPath).cases;
  test(`sumdb/note vectors: all ${cases.length} cases sign, verify, parse and key-parse like Go`, async (t) => {
    t.true(cases.length >= 2);
    for (const c of cases) {
      const lines = c.note.slice(c.note.lastIndexOf('\n\n') + 2, -1).split('\n');
      const text = c.note.slice(0, c.note.lastIndexOf('\n\n') + 1);
      if (c.text !== undefined) t.is(text, c.text, c.desc);
      // Parsing and formatting are exact inverses.
      const parsed = parseNote(c.note);
      t.is(parsed.text, text, c.desc);
      t.is(parsed.signatures.length, lines.length, c.desc);
      t.is(formatNote(parsed), c.note, c.desc);
      t.deepEqual(parseNote(enc.encode(c.note)), parsed, c.desc);
      if (c.skey !== undefined) {
        // Ed25519 is deterministic: signing with Go's skey gives Go's note byte for byte.
        t.is(vkeyFromSkey(c.skey), String(c.vkey), c.desc);
        const signer = ed25519Signer(c.skey);
        t.is(await signNote(text, [signer]), c.note, c.desc);
      }
      if (c.vkey !== undefined) {
        const v = ed25519Verifier(c.vkey);
        const [name, hash] = c.vkey.split('+') as [string, string];
        t.is(v.name, name);
        t.is(v.keyId, Number.parseInt(hash, 16));
        t.is(v.keyId, refKeyId(name, base64DecodeStrict(c.vkey.slice(name.length + 10))!));
        const opened = await openNote(c.note, [v]);
        t.is(opened.text, text);
        t.deepEqual(
          opened.verified.map((s) => s.name),
          [name],
          c.desc,
        );
        // Lines by keys the verifier does not know are returned unverified, not rejected.
        t.deepEqual(
          opened.unverified.map((s) => s.name),
          parsed.signatures.filter((s) => s.name !== name).map((s) => s.name),
          c.desc,
        );
        await t.throwsAsync(openNote(c.note, []), { code: 'NOTE_UNVERIFIED' }, c.desc);
        // A flipped bit anywhere in the known key's signature must fail.
        const sig = parsed.signatures.find((s) => s.name === name)!;
        for (const bit of [0, 7, 100, 8 * sig.signature.length - 1]) {
          const bad = sig.signature.slice();
          bad[bit >> 3]! ^= 1 << (bit & 7);
          const tampered = formatNote({
            text,
            signatures: parsed.signatures.map((s) => (s === sig ? { ...s, signature: bad } : s)),
          });
          await t.throwsAsync(
            openNote(tampered, [v]),
            { code: 'NOTE_SIGNATURE_INVALID' },
            `${c.desc} bit ${bit}`,
          );
        }
        // Tampered text.
        await t.throwsAsync(openNote(`x${c.note}`, [v]), { code: 'NOTE_SIGNATURE_INVALID' }, c.desc);
      }
    }
  });
}

// --- Ed25519 keys ---

test('generateEd25519Key makes Go-format keys whose signatures verify; vkeyFromSkey agrees', async (t) => {
  const { skey, vkey } = generateEd25519Key('example.com/log');
  t.regex(skey, /^PRIVATE\+KEY\+example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
  t.regex(vkey, /^example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
  t.is(vkeyFromSkey(skey), vkey);
  const signer = ed25519Signer(skey);
  const verifier = ed25519Verifier(vkey);
  t.is(signer.keyId, verifier.keyId);
  // The key's base64 may itself contain '+': take everything after the name and the key hash.
  const keyB64 = vkey.slice('example.com/log+'.length + 9);
  t.is(verifier.keyId, refKeyId('example.com/log', base64DecodeStrict(keyB64)!));
  const note = await signNote('hello\n', [signer]);
  const opened = await openNote(note, [verifier]);
  t.is(opened.text, 'hello\n');
  t.is(opened.verified.length, 1);
  // A different key with the same name has a different key ID: its verifier does not know the line.
  const other = ed25519Verifier(generateEd25519Key('example.com/log').vkey);
  await t.throwsAsync(openNote(note, [other]), { code: 'NOTE_UNVERIFIED' });
  t.throws(() => generateEd25519Key('bad name'), { code: 'KEY_INVALID' });
  t.throws(() => generateEd25519Key('a+b'), { code: 'KEY_INVALID' });
  t.throws(() => generateEd25519Key(''), { code: 'KEY_INVALID' });
});

const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';

test('malformed verifier and signer keys are KEY_INVALID', (t) => {
  const badVkeys: [string, string][] = [
    ['wrong key ID', 'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['7 hex digits', 'PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['9 hex digits', 'PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['non-hex key ID', 'PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['bad base64', 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!'],
    ['unpadded base64', 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'.slice(0, -1)],
    ['32 bytes, no type', `PeterNeumann+c74f20a3+${base64Encode(new Uint8Array(32))}`],
    ['type 0x02', 'PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['missing key', 'PeterNeumann+c74f20a3'],
    ['empty name', '+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['space in name', 'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['skey given as vkey', GO_SKEY],
    ['empty', ''],
  ];
  for (const [why, vkey] of badVkeys) {
    t.throws(() => ed25519Verifier(vkey), { instanceOf: LogError, code: 'KEY_INVALID' }, why);
  }
  const badSkeys: [string, string][] = [
    ['vkey given as skey', GO_VKEY],
    ['wrong key ID', GO_SKEY.replace('c74f20a3', 'c74f20a4')],
    ['other name, same key', GO_SKEY.replace('PeterNeumann', 'PeterNeuman')],
    ['lower-case prefix', GO_SKEY.replace('PRIVATE+KEY', 'private+key')],
    ['truncated', GO_SKEY.slice(0, -4)],
    ['type 0x02', GO_SKEY.replace('+AYEK', '+AoEK')],
  ];
  for (const [why, skey] of badSkeys) {
    t.throws(() => ed25519Signer(skey), { instanceOf: LogError, code: 'KEY_INVALID' }, why);
    t.throws(() => vkeyFromSkey(skey), { instanceOf: LogError, code: 'KEY_INVALID' }, why);
  }
  // Go accepts upper-case hex in the key ID: so do we.
  t.is(ed25519Verifier(GO_VKEY.replace('c74f20a3', 'C74F20A3')).keyId, 0xc74f20a3);
});

test('two verifiers with the same name and key ID are ambiguous (KEY_INVALID), as in Go', async (t) => {
  const v = ed25519Verifier(GO_VKEY);
  const note = await signNote('x\n', [ed25519Signer(GO_SKEY)]);
  await t.throwsAsync(openNote(note, [v, ed25519Verifier(GO_VKEY)]), { code: 'KEY_INVALID' });
  // Unrelated notes still open with such a list as long as no line needs the ambiguous pair.
  const other = generateEd25519Key('other');
  const note2 = await signNote('x\n', [ed25519Signer(other.skey)]);
  const opened = await openNote(note2, [v, ed25519Verifier(GO_VKEY), ed25519Verifier(other.vkey)]);
  t.is(opened.verified.length, 1);
});

// --- OpenPGP lines ---

const KEY_DATE = new Date('2026-01-01T00:00:00Z');
const SIGN_DATE = new Date('2026-06-01T12:34:56Z'); // OpenPGP times have one-second resolution

async function ed25519LegacyKey(name = 'Test Log') {
  return openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name }],
    date: KEY_DATE,
    format: 'object',
  });
}

const CHECKPOINT = 'example.com/sig\n42\nq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\n';

test('OpenPGP key ID is SHA-256(name || 0x0A || 0xff || "openpgp" || v4 fingerprint)[:4]', async (t) => {
  const { privateKey, publicKey } = await ed25519LegacyKey();
  const fpr = fromHex(publicKey.getFingerprint());
  t.is(fpr.length, 20);
  const want = refKeyId('example.com/sig', Uint8Array.of(0xff), enc.encode('openpgp'), fpr);
  t.is(openpgpKeyId('example.com/sig', fpr), want);
  t.is(openpgpVerifier('example.com/sig', publicKey).keyId, want);
  t.is(openpgpSigner('example.com/sig', privateKey).keyId, want);
  t.not(openpgpKeyId('example.com/sig2', fpr), want);
  t.throws(() => openpgpKeyId('example.com/sig', fpr.subarray(0, 19)), { code: 'KEY_INVALID' });
  t.throws(() => openpgpVerifier('bad name', publicKey), { code: 'KEY_INVALID' });
});

test('checkpoint signed by Ed25519 and OpenPGP: opens with both, either, or neither verifier', async (t) => {
  const { privateKey, publicKey } = await ed25519LegacyKey();
  const { skey, vkey } = generateEd25519Key('example.com/sig');
  const pgpSigner = openpgpSigner('example.com/sig', privateKey, () => SIGN_DATE);
  const note = await signNote(CHECKPOINT, [ed25519Signer(skey), pgpSigner]);
  const ed = ed25519Verifier(vkey);
  const pgp = openpgpVerifier('example.com/sig', publicKey);
  t.not(ed.keyId, pgp.keyId);

  const both = await openNote(note, [ed, pgp]);
  t.is(both.text, CHECKPOINT);
  t.deepEqual(
    both.verified.map((s) => s.keyId),
    [ed.keyId, pgp.keyId],
  );
  t.deepEqual(both.unverified, []);

  const onlyEd = await openNote(note, [ed]);
  t.deepEqual(
    onlyEd.verified.map((s) => s.keyId),
    [ed.keyId],
  );
  t.deepEqual(
    onlyEd.unverified.map((s) => s.keyId),
    [pgp.keyId],
  );

  const onlyPgp = await openNote(note, [pgp]);
  t.deepEqual(
    onlyPgp.verified.map((s) => s.keyId),
    [pgp.keyId],
  );
  const pgpSig = onlyPgp.verified[0]!.signature;
  // The signature bytes are one binary detached OpenPGP signature (type 0x00, binary document).
  const parsedSig = await openpgp.readSignature({ binarySignature: pgpSig });
  t.is(parsedSig.packets.length, 1);
  t.is(parsedSig.packets[0]!.signatureType, openpgp.enums.signature.binary);
  t.is(parsedSig.getSigningKeyIDs()[0]!.toHex(), publicKey.getKeyID().toHex());
  // It verifies with plain openpgp.verify over the UTF-8 text, independently of openpgpVerifier.
  const direct = await openpgp.verify({
    message: await openpgp.createMessage({ binary: enc.encode(CHECKPOINT) }),
    signature: parsedSig,
    verificationKeys: publicKey,
    expectSigned: true,
    date: SIGN_DATE,
  });
  t.true(await direct.signatures[0]!.verified);
  t.is((await openpgpSignatureTime(pgpSig)).getTime(), SIGN_DATE.getTime());

  await t.throwsAsync(openNote(note, []), { instanceOf: LogError, code: 'NOTE_UNVERIFIED' });
  const stranger = await ed25519LegacyKey('Stranger');
  await t.throwsAsync(openNote(note, [openpgpVerifier('example.com/sig', stranger.publicKey)]), {
    code: 'NOTE_UNVERIFIED',
  });
});

test('OpenPGP line: tampered text, tampered signature, or another key under the same key ID fail', async (t) => {
  const { privateKey, publicKey } = await ed25519LegacyKey();
  const signer = openpgpSigner('example.com/sig', privateKey, () => SIGN_DATE);
  const pgp = openpgpVerifier('example.com/sig', publicKey);
  const note = await signNote(CHECKPOINT, [signer]);
  const parsed = parseNote(note);

  const tamperedText = formatNote({ ...parsed, text: CHECKPOINT.replace('\n42\n', '\n43\n') });
  await t.throwsAsync(openNote(tamperedText, [pgp]), { code: 'NOTE_SIGNATURE_INVALID' });

  const sig = parsed.signatures[0]!.signature;
  for (const at of [sig.length - 1, sig.length - 40, 12]) {
    const bad = sig.slice();
    bad[at]! ^= 0x01;
    const tampered = formatNote({
      text: CHECKPOINT,
      signatures: [{ ...parsed.signatures[0]!, signature: bad }],
    });
    await t.throwsAsync(openNote(tampered, [pgp]), { code: 'NOTE_SIGNATURE_INVALID' }, `byte ${at}`);
  }
  // Junk after the signature packet, and a truncated signature.
  const junk = formatNote({
    text: CHECKPOINT,
    signatures: [{ ...parsed.signatures[0]!, signature: sig.subarray(0, sig.length - 5) }],
  });
  await t.throwsAsync(openNote(junk, [pgp]), { code: 'NOTE_SIGNATURE_INVALID' });

  // A line claiming the server's name and key ID but signed by another key.
  const mallory = await ed25519LegacyKey('Mallory');
  const forged = await openpgpSigner('example.com/sig', mallory.privateKey, () => SIGN_DATE).sign(
    enc.encode(CHECKPOINT),
  );
  const forgedNote = formatNote({
    text: CHECKPOINT,
    signatures: [{ name: 'example.com/sig', keyId: pgp.keyId, signature: forged }],
  });
  await t.throwsAsync(openNote(forgedNote, [pgp]), { code: 'NOTE_SIGNATURE_INVALID' });

  // A text-mode (type 0x01) signature by the right key is not the binary document SPEC.md asks for.
  const textSig = await openpgp.sign({
    message: await openpgp.createMessage({ text: CHECKPOINT }),
    signingKeys: privateKey,
    detached: true,
    format: 'binary',
    date: SIGN_DATE,
  });
  const textNote = formatNote({
    text: CHECKPOINT,
    signatures: [{ name: 'example.com/sig', keyId: pgp.keyId, signature: textSig }],
  });
  await t.throwsAsync(openNote(textNote, [pgp]), { code: 'NOTE_SIGNATURE_INVALID' });
});

test('OpenPGP line: subkey signatures, v4 Ed25519 (curve25519) keys, and rejected keys', async (t) => {
  // A key whose signatures come from a signing subkey: openpgp.sign picks the subkey.
  const sub = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: 'Subkey Log' }],
    subkeys: [{ sign: true }],
    date: KEY_DATE,
    format: 'object',
  });
  const subNote = await signNote(CHECKPOINT, [
    openpgpSigner('example.com/sig', sub.privateKey, () => SIGN_DATE),
  ]);
  const subSig = parseNote(subNote).signatures[0]!.signature;
  const issuer = (await openpgp.readSignature({ binarySignature: subSig })).getSigningKeyIDs()[0]!.toHex();
  t.is(issuer, sub.publicKey.subkeys[0]!.getKeyID().toHex());
  t.is((await openNote(subNote, [openpgpVerifier('example.com/sig', sub.publicKey)])).verified.length, 1);

  // openpgp v6's 'curve25519' type: a v4 key with the RFC 9580 Ed25519 algorithm.
  const modern = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name: 'Modern' }],
    date: KEY_DATE,
    format: 'object',
  });
  t.is(modern.publicKey.keyPacket.version, 4);
  const modernNote = await signNote(CHECKPOINT, [
    openpgpSigner('example.com/sig', modern.privateKey, () => SIGN_DATE),
  ]);
  t.is(
    (await openNote(modernNote, [openpgpVerifier('example.com/sig', modern.publicKey)])).verified.length,
    1,
  );

  // v6 keys have 32-byte fingerprints: not what the line's key ID is defined over.
  const v6 = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [{ name: 'V6' }],
    date: KEY_DATE,
    format: 'object',
    config: { v6Keys: true },
  });
  t.throws(() => openpgpVerifier('example.com/sig', v6.publicKey), { code: 'KEY_INVALID' });
  t.throws(() => openpgpSigner('example.com/sig', v6.privateKey), { code: 'KEY_INVALID' });

  // An encrypted private key cannot sign.
  const locked = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: 'Locked' }],
    passphrase: 'secret',
    date: KEY_DATE,
    format: 'object',
  });
  t.throws(() => openpgpSigner('example.com/sig', locked.privateKey), { code: 'KEY_INVALID' });

  // openpgp refuses to date a signature before the key existed; the signer's error propagates.
  const early = openpgpSigner('example.com/sig', modern.privateKey, () => new Date('2025-01-01T00:00:00Z'));
  await t.throwsAsync(signNote(CHECKPOINT, [early]), { message: /in the future/ });
});

test('openpgpSignatureTime: the creation time, second resolution; NOTE_INVALID for non-signatures', async (t) => {
  const { privateKey } = await ed25519LegacyKey();
  for (const when of ['2026-02-03T04:05:06Z', '2030-12-31T23:59:59Z']) {
    const d = new Date(when);
    const sig = await openpgpSigner('n', privateKey, () => d).sign(enc.encode('t\n'));
    t.is((await openpgpSignatureTime(sig)).toISOString(), d.toISOString());
  }
  // Freshness is the caller's policy: a line dated in the future (2030) still verifies, and its time
  // is what the caller compares with its clock.
  const future = new Date('2030-12-31T23:59:59Z');
  const fresh = await ed25519LegacyKey('Future');
  const note = await signNote('t\n', [openpgpSigner('n', fresh.privateKey, () => future)]);
  const opened = await openNote(note, [openpgpVerifier('n', fresh.publicKey)]);
  t.is((await openpgpSignatureTime(opened.verified[0]!.signature)).getTime(), future.getTime());
  await t.throwsAsync(openpgpSignatureTime(new Uint8Array([1, 2, 3])), {
    instanceOf: LogError,
    code: 'NOTE_INVALID',
  });
  await t.throwsAsync(openpgpSignatureTime(new Uint8Array(0)), {
    instanceOf: LogError,
    code: 'NOTE_INVALID',
  });
});

// --- Malformed notes ---

// 11 bytes: one '=' of padding.
const SIG_B64 = base64Encode(Uint8Array.of(0xc7, 0x4f, 0x20, 0xa3, 1, 2, 3, 4, 5, 6, 7));

test('malformed notes are NOTE_INVALID (table)', (t) => {
  const good = `hello\n\n\u2014 name ${SIG_B64}\n`;
  t.notThrows(() => parseNote(good));
  const cases: [string, string | Uint8Array][] = [
    ['missing blank line', `hello\n\u2014 name ${SIG_B64}\n`],
    ['no trailing newline', good.slice(0, -1)],
    ['no signatures', 'hello\n\n'],
    ['blank line after the signatures', `${good}\n`],
    ['empty text', `\u2014 name ${SIG_B64}\n`],
    ['empty', ''],
    ['ASCII dashes instead of em dash', `hello\n\n-- name ${SIG_B64}\n`],
    ['en dash', `hello\n\n\u2013 name ${SIG_B64}\n`],
    ['no space after em dash', `hello\n\n\u2014name ${SIG_B64}\n`],
    ['no signature after name', 'hello\n\n\u2014 name\n'],
    ['two spaces', `hello\n\n\u2014 name  ${SIG_B64}\n`],
    ['plus in name', `hello\n\n\u2014 na+me ${SIG_B64}\n`],
    ['NBSP in name', `hello\n\n\u2014 na\u00a0me ${SIG_B64}\n`],
    ['bad base64', 'hello\n\n\u2014 name !!!!\n'],
    ['base64 without padding', `hello\n\n\u2014 name ${SIG_B64.replace(/=+$/, '')}\n`],
    [
      'base64 with trailing bits set',
      'hello\n\n\u2014 name AQIDBAV=\n', // AQIDBAU= with a non-zero padding bit
    ],
    [
      'base64url alphabet',
      `hello\n\n\u2014 name ${base64Encode(Uint8Array.of(0xfb, 0xff, 0xfe, 0, 1, 2))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')}\n`,
    ],
    ['key hash only (4 bytes)', `hello\n\n\u2014 name ${base64Encode(Uint8Array.of(1, 2, 3, 4))}\n`],
    ['3 bytes', `hello\n\n\u2014 name ${base64Encode(Uint8Array.of(1, 2, 3))}\n`],
    ['trailing space', `hello\n\n\u2014 name ${SIG_B64} \n`],
    ['CR LF line endings', `hello\r\n\r\n\u2014 name ${SIG_B64}\r\n`],
    ['tab in text', `hel\tlo\n\n\u2014 name ${SIG_B64}\n`],
    ['NUL in text', `hel\u0000lo\n\n\u2014 name ${SIG_B64}\n`],
    ['lone surrogate', `hel\ud800lo\n\n\u2014 name ${SIG_B64}\n`],
    [
      'invalid UTF-8',
      Uint8Array.of(...enc.encode('hel'), 0xff, ...enc.encode(`lo\n\n\u2014 name ${SIG_B64}\n`)),
    ],
    ['overlong UTF-8', Uint8Array.of(0xc0, 0xaf, ...enc.encode(`\n\n\u2014 name ${SIG_B64}\n`))],
    [
      `${MAX_NOTE_SIGNATURES + 1} signatures`,
      `hello\n\n${`\u2014 name ${SIG_B64}\n`.repeat(MAX_NOTE_SIGNATURES + 1)}`,
    ],
    ['oversize', `${'a'.repeat(MAX_NOTE_BYTES)}\n\n\u2014 name ${SIG_B64}\n`],
    [
      'oversize in multi-byte characters',
      `${'\u00e9'.repeat(MAX_NOTE_BYTES / 2)}\n\n\u2014 name ${SIG_B64}\n`,
    ],
    ['oversize bytes', new Uint8Array(MAX_NOTE_BYTES + 1).fill(0x61)],
  ];
  for (const [why, note] of cases) {
    t.throws(() => parseNote(note), { instanceOf: LogError, code: 'NOTE_INVALID' }, why);
  }
  t.is(cases.length, 30);
});

test('formatNote and signNote refuse what would not parse back (NOTE_INVALID)', async (t) => {
  const sig = { name: 'n', keyId: 1, signature: Uint8Array.of(9) };
  const bad: [string, Note][] = [
    ['text without newline', { text: 'x', signatures: [sig] }],
    ['empty text', { text: '', signatures: [sig] }],
    ['no signatures', { text: 'x\n', signatures: [] }],
    ['control character', { text: 'x\u0007\n', signatures: [sig] }],
    ['name with space', { text: 'x\n', signatures: [{ ...sig, name: 'a b' }] }],
    ['key ID over uint32', { text: 'x\n', signatures: [{ ...sig, keyId: 2 ** 32 }] }],
    ['negative key ID', { text: 'x\n', signatures: [{ ...sig, keyId: -1 }] }],
    ['empty signature', { text: 'x\n', signatures: [{ ...sig, signature: new Uint8Array(0) }] }],
    ['too many', { text: 'x\n', signatures: Array(MAX_NOTE_SIGNATURES + 1).fill(sig) }],
  ];
  for (const [why, note] of bad) {
    t.throws(() => formatNote(note), { instanceOf: LogError, code: 'NOTE_INVALID' }, why);
  }
  const signer = ed25519Signer(GO_SKEY);
  await t.throwsAsync(signNote('no newline', [signer]), { code: 'NOTE_INVALID' });
  await t.throwsAsync(signNote('x\n', []), { code: 'NOTE_INVALID' });
  await t.throwsAsync(signNote('a\rb\n', [signer]), { code: 'NOTE_INVALID' });
});

test(`a note with ${MAX_NOTE_SIGNATURES} signatures (at least 16 required) opens; unknown and duplicate lines are reported once`, async (t) => {
  const signer = ed25519Signer(GO_SKEY);
  const signed = parseNote(await signNote('text\n\nwith an empty line\n', [signer]));
  t.is(signed.text, 'text\n\nwith an empty line\n');
  const unknown = Array.from({ length: MAX_NOTE_SIGNATURES - 2 }, (_, i) => ({
    name: `witness${i}.example`,
    keyId: i,
    signature: Uint8Array.of(i, 1, 2),
  }));
  const note = formatNote({
    text: signed.text,
    signatures: [...unknown, signed.signatures[0]!, signed.signatures[0]!],
  });
  t.is(parseNote(note).signatures.length, MAX_NOTE_SIGNATURES);
  const opened = await openNote(note, [ed25519Verifier(GO_VKEY)]);
  t.is(opened.verified.length, 1);
  t.is(opened.unverified.length, MAX_NOTE_SIGNATURES - 2);
  // Same name, other key ID, and same key ID, other name: unknown keys, ignored (c2sp.org/signed-note).
  const lookalikes = formatNote({
    text: signed.text,
    signatures: [
      { ...signed.signatures[0]!, keyId: 0xc74f20a4 },
      { ...signed.signatures[0]!, name: 'PeterNeumann2' },
      signed.signatures[0]!,
    ],
  });
  const o2 = await openNote(lookalikes, [ed25519Verifier(GO_VKEY)]);
  t.is(o2.verified.length, 1);
  t.is(o2.unverified.length, 2);
});

// --- Properties ---

// biome-ignore lint/suspicious/noControlCharactersInRegex: generator filter
const NAME_OK = /^[^\p{White_Space}+\u0000-\u001f]+$/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: generator filter
const LINE_OK = /^[^\u0000-\u001f]*$/u;
const keyName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => NAME_OK.test(s));
const textArb = fc
  .array(
    fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => LINE_OK.test(s)),
    { minLength: 1, maxLength: 6 },
  )
  .map((lines) => `${lines.join('\n')}\n`);
const sigArb = fc.record({
  name: keyName,
  keyId: fc.integer({ min: 0, max: 0xffffffff }),
  signature: fc.uint8Array({ minLength: 1, maxLength: 80 }),
});
const noteArb = fc.record({ text: textArb, signatures: fc.array(sigArb, { minLength: 1, maxLength: 20 }) });

test('property: parseNote(formatNote(n)) == n, from a string and from UTF-8 bytes', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(noteArb, (n) => {
        const s = formatNote(n);
        const back = parseNote(s);
        const back2 = parseNote(enc.encode(s));
        if (back.text !== n.text || formatNote(back) !== s || formatNote(back2) !== s) return false;
        return back.signatures.every(
          (x, i) =>
            x.name === n.signatures[i]!.name &&
            x.keyId === n.signatures[i]!.keyId &&
            base64Encode(x.signature) === base64Encode(n.signatures[i]!.signature),
        );
      }),
      { numRuns: 300 },
    ),
  );
});

test('property: Ed25519 sign then open verifies any valid text; the other key does not know it', async (t) => {
  const a = generateEd25519Key('a.example');
  const b = generateEd25519Key('b.example');
  const sa = ed25519Signer(a.skey);
  const va = ed25519Verifier(a.vkey);
  const vb = ed25519Verifier(b.vkey);
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(textArb, async (text) => {
        const note = await signNote(text, [sa]);
        const o = await openNote(note, [va, vb]);
        if (o.text !== text || o.verified.length !== 1) return false;
        try {
          await openNote(note, [vb]);
          return false;
        } catch (e) {
          return isLogError(e, 'NOTE_UNVERIFIED');
        }
      }),
      { numRuns: 50 },
    ),
  );
});

test('property: junk and mutated notes throw only LogError (never crash) from parseNote and openNote', async (t) => {
  const verifiers: Verifier[] = [ed25519Verifier(GO_VKEY)];
  const base = `If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
  const baseText = base.slice(0, base.lastIndexOf('\n\n') + 1);
  const mutated = fc
    .tuple(
      fc.nat({ max: base.length }),
      fc.nat({ max: base.length }),
      fc.string({ unit: 'binary', maxLength: 8 }),
    )
    .map(([i, j, ins]) => base.slice(0, Math.min(i, j)) + ins + base.slice(Math.max(i, j)));
  const input = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }),
    mutated,
    mutated.map((s) => enc.encode(s)),
  );
  let opened = 0;
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(input, async (note) => {
        try {
          parseNote(note);
        } catch (e) {
          if (!(e instanceof LogError)) throw e;
        }
        try {
          const o = await openNote(note, verifiers);
          // Whatever was mutated, an accepted note carries exactly the signed text (else: a forgery).
          if (o.text !== baseText) throw new Error(`forgery accepted: ${JSON.stringify(o.text)}`);
          opened++;
        } catch (e) {
          if (!(e instanceof LogError)) throw e;
        }
      }),
      { numRuns: 500 },
    ),
  );
  // Most mutations break the note; the few that open (e.g. an empty insertion) carry the signed text.
  t.true(opened < 500);
});
