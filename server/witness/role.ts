/**
 * openWitnessRole: turns the witness role on from the configuration (WITNESS_LOGS, WITNESS_KEY_FILE,
 * WITNESS_NAME; server/config.ts), on the database the log service opened (its tables are
 * sql/004_witness.sql, migrated with the log's).
 */
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { Logger } from '../logger.js';
import { loadCosignerKey } from './key.js';
import { loadWitnessLogs } from './logs.js';
import { SqlWitnessStore } from './sql-store.js';
import { Witness } from './witness.js';

/**
 * openWitnessRole returns the Witness when WITNESS_LOGS is set, else undefined (WITNESS_KEY_FILE or
 * WITNESS_NAME alone only earn a warning). The key is read or made (loadCosignerKey; a new key is named
 * WITNESS_NAME, or `<origin>/witness`). Throws ServiceError CONFIG_INVALID for a bad logs file or key,
 * IDENTITY_MISMATCH for another key than the database recorded, and database errors.
 */
export async function openWitnessRole(opts: {
  config: Pick<Config, 'witnessLogs' | 'witnessKeyFile' | 'witnessName' | 'dataDir'>;
  db: Db;
  origin: string;
  logger?: Logger | undefined;
}): Promise<Witness | undefined> {
  const { config, logger } = opts;
  if (config.witnessLogs === undefined) {
    if (config.witnessKeyFile !== undefined || config.witnessName !== undefined) {
      logger?.warn(
        'WITNESS_KEY_FILE or WITNESS_NAME is set but WITNESS_LOGS is not: the witness role is off',
      );
    }
    return undefined;
  }
  const logs = loadWitnessLogs(config.witnessLogs);
  const key = loadCosignerKey({
    dataDir: config.dataDir,
    keyFile: config.witnessKeyFile,
    name: config.witnessName,
    defaultName: () => `${opts.origin}/witness`,
  });
  return Witness.open(new SqlWitnessStore(opts.db), { logs, key, logger });
}
