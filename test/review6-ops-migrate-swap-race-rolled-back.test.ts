/**
 * Review 6 (operator CLI, `keywarden migrate` from several deploy jobs at once): a migrator still
 * copying when another one swapped failed with "migrate failed (transaction rolled back)", exit 3.
 * Seen with four concurrent `keywarden migrate` processes on one fresh schema against
 * PostgreSQL 15 (one of them failed); the documented promise is "idempotent; safe from several
 * deploy jobs at once".
 *
 * Where: src/store/migrations.ts, the online copy loop. Its batch transaction takes the advisory
 * lock, then copyState reads `to_regclass('keywarden_copy')`. to_regclass takes no lock, so the
 * backend has not yet processed the catalog invalidations of the other migrator's swap (which
 * committed while this one waited for the lock): it still finds the dropped table, and the next
 * statement (`SELECT … FROM keywarden_copy`, which locks and so sees the drop) fails with 42P01.
 * The loop caught 42P01 and went on as "copied" — inside a transaction PostgreSQL had aborted, so
 * its COMMIT came back as ROLLBACK and migrate threw a non-retryable StoreError.
 *
 * The stale catalog lookup is simulated here (to_regclass answers "exists" once the swap is
 * done); everything else is the real server.
 *
 * Now: the batch transaction first reads keywarden_migrations (a locked read, so the catalog is
 * current) and stops when the migration was applied meanwhile; and a 42P01 from copyState is a
 * retryable error (a fresh transaction), never a swallowed error in an aborted one. The late
 * migrator returns normally and the schema is at the latest version.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATEST_MIGRATION, migrate, migrateUpTo } from '../src/store/migrations.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db?.close();
});

describe('migrate: a copier that finds the swap done by another migrator', () => {
  it('returns normally (no "transaction rolled back") and the schema is up to date (two connections: real server only)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `kw_r6race_${randomBytes(4).toString('hex')}`;
    const s = `"${schema}"`;
    const late = new pg.Pool({ connectionString: db.url, max: 1 });
    late.on('error', () => undefined);
    let stale = false;
    let other: Promise<unknown> | undefined;
    // The late migrator's connection: its next transaction begins once the other job is done,
    // and its catalog lookups are stale from then on.
    late.on('connect', (client) => {
      const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = async (sql: unknown, ...rest: unknown[]) => {
        if (sql === 'BEGIN' && other !== undefined) await other;
        if (stale && typeof sql === 'string' && sql.includes('to_regclass(')) return query('SELECT $1::text IS NOT NULL AS e', ...rest);
        return query(sql, ...rest);
      };
    });
    try {
      await migrateUpTo(db.pool, { schema }, 4);
      for (let i = 0; i < 5; i++) {
        await db.pool.query(
          `INSERT INTO ${s}.conversation_keys (conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at)
           VALUES ($1, 1, 'local:k', '\\x01', 'AES-256-GCM', 'active', now(), now())`, [`c-${i}`]);
      }
      let batches = 0;
      const run = migrate(late, {
        schema, batchRows: 1,
        onProgress: () => {
          if (++batches !== 1) return;
          // Between two of its batches (outside any transaction of its own), another deploy job
          // migrates the schema to the end: it copies the rest and swaps.
          other = migrate(db.pool, { schema, batchRows: 100 }).then(() => void (stale = true));
        },
      });
      await expect(run).resolves.toMatchObject({ applied: expect.any(Array) });
      const versions = await db.pool.query(`SELECT max(version)::int AS v FROM ${s}.keywarden_migrations`);
      expect(versions.rows[0].v).toBe(LATEST_MIGRATION);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.conversation_keys`)).rows[0].n).toBe(5);
    } finally {
      await late.end();
      await db.pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    }
  });
});
