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
import { assertInt, ownOptions } from '../util/validate.js';
import { COMPACT_TABLES, type CopyProgress, DDL_LOCK, copyBatch, copyState, prepareCompactTable, progressTable, swapCompactTable } from './migrate-online.js';
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
  /**
   * An online migration's last statements (./migrate-online.ts): `up` only prepares, the rows
   * are then copied in batches of their own transactions, and `finish` completes the migration
   * in a later run's transaction.
   */
  finish?(s: string): string[];
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
        ) NOT VALID`,
      // NOT VALID and no index builds: this table only lives on until migration 5's swap, and
      // on an existing (0.1) table a validating scan would hold its exclusive lock, and an index
      // build its writers, for as long as the table is large. Every existing row satisfies the
      // rule (the new columns are NULL); new rows are checked. Migration 5's tables have both.
      // (The scan indexes were here until migration 5 went online; migration 7 drops the one
      // left by a schema built then.)
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
      // The new tables are filled online, in batches, resumably (./migrate-online.ts).
      progressTable(s),
      ...COMPACT_TABLES.flatMap((table) => prepareCompactTable(s, table, partitions)),
    ],
    finish: (s) => [
      // The swap needs the old tables to itself for a moment (waiting at most DDL_LOCK's timeout,
      // as every schema step: see migrateUpTo).
      `LOCK TABLE ${COMPACT_TABLES.map((t) => `${s}.${t}`).join(', ')} IN ACCESS EXCLUSIVE MODE`,
      ...COMPACT_TABLES.flatMap((table) => swapCompactTable(s, table)),
      `DROP TABLE ${s}.keywarden_copy`,
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
    // For schemas built by earlier development builds of migration 5, which created this index
    // and left the *_compact primary key names; today's migration 5 does neither, and these
    // statements find nothing to do.
    up: (s) => [
      `DROP INDEX IF EXISTS ${s}.conversation_keys_activated_at`,
      `DROP INDEX IF EXISTS ${s}.branch_keys_activated_at`,
      `ALTER INDEX IF EXISTS ${s}.conversation_keys_compact_pkey RENAME TO conversation_keys_pkey`,
      `ALTER INDEX IF EXISTS ${s}.branch_keys_compact_pkey RENAME TO branch_keys_pkey`,
    ],
  },
  {
    // The outbox replay guard (docs/AUDIT.md §4.8, src/audit/replay-guard.ts), stored with each
    // tree head it was written with. Adding a nullable column is a catalog change: no rewrite.
    version: 8,
    up: (s) => [`ALTER TABLE ${s}.audit_tree ADD COLUMN guard bytea`],
  },
  {
    // The sequencer's MAC over each receipt (docs/AUDIT.md §4.2, records.ts receiptMac): a
    // record without entries has nothing else its writer can check. Nullable: a catalog change.
    version: 9,
    up: (s) => [`ALTER TABLE ${s}.audit_receipts ADD COLUMN mac bytea`],
  },
];

/** Hash partitions of each key table when {@link migrate} is not told (`options.partitions`). */
const DEFAULT_PARTITIONS = 16;

/** The newest schema version this build of keywarden knows. */
export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

// Arbitrary constant first key of the two-key advisory lock ('kw' in ASCII), so keywarden's
// lock does not collide with an application's own single-key advisory locks.
const LOCK_NAMESPACE = 0x6b77;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The schema (default `public`; created if missing). */
  schema?: string;
  /**
   * Hash partitions of each key table (1..1024, default 16), used when migration 5 is applied
   * (later runs ignore it): choose it for the size you expect (e.g. 64 for 10^9 conversations:
   * partitions of ~15M rows, each its own vacuum unit).
   */
  partitions?: number;
  /** Rows per transaction of an online copy (1..1,000,000, default 5,000; migration 5). */
  batchRows?: number;
  /**
   * Called after each batch of an online copy, with how far it got. An error it throws stops
   * the run (nothing of the batch is lost; the next run resumes after it).
   */
  onProgress?: (progress: CopyProgress) => void;
  /**
   * Run an online copy to its end but not its swap (default false): the previous release keeps
   * its tables, and a later `migrate` without it swaps in milliseconds — the cut-over, run
   * when the new release is deployed. The result's `readyToSwap` names the waiting migration.
   */
  copyOnly?: boolean;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** The versions this call applied (empty when the schema was already up to date). */
  applied: number[];
  /** With `copyOnly`: the migration whose copy is complete and whose swap waits. */
  readyToSwap?: number;
}

export type { CopyProgress } from './migrate-online.js';

/**
 * Creates or upgrades the keywarden tables in `options.schema` (default `public`; created if
 * missing). Idempotent: a run on an up-to-date schema applies nothing. Safe to call from many
 * processes at once: runs serialise on a `pg_advisory_xact_lock`, and the pending migrations
 * commit together — except around an online copy.
 *
 * Migration 5 (the compact, partitioned key tables) is online: its new tables are filled while
 * the old ones stay in use by the running release (reads never wait; a write waits at most for
 * the batch holding its row), in batches of `options.batchRows`, each its own transaction, and
 * a stopped run resumes where it stopped. Its last step swaps the tables in one short
 * transaction. docs/KEYS.md §11.
 *
 * With `copyOnly`, the copy runs (or resumes) to its end while the previous release serves,
 * and the swap waits for a later call: the cut-over of a deploy (docs/KEYS.md §11.1).
 *
 * @returns the versions this call applied (empty when the schema was already up to date) and,
 *   with `copyOnly`, `readyToSwap`.
 * @throws InvalidInputError naming the option for a bad `schema`, `partitions`, `batchRows`,
 *   `onProgress` or `copyOnly`; StoreError when the database fails (`retryable` for connection losses,
 *   serialization failures and a swap that could not take its lock).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migrate } from 'keywarden/postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const { applied } = await migrate(pool, {
 *   schema: 'keywarden',
 *   onProgress: (p) => console.error(`${p.table}: ${p.copied} rows copied`),
 * }); // e.g. [1, 2, 3, 4, 5, 6, 7] then []
 * ```
 */
export async function migrate(pool: Pool, options?: MigrateOptions): Promise<MigrateResult> {
  return migrateUpTo(pool, options, LATEST_MIGRATION);
}

/** Times a copy batch is retried after a deadlock, serialization failure or lost connection. */
const BATCH_ATTEMPTS = 5;

/**
 * {@link migrate}, applying versions up to `target` only: tests build an older schema with it
 * to test the migrations that follow on populated data.
 * @internal
 */
export async function migrateUpTo(pool: Pool, options: MigrateOptions | undefined, target: number): Promise<MigrateResult> {
  assertPool(pool);
  guardPool(pool);
  const o = ownOptions('options', options, ['schema', 'partitions', 'batchRows', 'onProgress', 'copyOnly']);
  const schema = schemaOption(o.schema === undefined ? undefined : { schema: o.schema });
  const partitions = o.partitions ?? DEFAULT_PARTITIONS;
  assertInt('options.partitions', partitions, 1, 1024);
  const batchRows = o.batchRows ?? 5_000;
  assertInt('options.batchRows', batchRows, 1, 1_000_000);
  const onProgress = o.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidInputError('options.onProgress', 'expected a function');
  const copyOnly = o.copyOnly ?? false;
  if (typeof copyOnly !== 'boolean') throw new InvalidInputError('options.copyOnly', 'expected a boolean');
  const choices: MigrateChoices = { partitions };
  const s = quoteIdent(schema);
  const run = async (client: PoolClient, sql: string, params?: unknown[]) => {
    try {
      return await client.query(sql, params);
    } catch (err) {
      throw toStoreError('migrate', err);
    }
  };
  const transaction = <T>(fn: (client: PoolClient) => Promise<T>) => withPgTransaction(
    pool,
    (client, sql) => run(client, sql),
    {
      connect: (err) => toStoreError('migrate', err),
      // COMMIT of an aborted transaction "succeeds" as ROLLBACK: never report that as applied.
      rolledBack: () => new StoreError('postgres key store: migrate failed (transaction rolled back)'),
    },
    async (client) => {
      await run(client, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
      return fn(client);
    },
  );

  const applied: number[] = [];
  let lockAttempts = 0;
  for (;;) {
    // Every pending migration in one transaction, up to an online copy still to be done.
    let step: { applied: number[]; copy?: number; ready?: number };
    try {
      step = await transaction(async (client) => {
        // A schema change waiting behind a long reader would queue every other statement on the
        // table behind it: wait a few seconds at most, then try again (below).
        await run(client, `SET LOCAL lock_timeout = ${DDL_LOCK.timeoutMs}`);
        // Checked before CREATE SCHEMA because CREATE SCHEMA IF NOT EXISTS still demands the
        // CREATE privilege on the database, which an app role often lacks for an existing schema.
        const exists = await run(client, 'SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema]);
        if (exists.rowCount === 0) await run(client, `CREATE SCHEMA ${s}`);
        await run(client, `CREATE TABLE IF NOT EXISTS ${s}.keywarden_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
        const done = new Set((await run(client, `SELECT version FROM ${s}.keywarden_migrations`)).rows.map((r) => Number((r as { version: unknown }).version)));
        const now: number[] = [];
        for (const m of MIGRATIONS) {
          if (done.has(m.version) || m.version > target) continue;
          if (m.finish === undefined) {
            for (const sql of m.up(s, choices)) await run(client, sql);
          } else {
            const state = await copyState(client, s).catch((err: unknown) => { throw toStoreError('migrate', err); });
            if (state === 'unprepared') for (const sql of m.up(s, choices)) await run(client, sql);
            if (state !== 'copied') return { applied: now, copy: m.version };
            if (copyOnly) return { applied: now, ready: m.version };
            for (const sql of m.finish(s)) await run(client, sql);
          }
          await run(client, `INSERT INTO ${s}.keywarden_migrations (version, applied_at) VALUES ($1, now())`, [m.version]);
          now.push(m.version);
        }
        return { applied: now };
      });
    } catch (err) {
      // 55P03: a lock wait timed out behind a long transaction. Try again shortly.
      if (sqlState(err) === '55P03' && ++lockAttempts < DDL_LOCK.attempts) {
        await sleep(DDL_LOCK.pauseMs * lockAttempts);
        continue;
      }
      if (sqlState(err) === '55P03') {
        throw new StoreError('postgres key store: migrate could not take a table lock for a schema change (a long transaction holds it); run it again', err, true);
      }
      throw err;
    }
    applied.push(...step.applied);
    if (step.ready !== undefined) return { applied, readyToSwap: step.ready };
    if (step.copy === undefined) return { applied };
    // The online copy: one batch per transaction until every table is done.
    for (let attempt = 1; ;) {
      let progress: Awaited<ReturnType<typeof copyBatch>>;
      try {
        const copying = step.copy;
        progress = await transaction(async (client) => {
          // Another migrator may have finished the copy, and swapped, meanwhile. Asked of
          // keywarden_migrations first: a locked read, after which this backend's catalog is
          // current. copyState's to_regclass takes no lock and, right after the wait for the
          // migration lock, could still find the copy table the swap dropped; its next read then
          // failed with 42P01 (CI, 2026-12-02), and taking that as "copied" inside the aborted
          // transaction made its COMMIT a ROLLBACK: migrate failed (outside review 6, 2026-12-02;
          // test/review6-ops-migrate-swap-race-rolled-back.test.ts).
          const swapped = await run(client, `SELECT 1 FROM ${s}.keywarden_migrations WHERE version = $1`, [copying]);
          if ((swapped.rowCount ?? 0) > 0) return undefined;
          const state = await copyState(client, s).catch((err: unknown) => {
            // The transaction is aborted: a fresh one (the retry below) looks again.
            if ((err as { code?: unknown }).code === '42P01') throw new StoreError('postgres key store: migrate: the copy table changed under this run', err, true);
            throw err;
          });
          if (state !== 'copying') return undefined;
          return copyBatch(client, s, batchRows);
        });
      } catch (err) {
        const e = err instanceof StoreError ? err : toStoreError('migrate', err);
        if (e.retryable && attempt++ < BATCH_ATTEMPTS) {
          await sleep(100 * attempt);
          continue;
        }
        throw e;
      }
      if (progress === undefined) break;
      attempt = 1;
      onProgress?.({ version: step.copy, ...progress });
    }
  }
}

/** The SQLSTATE of a driver error, also when wrapped in a StoreError's cause. */
function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
