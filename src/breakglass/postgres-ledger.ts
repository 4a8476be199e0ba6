/**
 * PostgresTokenLedger: the {@link TokenLedger} for a fleet of processes. Consuming a token is
 * one transaction: the token id is inserted into `breakglass_tokens` (its primary key makes it
 * single-use) and the caller's `record` (the intent audit entry, via
 * `PostgresAuditStore.appendSequenced(..., { tx })`) runs in the same transaction, so either
 * both commit or neither does. An audit log on a store that joins no transactions (a file store)
 * appends the intent inside that step instead, before the token's row commits: an intent that
 * cannot be recorded still leaves the token unused. A concurrent consumer of the same token id blocks on the primary
 * key until the first commits (it then finds the id taken) or rolls back (it then takes it).
 *
 * `pg` is an optional peer dependency: this module only imports its types. Create the table
 * first with `migrate` (migration 2).
 * @module
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { StoreError } from '../errors.js';
import { assertPool, guardPool, driverErrorSummary, isRetryable, queryOn, quoteIdent, schemaOption, withPgTransaction } from '../store/pg.js';
import { preparedStatementsOption } from '../store/pg-statements.js';
import { ownOptions } from '../util/validate.js';
import { type TokenLedger, checkConsumeArgs } from './ledger.js';


function ledgerError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(`postgres token ledger: ${op} failed (${driverErrorSummary(err)})`, err, isRetryable(err));
}

async function run<R extends QueryResultRow>(client: PoolClient, op: string, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  try {
    return await queryOn<R>(client, sql, params);
  } catch (err) {
    throw ledgerError(op, err);
  }
}

/**
 * A {@link TokenLedger} on PostgreSQL (12 or later), through a node-postgres `Pool`.
 * Driver failures become {@link StoreError} (`ERR_STORE_FAILED`, `retryable` for lost
 * connections, serialization failures and deadlocks); a rejection from `record` propagates
 * unchanged, with the token left unused.
 *
 * @example
 * ```ts
 * const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema: 'keywarden' }), signerKey });
 * const ledger = new PostgresTokenLedger(pool, { schema: 'keywarden' });
 * let pending: AuditPending | undefined;
 * const won = await ledger.consume(jti, expiresAt, async (tx) => {
 *   pending = await log.record(intentEvent, { tx, checkpoint: true }); // commits with the token's row, or neither does
 * });
 * if (won) await pending?.checkpointed(); // the intent is under a signed checkpoint
 * ```
 */
export class PostgresTokenLedger implements TokenLedger {
  readonly #pool: Pool;
  readonly #table: string;

  /** `options.preparedStatements` as for `PostgresKeyStore` (default true). */
  constructor(pool: Pool, options?: { schema?: string; preparedStatements?: boolean }) {
    assertPool(pool);
    this.#pool = pool;
    const o = ownOptions('options', options, ['schema', 'preparedStatements']);
    this.#table = `${quoteIdent(schemaOption(o.schema === undefined ? undefined : { schema: o.schema }))}.breakglass_tokens`;
    // Every option checked: only now the shared pool is touched (a refused constructor changes nothing).
    preparedStatementsOption(pool, o.preparedStatements); // checks its value before it marks the pool
    guardPool(pool);
  }

  async consume(jti: string, expiresAt: Date, record: (tx?: unknown) => Promise<void>): Promise<boolean> {
    // text cannot hold U+0000, and a lone surrogate would be stored as U+FFFD (two ids, one row).
    checkConsumeArgs(jti, expiresAt, record);

    // One transaction: the token row and whatever `record` writes through `client` (the intent
    // entry) commit together. A concurrent consumer of the same jti waits on the primary key
    // until this commits or rolls back, which is what makes exactly one win.
    return withPgTransaction(
      this.#pool,
      (client, sql) => run(client, 'consume', sql),
      {
        connect: (err) => ledgerError('consume', err),
        // record aborted the transaction (a failed statement it caught): not consumed, not success.
        rolledBack: () => new StoreError('postgres token ledger: consume rolled back (a statement in it failed)'),
      },
      async (client) => {
        const ins = await run<{ jti: string }>(
          client,
          'consume',
          `INSERT INTO ${this.#table} (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING jti`,
          [jti, expiresAt],
        );
        if (ins.rows.length === 0) return false; // already used: the (empty) transaction commits
        await record(client);
        return true;
      },
    );
  }
}
