/**
 * The one transaction helper every PostgreSQL store uses: BEGIN on a dedicated connection, fn,
 * COMMIT; ROLLBACK and rethrow on any failure. Why each detail:
 * - a COMMIT that reports ROLLBACK (fn caught a failed statement and carried on) is a failure,
 *   never a success;
 * - a connection whose ROLLBACK fails is destroyed rather than returned to the pool;
 * - while checked out, a no-op 'error' listener keeps a dying connection from crashing the
 *   process (the pending or next query reports the failure anyway).
 */
import type { Pool, PoolClient, QueryResult } from 'pg';

const noop = () => {};

export interface PgTransactionErrors {
  /** The error for a failed `pool.connect()`. */
  connect(cause: unknown): Error;
  /** The error for a COMMIT that rolled back. */
  rolledBack(): Error;
}

/**
 * Runs `fn` in a transaction. `run` executes BEGIN/COMMIT with the caller's error mapping;
 * `isOpen()` tells fn's deferred work whether the transaction is still open; an aborted
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
  client.on('error', noop);
  let open = true;
  let broken = false;
  try {
    await run(client, 'BEGIN');
    const out = await fn(client, () => open);
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
    client.off('error', noop);
    client.release(broken || undefined);
  }
}
