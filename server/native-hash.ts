/**
 * Installs Node's native SHA-256 for every hash log/ computes in this process (log/hash.ts useSha256):
 * the tree, the index map and its chains cost about a third of the time of the pure JavaScript one.
 * Imported for its effect by server/store.ts, so every server process (and every test that opens a
 * store) hashes natively; the bytes are the same (test/index-buckets.test.ts checks both).
 */
import { hash } from 'node:crypto';
import { useSha256 } from '../log/hash.js';

useSha256((data) => hash('sha256', data, 'buffer'));
