/**
 * Review 2026-12-02 (second): PostgreSQL failures that pass with time were reported as final.
 *
 * Was: only connection exceptions (class 08), 40001, 40P01 and 57P01-57P03 made a retryable
 * `ERR_STORE_FAILED`. A server at `max_connections` (53300 too_many_connections, also a role's or
 * database's CONNECTION LIMIT), out of memory or shared-memory slots (53200, 53000, 53400), a lock
 * wait cut by the operator's `lock_timeout` (55P03) and a session closed by
 * `idle_session_timeout` (57P05) said `retryable: false`, so callers following the README
 * (`if (err.retryable) retry`) dropped work that a retry a moment later would have done.
 *
 * Now: those SQLSTATEs are retryable. A statement cut by `statement_timeout` or a cancel request
 * (57014 query_canceled) stays final: the same statement would most likely be cut again, and a
 * cancel is a decision, not a fault. Errors that say the request is wrong (e.g. 22P02, 23505,
 * 42P01) stay final. The message names the SQLSTATE, never the server's text.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { toStoreError } from '../src/store/pg.js';
import { migratedTestPool } from './support/pg-suite.js';

/** A driver error as node-postgres builds it from a server ErrorResponse. */
function serverError(code: string, message: string): pg.DatabaseError {
  const e = new pg.DatabaseError(message, message.length, 'error');
  e.code = code;
  e.severity = 'FATAL';
  return e;
}

describe('PostgreSQL SQLSTATEs that pass with time are retryable', () => {
  const transient: [string, string][] = [
    ['53300', 'sorry, too many clients already'],
    ['53000', 'insufficient resources'],
    ['53200', 'out of memory'],
    ['53400', 'configuration limit exceeded'],
    ['55P03', 'canceling statement due to lock timeout'],
    ['57P05', 'terminating connection due to idle-session timeout'],
  ];
  it.each(transient)('SQLSTATE %s is a retryable ERR_STORE_FAILED naming the state, not the server text', (code, text) => {
    const err = toStoreError('getLatest', serverError(code, `${text} secret-param-value`));
    expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
    expect(err.message).toContain(`SQLSTATE ${code}`);
    expect(err.message).not.toContain('secret-param-value');
  });

  const final: [string, string][] = [
    ['57014', 'canceling statement due to statement timeout'],
    ['22P02', 'invalid input syntax for type bigint'],
    ['23505', 'duplicate key value violates unique constraint'],
    ['42P01', 'relation does not exist'],
    ['53100', 'could not extend file: No space left on device'],
  ];
  it.each(final)('SQLSTATE %s stays final (retryable: false)', (code, text) => {
    expect(toStoreError('getLatest', serverError(code, text))).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: false });
  });
});

const db = migratedTestPool();

describe('on a real server', () => {
  it('a role at its CONNECTION LIMIT gets a retryable error (53300) from the key store, and the same call succeeds once a connection frees', async () => {
    if (db.kind !== 'postgres') return; // PGlite has no roles or connection limits: the mapping above covers it
    const admin = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
    admin.on('error', () => {});
    const role = `kw_limit_${process.pid}`;
    const url = new URL(process.env.DATABASE_URL!);
    url.username = role;
    url.password = 'limit-pass';
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limit-pass' CONNECTION LIMIT 1`);
    await admin.query(`GRANT USAGE ON SCHEMA ${db.schema} TO ${role}`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${db.schema} TO ${role}`);
    const holder = new pg.Client({ connectionString: url.toString() });
    await holder.connect(); // the role's one connection
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    pool.on('error', () => {});
    try {
      const store = new PostgresKeyStore(pool, { schema: db.schema });
      const err = await store.getLatest('c-limit').catch((e) => e);
      expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
      expect(err.message).toContain('SQLSTATE 53300');
      await holder.end();
      expect(await store.getLatest('c-limit')).toBeUndefined();
    } finally {
      await holder.end().catch(() => undefined);
      await pool.end();
      await admin.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${db.schema} FROM ${role}`).catch(() => undefined);
      await admin.query(`REVOKE USAGE ON SCHEMA ${db.schema} FROM ${role}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  });
});
