/**
 * `keywarden keys …`: the operator's commands over the keys in PostgreSQL — status, rotate,
 * shred, start-generation, retain, rewrap. Configuration in ./keys-config.ts.
 * @module
 */
import type { GroupSpec } from './common.js';
import { changeCommands } from './keys-change.js';
import { retainCommand } from './keys-retain.js';
import { rewrapCommand } from './keys-rewrap.js';
import { statusCommand } from './keys-status.js';

/** The `keywarden keys` group. */
export const keysGroup: GroupSpec = {
  name: 'keys',
  summary: 'conversation keys in PostgreSQL: status, rotate, shred, retention, master-key re-wrap',
  description:
    'Every command reads the database from --database-url (or KEYWARDEN_DATABASE_URL, DATABASE_URL)\n' +
    'and --schema (or KEYWARDEN_SCHEMA). Commands that make keys take the master key from\n' +
    '--kms-key-id (KEYWARDEN_KMS_KEY_ID; with --region, --kms-endpoint and the AWS SDK\'s usual\n' +
    'credentials) or --local-key-file. Commands that change keys record each change in the audit\n' +
    'log in the same schema and transaction: they need --audit-signer-key and --audit-ids-key\n' +
    '(or --no-audit, explicitly). Nothing prints key material.',
  commands: [statusCommand, ...changeCommands, retainCommand, rewrapCommand],
};
