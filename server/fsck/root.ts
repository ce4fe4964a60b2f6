/** fsck class 6, ROOT: log_state has its row, and its root equals the root recomputed from the entries. */
import { base64Encode, bytesEqual } from '../../log/bytes.js';
import type { FsckCheck, FsckScan } from './scan.js';

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
      if (!bytesEqual(root, s.stateRoot)) {
        s.problems.add(
          'ROOT',
          'ROOT_MISMATCH',
          `log_state.root_hash is ${base64Encode(s.stateRoot)} but the root recomputed from the ${s.report.entries} entries is ${base64Encode(root)}`,
          { expected: base64Encode(root), found: base64Encode(s.stateRoot) },
        );
      }
    },
  };
}
