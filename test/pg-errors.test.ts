/**
 * How PostgreSQL driver failures are reported (issue #11, defect 6): an exhausted pool is not a
 * lost connection. Runs on PGlite (the pool is node-postgres either way) or a real server.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

describe('PostgreSQL error reports', () => {
  it('a pool that hands out no connection in time is reported as such, retryable, not as a lost connection', async () => {
    await db.releaseConnections(); // PGlite serves one connection at a time
    const small = new pg.Pool({ connectionString: db.url, max: 1, connectionTimeoutMillis: 150 });
    small.on('error', () => {});
    const held = await small.connect(); // the only connection is busy
    try {
      const store = new PostgresKeyStore(small, { schema: db.schema });
      const err = await store.getLatest('c').catch((e) => e);
      expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
      expect(err.message).toMatch(/pool exhausted/);
      expect(err.message).not.toMatch(/connection lost/);
      const tx = await store.transaction(async () => 1).catch((e) => e);
      expect(tx.message).toMatch(/pool exhausted/);
    } finally {
      held.release();
      await small.end();
    }
  });
});
