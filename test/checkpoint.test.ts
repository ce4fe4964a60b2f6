/**
 * Tests of log/checkpoint.ts: c2sp.org/tlog-checkpoint note text, strict parsing.
 *
 * The example checkpoint is the one in the c2sp.org/tlog-checkpoint specification text
 * (example.com/behind-the-sofa, size 20852163).
 */
import test from 'ava';
import fc from 'fast-check';
import { type Checkpoint, formatCheckpoint, MAX_TREE_SIZE, parseCheckpoint } from '../log/checkpoint.js';
import { LogError } from '../log/errors.js';

const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const ROOT = Uint8Array.from(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'));

test('the c2sp.org/tlog-checkpoint example parses and formats back byte for byte', (t) => {
  const c = parseCheckpoint(SPEC_TEXT);
  t.is(c.origin, 'example.com/behind-the-sofa');
  t.is(c.treeSize, 20852163n);
  t.deepEqual(c.rootHash, ROOT);
  t.deepEqual(c.extensions, []);
  t.is(formatCheckpoint(c), SPEC_TEXT);
});

test('extension lines, size 0, 2^64-1 and origins with spaces (allowed, only not recommended)', (t) => {
  const c: Checkpoint = { origin: 'my log', treeSize: 0n, rootHash: ROOT, extensions: ['ext one', '— 2'] };
  const text = formatCheckpoint(c);
  t.is(text, `my log\n0\n${Buffer.from(ROOT).toString('base64')}\next one\n— 2\n`);
  t.deepEqual(parseCheckpoint(text), c);
  const max = formatCheckpoint({ ...c, treeSize: MAX_TREE_SIZE, extensions: [] });
  t.is(max.split('\n')[1], '18446744073709551615');
  t.is(parseCheckpoint(max).treeSize, 2n ** 64n - 1n);
});

test('malformed checkpoint texts are CHECKPOINT_INVALID naming the field (table)', (t) => {
  const r = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
  const cases: [string, string, string][] = [
    // [why, text, details.field]
    ['no trailing newline', `o\n1\n${r}`, 'text'],
    ['two lines', 'o\n1\n', 'text'],
    ['empty', '', 'text'],
    ['only a newline', '\n', 'text'],
    ['empty origin', `\n1\n${r}\n`, 'origin'],
    ['CR in origin', `o\r\n1\n${r}\n`, 'origin'],
    ['tab in origin', `o\tx\n1\n${r}\n`, 'origin'],
    ['leading zero', `o\n01\n${r}\n`, 'treeSize'],
    ['double zero', `o\n00\n${r}\n`, 'treeSize'],
    ['plus sign', `o\n+1\n${r}\n`, 'treeSize'],
    ['minus sign', `o\n-1\n${r}\n`, 'treeSize'],
    ['exponent', `o\n1e3\n${r}\n`, 'treeSize'],
    ['hex', `o\n0x10\n${r}\n`, 'treeSize'],
    ['leading space', `o\n 1\n${r}\n`, 'treeSize'],
    ['trailing space', `o\n1 \n${r}\n`, 'treeSize'],
    ['empty size', `o\n\n${r}\n`, 'treeSize'],
    ['full-width digit', `o\n\uff11\n${r}\n`, 'treeSize'],
    ['2^64', `o\n18446744073709551616\n${r}\n`, 'treeSize'],
    ['decimal point', `o\n1.0\n${r}\n`, 'treeSize'],
    ['root of 31 bytes', `o\n1\n${Buffer.alloc(31, 7).toString('base64')}\n`, 'rootHash'],
    ['root of 33 bytes', `o\n1\n${Buffer.alloc(33, 7).toString('base64')}\n`, 'rootHash'],
    ['root without padding', `o\n1\n${r.slice(0, -1)}\n`, 'rootHash'],
    ['root with trailing bits set', `o\n1\n${r.slice(0, -2)}J=\n`, 'rootHash'],
    ['root in base64url', `o\n1\n${Buffer.alloc(32, 0xfb).toString('base64url')}=\n`, 'rootHash'],
    ['root in hex', `o\n1\n${'ab'.repeat(32)}\n`, 'rootHash'],
    ['empty root', 'o\n1\n\n', 'rootHash'],
    ['root with a space', `o\n1\n ${r}\n`, 'rootHash'],
    ['empty extension line', `o\n1\n${r}\n\n`, 'extension'],
    ['empty line between extensions', `o\n1\n${r}\na\n\nb\n`, 'extension'],
    ['control character in extension', `o\n1\n${r}\na\u0001\n`, 'extension'],
    ['CRLF line endings', `o\r\n1\r\n${r}\r\n`, 'origin'],
  ];
  for (const [why, text, field] of cases) {
    const e = t.throws(
      () => parseCheckpoint(text),
      { instanceOf: LogError, code: 'CHECKPOINT_INVALID' },
      why,
    );
    t.is(e?.details.field, field, why);
  }
  t.is(cases.length, 31);
  // The same good checkpoint parses: the table's inputs fail for the reason given, not by accident.
  t.notThrows(() => parseCheckpoint(`o\n1\n${r}\n`));
  t.notThrows(() => parseCheckpoint(`o\n0\n${r}\na\nb\n`));
});

test('formatCheckpoint refuses checkpoints that would not parse back (CHECKPOINT_INVALID)', (t) => {
  const good: Checkpoint = { origin: 'o', treeSize: 1n, rootHash: ROOT, extensions: [] };
  t.notThrows(() => formatCheckpoint(good));
  const bad: [string, Checkpoint][] = [
    ['empty origin', { ...good, origin: '' }],
    ['newline in origin', { ...good, origin: 'a\nb' }],
    ['control character in origin', { ...good, origin: 'a\u0000' }],
    ['negative size', { ...good, treeSize: -1n }],
    ['2^64', { ...good, treeSize: 2n ** 64n }],
    ['number size', { ...good, treeSize: 1 as unknown as bigint }],
    ['31-byte root', { ...good, rootHash: ROOT.subarray(1) }],
    ['33-byte root', { ...good, rootHash: new Uint8Array(33) }],
    ['empty extension', { ...good, extensions: [''] }],
    ['newline in extension', { ...good, extensions: ['a\nb'] }],
  ];
  for (const [why, c] of bad) {
    t.throws(() => formatCheckpoint(c), { instanceOf: LogError, code: 'CHECKPOINT_INVALID' }, why);
  }
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: generator filter
const LINE_OK = /^[^\u0000-\u001f]+$/u;
const line = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => LINE_OK.test(s));
const checkpointArb = fc.record({
  origin: line,
  treeSize: fc.oneof(fc.bigInt({ min: 0n, max: MAX_TREE_SIZE }), fc.constantFrom(0n, 1n, MAX_TREE_SIZE)),
  rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(line, { maxLength: 4 }),
});

test('property: parseCheckpoint(formatCheckpoint(c)) == c and formatting the parse gives the text back', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(checkpointArb, (c) => {
        const text = formatCheckpoint(c);
        const back = parseCheckpoint(text);
        return (
          back.origin === c.origin &&
          back.treeSize === c.treeSize &&
          Buffer.from(back.rootHash).equals(Buffer.from(c.rootHash)) &&
          JSON.stringify(back.extensions) === JSON.stringify(c.extensions) &&
          formatCheckpoint(back) === text
        );
      }),
      { numRuns: 500 },
    ),
  );
});

test('property: junk and mutated checkpoints throw only CHECKPOINT_INVALID (never crash)', (t) => {
  const mutated = fc
    .tuple(
      fc.nat({ max: SPEC_TEXT.length }),
      fc.nat({ max: SPEC_TEXT.length }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    )
    .map(([i, j, ins]) => SPEC_TEXT.slice(0, Math.min(i, j)) + ins + SPEC_TEXT.slice(Math.max(i, j)));
  let accepted = 0;
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), mutated), (text) => {
        try {
          const c = parseCheckpoint(text);
          // Whatever parses is canonical: it formats back to exactly the input.
          if (formatCheckpoint(c) !== text)
            throw new Error(`non-canonical text accepted: ${JSON.stringify(text)}`);
          accepted++;
        } catch (e) {
          if (!(e instanceof LogError) || e.code !== 'CHECKPOINT_INVALID') throw e;
        }
      }),
      { numRuns: 1000 },
    ),
  );
  t.true(accepted < 1000);
});
