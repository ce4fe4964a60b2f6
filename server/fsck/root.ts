/** fsck class 6, ROOT: log_state has its row, and its root equals the root recomputed from the entries. */
import type { FsckCheck, FsckScan } from './scan.js';
import { b64, sameBytes } from './scan.js';

/**
 * checkRoot returns the ROOT check. Before the pass it reads log_state into s.stateSize and s.stateRoot
 * (the tree every other class checks against; no row stops fsck: STATE_MISSING); after it, the
 * recomputed root must equal log_state.root_hash (ROOT_MISMATCH).
 */
export function checkRoot(s: FsckScan): FsckCheck {
  return {
    async before() {
      const st = await s.reader.state();
      if (!st) {
        s.problems.add('ROOT', 'STATE_MISSING', 'log_state has no row: the schema was not initialised');
        return 'stop';
      }
      s.stateSize = st.treeSize;
      s.stateRoot = st.rootHash;
      s.dedupFrom = st.canonicalDedupFrom;
      s.report.canonicalDedupFrom = st.canonicalDedupFrom;
      s.report.treeSize = st.treeSize;
      return undefined;
    },
    async after() {
      const root = s.tree.root;
      if (!sameBytes(root, s.stateRoot)) {
        s.problems.add(
          'ROOT',
          'ROOT_MISMATCH',
          `log_state.root_hash is ${b64(s.stateRoot)} but the root recomputed from the ${s.report.entries} entries is ${b64(root)}`,
          { expected: b64(root), found: b64(s.stateRoot) },
        );
      }
    },
  };
}
