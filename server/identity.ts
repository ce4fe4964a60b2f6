/**
 * The log's identity: its origin and its keys (server/keys.ts), recorded in the database at first start
 * (log_identity) and checked at every start, so that every process sharing a database signs as the same
 * log, and a database is never served under another log's name (SPEC.md "Storage and processes").
 *
 * Crash safety: recordIdentity inserts the row once (ON CONFLICT DO NOTHING) and reads back whatever is
 * recorded, so two processes starting at once, or one that dies after making its key files but before
 * the insert, agree on one identity at the next start; the key files are written once (keys.ts).
 */
import { ServiceError } from './errors.js';
import { defaultOrigin, loadKeys, type ServerKeys } from './keys.js';

/** Identity is what the log recorded about itself at first start (sql/001_init.sql log_identity). */
export interface Identity {
  origin: string;
  vkey: string;
  openpgpFingerprint: string;
  openpgpPublicKey: string;
}

/** IdentityStore is where the identity is recorded (SqlStore in server/store.ts). */
export interface IdentityStore {
  /** identity returns the recorded identity, or undefined before the first start. */
  identity(): Promise<Identity | undefined>;
  /** recordIdentity stores `id` unless one is recorded already; returns the recorded one. */
  recordIdentity(id: Identity): Promise<Identity>;
}

/**
 * openIdentity loads or makes the log's keys (key files given, or in dataDir) for the origin given, or
 * else the recorded one, or else a new default, records them at first start, and returns them. Throws
 * ServiceError IDENTITY_MISMATCH when the origin or the keys differ from the recorded ones (the message
 * says how to fix it), and what loadKeys throws.
 */
export async function openIdentity(
  store: IdentityStore,
  opts: {
    dataDir: string;
    origin?: string | undefined;
    noteKeyFile?: string | undefined;
    openpgpKeyFile?: string | undefined;
  },
): Promise<ServerKeys> {
  const recorded = await store.identity();
  const wanted = opts.origin ? opts.origin : undefined;
  if (recorded && wanted && recorded.origin !== wanted) {
    throw new ServiceError(
      'IDENTITY_MISMATCH',
      `this database belongs to the log "${recorded.origin}", but the origin given is "${wanted}": ` +
        `unset ORIGIN (or set it to "${recorded.origin}"), or use another database`,
      { recorded: recorded.origin, given: wanted },
    );
  }
  const origin = wanted ?? recorded?.origin ?? defaultOrigin();
  const keys = await loadKeys({
    dataDir: opts.dataDir,
    origin,
    noteKeyFile: opts.noteKeyFile,
    openpgpKeyFile: opts.openpgpKeyFile,
  });
  const id = await store.recordIdentity({
    origin,
    vkey: keys.vkey,
    openpgpFingerprint: keys.openpgpFingerprint,
    openpgpPublicKey: keys.openpgpPublicKey,
  });
  if (id.origin !== origin || id.vkey !== keys.vkey || id.openpgpFingerprint !== keys.openpgpFingerprint) {
    throw new ServiceError(
      'IDENTITY_MISMATCH',
      `this database's log was started with other keys (origin "${id.origin}", note key ${id.vkey}, ` +
        `OpenPGP key ${id.openpgpFingerprint}) than the ones this process has (origin "${origin}", note key ` +
        `${keys.vkey}, OpenPGP key ${keys.openpgpFingerprint}): every process sharing a database must use ` +
        'the same key files (copy note.key and openpgp.key from the first server, or set the key file options)',
      { recordedVkey: id.vkey, vkey: keys.vkey, recordedFingerprint: id.openpgpFingerprint },
    );
  }
  return keys;
}
