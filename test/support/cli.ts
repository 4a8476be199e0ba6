/**
 * Helpers for the CLI tests: run `main` in-process and capture its output, and build an audit
 * log in a PostgreSQL schema for `keywarden audit … --database-url`.
 */
import type { Pool } from 'pg';
import { encodeEntry } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import { main } from '../../src/cli/index.js';
import { migrate } from '../../src/store/migrations.js';
import { sampleEvent } from './audit-fixtures.js';

export interface CliResult {
  code: number;
  /** stdout as text. */
  out: string;
  /** stdout as written (bytes stay bytes). */
  raw: (string | Uint8Array)[];
  err: string;
}

/**
 * Runs `keywarden argv…` in-process. `env` replaces the environment entirely (default: empty),
 * so that a DATABASE_URL on the developer's machine never changes what a test sees.
 */
export async function cli(argv: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const raw: (string | Uint8Array)[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void raw.push(s), err: (s) => void err.push(s), env });
  const out = raw.map((x) => (typeof x === 'string' ? x : new TextDecoder().decode(x))).join('');
  return { code, out, raw, err: err.join('') };
}

/**
 * Migrates `schema` and appends `n` sample events through AuditLog in batches of up to 3 (so
 * there are fewer checkpoints than entries). Returns the entries as stored.
 */
export async function buildPostgresLog(pool: Pool, schema: string, signerKey: string, n: number): Promise<Uint8Array[]> {
  await migrate(pool, { schema });
  const store = new PostgresAuditStore(pool, { schema });
  const log = await AuditLog.open({ store, signerKey });
  for (let i = 0; i < n; i += 3) await log.append(Array.from({ length: Math.min(3, n - i) }, (_, j) => sampleEvent(i + j)));
  await log.close();
  return store.read(0, n);
}

/** A different, valid entry for tampering (it parses, so only the tree can catch it). */
export const otherEntry = (n: number): Uint8Array => encodeEntry({ ...sampleEvent(n), actor: 'tampered' });
