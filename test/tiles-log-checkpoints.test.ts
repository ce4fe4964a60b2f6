/**
 * The checkpoints of the tessera test log (../shared/vectors/tlog-tiles-log/, from transparency-dev/
 * tessera testdata/log, Apache-2.0; see the vectors README): every `checkpoint` and `checkpoint.N` is a
 * signed note that must open with the log's verifier key, parse as a c2sp.org/tlog-checkpoint of size N,
 * have the RFC 6962 root of the first N entries, and re-sign byte for byte with the log's signer key
 * (Ed25519 is deterministic).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { parseCheckpoint } from '../log/checkpoint.js';
import { ed25519Signer, ed25519Verifier, openNote, signNote, vkeyFromSkey } from '../log/note.js';
import { vectorPath } from './helpers/vectors.js';

// From ../shared/vectors/README.md (tessera's test log keys).
const SKEY = 'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg';
const VKEY = 'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx';
// The log's entries, in order (README).
const WORDS = 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(
  ' ',
);

/** RFC 6962 §2.1 Merkle tree hash, recursive, with node:crypto: independent of log/. */
function mth(leaves: Uint8Array[]): Buffer {
  const sha = (...parts: Uint8Array[]) => {
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(Uint8Array.of(0), leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Uint8Array.of(1), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

const dir = vectorPath('tlog-tiles-log');
if (dir === undefined) {
  test.skip('tessera test log checkpoints (../shared/vectors missing)', () => {});
} else {
  const files = readdirSync(dir)
    .filter((f) => /^checkpoint(\.\d+)?$/.test(f))
    .sort();
  test(`tessera test log: all ${files.length} checkpoint files open, parse, match their entries and re-sign byte for byte`, async (t) => {
    t.is(files.length, 17); // checkpoint and checkpoint.0 .. checkpoint.15
    t.is(vkeyFromSkey(SKEY), VKEY);
    const verifier = ed25519Verifier(VKEY);
    const signer = ed25519Signer(SKEY);
    const entries = WORDS.map((w) => new TextEncoder().encode(w));
    const latest = readFileSync(join(dir, 'checkpoint'), 'utf8');
    for (const f of files) {
      const note = readFileSync(join(dir, f), 'utf8');
      const opened = await openNote(note, [verifier]);
      t.is(opened.verified.length, 1, f);
      t.is(opened.unverified.length, 0, f);
      const c = parseCheckpoint(opened.text);
      t.is(c.origin, 'example.com/log/testdata', f);
      t.deepEqual(c.extensions, [], f);
      const n = f === 'checkpoint' ? 15n : BigInt(f.slice('checkpoint.'.length));
      t.is(c.treeSize, n, f);
      t.deepEqual(Buffer.from(c.rootHash), mth(entries.slice(0, Number(n))), f);
      // Deterministic Ed25519: our signature on the same body is tessera's, byte for byte.
      t.is(await signNote(opened.text, [signer]), note, f);
    }
    t.is(readFileSync(join(dir, 'checkpoint.15'), 'utf8'), latest);
    // One flipped character in the body of checkpoint.15 breaks the signature.
    const tampered = latest.replace('\n15\n', '\n14\n');
    await t.throwsAsync(openNote(tampered, [verifier]), { code: 'NOTE_SIGNATURE_INVALID' });
  });
}
