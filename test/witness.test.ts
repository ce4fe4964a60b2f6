/**
 * Tests of log/witness.ts: c2sp.org/tlog-witness add-checkpoint bodies and the witness's decision.
 *
 * External examples first: the example request and response bodies of C2SP/C2SP tlog-witness.md
 * ("add-checkpoint"), quoted below, parse and format back byte for byte. Then every status the spec
 * names, each on real trees (test/reference.ts leafHashesFor, an honest log and one that forks after
 * FORK_AT leaves), real Ed25519 log keys and real cosignatures; every parse refusal; and fast-check:
 * bodies round-trip, and decideAddCheckpoint agrees with test/witness-reference.ts refDecide (the
 * spec's rules in order, deciding proofs by RFC 6962 PROOF over trees the test knows) on random
 * states and requests, including a simulated witness that keeps the state it is told to.
 */
import test from 'ava';
import fc from 'fast-check';
import { base64Encode } from '../log/bytes.js';
import { type Checkpoint, formatCheckpoint } from '../log/checkpoint.js';
import {
  cosignatureSigner,
  cosignatureTimestamp,
  cosignatureVerifier,
  generateCosignatureKey,
} from '../log/cosignature.js';
import { isLogError } from '../log/errors.js';
import { emptyRoot } from '../log/hash.js';
import {
  ed25519Signer,
  ed25519Verifier,
  formatNote,
  generateEd25519Key,
  openNote,
  parseNote,
  signNote,
} from '../log/note.js';
import { proveConsistency } from '../log/proof.js';
import {
  type AddCheckpointOutcome,
  type CosignedTree,
  cosignCheckpoint,
  decideAddCheckpoint,
  formatAddCheckpointRequest,
  formatAddCheckpointResponse,
  formatTreeSizeBody,
  MAX_ADD_CHECKPOINT_BYTES,
  MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
  MAX_CONSISTENCY_PROOF_LINES,
  parseAddCheckpointRequest,
  parseAddCheckpointResponse,
  parseTreeSizeBody,
  TREE_SIZE_CONTENT_TYPE,
  type WitnessedLog,
} from '../log/witness.js';
import { leafHashesFor, nodeReader, refMth, refProof } from './reference.js';
import { type RefRequest, type RefState, refDecide } from './witness-reference.js';

// Quoted from C2SP/C2SP tlog-witness.md, "add-checkpoint": the example request body.
const SPEC_REQUEST = `old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
`;
// Quoted from C2SP/C2SP tlog-witness.md, "add-checkpoint": the example response body.
const SPEC_RESPONSE = `— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==
— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==
— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==
`;

const ORIGIN = 'example.com/witnessed';
const N = 24;
const FORK_AT = 9;
const honest = leafHashesFor(N, 11);
const forked = [...honest.slice(0, FORK_AT), ...leafHashesFor(N, 12).slice(FORK_AT)];
const logKey = generateEd25519Key(ORIGIN);
const strangerKey = generateEd25519Key(ORIGIN); // same name, another key: an unknown key
const LOG: WitnessedLog = { origin: ORIGIN, verifiers: [ed25519Verifier(logKey.vkey)] };

function checkpointOf(
  leaves: readonly Uint8Array[],
  size: number,
  root?: Uint8Array,
  extensions: string[] = [],
) {
  const c: Checkpoint = {
    origin: ORIGIN,
    treeSize: BigInt(size),
    rootHash: root ?? refMth(leaves.slice(0, size)),
    extensions,
  };
  return formatCheckpoint(c);
}

/**
 * A signed checkpoint: by the log's key ('good'), only a stranger's ('none'), or the log's with a flipped
 * bit ('bad').
 */
async function signed(text: string, signature: 'good' | 'none' | 'bad' = 'good'): Promise<string> {
  const note = await signNote(text, [ed25519Signer(signature === 'none' ? strangerKey.skey : logKey.skey)]);
  if (signature !== 'bad') return note;
  const parsed = parseNote(note);
  const sig = parsed.signatures[0]!;
  const bad = sig.signature.slice();
  bad[5]! ^= 0x10;
  return formatNote({ text: parsed.text, signatures: [{ ...sig, signature: bad }] });
}

function proof(leaves: readonly Uint8Array[], m: number, n: number): Promise<Uint8Array[]> {
  return proveConsistency(BigInt(m), BigInt(n), nodeReader(leaves));
}

function tree(leaves: readonly Uint8Array[], size: number): CosignedTree {
  return { treeSize: BigInt(size), rootHash: refMth(leaves.slice(0, size)) };
}

/** Formats, parses and decides a request (every request here goes through the body format). */
async function decide(
  req: { oldSize: number; proof: Uint8Array[]; note: string },
  state: CosignedTree | undefined,
  log: WitnessedLog | null = LOG, // null: no log configured for the origin
): Promise<AddCheckpointOutcome> {
  const body = formatAddCheckpointRequest({
    oldSize: BigInt(req.oldSize),
    consistencyProof: req.proof,
    signedCheckpoint: req.note,
  });
  return decideAddCheckpoint(parseAddCheckpointRequest(body), log ?? undefined, state);
}

/** `status reason` or `status` of an outcome, for compact assertions. */
function summary(o: AddCheckpointOutcome): string {
  if (o.verdict === 'refuse') return `${o.status} ${o.reason}`;
  if (o.verdict === 'conflict') return `409 ${o.treeSize}`;
  return `200 ${o.judgement}`;
}

function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return isLogError(e) ? `${e.code} ${String(e.details.part ?? '')}`.trim() : `plain ${String(e)}`;
  }
}

// --- the spec's examples ---

test('spec example request (tlog-witness.md): parses to its parts and formats back byte for byte', (t) => {
  const r = parseAddCheckpointRequest(SPEC_REQUEST);
  t.is(r.oldSize, 20852014n);
  t.is(r.origin, 'example.com/behind-the-sofa');
  t.deepEqual(
    r.consistencyProof.map((h) => base64Encode(h)),
    SPEC_REQUEST.split('\n').slice(1, 5),
  );
  t.is(r.signedCheckpoint, SPEC_REQUEST.slice(SPEC_REQUEST.indexOf('\n\n') + 2));
  t.is(parseNote(r.signedCheckpoint).signatures.length, 2);
  t.is(formatAddCheckpointRequest(r), SPEC_REQUEST);
  t.deepEqual(parseAddCheckpointRequest(new TextEncoder().encode(SPEC_REQUEST)), r);
});

test('spec example response (tlog-witness.md): three signature lines, formatted back byte for byte', (t) => {
  const sigs = parseAddCheckpointResponse(SPEC_RESPONSE);
  t.deepEqual(
    sigs.map((s) => s.name),
    ['witness.example/w1', 'witness.example/w1', 'witness.example/w2'],
  );
  t.is(formatAddCheckpointResponse(sigs), SPEC_RESPONSE);
  // The spec's way to read it: append it to the checkpoint that was sent, then open the note.
  const note = parseNote(`${parseAddCheckpointRequest(SPEC_REQUEST).signedCheckpoint}${SPEC_RESPONSE}`);
  t.is(note.signatures.length, 5);
});

test('the 409 body (text/x.tlog.size): the size in decimal and a newline', (t) => {
  t.is(TREE_SIZE_CONTENT_TYPE, 'text/x.tlog.size');
  t.is(formatTreeSizeBody(20852163n), '20852163\n');
  t.is(formatTreeSizeBody(0n), '0\n');
  t.is(parseTreeSizeBody('20852163\n'), 20852163n);
  t.is(parseTreeSizeBody(new TextEncoder().encode('18446744073709551615\n')), (1n << 64n) - 1n);
  for (const bad of [
    '5',
    '05\n',
    '-1\n',
    '+1\n',
    '5\n\n',
    ' 5\n',
    '5 \n',
    '18446744073709551616\n',
    '',
    '\n',
    '5\r\n',
    'x\n',
  ]) {
    t.is(
      code(() => parseTreeSizeBody(bad)),
      'WITNESS_RESPONSE_INVALID size',
      JSON.stringify(bad),
    );
  }
  t.is(
    code(() => parseTreeSizeBody('1'.repeat(40))),
    'WITNESS_RESPONSE_INVALID size',
  );
  t.is(
    code(() => formatTreeSizeBody(-1n)),
    'WITNESS_RESPONSE_INVALID size',
  );
  t.is(
    code(() => formatTreeSizeBody(1n << 64n)),
    'WITNESS_RESPONSE_INVALID size',
  );
});

// --- every status ---

test('404: an origin no log is configured for, whatever else is wrong', async (t) => {
  const note = await signed(checkpointOf(honest, 5), 'bad');
  t.is(summary(await decide({ oldSize: 9, proof: [], note }, undefined, null)), '404 unknown-origin');
});

test('403: no signature by a trusted key; a trusted key line that fails; checked before sizes', async (t) => {
  const text = checkpointOf(honest, 5);
  t.is(
    summary(await decide({ oldSize: 0, proof: [], note: await signed(text, 'none') }, undefined)),
    '403 unverified',
  );
  t.is(
    summary(await decide({ oldSize: 9, proof: [], note: await signed(text, 'bad') }, undefined)),
    '403 signature-invalid',
  );
  // A stranger's line beside the log's good one is ignored.
  const both = await signNote(text, [ed25519Signer(strangerKey.skey), ed25519Signer(logKey.skey)]);
  t.is(summary(await decide({ oldSize: 0, proof: [], note: both }, undefined)), '200 consistent');
  // A log with no keys at all trusts nothing.
  t.is(
    summary(
      await decide({ oldSize: 0, proof: [], note: both }, undefined, { origin: ORIGIN, verifiers: [] }),
    ),
    '403 unverified',
  );
});

test('400: the old size is larger than the checkpoint size (before the 409 check)', async (t) => {
  const note = await signed(checkpointOf(honest, 5));
  t.is(summary(await decide({ oldSize: 6, proof: [], note }, tree(honest, 7))), '400 old-size-too-large');
});

test('409: the old size is not the cosigned size (zero when there is none); the answer carries it', async (t) => {
  const note = await signed(checkpointOf(honest, 10));
  t.is(summary(await decide({ oldSize: 3, proof: await proof(honest, 3, 10), note }, undefined)), '409 0');
  t.is(summary(await decide({ oldSize: 0, proof: [], note }, tree(honest, 4))), '409 4');
  t.is(
    summary(await decide({ oldSize: 5, proof: await proof(honest, 5, 10), note }, tree(honest, 4))),
    '409 4',
  );
  const o = await decide({ oldSize: 0, proof: [], note }, tree(honest, 4));
  t.is(o.verdict === 'conflict' && formatTreeSizeBody(o.treeSize), '4\n');
});

test('422: a size-0 checkpoint whose root is not SHA-256(""); the empty tree itself is cosigned', async (t) => {
  const bad = await signed(checkpointOf(honest, 0, new Uint8Array(32)));
  t.is(summary(await decide({ oldSize: 0, proof: [], note: bad }, undefined)), '422 empty-tree-root');
  t.is(summary(await decide({ oldSize: 0, proof: [], note: bad }, tree(honest, 0))), '422 empty-tree-root');
  const good = await signed(checkpointOf(honest, 0));
  t.is(summary(await decide({ oldSize: 0, proof: [], note: good }, undefined)), '200 same');
  t.is(summary(await decide({ oldSize: 0, proof: [], note: good }, tree(honest, 0))), '200 same');
});

test('422: a proof where none can be: from old size 0, or between equal sizes', async (t) => {
  const note = await signed(checkpointOf(honest, 10));
  const p = await proof(honest, 3, 10);
  t.is(summary(await decide({ oldSize: 0, proof: p, note }, undefined)), '422 proof-not-empty');
  t.is(summary(await decide({ oldSize: 10, proof: p, note }, tree(honest, 10))), '422 proof-not-empty');
  const empty = await signed(checkpointOf(honest, 0));
  t.is(
    summary(await decide({ oldSize: 0, proof: [honest[0]!], note: empty }, undefined)),
    '422 proof-not-empty',
  );
});

test('422: a consistency proof that does not verify; every flipped bit, a short and a long proof', async (t) => {
  const note = await signed(checkpointOf(honest, 19));
  const good = await proof(honest, 6, 19);
  t.is(summary(await decide({ oldSize: 6, proof: good, note }, tree(honest, 6))), '200 consistent');
  for (let i = 0; i < good.length; i++) {
    for (const bit of [0, 255]) {
      const bad = good.map((h) => h.slice());
      bad[i]![bit >> 3]! ^= 1 << (bit & 7);
      t.is(
        summary(await decide({ oldSize: 6, proof: bad, note }, tree(honest, 6))),
        '422 proof-invalid',
        `${i}/${bit}`,
      );
    }
  }
  t.is(
    summary(await decide({ oldSize: 6, proof: good.slice(1), note }, tree(honest, 6))),
    '422 proof-invalid',
  );
  t.is(
    summary(await decide({ oldSize: 6, proof: [...good, good[0]!], note }, tree(honest, 6))),
    '422 proof-invalid',
  );
  t.is(summary(await decide({ oldSize: 6, proof: [], note }, tree(honest, 6))), '422 proof-invalid');
});

test('422: the cosigned size again with another root; a fork after the cosigned size fails its proof', async (t) => {
  // Both branches agree on FORK_AT leaves: the forked log's own proofs are right, but not from the
  // honest tree.
  const sameSize = await decide(
    { oldSize: 15, proof: [], note: await signed(checkpointOf(forked, 15)) },
    tree(honest, 15),
  );
  t.is(summary(sameSize), '422 root-mismatch');
  t.true(sameSize.verdict === 'refuse' && sameSize.judgement?.verdict === 'fork');
  const grown = await decide(
    { oldSize: 12, proof: await proof(forked, 12, 20), note: await signed(checkpointOf(forked, 20)) },
    tree(honest, 12),
  );
  t.is(summary(grown), '422 proof-invalid');
  t.true(
    grown.verdict === 'refuse' &&
      grown.judgement?.verdict === 'fork' &&
      grown.judgement.reason === 'proof-invalid',
  );
  // Up to FORK_AT the two logs are one: the witness cannot tell, and cosigns.
  const shared = await decide(
    {
      oldSize: FORK_AT,
      proof: await proof(forked, FORK_AT, 20),
      note: await signed(checkpointOf(forked, 20)),
    },
    tree(honest, FORK_AT),
  );
  t.is(summary(shared), '200 consistent');
});

test('200: the same checkpoint again (re-cosigned), a grown tree; the answer verifies with the witness key', async (t) => {
  const w = generateCosignatureKey('witness.example/w1');
  const text = checkpointOf(honest, 12, undefined, ['extension line']);
  const note = await signed(text);
  const o = await decide({ oldSize: 7, proof: await proof(honest, 7, 12), note }, tree(honest, 7));
  t.is(summary(o), '200 consistent');
  if (o.verdict !== 'cosign') return;
  t.is(o.text, text);
  t.is(o.checkpoint.treeSize, 12n);
  t.deepEqual(o.checkpoint.extensions, ['extension line']);
  t.deepEqual(
    o.logSignatures.map((s) => s.name),
    [ORIGIN],
  );
  const body = await cosignCheckpoint(o.text, [cosignatureSigner(w.skey, () => new Date(1_700_000_000_000))]);
  t.regex(body, /^— witness\.example\/w1 [A-Za-z0-9+/]{102}==\n$/);
  t.is(parseAddCheckpointResponse(body).length, 1);
  const opened = await openNote(`${note}${body}`, [
    ed25519Verifier(logKey.vkey),
    cosignatureVerifier(w.vkey),
  ]);
  t.is(opened.verified.length, 2);
  t.is(cosignatureTimestamp(opened.verified[1]!.signature), 1_700_000_000n);
  // The same tree again, re-signed by the log: cosigned again.
  t.is(
    summary(await decide({ oldSize: 12, proof: [], note: await signed(text) }, tree(honest, 12))),
    '200 same',
  );
  // Another cosigner's key is not this witness's: ignored by the client.
  await t.throwsAsync(
    openNote(`${text}\n${body}`, [cosignatureVerifier(generateCosignatureKey('witness.example/w1').vkey)]),
    {
      code: 'NOTE_UNVERIFIED',
    },
  );
});

test("the caller's bugs throw: log of another origin, malformed state, ambiguous log keys", async (t) => {
  const note = await signed(checkpointOf(honest, 5));
  const req = parseAddCheckpointRequest(
    formatAddCheckpointRequest({ oldSize: 0n, consistencyProof: [], signedCheckpoint: note }),
  );
  await t.throwsAsync(
    decideAddCheckpoint(req, { origin: 'other.example/log', verifiers: LOG.verifiers }, undefined),
    {
      instanceOf: Error,
      message: /another|request is for/,
    },
  );
  for (const bad of [
    { treeSize: 5, rootHash: new Uint8Array(32) },
    { treeSize: -1n, rootHash: new Uint8Array(32) },
    { treeSize: 1n << 64n, rootHash: new Uint8Array(32) },
    { treeSize: 5n, rootHash: new Uint8Array(31) },
    { treeSize: 0n, rootHash: new Uint8Array(32) },
  ]) {
    const e = await t.throwsAsync(decideAddCheckpoint(req, LOG, bad as unknown as CosignedTree));
    t.false(
      isLogError(e),
      JSON.stringify(bad, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
    );
  }
  // A request made by hand whose origin is not its checkpoint's.
  const other = generateEd25519Key('other.example/log');
  const otherNote = await signNote(
    formatCheckpoint({ origin: 'other.example/log', treeSize: 1n, rootHash: honest[0]!, extensions: [] }),
    [ed25519Signer(other.skey)],
  );
  await t.throwsAsync(
    decideAddCheckpoint(
      { ...req, signedCheckpoint: otherNote },
      { origin: ORIGIN, verifiers: [ed25519Verifier(other.vkey)] },
      undefined,
    ),
    { instanceOf: Error, message: /is not the checkpoint's/ },
  );
  const twice = { origin: ORIGIN, verifiers: [ed25519Verifier(logKey.vkey), ed25519Verifier(logKey.vkey)] };
  await t.throwsAsync(decideAddCheckpoint(req, twice, undefined), { code: 'KEY_INVALID' });
});

// --- parse refusals ---

test('request bodies are refused with WITNESS_REQUEST_INVALID naming the part', async (t) => {
  const note = await signed(checkpointOf(honest, 5));
  const h = base64Encode(honest[0]!);
  const ok = `old 3\n${h}\n\n${note}`;
  t.is(
    code(() => parseAddCheckpointRequest(ok)),
    'ok',
  );
  const cases: [string, string, string][] = [
    ['no empty line', `old 3\n${h}\n${note}`.replace(/\n\n/g, '\n'), 'body'],
    ['empty body', '', 'body'],
    ['starts with an empty line', `\nold 0\n\n${note}`, 'old'],
    ['two spaces', `old  3\n\n${note}`, 'old'],
    ['leading zero', `old 03\n\n${note}`, 'old'],
    ['negative', `old -3\n\n${note}`, 'old'],
    ['plus sign', `old +3\n\n${note}`, 'old'],
    ['hex', `old 0x3\n\n${note}`, 'old'],
    ['trailing space', `old 3 \n\n${note}`, 'old'],
    ['capital', `Old 3\n\n${note}`, 'old'],
    ['CRLF', `old 3\r\n\r\n${note}`, 'old'],
    ['2^64', `old 18446744073709551616\n\n${note}`, 'old'],
    ['no number', `old\n\n${note}`, 'old'],
    ['missing old line', `${h}\n\n${note}`, 'old'],
    ['64 proof lines', `old 3\n${`${h}\n`.repeat(64)}\n${note}`, 'proof'],
    ['proof not base64', `old 3\n${h.slice(0, -2)}!=\n\n${note}`, 'proof'],
    ['proof 31 bytes', `old 3\n${base64Encode(new Uint8Array(31))}\n\n${note}`, 'proof'],
    ['proof 33 bytes', `old 3\n${base64Encode(new Uint8Array(33))}\n\n${note}`, 'proof'],
    ['proof unpadded', `old 3\n${h.replace(/=$/, '')}\n\n${note}`, 'proof'],
    ['proof trailing space', `old 3\n${h} \n\n${note}`, 'proof'],
    ['proof hex', `old 3\n${Buffer.from(honest[0]!).toString('hex')}\n\n${note}`, 'proof'],
    ['unsigned checkpoint', `old 3\n\n${checkpointOf(honest, 5)}`, 'checkpoint'],
    ['note without final newline', `old 3\n\n${note.slice(0, -1)}`, 'checkpoint'],
    ['not a checkpoint', `old 3\n\n${await signNote('hello\n', [ed25519Signer(logKey.skey)])}`, 'checkpoint'],
    ['size with leading zero', `old 3\n\n${note.replace('\n5\n', '\n05\n')}`, 'checkpoint'],
    ['nothing after the empty line', 'old 3\n\n', 'checkpoint'],
    ['control character', `old 3\n\n${note.replace('\n5\n', '\n5\t\n')}`, 'checkpoint'],
  ];
  for (const [what, body, part] of cases) {
    t.is(
      code(() => parseAddCheckpointRequest(body)),
      `WITNESS_REQUEST_INVALID ${part}`,
      what,
    );
  }
  // 63 proof lines are allowed.
  t.is(
    code(() => parseAddCheckpointRequest(`old 3\n${`${h}\n`.repeat(MAX_CONSISTENCY_PROOF_LINES)}\n${note}`)),
    'ok',
  );
  // Size, UTF-8, Unicode.
  const big = `old 3\n\n${note.replace('\n\n', `\n${'x'.repeat(MAX_ADD_CHECKPOINT_BYTES)}\n\n`)}`;
  t.is(
    code(() => parseAddCheckpointRequest(big)),
    'WITNESS_REQUEST_INVALID body',
  );
  t.is(
    code(() => parseAddCheckpointRequest(new TextEncoder().encode(big))),
    'WITNESS_REQUEST_INVALID body',
  );
  t.is(
    code(() => parseAddCheckpointRequest(Uint8Array.of(0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff))),
    'WITNESS_REQUEST_INVALID body',
  );
  t.is(
    code(() => parseAddCheckpointRequest(`old 3\n\n${note.replace(ORIGIN, `${ORIGIN}\ud800`)}`)),
    'WITNESS_REQUEST_INVALID body',
  );
  t.is(
    code(() => parseAddCheckpointRequest(42 as unknown as string)),
    'WITNESS_REQUEST_INVALID body',
  );
});

test('formatAddCheckpointRequest refuses what the parser would', async (t) => {
  const note = await signed(checkpointOf(honest, 5));
  const ok = { oldSize: 3n, consistencyProof: [honest[0]!], signedCheckpoint: note };
  t.is(
    code(() => formatAddCheckpointRequest(ok)),
    'ok',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, oldSize: -1n })),
    'WITNESS_REQUEST_INVALID old',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, oldSize: 1n << 64n })),
    'WITNESS_REQUEST_INVALID old',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, oldSize: 3 as unknown as bigint })),
    'WITNESS_REQUEST_INVALID old',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, consistencyProof: [new Uint8Array(31)] })),
    'WITNESS_REQUEST_INVALID proof',
  );
  const many = Array.from({ length: 64 }, () => honest[0]!);
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, consistencyProof: many })),
    'WITNESS_REQUEST_INVALID proof',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, signedCheckpoint: checkpointOf(honest, 5) })),
    'WITNESS_REQUEST_INVALID checkpoint',
  );
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, signedCheckpoint: 5 as unknown as string })),
    'WITNESS_REQUEST_INVALID checkpoint',
  );
  const long = await signed(checkpointOf(honest, 5, undefined, ['x'.repeat(MAX_ADD_CHECKPOINT_BYTES)]));
  t.is(
    code(() => formatAddCheckpointRequest({ ...ok, signedCheckpoint: long })),
    'WITNESS_REQUEST_INVALID body',
  );
});

test('response bodies are refused with WITNESS_RESPONSE_INVALID; formatting refuses like formatNote', (t) => {
  const line = SPEC_RESPONSE.split('\n')[0]!;
  for (const [what, body] of [
    ['empty', ''],
    ['only a newline', '\n'],
    ['leading empty line', `\n${line}\n`],
    ['empty line between', `${line}\n\n${line}\n`],
    ['no final newline', line],
    ['hyphen instead of em dash', `${line.replace('—', '-')}\n`],
    ['no signature', '— witness.example/w1\n'],
    ['bad base64', `${line.slice(0, -3)}!==\n`],
    ['short signature', '— witness.example/w1 AAAA\n'],
    ['101 lines', `${line}\n`.repeat(101)],
    ['too large', `${line}\n`.repeat(Math.ceil(MAX_ADD_CHECKPOINT_RESPONSE_BYTES / line.length) + 1)],
    ['CRLF', `${line}\r\n`],
  ]) {
    t.true(code(() => parseAddCheckpointResponse(body!)).startsWith('WITNESS_RESPONSE_INVALID'), what);
  }
  t.is(parseAddCheckpointResponse(`${line}\n`.repeat(100)).length, 100);
  t.throws(() => formatAddCheckpointResponse([]), { code: 'NOTE_INVALID' });
  t.throws(() => formatAddCheckpointResponse([{ name: 'a b', keyId: 1, signature: Uint8Array.of(1) }]), {
    code: 'NOTE_INVALID',
  });
});

// --- fast-check ---

const arbCheckpointNote = fc
  .record({
    size: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    extensions: fc.array(fc.stringMatching(/^[ -~]{1,30}$/), { maxLength: 2 }),
    sigs: fc.array(
      fc.record({
        name: fc.stringMatching(/^[a-z0-9./-]{1,20}$/),
        keyId: fc.nat({ max: 0xffffffff }),
        signature: fc.uint8Array({ minLength: 1, maxLength: 80 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ size, root, extensions, sigs }) =>
    formatNote({
      text: formatCheckpoint({ origin: 'o.example/log', treeSize: size, rootHash: root, extensions }),
      signatures: sigs,
    }),
  );

test('fast-check: request and response bodies round-trip through format and parse', (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: MAX_CONSISTENCY_PROOF_LINES }),
      arbCheckpointNote,
      (oldSize, consistencyProof, signedCheckpoint) => {
        const body = formatAddCheckpointRequest({ oldSize, consistencyProof, signedCheckpoint });
        const r = parseAddCheckpointRequest(body);
        t.deepEqual(r, { oldSize, consistencyProof, signedCheckpoint, origin: 'o.example/log' });
        t.is(formatAddCheckpointRequest(r), body);
        const sigs = parseNote(signedCheckpoint).signatures;
        t.deepEqual(parseAddCheckpointResponse(formatAddCheckpointResponse(sigs)), sigs);
        t.is(parseTreeSizeBody(formatTreeSizeBody(oldSize)), oldSize);
      },
    ),
    { numRuns: 200 },
  );
});

test('fast-check: a request body with one byte changed is parsed the same, or refused with WITNESS_REQUEST_INVALID', async (t) => {
  const body = formatAddCheckpointRequest({
    oldSize: 6n,
    consistencyProof: await proof(honest, 6, 19),
    signedCheckpoint: await signed(checkpointOf(honest, 19)),
  });
  const bytes = new TextEncoder().encode(body);
  fc.assert(
    fc.property(fc.nat({ max: bytes.length - 1 }), fc.nat({ max: 255 }), (i, x) => {
      const b = bytes.slice();
      b[i] = x;
      try {
        parseAddCheckpointRequest(b);
      } catch (e) {
        return isLogError(e, 'WITNESS_REQUEST_INVALID');
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

/** A random model scenario: a state, a request, and how its proof is made. */
const arbScenario = fc.record({
  stateKind: fc.constantFrom('none', 'honest', 'forked'),
  stateSize: fc.nat({ max: N }),
  unknownOrigin: fc.nat({ max: 19 }),
  signature: fc.constantFrom('good', 'good', 'good', 'good', 'none', 'bad'),
  treeKind: fc.constantFrom('honest', 'forked'),
  size: fc.nat({ max: N }),
  oldKind: fc.constantFrom('stored', 'stored', 'stored', 'zero', 'size', 'random'),
  oldRandom: fc.nat({ max: N + 2 }),
  lie: fc.nat({ max: 9 }),
  proofKind: fc.constantFrom('right', 'right', 'right', 'empty', 'other', 'flip', 'short', 'long'),
});

test('fast-check: decideAddCheckpoint agrees with the reference (refDecide) on random states and requests', async (t) => {
  const trees = { honest, forked };
  const statuses = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(arbScenario, async (s) => {
      const state: RefState =
        s.stateKind === 'none'
          ? undefined
          : { tree: trees[s.stateKind as 'honest' | 'forked'], size: s.stateSize };
      const leaves = trees[s.treeKind as 'honest' | 'forked'];
      const stored = state?.size ?? 0;
      const oldSize = { stored, zero: 0, size: s.size, random: s.oldRandom }[s.oldKind as 'stored']!;
      const root = s.lie === 0 ? new Uint8Array(32).fill(9) : undefined;
      const other = leaves === honest ? forked : honest;
      const inRange = oldSize > 0 && oldSize < s.size;
      const right = inRange ? refProof(oldSize, leaves.slice(0, s.size)) : [];
      const proofOf = {
        right,
        empty: [],
        other: inRange ? refProof(oldSize, other.slice(0, s.size)) : [honest[1]!],
        flip:
          right.length > 0
            ? right.map((h, i) => (i === right.length - 1 ? h.map((x, j) => (j === 0 ? x ^ 1 : x)) : h))
            : [honest[2]!],
        short: right.slice(1),
        long: [...right, honest[3]!],
      }[s.proofKind as 'right']!;
      const req: RefRequest = {
        originKnown: s.unknownOrigin !== 0,
        signature: s.signature as 'good',
        oldSize,
        tree: leaves,
        size: s.size,
        ...(root ? { root } : {}),
        proof: proofOf,
      };
      const want = refDecide(req, state);
      const note = await signed(checkpointOf(leaves, s.size, root), req.signature);
      const cosigned = state === undefined ? undefined : tree(state.tree, state.size);
      const got = await decide({ oldSize, proof: proofOf, note }, cosigned, req.originKnown ? LOG : null);
      const key = `${got.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (got.status !== want.status) return false;
      if (got.verdict === 'conflict') return got.treeSize === BigInt(want.size!);
      if (got.verdict === 'cosign') return got.checkpoint.treeSize === BigInt(s.size);
      return true;
    }),
    { numRuns: 400 },
  );
  // Every status was reached, so the agreement is not vacuous.
  t.deepEqual([...statuses.keys()].sort(), ['200', '400', '403', '404', '409', '422']);
});

test('fast-check: a simulated witness that keeps what it cosigns never cosigns two trees of one size, nor a smaller tree', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ fork: fc.boolean(), size: fc.nat({ max: N }), resync: fc.boolean() }), {
        minLength: 1,
        maxLength: 12,
      }),
      async (steps) => {
        let state: CosignedTree | undefined;
        const cosigned = new Map<bigint, string>();
        let largest = -1n;
        for (const step of steps) {
          const leaves = step.fork ? forked : honest;
          // A client that knows the witness's size (after a 409 resync) or always says 0.
          const old = step.resync ? Number(state?.treeSize ?? 0n) : 0;
          const p = old > 0 && old < step.size ? await proof(leaves, old, step.size) : [];
          const o = await decide(
            { oldSize: old, proof: p, note: await signed(checkpointOf(leaves, step.size)) },
            state,
          );
          if (o.verdict !== 'cosign') continue;
          const root = base64Encode(o.checkpoint.rootHash);
          const seen = cosigned.get(o.checkpoint.treeSize);
          if (seen !== undefined && seen !== root) return false;
          if (o.checkpoint.treeSize < largest) return false;
          cosigned.set(o.checkpoint.treeSize, root);
          largest = o.checkpoint.treeSize;
          state = { treeSize: o.checkpoint.treeSize, rootHash: o.checkpoint.rootHash };
        }
        // The empty root is what a size-0 state holds.
        return (
          state === undefined ||
          state.treeSize !== 0n ||
          base64Encode(state.rootHash) === base64Encode(emptyRoot())
        );
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});
