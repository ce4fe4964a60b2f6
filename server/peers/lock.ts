/**
 * The peers lock: one process follows the peers at a time, the integrating one (SPEC.md "Storage and
 * processes"). On Postgres it is a session-level advisory lock ("sig-peer") held on a connection of its
 * own: the sequencer's integrator lock is per transaction, so it cannot say who follows between rounds.
 * If the process dies, Postgres ends its session and releases the lock, and the next integrating process
 * to try takes over; if the connection drops, `held` turns false and the followers pause until the lock
 * is taken again. On PGlite there is one process per database: the lock is always held.
 */
import pg from 'pg';

/** PEERS_LOCK is the advisory lock key held by the following process ("sig-peer"). */
export const PEERS_LOCK = 0x7369672d70656572n;

/** PeersLock says whether this process may follow now. */
export interface PeersLock {
  /** acquire tries to take the lock (without waiting) and returns whether this process holds it. */
  acquire(): Promise<boolean>;
  close(): Promise<void>;
}

/** openPeersLock returns the lock for a Postgres database (databaseUrl), or an always-held one for PGlite. */
export function openPeersLock(databaseUrl: string | undefined): PeersLock {
  if (databaseUrl === undefined) return { acquire: async () => true, close: async () => {} };
  let client: pg.Client | undefined;
  let held = false;
  let pending: Promise<boolean> | undefined;
  const tryLock = async (): Promise<boolean> => {
    if (held && client) return true;
    if (!client) {
      const c = new pg.Client({ connectionString: databaseUrl });
      const lost = () => {
        held = false;
        if (client === c) client = undefined;
        void c.end().catch(() => {});
      };
      c.on('error', lost);
      c.on('end', lost);
      await c.connect();
      client = c;
    }
    const [r] = (await client.query('SELECT pg_try_advisory_lock($1) AS ok', [PEERS_LOCK.toString()])).rows;
    held = r?.ok === true;
    return held;
  };
  return {
    // One attempt at a time: every peer's loop asks, and they share the one connection.
    acquire() {
      pending ??= tryLock().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    async close() {
      held = false;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
