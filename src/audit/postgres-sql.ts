/**
 * SQL plumbing of the PostgreSQL audit store and its migration: the table names, the error
 * mapping (messages name the operation and SQLSTATE, never the server's text) and conversions.
 * @module
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { AuditCorruptError, AuditUnavailableError, KeywardenError } from '../errors.js';
import { driverErrorSummary, isRetryable, queryOn } from '../store/pg.js';

export type Queryable = Pick<PoolClient, 'query'> | Pool;

/** Every audit table of a schema, quoted. */
export interface AuditTables {
  schema: string;
  entries: string;
  checkpoints: string;
  tiles: string;
  tree: string;
  outbox: string;
  receipts: string;
  quarantine: string;
  sequencer: string;
  migration: string;
}

/** @internal */
export function unavailable(op: string, err: unknown): KeywardenError {
  if (err instanceof KeywardenError) return err;
  // The message names the operation and SQLSTATE only; the server's text stays in `cause`.
  // Retryable as the key store says of the same driver error (a lost connection, a serialization
  // failure…): a refused login was retryable here and final there (outside review 7).
  return new AuditUnavailableError(`postgres audit store: ${op} failed (${driverErrorSummary(err)})`, err, isRetryable(err));
}

/** @internal */
export async function run<R extends QueryResultRow>(q: Queryable, op: string, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  try {
    return await queryOn<R>(q, sql, params);
  } catch (err) {
    throw unavailable(op, err);
  }
}

/** @internal */
export function toInt(value: unknown, column: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new AuditCorruptError(`postgres audit store: column ${column} is not a non-negative safe integer`);
  return n;
}

/** A Buffer view over the caller's bytes: serialised before the query resolves, never kept. */
export const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

