/**
 * Shared parts of the witness role tests (test/witness-server*.test.ts): logs that the test runs
 * itself (a real Ed25519 note key, real RFC 6962 trees from test/reference.ts leafHashesFor, consistency
 * proofs from log/proof.ts), add-checkpoint bodies made with log/witness.ts, a raw HTTP POST, and
 * checks of the answers with log/ only, as a log or a monitor would check them.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Checkpoint, formatCheckpoint, parseCheckpoint } from '../log/checkpoint.js';
import { cosignatureVerifier } from '../log/cosignature.js';
import { ed25519Signer, ed25519Verifier, generateEd25519Key, openNote, signNote } from '../log/note.js';
import { proveConsistency } from '../log/proof.js';
import { formatAddCheckpointRequest } from '../log/witness.js';
import type { Db } from '../server/db.js';
import { big, bytes } from '../server/db.js';
import { leafHashesFor, nodeReader, refMth } from './reference.js';

/** TestLog is a log the test runs: its key, its leaves, signed checkpoints and requests for any size. */
export class TestLog {
  readonly origin: string;
  readonly vkey: string;
  private readonly skey: string;
  /** leaves: the leaf hashes; a fork of this log shares a prefix and then differs. */
  readonly leaves: Uint8Array[];

  constructor(
    origin: string,
    opts: { seed?: number; size?: number; key?: { skey: string; vkey: string } } = {},
  ) {
    this.origin = origin;
    const key = opts.key ?? generateEd25519Key(origin);
    this.skey = key.skey;
    this.vkey = key.vkey;
    this.leaves = leafHashesFor(opts.size ?? 64, opts.seed ?? 1);
  }

  /** fork returns a log with the same key whose leaves equal this one's below `at` and differ from it on. */
  fork(at: number, seed = 99): TestLog {
    const other = new TestLog(this.origin, {
      key: { skey: this.skey, vkey: this.vkey },
      size: this.leaves.length,
    });
    const tail = leafHashesFor(this.leaves.length, seed);
    for (let i = at; i < this.leaves.length; i++) other.leaves[i] = tail[i]!;
    return other;
  }

  /** checkpoint returns the checkpoint of the first `size` leaves. */
  checkpoint(size: number): Checkpoint {
    return {
      origin: this.origin,
      treeSize: BigInt(size),
      rootHash: refMth(this.leaves.slice(0, size)),
      extensions: [],
    };
  }

  /** signed returns the checkpoint of `size` as a signed note by the log key (or by `skey`). */
  signed(size: number, skey = this.skey): Promise<string> {
    return signNote(formatCheckpoint(this.checkpoint(size)), [ed25519Signer(skey)]);
  }

  /** sign returns `text` as a note signed by the log key (any checkpoint text, e.g. of a huge size). */
  sign(text: string): Promise<string> {
    return signNote(text, [ed25519Signer(this.skey)]);
  }

  /** proof returns the consistency proof from m to n leaves (empty for m = 0 or m = n). */
  async proof(m: number, n: number): Promise<Uint8Array[]> {
    if (m === 0 || m === n) return [];
    return proveConsistency(BigInt(m), BigInt(n), nodeReader(this.leaves));
  }

  /** request returns an honest add-checkpoint body from `old` to `size`. */
  async request(old: number, size: number): Promise<string> {
    return formatAddCheckpointRequest({
      oldSize: BigInt(old),
      consistencyProof: await this.proof(old, size),
      signedCheckpoint: await this.signed(size),
    });
  }
}

/** Answer is a raw HTTP answer. */
export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** post sends `body` to `<url>/witness/add-checkpoint` and returns the raw answer. */
export async function addCheckpoint(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${url}/witness/add-checkpoint`, { method: 'POST', body, headers });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

/**
 * verifyCosigned checks a 200 answer the way a log does (c2sp.org/tlog-witness): the lines appended to
 * the signed checkpoint open with the witness vkey (cosignature/v1) alone; returns the checkpoint.
 */
export async function verifyCosigned(
  signedCheckpoint: string,
  lines: string,
  witnessVkey: string,
): Promise<Checkpoint> {
  const w = cosignatureVerifier(witnessVkey);
  const opened = await openNote(signedCheckpoint + lines, [w]);
  if (!opened.verified.some((s) => s.name === w.name && s.keyId === w.keyId)) {
    throw new Error('the witness cosignature is not among the verified lines');
  }
  return parseCheckpoint(opened.text);
}

/** writeLogsFile writes a WITNESS_LOGS file naming `vkeys` in `dir` and returns its path. */
export async function writeLogsFile(
  dir: string,
  vkeys: readonly string[],
  name = 'witness-logs',
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `# logs this witness cosigns\n${vkeys.map((v) => `log ${v}`).join('\n')}\n`);
  return path;
}

/** Row is a witness_logs row as the tests compare it. */
export interface Row {
  treeSize: bigint;
  rootHash: string;
  checkpoint: string | null;
  cosignedAt: string | null;
}

/** readRow returns the witness_logs row of `origin` (undefined when there is none). */
export async function readRow(db: Pick<Db, 'query'>, origin: string): Promise<Row | undefined> {
  const [r] = await db.query(
    'SELECT tree_size, root_hash, checkpoint, cosigned_at FROM witness_logs WHERE origin = $1',
    [origin],
  );
  if (!r) return undefined;
  return {
    treeSize: big(r.tree_size),
    rootHash: Buffer.from(bytes(r.root_hash)).toString('hex'),
    checkpoint: r.checkpoint === null ? null : String(r.checkpoint),
    cosignedAt: r.cosigned_at === null ? null : new Date(r.cosigned_at as Date).toISOString(),
  };
}

/**
 * checkRowWhole throws unless a row is one whole state: size 0 and the empty root with nothing
 * cosigned, or a checkpoint note whose size and root are the row's, signed by the log (logVkey) and
 * cosigned by the witness (witnessVkey), whose root is `log`'s root at that size.
 */
export async function checkRowWhole(row: Row, log: TestLog, witnessVkey: string): Promise<void> {
  const size = Number(row.treeSize);
  const want = Buffer.from(refMth(log.leaves.slice(0, size))).toString('hex');
  if (row.rootHash !== want) throw new Error(`row root at size ${size} is not the log's root`);
  if (row.checkpoint === null) {
    if (size !== 0 || row.cosignedAt !== null)
      throw new Error('a row with no checkpoint but a size or a time');
    return;
  }
  const opened = await openNote(row.checkpoint, [
    ed25519Verifier(log.vkey),
    cosignatureVerifier(witnessVkey),
  ]);
  if (opened.verified.length !== 2)
    throw new Error(`the stored note has ${opened.verified.length} verified lines, not 2`);
  const c = parseCheckpoint(opened.text);
  if (c.treeSize !== row.treeSize || Buffer.from(c.rootHash).toString('hex') !== row.rootHash) {
    throw new Error('the stored note is not the checkpoint of the row');
  }
}
