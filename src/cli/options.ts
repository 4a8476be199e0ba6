/**
 * Option definitions and configuration helpers shared by several commands, so that every
 * command spells `--database-url`, `--schema` and `--json` the same way and reads the same
 * environment variables.
 * @module
 */
import type { Pool } from 'pg';
import { KeywardenError } from '../errors.js';
import { driverErrorSummary, schemaOption } from '../store/pg.js';
import { type Args, IncompleteError, type OptionSpec, RefusedError } from './common.js';

/** `--json`: the command's result as one JSON object on stdout. */
export const jsonOption: OptionSpec = { name: 'json', type: 'boolean', description: 'print the result as one JSON object' };

/** Environment variables for the database URL, in the order they are read. */
export const DATABASE_URL_ENV = ['KEYWARDEN_DATABASE_URL', 'DATABASE_URL'] as const;

/**
 * `--database-url URL` and `--schema NAME`, with their environment fallbacks. `required` makes
 * the URL required (it may still come from the environment).
 */
export function databaseOptions(required: boolean): OptionSpec[] {
  return [
    {
      name: 'database-url',
      type: 'string',
      value: 'URL',
      description: 'PostgreSQL connection string',
      env: DATABASE_URL_ENV,
      ...(required ? { required: true } : {}),
    },
    { name: 'schema', type: 'string', value: 'NAME', description: 'schema of the keywarden tables; default public', env: ['KEYWARDEN_SCHEMA'] },
  ];
}

/** Database settings from {@link databaseOptions}; the schema is validated before any connection. */
export interface DatabaseConfig {
  url: string;
  schema: string;
}

/** Reads {@link databaseOptions}; an invalid schema name is a usage error naming its flag or variable. */
export function databaseConfig(args: Args): DatabaseConfig {
  const url = args.required('database-url');
  // schemaOption throws InvalidInputError('options.schema'); the runner maps it to --schema
  // (or KEYWARDEN_SCHEMA, whichever the value came from).
  const schema = schemaOption({ schema: args.string('schema') });
  return { url, schema };
}

/** Maps the library's `options.schema` parameter to the option. */
export const databaseParams = (param: string): string | undefined => (param === 'options.schema' ? 'schema' : undefined);

/**
 * Runs `fn` with a pool of ONE connection to `url` and always ends the pool. One connection is
 * all a command needs, and it lets commands run against servers that take one client at a time
 * (PGlite). Driver errors are reported by SQLSTATE or error code only: server messages can
 * quote data, and the URL can hold a password.
 *
 * `readOnly` runs `fn` in ONE read-only REPEATABLE READ transaction, rolled back at the end: the
 * command sees a single snapshot of the database however long it reads, and the server refuses
 * any write whatever the command runs (defence in depth). A transaction rather than a session
 * setting because PGlite shares one session between its connections, so a setting would outlive
 * the command. The transaction spans several `pool.query` calls, which is sound here: the pool
 * has exactly one connection and never drops it while it is healthy (no idle timeout), and
 * after a failed query the command stops.
 */
export async function withPool<T>(url: string, options: { readOnly: boolean }, fn: (pool: Pool) => Promise<T>): Promise<T> {
  let pg: typeof import('pg');
  try {
    // pg is an optional peer dependency: only the database commands load it.
    pg = (await import('pg')).default as unknown as typeof import('pg');
  } catch {
    throw new IncompleteError("the optional package 'pg' is not installed (npm install pg)");
  }
  let pool: Pool;
  try {
    pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 15_000 });
  } catch (err) {
    throw new IncompleteError(`invalid database URL (${driverErrorSummary(err)})`);
  }
  // An idle connection that dies emits 'error' on the pool; unhandled, it would crash the CLI.
  pool.on('error', () => undefined);
  try {
    if (!options.readOnly) return await fn(pool);
    await pool.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await fn(pool);
    } finally {
      await pool.query('ROLLBACK').catch(() => undefined);
    }
  } catch (err) {
    // Driver errors carry a code; ours (usage, refusals, KeywardenError) pass through as they are.
    // (RefusedError carries a code too: it is ours, not the driver's.)
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof KeywardenError || err instanceof RefusedError || typeof code !== 'string') throw err;
    throw new IncompleteError(`database: ${driverErrorSummary(err)}`);
  } finally {
    await pool.end().catch(() => undefined);
  }
}
