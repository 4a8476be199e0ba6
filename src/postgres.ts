/**
 * `keywarden/postgres`: PostgreSQL storage shared by many service instances — the key store,
 * the audit store, the break-glass token ledger and their migrations. Node only; `pg` is an
 * optional peer dependency (these modules import its types only; you supply the Pool).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { PostgresKeyStore, migrate } from 'keywarden/postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'keywarden' });
 * const keyStore = new PostgresKeyStore(pool, { schema: 'keywarden' });
 * ```
 * @module
 */
export { PostgresKeyStore } from './store/postgres.js';
export type { ChangeDetection } from './store/pg-changes.js';
export { migrate, DEFAULT_SCHEMA, LATEST_MIGRATION } from './store/migrations.js';
export type { CopyProgress, MigrateOptions, MigrateResult } from './store/migrations.js';
export { PostgresAuditStore } from './audit/postgres-store.js';
export type { PostgresAuditStoreOptions } from './audit/postgres-store.js';
export { PostgresTokenLedger } from './breakglass/postgres-ledger.js';
