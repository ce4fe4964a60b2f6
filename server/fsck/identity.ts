/** fsck class 2, IDENTITY: log_identity holds the log's origin and keys (Ed25519 vkey, OpenPGP public key). */
import * as openpgp from 'openpgp';
import { ed25519Verifier, openpgpVerifier } from '../../log/note.js';
import type { FsckCheck, FsckScan } from './scan.js';

/**
 * checkIdentity returns the IDENTITY check: before the pass, it reads log_identity into s.origin and
 * s.verifiers (the checkpoint signers CHECKPOINTS verifies against). No identity stops fsck
 * (IDENTITY_MISSING: the log never started); keys that do not load, or an OpenPGP key whose
 * fingerprint is not the recorded one, are IDENTITY_INVALID (s.verifiers then stays undefined when
 * the keys do not load, and CHECKPOINTS skips the signature lines).
 */
export function checkIdentity(s: FsckScan): FsckCheck {
  return {
    async before() {
      const id = await s.reader.identity();
      if (!id) {
        s.problems.add(
          'IDENTITY',
          'IDENTITY_MISSING',
          'log_identity is empty: the log was never started on this database',
        );
        return 'stop';
      }
      s.origin = id.origin;
      s.report.origin = id.origin;
      try {
        const pgpKey = await openpgp.readKey({ armoredKey: id.openpgpPublicKey });
        const fp = pgpKey.getFingerprint().toUpperCase();
        if (fp !== id.openpgpFingerprint) {
          s.problems.add(
            'IDENTITY',
            'IDENTITY_INVALID',
            `log_identity.openpgp_fingerprint is ${id.openpgpFingerprint} but its public key is ${fp}`,
            { expected: fp, found: id.openpgpFingerprint },
          );
        }
        s.verifiers = { ed: ed25519Verifier(id.vkey), pgp: openpgpVerifier(id.origin, pgpKey) };
      } catch (e) {
        s.problems.add(
          'IDENTITY',
          'IDENTITY_INVALID',
          `log_identity keys do not load: ${(e as Error).message}`,
        );
      }
      return undefined;
    },
  };
}
