/**
 * commands: the explicit oclif command table (package.json "oclif.commands": strategy "explicit",
 * target ./dist/cli/commands.js, identifier COMMANDS). One file per command under cli/commands/.
 */
import Attest from './commands/attest.js';
import Audit from './commands/audit.js';
import KeyExport from './commands/key-export.js';
import KeyGenerate from './commands/key-generate.js';
import KeyImport from './commands/key-import.js';
import KeyList from './commands/key-list.js';
import LogCheckpoint from './commands/log-checkpoint.js';
import LogEntry from './commands/log-entry.js';
import LogProofConsistency from './commands/log-proof-consistency.js';
import LogProofInclusion from './commands/log-proof-inclusion.js';
import Publish from './commands/publish.js';
import ServerAdd from './commands/server-add.js';
import ServerFsck from './commands/server-fsck.js';
import ServerList from './commands/server-list.js';
import ServerRemove from './commands/server-remove.js';
import ServerStart from './commands/server-start.js';
import TrustAdd from './commands/trust-add.js';
import TrustList from './commands/trust-list.js';
import TrustPolicyCommand from './commands/trust-policy.js';
import TrustRemove from './commands/trust-remove.js';
import Verify from './commands/verify.js';

/** COMMANDS maps each command id (topics separated by spaces on the command line) to its class. */
export const COMMANDS = {
  'key:generate': KeyGenerate,
  'key:import': KeyImport,
  'key:export': KeyExport,
  'key:list': KeyList,
  attest: Attest,
  publish: Publish,
  verify: Verify,
  'trust:add': TrustAdd,
  'trust:remove': TrustRemove,
  'trust:list': TrustList,
  'trust:policy': TrustPolicyCommand,
  'server:add': ServerAdd,
  'server:list': ServerList,
  'server:remove': ServerRemove,
  'server:start': ServerStart,
  'server:fsck': ServerFsck,
  audit: Audit,
  'log:checkpoint': LogCheckpoint,
  'log:entry': LogEntry,
  'log:proof:inclusion': LogProofInclusion,
  'log:proof:consistency': LogProofConsistency,
};
