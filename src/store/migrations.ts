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
import { ownOptions } from '../util/validate.js';
import { assertPool, guardPool, quoteIdent, schemaOption, toStoreError, withPgTransaction } from './pg.js';

export { DEFAULT_SCHEMA } from './pg.js';

/** Choices made when a migration is applied (options of {@link migrate}). */
interface MigrateChoices {
  /** Hash partitions of the key tables (migration 5). */
  partitions: number;
}

interface Migration {
  version: number;
  /** Statements for the quoted schema `s`. */
  up(s: string, choices: MigrateChoices): string[];
}

/**
 * Migration 5 for one key table: the same rows in a compact, hash-partitioned table (issue #15,
 * docs/KEYS.md §11). Built beside the old table, filled from it, then swapped in by rename.
 */
function compactKeyTable(s: string, table: string, partitions: number): string[] {
  const t = `${s}.${table}`;
  const p = `${s}.${table}_compact`;
  const parts = Array.from({ length: partitions }, (_, i) =>
    // fillfactor: room on every page for the new row version of a reservation (sealed_reserved
    // is in no index), so the UPDATE stays HOT.
    `CREATE TABLE ${s}.${table}_p${i} PARTITION OF ${p} FOR VALUES WITH (MODULUS ${partitions}, REMAINDER ${i}) WITH (fillfactor = 80)`);
  return [
    // Fixed-width columns first (no alignment padding), the two varlena columns last.
    `CREATE TABLE ${p} (
      version bigint NOT NULL CHECK (version >= 1),
      created_at timestamptz NOT NULL,
      activated_at timestamptz NOT NULL,
      sealed_reserved bigint NOT NULL DEFAULT 0 CHECK (sealed_reserved >= 0),
      superseded_at timestamptz NULL,
      shredded_at timestamptz NULL,
      master_key int NOT NULL REFERENCES ${s}.keywarden_master_keys (id),
      suite ${s}.keywarden_suite NOT NULL,
      state ${s}.keywarden_key_state NOT NULL,
      shred_scope ${s}.keywarden_shred_scope NULL,
      conversation_id text COLLATE "C" NOT NULL,
      wrapped_key bytea NOT NULL,
      PRIMARY KEY (conversation_id, version),
      CONSTRAINT ${table}_state CHECK (
        (state = 'active' AND superseded_at IS NULL AND shredded_at IS NULL AND shred_scope IS NULL)
        OR (state = 'superseded' AND superseded_at IS NOT NULL AND shredded_at IS NULL AND shred_scope IS NULL)
        OR (state = 'shredded' AND shredded_at IS NOT NULL AND shred_scope IS NOT NULL AND length(wrapped_key) = 0)
      )
    ) PARTITION BY HASH (conversation_id)`,
    ...parts,
    `INSERT INTO ${p} (version, created_at, activated_at, sealed_reserved, superseded_at, shredded_at, master_key, suite, state, shred_scope, conversation_id, wrapped_key)
      SELECT k.version, k.created_at, k.activated_at, k.sealed_reserved, k.superseded_at, k.shredded_at, m.id, k.suite::${s}.keywarden_suite,
        k.state::${s}.keywarden_key_state, k.shred_scope::${s}.keywarden_shred_scope, k.conversation_id, k.wrapped_key
      FROM ${t} k JOIN ${s}.keywarden_master_keys m ON m.name = k.master_key_id`,
    `DROP TABLE ${t}`,
    `ALTER TABLE ${p} RENAME TO ${table}`,
    // The database keeps at most one active version per conversation (a unique index on a
    // partitioned table must contain the partition key: conversation_id is it).
    `CREATE UNIQUE INDEX ${table}_one_active ON ${t} (conversation_id) WHERE state = 'active'`,
    `CREATE INDEX ${table}_superseded_at ON ${t} (superseded_at, conversation_id, version) WHERE state = 'superseded'`,
    `CREATE INDEX ${table}_activated_at ON ${t} (activated_at, conversation_id, version) WHERE state <> 'shredded'`,
  ];
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
    // Change notifications without LISTEN (issue #15, docs/KEYS.md §5): every rotation and shred
    // also appends its NOTIFY payload here, and subscribers that cannot LISTEN poll by `seq`.
    // IF NOT EXISTS: the statements are safe to re-apply should this migration be renumbered
    // when concurrent branches' migrations merge.
    version: 4,
    up: (s) => [
      `CREATE TABLE IF NOT EXISTS ${s}.keywarden_key_changes (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('keys', 'branches')),
        payload text NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`,
      `CREATE INDEX IF NOT EXISTS keywarden_key_changes_at ON ${s}.keywarden_key_changes (at)`,
    ],
  },
  {
    // Compact, hash-partitioned key tables (issue #15, docs/KEYS.md §11): master key ids as
    // small integer references, suite/state/scope as enums (4 bytes, not repeated text), ids in
    // byte order (COLLATE "C", the same on every platform), partitions by conversation id (the
    // column Citus would distribute by), fillfactor for HOT reservation updates.
    version: 5,
    up: (s, { partitions }) => [
      // No unique constraint on name: a transaction that meets a new master key id adds it
      // without waiting for another uncommitted transaction adding the same (a unique index
      // would make it wait, inside keywarden's key-and-audit transaction). Two rows may then
      // name the same key; each id still names exactly one.
      `CREATE TABLE ${s}.keywarden_master_keys (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text COLLATE "C" NOT NULL)`,
      `CREATE INDEX keywarden_master_keys_name ON ${s}.keywarden_master_keys (name)`,
      `CREATE TYPE ${s}.keywarden_suite AS ENUM ('AES-256-GCM', 'XChaCha20-Poly1305')`,
      `CREATE TYPE ${s}.keywarden_key_state AS ENUM ('active', 'superseded', 'shredded')`,
      `CREATE TYPE ${s}.keywarden_shred_scope AS ENUM ('version', 'conversation')`,
      `INSERT INTO ${s}.keywarden_master_keys (name)
        SELECT master_key_id FROM ${s}.conversation_keys UNION SELECT master_key_id FROM ${s}.branch_keys ORDER BY 1`,
      ...compactKeyTable(s, 'conversation_keys', partitions),
      ...compactKeyTable(s, 'branch_keys', partitions),
    ],
  },
  {
    // The audit log at scale (issue #14, src/audit/postgres-store.ts): tiles, an insert-only tree
    // head, the outbox, receipts, quarantine, the sequencer lease, and the data migration's
    // progress. audit_head becomes audit_head_v1, so 0.1 instances fail closed from here on
    // (their appends lock the head row) and the entries the data migration reads stop changing.
    version: 6,
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
  {
    // Smaller key rows (issue #15, docs/KEYS.md §11): the activation-time index held every
    // unshredded version (~64 bytes per row, a sixth of the row) for one batch job, retention's
    // opt-in idle pass, which now reads the key table in primary-key order instead. Dropping an
    // index is a catalog change: a brief lock, no table rewrite.
    version: 7,
    up: (s) => [
      `DROP INDEX IF EXISTS ${s}.conversation_keys_activated_at`,
      `DROP INDEX IF EXISTS ${s}.branch_keys_activated_at`,
      // Migration 5 built the tables as *_compact: give their primary keys the tables' names.
      `ALTER INDEX IF EXISTS ${s}.conversation_keys_compact_pkey RENAME TO conversation_keys_pkey`,
      `ALTER INDEX IF EXISTS ${s}.branch_keys_compact_pkey RENAME TO branch_keys_pkey`,
    ],
  },
];

/** Hash partitions of each key table when {@link migrate} is not told (`options.partitions`). */
const DEFAULT_PARTITIONS = 16;

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
 * `options.partitions` (1..1024, default 16) is the number of hash partitions of each key table,
 * used when migration 5 is applied (later runs ignore it): choose it for the size you expect
 * (e.g. 64 for 10^9 conversations: partitions of ~15M rows, each its own vacuum unit).
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
export async function migrate(pool: Pool, options?: { schema?: string; partitions?: number }): Promise<{ applied: number[] }> {
  return migrateUpTo(pool, options, LATEST_MIGRATION);
}

/**
 * {@link migrate}, applying versions up to `target` only: tests build an older schema with it
 * to test the migrations that follow on populated data.
 * @internal
 */
export async function migrateUpTo(pool: Pool, options: { schema?: string; partitions?: number } | undefined, target: number): Promise<{ applied: number[] }> {
  assertPool(pool);
  guardPool(pool);
  const o = ownOptions('options', options, ['schema', 'partitions']);
  const schema = schemaOption(o.schema === undefined ? undefined : { schema: o.schema });
  const partitions = o.partitions ?? DEFAULT_PARTITIONS;
  if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1 || partitions > 1024) {
    throw new InvalidInputError('options.partitions', 'expected an integer from 1 to 1024');
  }
  const choices: MigrateChoices = { partitions };
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
        if (done.has(m.version) || m.version > target) continue;
        for (const sql of m.up(s, choices)) await run(client, sql);
        await run(client, `INSERT INTO ${s}.keywarden_migrations (version, applied_at) VALUES ($1, now())`, [m.version]);
        applied.push(m.version);
      }
      return { applied };
    },
  );
}
