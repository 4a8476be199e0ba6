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
import { StoreError } from '../errors.js';
import { assertPool, quoteIdent, schemaOption, toStoreError, withPgTransaction } from './pg.js';

export { DEFAULT_SCHEMA } from './pg.js';

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
  {
    // Key lifecycle (issue #12, docs/KEYS.md): tombstones of shredded versions (state
    // 'shredded', wrapped key deleted), the scans retention uses (partial indexes in scan order,
    // so a page is an index range), and maintenance job state (master-key re-wrap progress).
    version: 3,
    up: (s) => [
      `ALTER TABLE ${s}.conversation_keys
        ADD COLUMN shredded_at timestamptz NULL,
        ADD COLUMN shred_scope text NULL,
        DROP CONSTRAINT conversation_keys_state_check,
        DROP CONSTRAINT conversation_keys_check,
        ADD CONSTRAINT conversation_keys_state CHECK (
          (state = 'active' AND superseded_at IS NULL AND shredded_at IS NULL AND shred_scope IS NULL)
          OR (state = 'superseded' AND superseded_at IS NOT NULL AND shredded_at IS NULL AND shred_scope IS NULL)
          OR (state = 'shredded' AND shredded_at IS NOT NULL AND shred_scope IN ('version', 'conversation') AND length(wrapped_key) = 0)
        )`,
      `CREATE INDEX conversation_keys_superseded_at ON ${s}.conversation_keys (superseded_at, conversation_id, version) WHERE state = 'superseded'`,
      `CREATE INDEX conversation_keys_activated_at ON ${s}.conversation_keys (activated_at, conversation_id, version) WHERE state <> 'shredded'`,
      // Branch keys (docs/KEYS.md §9): the same record shape, a table of their own (the
      // PostgresKeyStore with `keys: 'branches'`), so every store guarantee holds for them too.
      `CREATE TABLE ${s}.branch_keys (LIKE ${s}.conversation_keys INCLUDING ALL)`,
      `CREATE TABLE ${s}.keywarden_jobs (
        name text PRIMARY KEY,
        state text NOT NULL, -- JSON (text, not jsonb: a job may record ids containing U+0000)
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
    ],
  },
  {
    // The audit log at scale (issue #14, src/audit/postgres-store.ts): tiles, an insert-only tree
    // head, the outbox, receipts, quarantine, the sequencer lease, and the data migration's
    // progress. audit_head becomes audit_head_v1, so 0.1 instances fail closed from here on
    // (their appends lock the head row) and the entries the data migration reads stop changing.
    version: 4,
    up: (s) => [
      `CREATE TABLE ${s}.audit_tiles (
        level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
        idx bigint NOT NULL CHECK (idx >= 0),
        width smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
        hashes bytea NOT NULL CHECK (length(hashes) = 32 * width),
        PRIMARY KEY (level, idx, width)
      )`,
      `CREATE TABLE ${s}.audit_tree (
        start bigint PRIMARY KEY,
        size bigint NOT NULL CHECK (size > start),
        note text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${s}.audit_outbox (
        id bigserial PRIMARY KEY,
        bundle bytea NOT NULL,
        flags smallint NOT NULL,
        mac bytea NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${s}.audit_receipts (
        outbox_id bigint PRIMARY KEY,
        idx bigint NOT NULL,
        count bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${s}.audit_quarantine (
        outbox_id bigint NOT NULL,
        bundle bytea NOT NULL,
        flags smallint NOT NULL,
        mac bytea NOT NULL,
        reason text NOT NULL,
        quarantined_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${s}.audit_sequencer (id int PRIMARY KEY CHECK (id = 1), holder text NOT NULL, expires_at timestamptz NOT NULL)`,
      `INSERT INTO ${s}.audit_sequencer (id, holder, expires_at) VALUES (1, '', '-infinity')`,
      `CREATE TABLE ${s}.audit_migration (id int PRIMARY KEY CHECK (id = 1), size bigint NOT NULL, done boolean NOT NULL)`,
      // Nothing to migrate in a schema whose 0.1 log is empty (every new one).
      `INSERT INTO ${s}.audit_migration (id, size, done) SELECT 1, 0, NOT EXISTS (SELECT 1 FROM ${s}.audit_entries)`,
      `ALTER TABLE ${s}.audit_head RENAME TO audit_head_v1`,
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
  const run = async (client: PoolClient, sql: string, params?: unknown[]) => {
    try {
      return await client.query(sql, params);
    } catch (err) {
      throw toStoreError('migrate', err);
    }
  };
  return withPgTransaction(
    pool,
    (client, sql) => run(client, sql),
    {
      connect: (err) => toStoreError('migrate', err),
      // COMMIT of an aborted transaction "succeeds" as ROLLBACK: never report that as applied.
      rolledBack: () => new StoreError('postgres key store: migrate failed (transaction rolled back)'),
    },
    async (client) => {
      await run(client, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
      // Checked before CREATE SCHEMA because CREATE SCHEMA IF NOT EXISTS still demands the
      // CREATE privilege on the database, which an app role often lacks for an existing schema.
      const exists = await run(client, 'SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await run(client, `CREATE SCHEMA ${s}`);
      await run(client, `CREATE TABLE IF NOT EXISTS ${s}.keywarden_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await run(client, `SELECT version FROM ${s}.keywarden_migrations`)).rows.map((r) => Number((r as { version: unknown }).version)));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const sql of m.up(s)) await run(client, sql);
        await run(client, `INSERT INTO ${s}.keywarden_migrations (version, applied_at) VALUES ($1, now())`, [m.version]);
        applied.push(m.version);
      }
      return { applied };
    },
  );
}
