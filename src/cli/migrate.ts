/**
 * `keywarden migrate --database-url URL [--schema NAME]`: applies the package's PostgreSQL
 * migrations (idempotent; safe to run from several deploy jobs at once). Needs `pg` installed.
 */
import { migrate } from '../store/migrations.js';

export async function migrateCommand(args: string[], io: { out(s: string): void; err(s: string): void }): Promise<number> {
  let url = process.env.DATABASE_URL;
  let schema: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    if (a === '--database-url' && v !== undefined) (url = v), i++;
    else if (a === '--schema' && v !== undefined) (schema = v), i++;
    else {
      io.err(`keywarden migrate: unknown or incomplete option ${a}\nusage: keywarden migrate [--database-url URL] [--schema NAME]\n`);
      return 2;
    }
  }
  if (!url) {
    io.err('keywarden migrate: --database-url (or DATABASE_URL) is required\n');
    return 2;
  }
  let pg: typeof import('pg');
  try {
    pg = (await import('pg')).default as unknown as typeof import('pg');
  } catch {
    io.err('keywarden migrate: the `pg` package is not installed (npm install pg)\n');
    return 3;
  }
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const { applied } = await migrate(pool, schema === undefined ? {} : { schema });
    io.out(applied.length === 0 ? 'schema is up to date\n' : `applied migrations: ${applied.join(', ')}\n`);
    return 0;
  } catch (err) {
    io.err(`keywarden migrate: could not complete: ${(err as Error).message}\n`);
    return 3;
  } finally {
    await pool.end().catch(() => undefined);
  }
}
