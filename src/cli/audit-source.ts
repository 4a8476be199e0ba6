/**
 * Where `keywarden audit …` reads a log from: a FileAuditStore directory or a PostgreSQL schema.
 * Both are read-only and lenient: damage in storage becomes a problem in the report, never an
 * exception, so that an auditor learns what is wrong instead of being refused.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanFrames } from '../audit/file-store.js';
import { PostgresAuditStore } from '../audit/postgres-store.js';
import type { AuditProblem } from '../audit/verify.js';
import { type Args, IncompleteError, type OptionSpec, UsageError } from './common.js';
import { DATABASE_URL_ENV, databaseConfig, databaseOptions, withPool } from './options.js';

/** One consistent reading of a log: every entry and checkpoint in order, and storage damage. */
export interface AuditSnapshot {
  entries: Uint8Array[];
  checkpoints: string[];
  problems: AuditProblem[];
}

/**
 * A readable audit log. Implementations read checkpoints BEFORE entries: a log appended to while
 * it is read then shows at most an unsigned tail, never a checkpoint beyond its entries (which
 * would look like deleted entries).
 */
export interface AuditSource {
  read(): Promise<AuditSnapshot>;
}

/** Rows per query when reading entries from PostgreSQL. */
const PAGE = 1000;

/** `--dir`, `--database-url`, `--schema`: where the log is. */
export const auditSourceOptions: OptionSpec[] = [
  { name: 'dir', type: 'string', value: 'DIR', description: "a FileAuditStore directory (its files 'entries' and 'checkpoints')" },
  ...databaseOptions(false),
];

/** The usage-line form of {@link auditSourceOptions}. */
export const AUDIT_SOURCE_USAGE = '(--dir DIR | --database-url URL [--schema NAME])';

/** A FileAuditStore directory, read without its lock (an auditor must not block the writer). */
export function directorySource(dir: string): AuditSource {
  const load = async (name: string): Promise<Uint8Array> => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new IncompleteError(code === 'ENOENT' ? `${join(dir, name)} does not exist` : `cannot read ${join(dir, name)}: ${code ?? (e as Error).message}`);
    }
  };
  return {
    async read() {
      const c = scanFrames(await load('checkpoints'));
      const e = scanFrames(await load('entries'));
      const problems: AuditProblem[] = [];
      for (const [name, scan] of [['entries', e], ['checkpoints', c]] as const) {
        if (scan.damage) {
          problems.push({
            kind: 'storage',
            ...(name === 'entries' ? { index: scan.records.length } : { checkpoint: scan.records.length }),
            message: `${name}: ${scan.damage.message} at byte ${scan.damage.offset}${scan.damage.torn ? ' (torn last record)' : ''}; records after it were not read`,
          });
        }
      }
      const dec = new TextDecoder('utf-8', { fatal: false });
      return { entries: e.records, checkpoints: c.records.map((r) => dec.decode(r)), problems };
    },
  };
}

/** The log in a PostgreSQL schema, through {@link PostgresAuditStore}'s read methods only. */
export function postgresSource(store: PostgresAuditStore): AuditSource {
  return {
    async read() {
      const checkpoints = await store.checkpoints();
      const size = await store.size();
      const entries: Uint8Array[] = [];
      const problems: AuditProblem[] = [];
      for (let start = 0; start < size; start += PAGE) {
        const end = Math.min(size, start + PAGE);
        const page = await store.read(start, end);
        // read() returns the rows that exist; fewer means rows were deleted from the table
        // (the head still counts them). The verifier then also sees the shifted entries.
        if (page.length < end - start) {
          problems.push({ kind: 'storage', message: `audit_entries: ${end - start - page.length} of the entries ${start}..${end - 1} are missing (audit_head counts ${size})` });
        }
        entries.push(...page);
      }
      return { entries, checkpoints, problems };
    },
  };
}

/** The log the command line names, checked but not yet opened. */
export interface AuditSourceChoice {
  /** Opens the source, runs `fn` with it and closes it again (a database pool always). */
  use<T>(fn: (source: AuditSource) => Promise<T>): Promise<T>;
}

/**
 * The source the command line names: exactly one of `--dir` and a database URL (from
 * `--database-url` or the environment). A `--dir` on the command line wins over a URL from the
 * environment; both on the command line is a usage error. Opens nothing, so that every usage
 * error comes before any file or connection is opened.
 */
export function auditSource(args: Args): AuditSourceChoice {
  const dir = args.string('dir');
  const urlFrom = args.source('database-url');
  if (dir !== undefined && urlFrom === '--database-url') throw new UsageError('give either --dir or --database-url, not both');
  if (dir !== undefined) {
    if (args.source('schema') === '--schema') throw new UsageError('--schema applies to --database-url, not to --dir');
    return { use: (fn) => fn(directorySource(dir)) };
  }
  if (urlFrom === undefined) throw new UsageError(`missing the audit log: give --dir DIR or --database-url URL (or set ${DATABASE_URL_ENV.join(' or ')})`);
  const { url, schema } = databaseConfig(args);
  return { use: (fn) => withPool(url, { readOnly: true }, (pool) => fn(postgresSource(new PostgresAuditStore(pool, { schema })))) };
}
