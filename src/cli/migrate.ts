/**
 * `keywarden migrate`: applies the package's PostgreSQL migrations (idempotent; safe to run from
 * several deploy jobs at once). Needs the optional `pg` package.
 * @module
 */
import { LATEST_MIGRATION, type MigrateResult, migrate } from '../store/migrations.js';
import { type CommandSpec, EXIT, boundedArg } from './common.js';
import { databaseConfig, databaseOptions, databaseParams, jsonOption, withPool } from './options.js';
import { progressBar } from './progress.js';

/** The `keywarden migrate` command. */
export const migrateCommand: CommandSpec = {
  name: 'migrate',
  summary: 'create or update the keywarden tables in PostgreSQL',
  description:
    'Idempotent, and safe to run from several deploy jobs at once (they wait for each other).\n' +
    'Migration 5 copies the key tables online, in batches of --batch-rows rows, while the running\n' +
    'release keeps reading and writing them; if stopped, a rerun resumes after the last batch.\n' +
    'With --copy-only it stops before the swap (the cut-over, milliseconds): run it ahead of the\n' +
    'deploy, then plain `migrate` when the new release rolls out (docs/KEYS.md §11.1).',
  options: [
    ...databaseOptions(true),
    { name: 'partitions', type: 'string', value: 'N', description: 'hash partitions of each key table, when migration 5 is applied (1-1024, default 16)' },
    { name: 'batch-rows', type: 'string', value: 'N', description: 'rows per transaction of an online copy (1-1000000, default 5000)' },
    { name: 'copy-only', type: 'boolean', description: 'run an online copy to its end but not its swap' },
    jsonOption,
  ],
  params: databaseParams,
  async run(args, ctx) {
    const { url, schema } = databaseConfig(args);
    const partitions = boundedArg(args.string('partitions'), '--partitions', 1, 1024);
    const batchRows = boundedArg(args.string('batch-rows'), '--batch-rows', 1, 1_000_000);
    const bar = progressBar(args, ctx, 'migrate: copying key rows', 'rows');
    const copied = new Map<string, number>(); // per key table; the bar shows their sum
    let result: MigrateResult;
    try {
      result = await withPool(url, { readOnly: false }, (pool) => migrate(pool, {
        schema,
        ...(partitions !== undefined && { partitions }),
        ...(batchRows !== undefined && { batchRows }),
        copyOnly: args.flag('copy-only'),
        onProgress: (p) => {
          copied.set(p.table, p.copied);
          bar.update([...copied.values()].reduce((a, b) => a + b, 0), undefined);
        },
      }));
    } finally {
      bar.stop();
    }
    const { applied, readyToSwap } = result;
    const text = readyToSwap !== undefined
      ? `${applied.length === 0 ? '' : `applied migrations: ${applied.join(', ')}\n`}migration ${readyToSwap}: copy complete; run migrate without --copy-only to swap\n`
      : applied.length === 0 ? 'schema is up to date\n' : `applied migrations: ${applied.join(', ')}\n`;
    ctx.emit({ schema, applied, version: LATEST_MIGRATION, ...(readyToSwap !== undefined && { readyToSwap }) }, text);
    return EXIT.OK;
  },
};
