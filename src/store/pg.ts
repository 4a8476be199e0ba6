/**
 * PostgreSQL plumbing shared by every keywarden table (key store, audit store, token ledger,
 * migrations): the schema option, identifier quoting, the pool check, the error mapping (what is
 * retryable; messages that name the SQLSTATE, never the server's text) and the one transaction
 * helper. `pg` is an optional peer dependency: only its types are imported.
 *
 * The transaction helper: BEGIN on a dedicated connection, fn, COMMIT; ROLLBACK and rethrow on
 * any failure. Why each detail:
 * - a COMMIT that reports ROLLBACK (fn caught a failed statement and carried on) is a failure,
 *   never a success;
 * - a connection whose ROLLBACK fails is destroyed rather than returned to the pool;
 * - while checked out, a no-op 'error' listener keeps a dying connection from crashing the
 *   process (the pending or next query reports the failure anyway).
 * @module
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { InvalidInputError, StoreError } from '../errors.js';
import { ownOptions } from '../util/validate.js';
import { checkedOut, isNamingFailure, namingFailed, statement } from './pg-statements.js';

/** Default schema of the keywarden tables. */
export const DEFAULT_SCHEMA = 'public';

/** Schema names accepted by `options.schema`: a lower-case unquoted SQL identifier of at most 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validates `options.schema` (default {@link DEFAULT_SCHEMA}) and returns it.
 * @internal
 */
export function schemaOption(options: unknown): string {
  const schema: unknown = ownOptions('options', options as { schema?: unknown } | undefined, ['schema']).schema;
  if (schema === undefined) return DEFAULT_SCHEMA;
  // Validated, not just quoted: the name is spliced into DDL (identifiers cannot be bound as
  // parameters), and a strict pattern also keeps case-folding surprises out.
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new InvalidInputError('options.schema', 'expected a schema name matching ^[a-z_][a-z0-9_]{0,62}$');
  }
  return schema;
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1): longer channel names are refused by pg_notify. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The NOTIFY channel for key changes of one kind of keys in `schema`: `keywarden_<kind>_<schema>`
 * whenever that fits in 63 bytes (the name every earlier version used, so that instances of
 * different versions keep hearing each other), else the schema name cut short and followed by
 * 12 hex digits of its SHA-256, which keeps channels of distinct schemas apart. Schema names are
 * ASCII (see {@link schemaOption}), so characters are bytes.
 * @internal
 */
export function channelName(kind: 'keys' | 'branches', schema: string): string {
  const plain = `keywarden_${kind}_${schema}`;
  if (plain.length <= MAX_IDENTIFIER_BYTES) return plain;
  const digest = createHash('sha256').update(schema).digest('hex').slice(0, 12);
  const prefix = `keywarden_${kind}_`;
  return `${prefix}${schema.slice(0, MAX_IDENTIFIER_BYTES - prefix.length - digest.length - 1)}_${digest}`;
}

/**
 * Quotes an SQL identifier. The name is already validated; quoting anyway makes reserved words
 * (`user`, `order`, ...) usable as schema names.
 * @internal
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Asserts `pool` looks like a pg Pool (the caller supplies it; keywarden never imports pg at runtime). */
export function assertPool(pool: unknown): asserts pool is Pool {
  if (pool === null || typeof pool !== 'object' || typeof (pool as Pool).connect !== 'function' || typeof (pool as Pool).query !== 'function') {
    throw new InvalidInputError('pool', 'expected a pg Pool');
  }
}

const guarded = new WeakSet<object>();
const listened = new WeakSet<object>();

/**
 * Gives every client the pool hands out an 'error' listener for its whole life, once per pool.
 *
 * Why: node-postgres takes its own listener off a client when it hands the client over, and it
 * can handle ReadyForQuery and a FATAL ("terminating connection", a restart) in the same socket
 * read — after the hand-over, before the code awaiting `pool.connect()` runs. An 'error' event
 * with no listener is an uncaught exception in the application's process. The 'acquire' event is
 * emitted synchronously before the hand-over, so a listener added there closes that window
 * (test/pg-acquire-race.test.ts). The listener does nothing: the failure still reaches whoever
 * uses the client, as a failed query. It also covers the application's own use of that pool.
 * @internal
 */
export function guardPool(pool: Pool): void {
  if (guarded.has(pool) || typeof (pool as { on?: unknown }).on !== 'function') return;
  guarded.add(pool);
  pool.on('acquire', (client) => {
    if (listened.has(client)) return;
    listened.add(client);
    client.on('error', noop);
  });
}

// SQLSTATEs after which the same call may succeed on a new attempt: connection exceptions
// (class 08), serialization failure, deadlock, the server shutting down or killing the session
// (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 57P05
// idle_session_timeout), a server short of resources that frees them as other work ends
// (53000, 53200 out_of_memory, 53300 too_many_connections — also a role's or database's
// CONNECTION LIMIT —, 53400 configuration_limit_exceeded), and a lock wait cut by the operator's
// lock_timeout (55P03). Deliberately final: 53100 disk_full (a retry does not free disk) and
// 57014 query_canceled (statement_timeout or a cancel request: the same statement would most
// likely be cut again, and a cancel is a decision, not a fault).
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '53000', '53200', '53300', '53400', '55P03', '57P01', '57P02', '57P03', '57P05']);
const RETRYABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
// node-postgres reports a lost connection with plain Errors that carry no code.
const RETRYABLE_MESSAGES = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect/i;

/** True when a driver error is transient (see {@link toStoreError}). @internal */
export function isRetryable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') && code.length === 5) return true;
    if (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_NODE_CODES.has(code)) return true;
    // A named statement the server (or a pooler in front) did not keep: the pool has switched
    // to unnamed statements (pg-statements.ts), so the same call succeeds when retried.
    if (isNamingFailure(code, (err as { message?: unknown }).message)) return true;
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && RETRYABLE_MESSAGES.test(message);
}

/**
 * Wraps a driver error in a {@link StoreError}. The message names the operation and the
 * SQLSTATE (or node error code) only: server messages can quote parameter values (e.g.
 * `invalid input syntax for type bigint: "..."`), so they stay in `cause`, never in the message.
 * A StoreError passes through unchanged.
 * @internal
 */
export function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(`postgres key store: ${op} failed (${driverErrorSummary(err)})`, err, isRetryable(err));
}

// node-postgres' Pool rejects connect() with this when no connection frees up within
// connectionTimeoutMillis: the pool is exhausted (too small, or connections held too long);
// the database may be perfectly reachable.
const POOL_TIMEOUT = /timeout exceeded when trying to connect/i;

/**
 * What a driver error was, safe for a message: the SQLSTATE or node error code, 'pool
 * exhausted', 'connection lost' or 'driver error' (never the server's message, which can quote
 * parameter values).
 * @internal shared with the audit store and the token ledger.
 */
export function driverErrorSummary(err: unknown): string {
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return /^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code;
  const message = err !== null && typeof err === 'object' ? (err as { message?: unknown }).message : undefined;
  if (typeof message === 'string' && POOL_TIMEOUT.test(message)) return 'pool exhausted: no connection free within connectionTimeoutMillis';
  return isRetryable(err) ? 'connection lost' : 'driver error';
}

const noop = () => {};

export interface PgTransactionErrors {
  /** The error for a failed `pool.connect()`. */
  connect(cause: unknown): Error;
  /** The error for a COMMIT that rolled back. */
  rolledBack(): Error;
}

/**
 * Runs `fn` in a transaction. `run` executes BEGIN/COMMIT with the caller's error mapping;
 * `isOpen()` tells fn's deferred work whether the transaction is still open (false from the
 * moment fn settles, before COMMIT or ROLLBACK is sent); an aborted
 * `signal` (checked just before COMMIT) rolls the transaction back instead.
 */
export async function withPgTransaction<T>(
  pool: Pool,
  run: (client: PoolClient, sql: string) => Promise<QueryResult>,
  errors: PgTransactionErrors,
  fn: (client: PoolClient, isOpen: () => boolean) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw errors.connect(err);
  }
  checkedOut(pool, client);
  client.on('error', noop);
  let open = true;
  let broken = false;
  try {
    await run(client, 'BEGIN');
    let out: T;
    try {
      out = await fn(client, () => open);
    } finally {
      // Closed as soon as fn settles, not once COMMIT or ROLLBACK has come back: a call made in
      // between would be queued behind them on this connection and run there in autocommit — a
      // write of a rolled-back transaction committing on its own (outside review, 2026-12-02).
      open = false;
    }
    // The caller's deadline passed while we worked: it has reported failure, so roll back
    // rather than commit something it told its own caller did not happen.
    if (signal?.aborted) throw signal.reason;
    const commit = await run(client, 'COMMIT');
    if (commit.command === 'ROLLBACK') throw errors.rolledBack();
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // the connection is gone or unusable
    }
    throw err;
  } finally {
    open = false;
    // A broken connection may still emit 'error' as it dies: it keeps the listener for good.
    if (!broken) client.off('error', noop);
    client.release(broken || undefined);
  }
}

/**
 * One statement on a pooled connection, like `pool.query`, but with an 'error' listener on the
 * client for as long as keywarden holds it, and for good if the statement failed: node-postgres'
 * own `pool.query` listens only `once`, and a connection that dies (a server restart) can emit a
 * second 'error', which unhandled would crash the application's process. A connection whose
 * statement failed is destroyed, never handed back (found by test/ci/faults-postgres.test.ts).
 */
export async function poolQuery<R extends QueryResultRow>(pool: Pool, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect();
    checkedOut(pool, client);
    client.on('error', noop);
    try {
      const res = await client.query<R>(statement(client, sql, params));
      client.off('error', noop);
      client.release();
      return res;
    } catch (err) {
      client.release(true); // the listener stays: this client may still emit as it dies
      // A pool that cannot keep named statements falls back to unnamed ones: retry once so.
      if (attempt === 0 && namingFailed(client, err)) continue;
      throw err;
    }
  }
}

/** Guarded stand-ins for a transaction's client (see {@link guardedClient}). */
const guards = new WeakMap<object, { client: PoolClient; isOpen: () => boolean }>();

/**
 * A stand-in for a transaction's `client` whose statements (through {@link queryOn}) are refused
 * once `isOpen()` is false: a call still running when its transaction's fn settled would
 * otherwise send its next statements after the COMMIT or ROLLBACK, on the same connection, in
 * autocommit — or, once the connection is back in the pool, inside someone else's transaction
 * (outside review, 2026-12-02: a rotation of a rolled-back transaction committed so).
 * @internal
 */
export function guardedClient(client: PoolClient, isOpen: () => boolean): PoolClient {
  const stand = { query: () => Promise.reject(new StoreError('postgres key store: query a guarded client through queryOn')) };
  guards.set(stand, { client, isOpen });
  return stand as unknown as PoolClient;
}

/** A Pool or a checked-out client: `poolQuery` for the first, the client's own query for the second. */
export function queryOn<R extends QueryResultRow>(q: Pick<Pool, 'query'> | Pick<PoolClient, 'query'>, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  const guard = guards.get(q);
  if (guard !== undefined) {
    if (!guard.isOpen()) return Promise.reject(new StoreError('postgres key store: the transaction has already ended'));
    q = guard.client;
  }
  if (isPool(q)) return poolQuery<R>(q, sql, params);
  const client = q as PoolClient;
  // Inside a transaction a failed statement aborts it: no retry here, the caller's retry (the
  // error is the statement's own) runs unnamed.
  return client.query<R>(statement(client, sql, params)).catch((err: unknown) => {
    namingFailed(client, err);
    throw err;
  });
}

function isPool(q: unknown): q is Pool {
  return typeof (q as Pool).connect === 'function' && typeof (q as Pool).totalCount === 'number';
}
