/**
 * `keywarden migrate`: applies the package's PostgreSQL migrations (idempotent; safe to run from
 * several deploy jobs at once). Needs the optional `pg` package.
 * @module
 */
import { LATEST_MIGRATION, migrate } from '../store/migrations.js';
import { type CommandSpec, EXIT } from './common.js';
import { databaseConfig, databaseOptions, databaseParams, jsonOption, withPool } from './options.js';

/** The `keywarden migrate` command. */
export const migrateCommand: CommandSpec = {
  name: 'migrate',
  summary: 'create or update the keywarden tables in PostgreSQL',
  description: 'Idempotent, and safe to run from several deploy jobs at once (they wait for each other).',
  options: [...databaseOptions(true), jsonOption],
  params: databaseParams,
  async run(args, ctx) {
    const { url, schema } = databaseConfig(args);
    const { applied } = await withPool(url, { readOnly: false }, (pool) => migrate(pool, { schema }));
    ctx.emit(
      { schema, applied, version: LATEST_MIGRATION },
      applied.length === 0 ? 'schema is up to date\n' : `applied migrations: ${applied.join(', ')}\n`,
    );
    return EXIT.OK;
  },
};
