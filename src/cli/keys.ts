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
  footer: `environment (a flag wins over its variable):
  KEYWARDEN_DATABASE_URL, DATABASE_URL   --database-url
  KEYWARDEN_SCHEMA                       --schema
  KEYWARDEN_KMS_KEY_ID                   --kms-key-id
  AWS_REGION, AWS_DEFAULT_REGION         --region
  KEYWARDEN_KMS_ENDPOINT                 --kms-endpoint
  KEYWARDEN_LOCAL_KEY_FILE               --local-key-file
  KEYWARDEN_SUITE                        --suite
  KEYWARDEN_AUDIT_SIGNER_KEY_FILE        --audit-signer-key
  KEYWARDEN_AUDIT_IDS_KEY_FILE           --audit-ids-key
  KEYWARDEN_ACTOR                        --actor
  AWS credentials: the AWS SDK's default chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, roles).

retain and rewrap draw a progress bar (rate, ETA) on stderr when it is a terminal and --json
is not given.

exit status:
  0  ok
  1  refused: no such conversation or version (ERR_KEY_NOT_FOUND), a conversation shredded as
     a whole (ERR_KEY_SHREDDED), shredding not confirmed (ERR_NOT_CONFIRMED); rewrap: KMS
     refused some keys (listed; the others moved)
  2  usage error: the command line is wrong; shred without --yes where nobody can be asked; a
     key change without the audit keys or --no-audit
  3  could not complete: unreachable database or KMS, a schema without the keywarden tables,
     a KMS key disabled or denied; retain and rewrap stopped by Ctrl-C or SIGTERM after the
     page in progress (run the same command again to go on)
  130, 143  a second Ctrl-C or SIGTERM ended the process at once (a rerun still goes on safely)`,
};
