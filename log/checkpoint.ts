/**
 * Checkpoints: c2sp.org/tlog-checkpoint, the note text of a signed tree head.
 *
 * ```
 * <origin>\n
 * <tree size, decimal>\n
 * <root hash, base64>\n
 * [<extension line>\n ...]
 * ```
 *
 * The text is signed as a c2sp.org/signed-note (log/note.ts); this file only formats and parses the
 * text. Pure: no I/O.
 */
import { base64DecodeStrict, base64Encode } from './bytes.js';
import { LogError } from './errors.js';

/** A checkpoint: the log's origin, tree size, RFC 6962 root hash and optional extension lines. */
export interface Checkpoint {
  origin: string;
  treeSize: bigint;
  rootHash: Uint8Array;
  extensions: string[];
}

/** MAX_TREE_SIZE is the largest tree size a checkpoint may state: 2^64 - 1 (uint64). */
export const MAX_TREE_SIZE = (1n << 64n) - 1n;

// ASCII control characters other than newline are not allowed in a signed note (c2sp.org/signed-note).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function invalid(field: string, message: string, details: Record<string, unknown> = {}): LogError {
  return new LogError('CHECKPOINT_INVALID', message, { field, ...details });
}

/** Checks a line's characters: non-empty, no newline, no control characters, well-formed Unicode. */
function checkLine(field: string, line: unknown, details: Record<string, unknown> = {}): void {
  if (typeof line !== 'string' || line.length === 0) {
    throw invalid(field, `checkpoint ${field} must be a non-empty line`, details);
  }
  if (line.includes('\n')) throw invalid(field, `checkpoint ${field} must not contain a newline`, details);
  if (CONTROL.test(line)) {
    throw invalid(field, `checkpoint ${field} contains an ASCII control character`, details);
  }
  if (LONE_SURROGATE.test(line)) {
    throw invalid(field, `checkpoint ${field} is not well-formed Unicode`, details);
  }
}

/**
 * formatCheckpoint returns the checkpoint note text (c2sp.org/tlog-checkpoint "Note text"), ending in
 * '\n'. Throws CHECKPOINT_INVALID when the origin or an extension line is empty or contains a newline
 * or control character, the tree size is not a bigint in 0..2^64-1, or the root hash is not 32 bytes.
 */
export function formatCheckpoint(c: Checkpoint): string {
  checkLine('origin', c.origin);
  if (typeof c.treeSize !== 'bigint' || c.treeSize < 0n || c.treeSize > MAX_TREE_SIZE) {
    throw invalid(
      'treeSize',
      `checkpoint tree size must be a bigint in 0..2^64-1, got ${String(c.treeSize)}`,
    );
  }
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== 32) {
    throw invalid('rootHash', `checkpoint root hash must be 32 bytes, got ${c.rootHash?.length} bytes`);
  }
  if (!Array.isArray(c.extensions)) throw invalid('extensions', 'checkpoint extensions must be an array');
  c.extensions.forEach((e, i) => {
    checkLine('extension', e, { index: i });
  });
  const lines = [c.origin, c.treeSize.toString(10), base64Encode(c.rootHash), ...c.extensions];
  return `${lines.join('\n')}\n`;
}

/**
 * parseCheckpoint returns the checkpoint in a note text (openNote's `text`, not the whole signed note).
 * Strict (c2sp.org/tlog-checkpoint "Note text"): at least three lines, every line non-empty, text ends
 * in '\n', origin non-empty, tree size canonical decimal (no sign, no leading zeros except "0", at
 * most 2^64-1), root hash canonical standard base64 of exactly 32 bytes, no control characters. Throws
 * CHECKPOINT_INVALID naming the field that is wrong (details.field).
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') throw invalid('text', `checkpoint text must be a string, got ${typeof text}`);
  if (!text.endsWith('\n')) {
    throw invalid('text', 'checkpoint text must end with a newline');
  }
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) {
    throw invalid(
      'text',
      `checkpoint text has ${lines.length} line(s); expected at least 3 (origin, tree size, root hash)`,
    );
  }
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine('origin', origin);
  if (!DECIMAL.test(size)) {
    throw invalid(
      'treeSize',
      `checkpoint tree size ${JSON.stringify(size.slice(0, 40))} is not a canonical decimal (digits only, no leading zeros)`,
    );
  }
  const treeSize = BigInt(size);
  if (treeSize > MAX_TREE_SIZE) {
    throw invalid('treeSize', `checkpoint tree size ${size.slice(0, 40)} is larger than 2^64-1`);
  }
  const rootHash = base64DecodeStrict(root);
  if (rootHash === undefined) {
    throw invalid('rootHash', 'checkpoint root hash is not canonical standard base64');
  }
  if (rootHash.length !== 32) {
    throw invalid('rootHash', `checkpoint root hash is ${rootHash.length} bytes; expected 32 (SHA-256)`);
  }
  extensions.forEach((e, i) => {
    checkLine('extension', e, { index: i });
  });
  return { origin, treeSize, rootHash, extensions };
}
