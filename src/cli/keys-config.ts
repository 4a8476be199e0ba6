/**
 * Configuration shared by the `keywarden keys …` commands: the database (as `migrate`), the
 * master key (AWS KMS or a local key file), and the audit log that records every key change.
 * Everything on the command line and in files is checked before any connection is made, so a
 * usage error never leaves half a change behind.
 *
 * Audit: a command that changes keys records the change in the PostgreSQL audit log in the
 * same schema, in the same transaction as the change (both commit or neither). It needs the
 * log's signer key and the audit HMAC key; without them it is refused unless `--no-audit` says,
 * explicitly, that this change is to go unrecorded.
 * @module
 */
import { userInfo } from 'node:os';
import type { Pool } from 'pg';
import { AuditIdHasher } from '../audit/entry.js';
import { AuditLog } from '../audit/log.js';
import { PostgresAuditStore } from '../audit/postgres-store.js';
import { InternalError, KeyNotFoundError, KeyShreddedError, KeywardenError } from '../errors.js';
import { SUITES, type SuiteName, suiteByName } from '../format/suites.js';
import { nodeAead } from '../aead/node.js';
import { Keywarden, type KeywardenOptions } from '../keywarden.js';
import { BranchKeyProvider } from '../keys/branch-keys.js';
import type { KeyAuditOptions } from '../keys/lifecycle.js';
import { LocalMasterKey } from '../kms/local.js';
import type { MasterKeyProvider } from '../kms/provider.js';
import { PostgresKeyStore } from '../store/postgres.js';
import { type Args, IncompleteError, type OptionSpec, RefusedError, type RunContext, UsageError } from './common.js';
import { readKey32, readSignerKey } from './key-files.js';
import { type KmsKeys, kmsClientOptions } from './kms.js';
import { type DatabaseConfig, databaseOptions, withPool } from './options.js';

/** `--database-url`, `--schema`: required URL (or KEYWARDEN_DATABASE_URL / DATABASE_URL). */
export const keysDatabaseOptions: OptionSpec[] = databaseOptions(true);

/** The master key options: a KMS key (and where KMS is) or a local key file. */
export const masterKeyOptions: OptionSpec[] = [
  { name: 'kms-key-id', type: 'string', value: 'KEY', description: 'AWS KMS key: key id, key ARN, alias/NAME or alias ARN', env: ['KEYWARDEN_KMS_KEY_ID'] },
  ...kmsClientOptions,
  { name: 'local-key-file', type: 'string', value: 'FILE', description: 'a local master key instead (32 bytes, base64 or hex; development only)', env: ['KEYWARDEN_LOCAL_KEY_FILE'] },
];

/** `--suite`: of the key versions a command creates. */
export const suiteOption: OptionSpec = {
  name: 'suite', type: 'string', value: 'NAME', env: ['KEYWARDEN_SUITE'],
  description: `suite of new key versions, as your services use: ${Object.values(SUITES).map((s) => s.name).join(' or ')} (default AES-256-GCM)`,
};

/** The audit options of commands that change keys. */
export const auditOptions: OptionSpec[] = [
  { name: 'audit-signer-key', type: 'string', value: 'FILE', description: "the audit log's signer key (from 'keywarden audit keygen --out-private')", env: ['KEYWARDEN_AUDIT_SIGNER_KEY_FILE'] },
  { name: 'audit-ids-key', type: 'string', value: 'FILE', description: "the audit HMAC key for conversation ids (the services' AuditIdHasher key; 32 bytes, base64 or hex)", env: ['KEYWARDEN_AUDIT_IDS_KEY_FILE'] },
  { name: 'actor', type: 'string', value: 'WHO', description: 'who acts, as the audit log records it (default keywarden-cli@<login name>)', env: ['KEYWARDEN_ACTOR'] },
  { name: 'no-audit', type: 'boolean', description: 'change keys without an audit record (without audit keys, refused unless given)' },
];

/** Maps the library's option names in InvalidInputErrors to flags (`options.rotation.maxAgeMs` → `rotation-max-age`). */
export function keysParams(param: string): string | undefined {
  const known: Record<string, string> = {
    'options.schema': 'schema',
    'options.olderThanMs': 'older-than',
    'options.rotation.maxAgeMs': 'rotation-max-age',
    'options.includeIdle': 'include-idle',
    'options.batchSize': 'batch-size',
    'options.concurrency': 'concurrency',
    'options.maxAttempts': 'max-attempts',
    'options.listLimit': 'list-limit',
    'options.versions': 'version',
    'options.below': 'below',
    conversationId: 'CONVERSATION',
  };
  return known[param] ?? (param.startsWith('options.versions[') ? 'version' : undefined);
}

/** The audit configuration read from the command line: keys and actor, or explicitly none. */
export type AuditConfig = { signerKey: string; ids: AuditIdHasher; actor: string } | undefined;

/**
 * Reads the audit options of a command that changes keys. Both keys, or `--no-audit`; anything
 * else is a usage error that says how to fix it.
 */
export async function auditConfig(args: Args, ctx: RunContext): Promise<AuditConfig> {
  const signerFile = args.string('audit-signer-key');
  const idsFile = args.string('audit-ids-key');
  if (args.flag('no-audit')) {
    if (args.source('audit-signer-key') === '--audit-signer-key' || args.source('audit-ids-key') === '--audit-ids-key') {
      throw new UsageError('give either the audit keys or --no-audit, not both');
    }
    ctx.note('note: --no-audit: this change is not recorded in the audit log\n');
    return undefined;
  }
  if (signerFile === undefined && idsFile === undefined) {
    throw new UsageError('key changes are recorded in the audit log: give --audit-signer-key FILE and --audit-ids-key FILE (or set KEYWARDEN_AUDIT_SIGNER_KEY_FILE and KEYWARDEN_AUDIT_IDS_KEY_FILE), or --no-audit to change keys without a record');
  }
  if (signerFile === undefined) throw new UsageError('missing --audit-signer-key FILE (or set KEYWARDEN_AUDIT_SIGNER_KEY_FILE): the audit log needs its signer key');
  if (idsFile === undefined) throw new UsageError('missing --audit-ids-key FILE (or set KEYWARDEN_AUDIT_IDS_KEY_FILE): the audit log records conversation ids as HMACs under it');
  const signer = await readSignerKey(signerFile, args.label('audit-signer-key'));
  const ids = await readKey32(idsFile, args.label('audit-ids-key'));
  for (const w of [signer.warning, ids.warning]) if (w !== undefined) ctx.io.err(w);
  const actor = args.string('actor') ?? defaultActor();
  if (actor.length === 0 || actor.length > 1024 || /[\u0000-\u001f]/.test(actor)) throw new UsageError(`${args.label('actor')}: expected a name of 1 to 1024 characters, no control characters`);
  return { signerKey: signer.value, ids: new AuditIdHasher(ids.value), actor };
}

function defaultActor(): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): fall through to the environment.
  }
  return `keywarden-cli@${user || process.env.USER || process.env.LOGNAME || 'unknown'}`;
}

/** Where the master key comes from, as the command line says: checked, nothing opened yet. */
export type MasterKeyChoice = { kind: 'kms'; keyId: string } | { kind: 'local'; file: string; label: string } | undefined;

/**
 * The master key the command line names: `--kms-key-id` or `--local-key-file` (a flag wins
 * over the other's environment variable; both given the same way is a usage error).
 */
export function masterKeyChoice(args: Args): MasterKeyChoice {
  const kmsFrom = args.source('kms-key-id');
  const localFrom = args.source('local-key-file');
  if (kmsFrom !== undefined && localFrom !== undefined) {
    const kmsFlag = kmsFrom === '--kms-key-id';
    const localFlag = localFrom === '--local-key-file';
    if (kmsFlag === localFlag) throw new UsageError(`give either ${kmsFrom} or ${localFrom}, not both`);
    return kmsFlag ? kmsChoice(args) : { kind: 'local', file: args.string('local-key-file')!, label: localFrom };
  }
  if (kmsFrom !== undefined) return kmsChoice(args);
  if (localFrom !== undefined) return { kind: 'local', file: args.string('local-key-file')!, label: localFrom };
  return undefined;
}

function kmsChoice(args: Args): MasterKeyChoice {
  const keyId = args.string('kms-key-id')!;
  if (!validKmsKeyId(keyId)) throw new UsageError(`${args.label('kms-key-id')}: expected a KMS key id, key ARN, alias/NAME or alias ARN`);
  return { kind: 'kms', keyId };
}

/** A plausible KMS KeyId parameter (KMS itself says whether the key exists). */
export function validKmsKeyId(keyId: string): boolean {
  return keyId.length > 0 && keyId.length <= 2048 && /^[A-Za-z0-9:/_.+=,@-]+$/.test(keyId);
}

/** Opens the chosen master key: reads the local key file, or makes the KMS key on `kms`. */
export async function openMasterKey(choice: NonNullable<MasterKeyChoice>, kms: KmsKeys, ctx: RunContext): Promise<MasterKeyProvider> {
  if (choice.kind === 'kms') return kms.key(choice.keyId);
  return localMasterKey(choice.file, choice.label, ctx);
}

/** A LocalMasterKey from a key file; its id is the key's fingerprint, as the services record it. */
export async function localMasterKey(file: string, label: string, ctx: RunContext): Promise<LocalMasterKey> {
  const { value, warning } = await readKey32(file, label);
  if (warning !== undefined) ctx.io.err(warning);
  const key = new LocalMasterKey(value);
  value.fill(0);
  return key;
}

/** The master key a command needs: required, with a usage error naming both ways to give it. */
export function requiredMasterKey(args: Args): NonNullable<MasterKeyChoice> {
  const choice = masterKeyChoice(args);
  if (choice === undefined) throw new UsageError('missing the master key: give --kms-key-id KEY (or set KEYWARDEN_KMS_KEY_ID), or --local-key-file FILE (or set KEYWARDEN_LOCAL_KEY_FILE)');
  return choice;
}

/** `--suite` checked. */
export function suiteArg(args: Args): SuiteName | undefined {
  const name = args.string('suite');
  if (name === undefined) return undefined;
  const suite = suiteByName(name);
  if (suite === undefined) throw new UsageError(`${args.label('suite')}: expected ${Object.values(SUITES).map((s) => s.name).join(' or ')}`);
  return suite.name;
}

/**
 * Stands in for the master key in commands that change key metadata only (shred, retain): they
 * never generate or unwrap a key, and if a bug made them try, this says so instead of calling a
 * KMS nobody configured.
 */
const NO_MASTER_KEY: MasterKeyProvider = {
  keyId: 'keywarden-cli:no-master-key',
  generateDataKey: () => Promise.reject(new InternalError('this command has no master key and must not generate keys')),
  unwrapDataKey: () => Promise.reject(new InternalError('this command has no master key and must not unwrap keys')),
};

/** What a `keys` command works with inside {@link withKeys}. */
export interface KeysSession {
  pool: Pool;
  schema: string;
  store: PostgresKeyStore;
  kw: Keywarden;
  audit: KeyAuditOptions | undefined;
}

/** Options of {@link withKeys}. */
export interface KeysSessionOptions {
  audit: AuditConfig;
  /** The master key (absent: a command that never generates or unwraps keys). */
  masterKey?: MasterKeyProvider;
  /** Further Keywarden options (rotation, cache, suite). */
  keywarden?: Pick<KeywardenOptions, 'rotation' | 'cache' | 'suite'>;
  /**
   * Branch mode (docs/KEYS.md §9): `masterKey` wraps the branch keys (the schema's branch_keys
   * table) and conversation keys are wrapped by them; new conversation keys go to `branch`.
   */
  branches?: { branch: string };
}

/**
 * Connects (one connection), opens the audit log when configured, runs `fn` with a Keywarden
 * over the PostgreSQL key store, and closes everything. Library refusals become exit 1 with
 * their code; a schema without the keywarden tables says to run `keywarden migrate`.
 */
export async function withKeys<T>(db: DatabaseConfig, o: KeysSessionOptions, fn: (s: KeysSession) => Promise<T>): Promise<T> {
  try {
    return await withPool(db.url, { readOnly: false }, async (pool) => {
      const store = new PostgresKeyStore(pool, { schema: db.schema });
      let log: AuditLog | undefined;
      let kw: Keywarden | undefined;
      try {
        let audit: KeyAuditOptions | undefined;
        if (o.audit !== undefined) {
          // 30 s: the final flush may wait for a sequencer lease a killed run left behind (5 s).
          log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema: db.schema }), signerKey: o.audit.signerKey, appendTimeoutMs: 30_000 });
          audit = { log, ids: o.audit.ids, actor: o.audit.actor };
        }
        // reservationSize 1: a version the CLI creates is sealed by the services, not by the
        // CLI, so it reserves (and so wastes) the least of the version's message budget.
        let masterKey = o.masterKey ?? NO_MASTER_KEY;
        if (o.branches !== undefined) {
          const branch = o.branches.branch;
          masterKey = new BranchKeyProvider({
            masterKey, store: new PostgresKeyStore(pool, { schema: db.schema, keys: 'branches' }), branchFor: () => branch, aead: nodeAead, ...(audit !== undefined && { audit }),
          });
        }
        kw = new Keywarden({ masterKey, keyStore: store, reservationSize: 1, ...o.keywarden, ...(audit !== undefined && { audit }) });
        const result = await fn({ pool, schema: db.schema, store, kw, audit });
        // The command's audit records are durable in the outbox already (docs/AUDIT.md §4.2);
        // before this short-lived process exits, wait (best effort) until a sequencer — this one
        // or a service's — has integrated them under a checkpoint.
        await log?.flush().catch(() => undefined);
        return result;
      } finally {
        kw?.close();
        await log?.close().catch(() => undefined);
      }
    });
  } catch (err) {
    throw explain(err, db.schema);
  }
}

/** Library errors in the words of the command line (see {@link withKeys}). */
export function explain(err: unknown, schema: string): unknown {
  if (err instanceof KeyNotFoundError) return new RefusedError('ERR_KEY_NOT_FOUND', err.message);
  if (err instanceof KeyShreddedError) return new RefusedError('ERR_KEY_SHREDDED', err.message);
  if (err instanceof KeywardenError) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    // undefined_table, invalid_schema_name: the schema was never migrated (or not to this version).
    if (code === '42P01' || code === '3F000') return new IncompleteError(`schema ${schema} has no keywarden tables, or older ones: run 'keywarden migrate --schema ${schema}' first`);
  }
  return err;
}
