/**
 * fsck's report: the classes of problems in reporting order, the problems list every class adds to,
 * the counts, and the human summary (`sig server fsck` prints it; --json prints the report itself).
 */

/** FSCK_CLASSES are the classes of problems, in reporting order (server/fsck.ts says what each checks). */
export const FSCK_CLASSES = [
  'SCHEMA',
  'IDENTITY',
  'ENTRIES',
  'SIGNATURES',
  'TILES',
  'ROOT',
  'CHECKPOINTS',
  'INDEX',
  'PENDING',
] as const;

/** FsckClass is one class of problems. */
export type FsckClass = (typeof FSCK_CLASSES)[number];

/** FsckProblem is one thing found wrong: a stable code, its class, what was expected and found. */
export interface FsckProblem {
  class: FsckClass;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** FsckReport is the result of fsck: counts, the recomputed root, and the problems found. */
export interface FsckReport {
  ok: boolean;
  database: 'pg' | 'pglite';
  origin: string | undefined;
  /** treeSize: log_state.tree_size. */
  treeSize: bigint;
  /** entries: rows read from entries. */
  entries: number;
  /** canonicalDedupFrom: log_state.canonical_dedup_from, the index from which no digest repeats. */
  canonicalDedupFrom: bigint;
  /**
   * duplicatesBeforeDedup: entries below canonicalDedupFrom whose digest an earlier entry has (the same
   * attestation logged again under another spelling of its signature, before canonical dedup): counted,
   * not problems.
   */
  duplicatesBeforeDedup: number;
  /** signaturesVerified: attestations whose signature was checked and verified. */
  signaturesVerified: number;
  /** tiles: stored hash tiles compared. */
  tiles: number;
  checkpoints: number;
  /** latestCheckpointSize: the size of the latest checkpoint, if any. */
  latestCheckpointSize: bigint | undefined;
  /** consistencyProofs: proofs built and verified between checkpoint sizes and the latest one. */
  consistencyProofs: number;
  pending: number;
  /** pendingAlreadyLogged: pending rows for attestations already logged (dropped at integration). */
  pendingAlreadyLogged: number;
  /** rootHash: the root recomputed from the entries (base64). */
  rootHash: string;
  /** problems: at most MAX_PROBLEMS_PER_CLASS per class, in class order. */
  problems: FsckProblem[];
  /** firstClass: the first class with a problem (undefined when ok). */
  firstClass: FsckClass | undefined;
  elapsedMs: number;
}

/** MAX_PROBLEMS_PER_CLASS bounds the problems kept per class (the rest are counted). */
export const MAX_PROBLEMS_PER_CLASS = 20;

/**
 * Problems is the list every class adds to: at most MAX_PROBLEMS_PER_CLASS per class, then one
 * MORE_PROBLEMS marker; `sorted` returns them in class order (each class in the order found).
 */
export class Problems {
  readonly list: FsckProblem[] = [];
  private readonly counts = new Map<FsckClass, number>();

  /** add records one problem of class `cls`. */
  add(cls: FsckClass, code: string, message: string, details: Record<string, unknown> = {}): void {
    const n = (this.counts.get(cls) ?? 0) + 1;
    this.counts.set(cls, n);
    if (n <= MAX_PROBLEMS_PER_CLASS) this.list.push({ class: cls, code, message, details });
    if (n === MAX_PROBLEMS_PER_CLASS + 1) {
      this.list.push({
        class: cls,
        code: 'MORE_PROBLEMS',
        message: `more ${cls} problems were found; only the first ${MAX_PROBLEMS_PER_CLASS} are listed`,
        details: {},
      });
    }
  }

  /** has says whether class `cls` has a problem. */
  has(cls: FsckClass): boolean {
    return (this.counts.get(cls) ?? 0) > 0;
  }

  /** sorted returns the problems in class order (stable: each class in the order found). */
  sorted(): FsckProblem[] {
    return [...this.list].sort((a, b) => FSCK_CLASSES.indexOf(a.class) - FSCK_CLASSES.indexOf(b.class));
  }
}

/** emptyReport returns the report before anything is read: nothing counted, no problem. */
export function emptyReport(database: 'pg' | 'pglite', rootHash: string): FsckReport {
  return {
    ok: false,
    database,
    origin: undefined,
    treeSize: 0n,
    entries: 0,
    canonicalDedupFrom: 0n,
    duplicatesBeforeDedup: 0,
    signaturesVerified: 0,
    tiles: 0,
    checkpoints: 0,
    latestCheckpointSize: undefined,
    consistencyProofs: 0,
    pending: 0,
    pendingAlreadyLogged: 0,
    rootHash,
    problems: [],
    firstClass: undefined,
    elapsedMs: 0,
  };
}

/**
 * formatFsckReport returns the human summary of a report: one line per count, then the problems of the
 * first class that has any (with how many others there are).
 */
export function formatFsckReport(r: FsckReport): string {
  const lines = [
    `database     ${r.database}${r.origin ? `, log ${r.origin}` : ''}`,
    `tree size    ${r.treeSize} (root ${r.rootHash})`,
    `entries      ${r.entries} read, ${r.signaturesVerified} signatures verified${r.duplicatesBeforeDedup > 0 ? ` (${r.duplicatesBeforeDedup} logged again before canonical dedup at index ${r.canonicalDedupFrom})` : ''}`,
    `tiles        ${r.tiles} recomputed and compared`,
    `checkpoints  ${r.checkpoints} verified (latest size ${r.latestCheckpointSize ?? 'none'}), ${r.consistencyProofs} consistency proofs`,
    `pending      ${r.pending}${r.pendingAlreadyLogged > 0 ? ` (${r.pendingAlreadyLogged} already logged: dropped at integration)` : ''}`,
    `time         ${(r.elapsedMs / 1000).toFixed(1)} s`,
  ];
  if (r.ok) {
    lines.push('ok: the stored log verifies');
  } else {
    const first = r.problems.filter((x) => x.class === r.firstClass);
    lines.push(`FAILED: ${r.firstClass} (${first.length} problem${first.length === 1 ? '' : 's'} listed)`);
    for (const x of first) lines.push(`  ${x.code}: ${x.message}`);
    const others = r.problems.length - first.length;
    if (others > 0)
      lines.push(`  (and ${others} problem${others === 1 ? '' : 's'} of later classes; --json lists them)`);
  }
  return `${lines.join('\n')}\n`;
}
