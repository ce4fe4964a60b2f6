/**
 * Tests of log/cosignature.ts: c2sp.org/tlog-cosignature cosignature/v1 (Ed25519, type 0x04).
 *
 * External examples first: the spec's own example checkpoint with a witness cosignature and its
 * example signed message (C2SP/C2SP tlog-cosignature.md, "Transparency Log Cosignatures" and "Ed25519
 * signed message"), and the example 200 response of C2SP/C2SP tlog-witness.md "add-checkpoint". The
 * spec publishes no keys for them, so what is checked is the framing: key ID, big-endian timestamp,
 * 64 signature bytes, the message layout. Then every signature is compared byte for byte with
 * test/witness-reference.ts (node:crypto Ed25519 and SHA-256, written from the spec), at fixed seeds
 * and clocks and under fast-check; then every refusal.
 */
import test from 'ava';
import fc from 'fast-check';
import { type Checkpoint, formatCheckpoint } from '../log/checkpoint.js';
import {
  COSIGNATURE_V1_BYTES,
  cosignatureKeyId,
  cosignatureMessage,
  cosignatureSigner,
  cosignatureTimestamp,
  cosignatureVerifier,
  cosignatureVkeyFromSkey,
  generateCosignatureKey,
  MAX_COSIGNATURE_TIMESTAMP,
  SIGNATURE_TYPE_COSIGNATURE_V1,
} from '../log/cosignature.js';
import { isLogError } from '../log/errors.js';
import {
  ed25519Signer,
  ed25519Verifier,
  generateEd25519Key,
  openNote,
  parseNote,
  signNote,
} from '../log/note.js';
import {
  refCosignatureMessage,
  refCosignLine,
  refEd25519,
  refKeyId,
  refPublicKey,
  refSkey,
  refVkey,
} from './witness-reference.js';

const seedOf = (x: number): Uint8Array => new Uint8Array(32).fill(x);

// Quoted from C2SP/C2SP tlog-cosignature.md (v1.0.1 and the editor's copy), the opening example.
const SPEC_COSIGNED = `example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==
`;
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
// Quoted from C2SP/C2SP tlog-cosignature.md, "Ed25519 signed message".
const SPEC_MESSAGE = `cosignature/v1
time 1679315147
example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
`;
// Quoted from C2SP/C2SP tlog-witness.md, "add-checkpoint", the example response body.
const SPEC_RESPONSE = `— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==
— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==
— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==
`;

/** A checkpoint text over a fixed root. */
function checkpointText(size: number, origin = 'example.com/log', extensions: string[] = []): string {
  const c: Checkpoint = { origin, treeSize: BigInt(size), rootHash: new Uint8Array(32).fill(7), extensions };
  return formatCheckpoint(c);
}

/** Whether openNote verifies the note with the verifiers, else the LogError code. */
async function openCode(note: string, ...vkeys: string[]): Promise<string> {
  try {
    await openNote(
      note,
      vkeys.map((v) => cosignatureVerifier(v)),
    );
    return 'ok';
  } catch (e) {
    return isLogError(e) ? e.code : `plain ${String(e)}`;
  }
}

// --- the spec's examples ---

test('spec example (tlog-cosignature.md): the witness line is key ID 8d66cf3f, time 1679315147, 64 bytes', (t) => {
  const note = parseNote(SPEC_COSIGNED);
  t.is(note.text, SPEC_TEXT);
  const w = note.signatures[1]!;
  t.is(w.name, 'witness.example.com/w1');
  t.is(w.keyId, 0x8d66cf3f);
  t.is(w.signature.length, COSIGNATURE_V1_BYTES);
  t.is(cosignatureTimestamp(w.signature), 1679315147n);
  // The log's own line (type 0x01) is 4 + 64 bytes: not a cosignature.
  t.is(note.signatures[0]!.signature.length, 64);
  t.throws(() => cosignatureTimestamp(note.signatures[0]!.signature), { code: 'NOTE_INVALID' });
});

test('spec example (tlog-cosignature.md "Ed25519 signed message"): cosignatureMessage gives it byte for byte', (t) => {
  t.is(Buffer.from(cosignatureMessage(1679315147n, SPEC_TEXT)).toString('utf8'), SPEC_MESSAGE);
  t.deepEqual(
    Buffer.from(cosignatureMessage(1679315147n, SPEC_TEXT)),
    refCosignatureMessage(1679315147n, SPEC_TEXT),
  );
});

test('spec example: a key of another name or key ID does not claim the witness line; it is ignored', async (t) => {
  // A fresh key named like the example witness has another key ID (signed-note: ignore unknown keys).
  const { vkey } = generateCosignatureKey('witness.example.com/w1');
  t.not(cosignatureVerifier(vkey).keyId, 0x8d66cf3f);
  t.is(await openCode(SPEC_COSIGNED, vkey), 'NOTE_UNVERIFIED');
});

test('spec example (tlog-witness.md): the response lines have the cosignature/v1 length; their bytes are placeholders', (t) => {
  const sigs = parseNote(`${SPEC_TEXT}\n${SPEC_RESPONSE}`).signatures;
  t.deepEqual(
    sigs.map((s) => [s.name, s.keyId.toString(16).padStart(8, '0'), s.signature.length]),
    [
      ['witness.example/w1', '08ca7ee8', COSIGNATURE_V1_BYTES],
      ['witness.example/w1', '23bac4a6', COSIGNATURE_V1_BYTES], // one name, two keys: allowed
      ['witness.example/w2', '016ba2f1', COSIGNATURE_V1_BYTES],
    ],
  );
  // The example's bytes are random: two of the three "timestamps" are over 2^63-1, which a
  // cosignature MUST NOT have, and cosignatureTimestamp says so.
  t.throws(() => cosignatureTimestamp(sigs[0]!.signature), { code: 'NOTE_INVALID' });
  t.throws(() => cosignatureTimestamp(sigs[1]!.signature), { code: 'NOTE_INVALID' });
  t.is(cosignatureTimestamp(sigs[2]!.signature), 2970657736413210787n);
});

// --- against the reference ---

test('key ID, vkey and skey equal the reference (node:crypto SHA-256, Buffer base64) for fixed seeds', (t) => {
  for (const [name, x] of [
    ['witness.example.com/w1', 1],
    ['w', 2],
    ['сервер.example/ключ', 3],
    ['oid/1.3.6.1.4.1.44363.1', 255],
  ] as const) {
    const skey = refSkey(name, seedOf(x));
    const pk = refPublicKey(seedOf(x));
    t.is(cosignatureVkeyFromSkey(skey), refVkey(name, 0x04, pk), name);
    t.is(cosignatureKeyId(name, pk), refKeyId(name, 0x04, pk), name);
    const v = cosignatureVerifier(refVkey(name, 0x04, pk));
    t.is(v.name, name);
    t.is(v.keyId, refKeyId(name, 0x04, pk));
    t.deepEqual(v.publicKey, pk);
    t.is(v.vkey, refVkey(name, 0x04, pk));
    t.is(cosignatureSigner(skey).keyId, v.keyId);
    // Type 0x04 and type 0x01 of one key have different key IDs (c2sp.org/signed-note "Verifier keys").
    t.not(v.keyId, refKeyId(name, 0x01, pk));
  }
  t.is(SIGNATURE_TYPE_COSIGNATURE_V1, 0x04);
});

test('signing equals the reference line byte for byte (fixed seed, clocks 0, 1679315147 s, the last Date)', async (t) => {
  const name = 'witness.example.com/w1';
  const skey = refSkey(name, seedOf(9));
  for (const ms of [0, 999, 1679315147_000, 1679315147_999, 8.64e15]) {
    const T = BigInt(Math.floor(ms / 1000));
    for (const text of [SPEC_TEXT, checkpointText(0), checkpointText(5, 'a/b', ['ext one', 'ext two'])]) {
      const note = await signNote(text, [cosignatureSigner(skey, () => new Date(ms))]);
      t.is(note, `${text}\n${refCosignLine(name, seedOf(9), T, text)}`);
      const opened = await openNote(note, [
        cosignatureVerifier(refVkey(name, 0x04, refPublicKey(seedOf(9)))),
      ]);
      t.is(opened.verified.length, 1);
      t.is(cosignatureTimestamp(opened.verified[0]!.signature), T);
    }
  }
});

test('the log line and cosignature lines verify together in one openNote, each by its own key', async (t) => {
  const log = generateEd25519Key('example.com/log');
  const w1 = generateCosignatureKey('witness.example/w1');
  const w2 = generateCosignatureKey('witness.example/w2');
  const text = checkpointText(42);
  const note = await signNote(text, [
    ed25519Signer(log.skey),
    cosignatureSigner(w1.skey, () => new Date(1_700_000_000_000)),
    cosignatureSigner(w2.skey, () => new Date(1_700_000_001_000)),
  ]);
  const opened = await openNote(note, [
    ed25519Verifier(log.vkey),
    cosignatureVerifier(w1.vkey),
    cosignatureVerifier(w2.vkey),
  ]);
  t.deepEqual(
    opened.verified.map((s) => s.name),
    ['example.com/log', 'witness.example/w1', 'witness.example/w2'],
  );
  t.deepEqual(
    opened.verified.slice(1).map((s) => cosignatureTimestamp(s.signature)),
    [1_700_000_000n, 1_700_000_001n],
  );
  // Only the log key known: the cosignatures are unverified, not errors.
  const logOnly = await openNote(note, [ed25519Verifier(log.vkey)]);
  t.is(logOnly.unverified.length, 2);
  // The same Ed25519 key as a log key (type 0x01) and as a cosigner (type 0x04): domain separated.
  const seed = seedOf(4);
  const pk = refPublicKey(seed);
  const asLog = ed25519Verifier(refVkey('k.example', 0x01, pk));
  const asCosigner = cosignatureVerifier(refVkey('k.example', 0x04, pk));
  const cosigned = await signNote(text, [cosignatureSigner(refSkey('k.example', seed))]);
  await t.throwsAsync(openNote(cosigned, [asLog]), { code: 'NOTE_UNVERIFIED' });
  t.false(
    await asCosigner.verify(new TextEncoder().encode(text), refEd25519(seed, new TextEncoder().encode(text))),
  );
});

test('generateCosignatureKey: fresh keys in the documented text forms, round trip through the verifier', async (t) => {
  const { skey, vkey } = generateCosignatureKey('witness.example.com/w1');
  t.regex(skey, /^PRIVATE\+KEY\+witness\.example\.com\/w1\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}$/);
  t.regex(vkey, /^witness\.example\.com\/w1\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}$/);
  t.is(cosignatureVkeyFromSkey(skey), vkey);
  t.is(cosignatureVerifier(vkey).vkey, vkey);
  // Upper-case hex in a vkey is read (as log/note.ts does), written back in lower case.
  const upper = vkey.replace(/\+([0-9a-f]{8})\+/, (_, h: string) => `+${h.toUpperCase()}+`);
  t.is(cosignatureVerifier(upper).vkey, vkey);
  t.not(generateCosignatureKey('witness.example.com/w1').vkey, vkey);
});

test('fast-check: any checkpoint, timestamp and seed: the line equals the reference and verifies; a flipped bit never does', async (t) => {
  const name = 'w.example/p';
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.bigInt({ min: 0n, max: 8_640_000_000_000n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(fc.stringMatching(/^[a-z0-9 ./=+-]{1,20}$/), { maxLength: 3 }),
      fc.nat({ max: 8 * COSIGNATURE_V1_BYTES - 1 }),
      async (seed, T, size, root, extensions, bit) => {
        const text = formatCheckpoint({
          origin: 'o.example/log',
          treeSize: size,
          rootHash: root,
          extensions,
        });
        const skey = refSkey(name, seed);
        const note = await signNote(text, [cosignatureSigner(skey, () => new Date(Number(T) * 1000))]);
        const line = refCosignLine(name, seed, T, text);
        if (note !== `${text}\n${line}`) return false;
        const v = cosignatureVerifier(refVkey(name, 0x04, refPublicKey(seed)));
        const sig = parseNote(note).signatures[0]!.signature;
        const msg = new TextEncoder().encode(text);
        if (!(await v.verify(msg, sig))) return false;
        const bad = sig.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        return !(await v.verify(msg, bad));
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

// --- refusals ---

test('the verifier refuses: other text, other time, timestamp over 2^63-1, non-canonical time, wrong lengths, non-checkpoint text', async (t) => {
  const name = 'witness.example/w1';
  const seed = seedOf(5);
  const vkey = refVkey(name, 0x04, refPublicKey(seed));
  const text = checkpointText(10);
  const good = `${text}\n${refCosignLine(name, seed, 1000n, text)}`;
  t.is(await openCode(good, vkey), 'ok');
  // The text changed.
  t.is(
    await openCode(`${checkpointText(11)}\n${refCosignLine(name, seed, 1000n, text)}`, vkey),
    'NOTE_SIGNATURE_INVALID',
  );
  // The timestamp in the line is not the one signed.
  const other = refCosignLine(name, seed, 1001n, text, refCosignatureMessage(1000n, text));
  t.is(await openCode(`${text}\n${other}`, vkey), 'NOTE_SIGNATURE_INVALID');
  // Validly signed over a timestamp of 2^63 (MUST NOT exceed 2^63-1).
  const huge = 1n << 63n;
  t.is(await openCode(`${text}\n${refCosignLine(name, seed, huge, text)}`, vkey), 'NOTE_SIGNATURE_INVALID');
  t.is(await openCode(`${text}\n${refCosignLine(name, seed, huge - 1n, text)}`, vkey), 'ok');
  // A message whose time has a leading zero ("no leading zeroes").
  const zero = refCosignLine(name, seed, 1000n, text, refCosignatureMessage('01000', text));
  t.is(await openCode(`${text}\n${zero}`, vkey), 'NOTE_SIGNATURE_INVALID');
  // Without the header line, or with type 0x01 framing (no timestamp): not a cosignature.
  const bare = refCosignLine(name, seed, 1000n, text, Buffer.from(`time 1000\n${text}`));
  t.is(await openCode(`${text}\n${bare}`, vkey), 'NOTE_SIGNATURE_INVALID');
  const v = cosignatureVerifier(vkey);
  const msg = new TextEncoder().encode(text);
  const sig = parseNote(good).signatures[0]!.signature;
  t.true(await v.verify(msg, sig));
  t.false(await v.verify(msg, sig.subarray(0, 71)));
  t.false(await v.verify(msg, new Uint8Array([...sig, 0])));
  t.false(await v.verify(msg, sig.subarray(8))); // a bare Ed25519 signature
  // A note that is not a checkpoint, validly signed in the cosignature/v1 layout.
  for (const notCheckpoint of [
    'hello\n',
    'o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
    `${text}\n`,
  ]) {
    const line = refCosignLine(name, seed, 5n, notCheckpoint, refCosignatureMessage(5n, notCheckpoint));
    const raw = parseNote(`x\n\n${line}`).signatures[0]!.signature;
    t.false(await v.verify(new TextEncoder().encode(notCheckpoint), raw), JSON.stringify(notCheckpoint));
  }
  t.false(await v.verify(Uint8Array.of(0xff, 0x0a), sig)); // not UTF-8
});

test('keys are refused with KEY_INVALID: wrong type, key ID, name, base64, length, skey prefix', (t) => {
  const pk = refPublicKey(seedOf(1));
  const good = refVkey('w.example', 0x04, pk);
  const code = (f: () => unknown): string => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return isLogError(e) ? `${e.code}: ${e.message}` : `plain ${String(e)}`;
    }
  };
  t.is(
    code(() => cosignatureVerifier(good)),
    'ok',
  );
  // A log (type 0x01) vkey: refused, saying so.
  t.regex(
    code(() => cosignatureVerifier(refVkey('w.example', 0x01, pk))),
    /^KEY_INVALID: .*0x01 is a log key/,
  );
  t.regex(
    code(() => cosignatureVerifier(refVkey('w.example', 0x06, pk))),
    /^KEY_INVALID: .*type 0x06/,
  );
  const [name, id, data] = good.split('+') as [string, string, string];
  const wrongId = ((Number.parseInt(id, 16) ^ 1) >>> 0).toString(16).padStart(8, '0');
  for (const [what, bad] of [
    ['key ID', `${name}+${wrongId}+${data}`],
    ['short key ID', `${name}+${id.slice(1)}+${data}`],
    ['no parts', 'w.example'],
    ['empty name', `+${id}+${data}`],
    ['name with space', `w example+${id}+${data}`],
    ['not base64', `${name}+${id}+${data.slice(0, -1)}!`],
    ['base64 with a line break', `${name}+${id}+${data.slice(0, 20)}\n${data.slice(20)}`],
    ['31-byte key', `${name}+${id}+${Buffer.concat([Buffer.from([4]), pk.subarray(1)]).toString('base64')}`],
    [
      '33-byte key',
      `${name}+${id}+${Buffer.concat([Buffer.from([4]), pk, Buffer.from([0])]).toString('base64')}`,
    ],
    ['empty key', `${name}+${id}+`],
  ] as const) {
    t.regex(
      code(() => cosignatureVerifier(bad)),
      /^KEY_INVALID/,
      what,
    );
  }
  t.regex(
    code(() => cosignatureVerifier(42 as unknown as string)),
    /^KEY_INVALID/,
  );
  const skey = refSkey('w.example', seedOf(1));
  t.is(
    code(() => cosignatureSigner(skey)),
    'ok',
  );
  t.regex(
    code(() => cosignatureSigner(skey.slice('PRIVATE+KEY+'.length))),
    /^KEY_INVALID/,
  );
  t.regex(
    code(() => cosignatureSigner(good)),
    /^KEY_INVALID/,
  );
  t.regex(
    code(() => cosignatureSigner(skey.replace(id, wrongId))),
    /^KEY_INVALID/,
  );
  // A log skey (type 0x01) is not a cosigner key.
  t.regex(
    code(() => cosignatureSigner(generateEd25519Key('w.example').skey)),
    /^KEY_INVALID: .*0x01/,
  );
  t.regex(
    code(() => cosignatureVkeyFromSkey('PRIVATE+KEY+x')),
    /^KEY_INVALID/,
  );
  t.regex(
    code(() => generateCosignatureKey('a+b')),
    /^KEY_INVALID/,
  );
  t.regex(
    code(() => cosignatureKeyId('ok', new Uint8Array(31))),
    /^KEY_INVALID/,
  );
  t.regex(
    code(() => cosignatureKeyId('', pk)),
    /^KEY_INVALID/,
  );
});

test('signing refuses a text that is not a checkpoint, and clocks before 1970 or invalid', async (t) => {
  const skey = generateCosignatureKey('w.example').skey;
  for (const text of [
    'hello\n',
    'o\n1\nnot-base64\n',
    'o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
  ]) {
    await t.throwsAsync(signNote(text, [cosignatureSigner(skey)]), { code: 'CHECKPOINT_INVALID' }, text);
  }
  await t.throwsAsync(cosignatureSigner(skey).sign(Uint8Array.of(0xc3)), { code: 'CHECKPOINT_INVALID' });
  const text = checkpointText(1);
  await t.throwsAsync(signNote(text, [cosignatureSigner(skey, () => new Date(-1000))]), {
    code: 'NOTE_INVALID',
  });
  await t.throwsAsync(signNote(text, [cosignatureSigner(skey, () => new Date(Number.NaN))]), {
    code: 'NOTE_INVALID',
  });
  // -1 ms is in 1969: floor gives -1 s.
  await t.throwsAsync(signNote(text, [cosignatureSigner(skey, () => new Date(-1))]), {
    code: 'NOTE_INVALID',
  });
});

test('cosignatureMessage and cosignatureTimestamp refuse out-of-range and malformed input', (t) => {
  const text = checkpointText(1);
  t.throws(() => cosignatureMessage(-1n, text), { code: 'NOTE_INVALID' });
  t.throws(() => cosignatureMessage(1n << 63n, text), { code: 'NOTE_INVALID' });
  t.throws(() => cosignatureMessage(5 as unknown as bigint, text), { code: 'NOTE_INVALID' });
  t.notThrows(() => cosignatureMessage(MAX_COSIGNATURE_TIMESTAMP, text));
  t.throws(() => cosignatureMessage(0n, 'not a checkpoint\n'), { code: 'CHECKPOINT_INVALID' });
  t.throws(() => cosignatureTimestamp(new Uint8Array(71)), { code: 'NOTE_INVALID' });
  t.throws(() => cosignatureTimestamp(new Uint8Array(73)), { code: 'NOTE_INVALID' });
  const over = new Uint8Array(72);
  over[0] = 0x80;
  t.throws(() => cosignatureTimestamp(over), { code: 'NOTE_INVALID' });
  over[0] = 0x7f;
  over.fill(0xff, 1, 8);
  t.is(cosignatureTimestamp(over), MAX_COSIGNATURE_TIMESTAMP);
  // A subarray with an offset reads its own first 8 bytes.
  const wide = new Uint8Array(80);
  wide[8 + 7] = 42;
  t.is(cosignatureTimestamp(wide.subarray(8)), 42n);
});
