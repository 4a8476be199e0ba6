/**
 * Schema migrations for {@link PostgresKeyStore}: versioned, idempotent, and safe to run from
 * several processes at once (each deploy can call {@link migrate} on start-up).
 *
 * Applied versions are recorded in `<schema>.keywarden_migrations`. All pending migrations run
 * in ONE transaction under a transaction-scoped advisory lock, so either every step of a run is
 * applied or none is, and a second migrator waits for the first and then finds nothing to do.
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import { InvalidInputError, StoreError } from '../errors.js';

/** Default schema of the keywarden tables. */
export const DEFAULT_SCHEMA = 'public';

/** Schema names accepted by `options.schema`: a lower-case unquoted SQL identifier of at most 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validates `options.schema` (default {@link DEFAULT_SCHEMA}) and returns it.
 * @internal shared by migrations.ts and postgres.ts.
 */
export function schemaOption(options: unknown): string {
  if (options === undefined) return DEFAULT_SCHEMA;
  if (options === null || typeof options !== 'object') throw new InvalidInputError('options', 'expected an object');
  for (const k of Object.keys(options)) {
    if (k !== 'schema') throw new InvalidInputError(`options.${k}`, 'unknown option');
  }
  const schema = (options as { schema?: unknown }).schema;
  if (schema === undefined) return DEFAULT_SCHEMA;
  // Validated, not just quoted: the name is spliced into DDL (identifiers cannot be bound as
  // parameters), and a strict pattern also keeps case-folding surprises out.
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new InvalidInputError('options.schema', 'expected a schema name matching ^[a-z_][a-z0-9_]{0,62}$');
  }
  return schema;
}

/**
 * Quotes an SQL identifier. The name is already validated; quoting anyway makes reserved words
 * (`user`, `order`, ...) usable as schema names.
 * @internal
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Asserts `pool` looks like a pg Pool (the caller supplies it; keywarden never imports pg at runtime). */
export function assertPool(pool: unknown): asserts pool is Pool {
  if (pool === null || typeof pool !== 'object' || typeof (pool as Pool).connect !== 'function' || typeof (pool as Pool).query !== 'function') {
    throw new InvalidInputError('pool', 'expected a pg Pool');
  }
}

// SQLSTATEs after which the same call may succeed on a new attempt: connection exceptions
// (class 08), serialization failure, deadlock, and the server shutting down or killing the
// session (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03']);
const RETRYABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
// node-postgres reports a lost connection with plain Errors that carry no code.
const RETRYABLE_MESSAGES = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect/i;

/** True when a driver error is transient (see {@link toStoreError}). @internal */
export function isRetryable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') && code.length === 5) return true;
    if (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_NODE_CODES.has(code)) return true;
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && RETRYABLE_MESSAGES.test(message);
}

/**
 * Wraps a driver error in a {@link StoreError}. The message names the operation and the
 * SQLSTATE (or node error code) only: server messages can quote parameter values (e.g.
 * `invalid input syntax for type bigint: "..."`), so they stay in `cause`, never in the message.
 * A StoreError passes through unchanged.
 * @internal
 */
export function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  const retryable = isRetryable(err);
  const what = typeof code === 'string' ? (/^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code) : retryable ? 'connection lost' : 'driver error';
  return new StoreError(`postgres key store: ${op} failed (${what})`, err, retryable);
}

/**
 * What a driver error was, safe for a message: the SQLSTATE or node error code, 'connection
 * lost' or 'driver error' (never the server's message, which can quote parameter values).
 * @internal shared with the audit store and the token ledger.
 */
export function driverErrorSummary(err: unknown): string {
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return /^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code;
  return isRetryable(err) ? 'connection lost' : 'driver error';
}

interface Migration {
  version: number;
  /** Statements for the quoted schema `s`. */
  up(s: string): string[];
}

/**
 * Every migration, in order. Never edit an applied one: append a new version instead.
 *
 * conversation_id is `text`, which cannot hold U+0000 (valid in a conversation id), so the
 * store writes it escaped: `\` → `\\` and U+0000 → `\0` (injective, and identity for ids
 * without either character).
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: (s) => [
      `CREATE TABLE ${s}.conversation_keys (
        conversation_id text NOT NULL,
        version bigint NOT NULL CHECK (version >= 1),
        master_key_id text NOT NULL,
        wrapped_key bytea NOT NULL,
        suite text NOT NULL,
        state text NOT NULL CHECK (state IN ('active', 'superseded')),
        created_at timestamptz NOT NULL,
        activated_at timestamptz NOT NULL,
        superseded_at timestamptz NULL,
        sealed_reserved bigint NOT NULL DEFAULT 0 CHECK (sealed_reserved >= 0),
        PRIMARY KEY (conversation_id, version),
        CHECK ((state = 'active') = (superseded_at IS NULL))
      )`,
      // The database itself guarantees at most one active version per conversation, whatever
      // a buggy or concurrent writer does: a second active row fails with a unique violation.
      `CREATE UNIQUE INDEX conversation_keys_one_active ON ${s}.conversation_keys (conversation_id) WHERE state = 'active'`,
    ],
  },
  {
    // The shared audit log (PostgresAuditStore) and the break-glass token ledger
    // (PostgresTokenLedger). audit_head's single row is the log's sequencer: appenders lock it
    // (SELECT ... FOR UPDATE) and keep the tree's right edge (a CompactRange) in it.
    version: 2,
    up: (s) => [
      `CREATE TABLE ${s}.audit_entries (
        idx bigint PRIMARY KEY,
        entry bytea NOT NULL,
        leaf_hash bytea NOT NULL
      )`,
      `CREATE TABLE ${s}.audit_checkpoints (
        seq bigserial PRIMARY KEY,
        size bigint NOT NULL,
        note text NOT NULL
      )`,
      `CREATE TABLE ${s}.audit_head (
        id int PRIMARY KEY CHECK (id = 1),
        size bigint NOT NULL,
        edge bytea NOT NULL
      )`,
      `INSERT INTO ${s}.audit_head (id, size, edge) VALUES (1, 0, ''::bytea)`,
      `CREATE TABLE ${s}.breakglass_tokens (
        jti text PRIMARY KEY,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz NOT NULL DEFAULT now()
      )`,
    ],
  },
];

/** The newest schema version this build of keywarden knows. */
export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// Arbitrary constant first key of the two-key advisory lock ('kw' in ASCII), so keywarden's
// lock does not collide with an application's own single-key advisory locks.
const LOCK_NAMESPACE = 0x6b77;

/**
 * Creates or upgrades the keywarden tables in `options.schema` (default `public`; created if
 * missing). Idempotent: a run on an up-to-date schema applies nothing. Safe to call from many
 * processes at once: runs serialise on a `pg_advisory_xact_lock` and everything a run applies
 * commits together.
 *
 * @returns the versions this call applied (empty when the schema was already up to date).
 * @throws InvalidInputError (`options.schema`) for a bad schema name; StoreError when the
 *   database fails (`retryable` for connection losses and serialization failures).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migrate } from 'keywarden/postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const { applied } = await migrate(pool, { schema: 'keywarden' }); // e.g. [1] then []
 * ```
 */
export async function migrate(pool: Pool, options?: { schema?: string }): Promise<{ applied: number[] }> {
  assertPool(pool);
  const schema = schemaOption(options);
  const s = quoteIdent(schema);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStoreError('migrate', err);
  }
  // A connection that dies while checked out emits 'error'; without a listener that would be
  // an uncaught exception. The failing query reports it to us anyway.
  const onError = (): void => {};
  client.on('error', onError);
  let broken = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
    // Checked before CREATE SCHEMA because CREATE SCHEMA IF NOT EXISTS still demands the
    // CREATE privilege on the database, which an app role often lacks for an existing schema.
    const exists = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.keywarden_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${s}.keywarden_migrations`)).rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const sql of m.up(s)) await client.query(sql);
      await client.query(`INSERT INTO ${s}.keywarden_migrations (version, applied_at) VALUES ($1, now())`, [m.version]);
      applied.push(m.version);
    }
    const commit = await client.query('COMMIT');
    // COMMIT of an aborted transaction "succeeds" as ROLLBACK: never report that as applied.
    if (commit.command === 'ROLLBACK') throw new StoreError('postgres key store: migrate failed (transaction rolled back)');
    return { applied };
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw toStoreError('migrate', err);
  } finally {
    client.off('error', onError);
    client.release(broken || undefined);
  }
}
