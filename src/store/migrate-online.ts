/**
 * The online, resumable copy of migration 5 (issue #15, docs/KEYS.md §11): the compact,
 * partitioned key tables are built beside the old ones and filled while the old ones stay in
 * use, then swapped in by one short transaction.
 *
 * 1. Prepare (in {@link migrate}'s transaction): the new table `<table>_compact` with its
 *    partitions and indexes and the old table's privileges, a row trigger on the old table that
 *    upserts every insert and update into the new one (and deletes what it deletes), and the
 *    progress table `keywarden_copy`.
 *    From its commit on, every write to the old table reaches the new one.
 * 2. Copy: the rows that existed before (and any since), in primary-key order, `batchRows` at a
 *    time. Each batch is its own short transaction: it share-locks its rows in the old table
 *    (writers of those rows wait for the batch; readers never wait), inserts them into the new
 *    table unless the trigger already did (`ON CONFLICT DO NOTHING`: a row the trigger wrote is
 *    as new or newer), and records the last key copied. A crash or a kill loses at most the
 *    batch in flight: the next `migrate` resumes after the recorded key.
 * 3. Swap (in the next {@link migrate} transaction): drop the old table (and its trigger), rename
 *    the new one and its indexes. The lock it needs is held for milliseconds, and is waited for
 *    at most {@link DDL_LOCK}'s timeout before trying again later, so a long reader (a report, a
 *    dump) never queues everyone else behind the swap.
 * @module
 */
import type { PoolClient } from 'pg';
import { StoreError } from '../errors.js';

/** The key tables migration 5 rebuilds. */
export const COMPACT_TABLES = ['conversation_keys', 'branch_keys'] as const;

/**
 * Table locks of {@link migrate}'s schema steps (the swap among them): how long one waits (then
 * the step gives up for now), how many times a run tries, and the pause between tries (growing:
 * `pauseMs` × the try). @internal
 */
export const DDL_LOCK = { timeoutMs: 3_000, attempts: 10, pauseMs: 500 };

/** The columns of the new table, in its (padding-free) order. */
const COLUMNS = 'version, created_at, activated_at, sealed_reserved, superseded_at, shredded_at, master_key, suite, state, shred_scope, conversation_id, wrapped_key';

/** `r`'s old-format columns as the new table's (`mk` is its master key reference). */
function converted(s: string, r: string, mk: string): string {
  return `${r}.version, ${r}.created_at, ${r}.activated_at, ${r}.sealed_reserved, ${r}.superseded_at, ${r}.shredded_at, ${mk},
    ${r}.suite::${s}.keywarden_suite, ${r}.state::${s}.keywarden_key_state, ${r}.shred_scope::${s}.keywarden_shred_scope, ${r}.conversation_id, ${r}.wrapped_key`;
}

/** Step 1 for one table: the new table beside the old, and the trigger that keeps it in step. */
export function prepareCompactTable(s: string, table: string, partitions: number): string[] {
  const t = `${s}.${table}`;
  const p = `${s}.${table}_compact`;
  const parts = Array.from({ length: partitions }, (_, i) =>
    // fillfactor: room on every page (~800 bytes, five row versions) for the new row version of
    // a reservation (sealed_reserved is in no index), so the UPDATE stays HOT; pruning reclaims
    // the dead versions when the page is next read. 90, not 80: as HOT (bench:store measures
    // both, busy rows packed on the same pages included) and 26 bytes less per row.
    `CREATE TABLE ${s}.${table}_p${i} PARTITION OF ${p} FOR VALUES WITH (MODULUS ${partitions}, REMAINDER ${i}) WITH (fillfactor = 90)`);
  const fn = `${s}.keywarden_copy_${table}`;
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
      CONSTRAINT ${table}_compact_pkey PRIMARY KEY (conversation_id, version),
      CONSTRAINT ${table}_state CHECK (
        (state = 'active' AND superseded_at IS NULL AND shredded_at IS NULL AND shred_scope IS NULL)
        OR (state = 'superseded' AND superseded_at IS NOT NULL AND shredded_at IS NULL AND shred_scope IS NULL)
        OR (state = 'shredded' AND shredded_at IS NOT NULL AND shred_scope IS NOT NULL AND length(wrapped_key) = 0)
      )
    ) PARTITION BY HASH (conversation_id)`,
    ...parts,
    // Built now, on the empty table, so the swap never waits for an index build. The database
    // keeps at most one active version per conversation (a unique index on a partitioned table
    // must contain the partition key: conversation_id is it). The old table has the same rule,
    // and the trigger replays its row changes in their order, so the copy never breaks it.
    `CREATE UNIQUE INDEX ${table}_compact_one_active ON ${p} (conversation_id) WHERE state = 'active'`,
    `CREATE INDEX ${table}_compact_superseded_at ON ${p} (superseded_at, conversation_id, version) WHERE state = 'superseded'`,
    `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $kw$
    DECLARE mk int;
    BEGIN
      IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.conversation_id, OLD.version) IS DISTINCT FROM (NEW.conversation_id, NEW.version)) THEN
        DELETE FROM ${p} WHERE conversation_id = OLD.conversation_id AND version = OLD.version;
      END IF;
      IF TG_OP = 'DELETE' THEN RETURN NULL; END IF;
      SELECT min(id) INTO mk FROM ${s}.keywarden_master_keys WHERE name = NEW.master_key_id;
      IF mk IS NULL THEN
        INSERT INTO ${s}.keywarden_master_keys (name) VALUES (NEW.master_key_id) RETURNING id INTO mk;
      END IF;
      INSERT INTO ${p} (${COLUMNS}) VALUES (${converted(s, 'NEW', 'mk')})
      ON CONFLICT (conversation_id, version) DO UPDATE SET
        (created_at, activated_at, sealed_reserved, superseded_at, shredded_at, master_key, suite, state, shred_scope, wrapped_key) =
        (EXCLUDED.created_at, EXCLUDED.activated_at, EXCLUDED.sealed_reserved, EXCLUDED.superseded_at, EXCLUDED.shredded_at,
         EXCLUDED.master_key, EXCLUDED.suite, EXCLUDED.state, EXCLUDED.shred_scope, EXCLUDED.wrapped_key);
      RETURN NULL;
    END $kw$`,
    // The old table's privileges, granted on the new one now (not at the swap): roles that may
    // write the old table run the trigger, which writes the new one and the master key table;
    // after the swap they use the new table as they used the old.
    `DO $kw$ DECLARE r record; BEGIN
      FOR r IN SELECT a.privilege_type AS what, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END AS who
        FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee
        WHERE c.oid = '${t}'::regclass AND a.grantee <> c.relowner
      LOOP
        EXECUTE format('GRANT %s ON TABLE ${p} TO %s', r.what, r.who);
        IF r.what = 'INSERT' THEN EXECUTE format('GRANT SELECT, INSERT ON TABLE ${s}.keywarden_master_keys TO %s', r.who); END IF;
      END LOOP;
    END $kw$`,
    `CREATE TRIGGER keywarden_copy AFTER INSERT OR UPDATE OR DELETE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
    `INSERT INTO ${s}.keywarden_copy (table_name) VALUES ('${table}')`,
  ];
}

/** The progress table of step 2 (dropped by the swap). */
export function progressTable(s: string): string {
  return `CREATE TABLE ${s}.keywarden_copy (
    table_name text PRIMARY KEY,
    after_id text NULL,
    after_version bigint NULL,
    copied bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false
  )`;
}

/** Step 3 for one table: in with the new, out with the old. */
export function swapCompactTable(s: string, table: string): string[] {
  return [
    `DROP TABLE ${s}.${table}`, // its trigger with it
    `DROP FUNCTION ${s}.keywarden_copy_${table}()`,
    `ALTER TABLE ${s}.${table}_compact RENAME TO ${table}`,
    `ALTER INDEX ${s}.${table}_compact_pkey RENAME TO ${table}_pkey`,
    `ALTER INDEX ${s}.${table}_compact_one_active RENAME TO ${table}_one_active`,
    `ALTER INDEX ${s}.${table}_compact_superseded_at RENAME TO ${table}_superseded_at`,
  ];
}

/** Where step 2 stands: not prepared, copying, or copied (ready to swap). */
export async function copyState(client: PoolClient, s: string): Promise<'unprepared' | 'copying' | 'copied'> {
  const exists = await client.query(`SELECT to_regclass($1) IS NOT NULL AS e`, [`${s}.keywarden_copy`]);
  if (!(exists.rows[0] as { e: boolean }).e) return 'unprepared';
  const left = await client.query(`SELECT count(*)::int AS n FROM ${s}.keywarden_copy WHERE NOT done`);
  return (left.rows[0] as { n: number }).n === 0 ? 'copied' : 'copying';
}

/** Progress of the copy, as reported to `migrate`'s `onProgress`. */
export interface CopyProgress {
  /** The migration copying (5). */
  version: number;
  /** The key table being copied. */
  table: string;
  /** Rows copied into the new table so far (the trigger's own writes not counted). */
  copied: number;
  /** Whether this table's copy is complete. */
  done: boolean;
}

/**
 * One batch of step 2, inside the caller's transaction (which holds the migration lock): copies
 * up to `batchRows` rows of the first table not yet done. Returns its progress, or undefined
 * when every table is done.
 */
export async function copyBatch(client: PoolClient, s: string, batchRows: number): Promise<Omit<CopyProgress, 'version'> | undefined> {
  const cursor = (await client.query(
    `SELECT table_name, after_id, after_version, copied FROM ${s}.keywarden_copy WHERE NOT done ORDER BY table_name LIMIT 1 FOR UPDATE`,
  )).rows[0] as { table_name: string; after_id: string | null; after_version: string | null; copied: string } | undefined;
  if (cursor === undefined) return undefined;
  const table = cursor.table_name;
  if (!(COMPACT_TABLES as readonly string[]).includes(table)) throw new StoreError('postgres key store: migrate: keywarden_copy names a table migration 5 does not copy');
  const t = `${s}.${table}`;
  // The next rows in primary-key order (the old table's own index, its own collation), locked
  // FOR SHARE: an update or delete of one of them waits for this batch, so no row changes
  // between being read here and being copied below, and the trigger of a concurrent writer
  // never touches a row this batch inserts (no lock cycle through the new table).
  const after = cursor.after_id === null ? 'true' : '(k.conversation_id, k.version) > ($2, $3)';
  const params: unknown[] = cursor.after_id === null ? [batchRows] : [batchRows, cursor.after_id, cursor.after_version];
  const locked = (await client.query(
    `WITH x AS (SELECT k.conversation_id, k.version FROM ${t} k WHERE ${after} ORDER BY k.conversation_id, k.version LIMIT $1 FOR SHARE)
     SELECT (SELECT count(*) FROM x)::int AS n, l.conversation_id AS id, l.version::text AS v
     FROM (SELECT * FROM x ORDER BY conversation_id DESC, version DESC LIMIT 1) l`,
    params,
  )).rows[0] as { n: number; id: string; v: string } | undefined;
  const n = locked?.n ?? 0;
  if (locked !== undefined) {
    // The locked rows are the key range (after, last]: read it as a range (one index range
    // scan). A row inserted into the range since by a committed writer is in the new table
    // already (its trigger), so it conflicts and is skipped; an uncommitted one is not seen.
    const range = (join = '') => `FROM ${t} k${join} WHERE (k.conversation_id, k.version) <= ($1, $2)${cursor.after_id === null ? '' : ' AND (k.conversation_id, k.version) > ($3, $4)'}`;
    const rangeParams = [locked.id, locked.v, ...(cursor.after_id === null ? [] : [cursor.after_id, cursor.after_version])];
    // Master key ids first met in this batch (the trigger adds those of rows written since step 1).
    await client.query(
      `INSERT INTO ${s}.keywarden_master_keys (name)
       SELECT DISTINCT k.master_key_id ${range()}
       AND NOT EXISTS (SELECT 1 FROM ${s}.keywarden_master_keys m WHERE m.name = k.master_key_id)`,
      rangeParams,
    );
    await client.query(
      `INSERT INTO ${s}.${table}_compact (${COLUMNS})
       SELECT ${converted(s, 'k', 'm.id')} ${range(` JOIN (SELECT name, min(id) AS id FROM ${s}.keywarden_master_keys GROUP BY name) m ON m.name = k.master_key_id`)}
       ON CONFLICT (conversation_id, version) DO NOTHING`,
      rangeParams,
    );
  }
  // Done only at an empty batch, not at a short one: PostgreSQL fills the LIMIT past rows it
  // skips (deleted while the batch waited for them), but the end must not rest on that.
  const done = n === 0;
  const copied = Number(cursor.copied) + n;
  await client.query(
    `UPDATE ${s}.keywarden_copy SET after_id = coalesce($2, after_id), after_version = coalesce($3::bigint, after_version), copied = $4, done = $5 WHERE table_name = $1`,
    [table, locked?.id ?? null, locked?.v ?? null, copied, done],
  );
  return { table, copied, done };
}
