/**
 * Outside review 7 (a new user's first hour): an audit log on PostgreSQL whose pool cannot log in
 * failed `ERR_AUDIT_UNAVAILABLE` with `retryable: true` (SQLSTATE 28P01, a wrong password), while
 * the key store on the same pool says `ERR_STORE_FAILED`, `retryable: false` — README: "driver
 * errors map to ERR_STORE_FAILED / ERR_AUDIT_UNAVAILABLE, retryable for lost connections". Code
 * that retries while `err.retryable` looped for ever on a bad password.
 *
 * Where: src/audit/postgres-sql.ts `unavailable` (every driver error became a retryable
 * AuditUnavailableError).
 *
 * Now: a driver error is retryable exactly when the key store would call it so
 * (src/store/pg.ts `isRetryable`: a lost or refused connection, a serialization failure, a
 * server short of resources…); a refused login is not, a refused connection still is.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { type TestPool, testPool } from './support/pg.js';

const { signerKey } = generateNoteKey('keywarden.example/login', new Uint8Array(32).fill(7));

let db: TestPool;
const pools: pg.Pool[] = [];
const pool = (connectionString: string) => {
  const p = new pg.Pool({ connectionString, max: 1, connectionTimeoutMillis: 5000 });
  p.on('error', () => undefined);
  pools.push(p);
  return p;
};
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (const p of pools) await p.end().catch(() => undefined);
  await db?.close();
});

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: { code?: string; retryable?: boolean }) => ({ code: e.code, retryable: e.retryable }));

describe('audit store driver errors are retryable as the key store says', () => {
  it('a refused login is final, as on the key store', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // PGlite checks no password
    const url = new URL(db.url);
    url.password = 'not-the-password';
    const bad = pool(url.toString());
    expect(await failure(AuditLog.open({ store: new PostgresAuditStore(bad, { schema: db.schema }), signerKey }))).toEqual({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: false });
    expect(await failure(new PostgresKeyStore(bad, { schema: db.schema }).getLatest('c0'))).toEqual({ code: 'ERR_STORE_FAILED', retryable: false });
  });

  it('a refused connection stays retryable', async () => {
    const closed = pool('postgres://postgres:x@127.0.0.1:1/none');
    expect(await failure(AuditLog.open({ store: new PostgresAuditStore(closed, { schema: 'keywarden' }), signerKey }))).toEqual({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: true });
  });
});
