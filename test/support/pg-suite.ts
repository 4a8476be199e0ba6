/**
 * One test file's PostgreSQL pool with keywarden's key-store schema migrated: opened in
 * `beforeAll` (a fresh schema, test/support/pg.ts), dropped and closed in `afterAll`.
 */
import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../../src/store/migrations.js';
import { type TestPool, testPool } from './pg.js';

/**
 * The file's pool. Its fields are filled in by `beforeAll`: read them inside hooks and tests,
 * not at the file's top level.
 *
 * @example
 * ```ts
 * const db = migratedTestPool();
 * it('…', async () => { const store = new PostgresKeyStore(db.pool, { schema: db.schema }); });
 * ```
 */
export function migratedTestPool(): TestPool {
  const db = {} as TestPool;
  beforeAll(async () => {
    Object.assign(db, await testPool());
    await migrate(db.pool, { schema: db.schema });
  });
  afterAll(async () => {
    // Unset when testPool() itself failed: that failure is the one to report.
    if (typeof db.close === 'function') await db.close();
  });
  return db;
}
