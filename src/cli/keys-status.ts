/**
 * `keywarden keys status [CONVERSATION]`: what the key store holds — counts, master keys and
 * re-wrap jobs — or one conversation's key versions. Read-only (one read-only snapshot), needs
 * no master key, prints metadata only: never a wrapped or plaintext key.
 * @module
 */
import type { Pool } from 'pg';
import { type KeyRecord, closesConversation } from '../keys/records.js';
import { quoteIdent, toStoreError } from '../store/pg.js';
import { PostgresKeyStore } from '../store/postgres.js';
import type { KeyStoreSummary } from '../store/types.js';
import { type CommandSpec, EXIT, RefusedError } from './common.js';
import { explain, keysDatabaseOptions, keysParams } from './keys-config.js';
import { databaseConfig, jsonOption, withPool } from './options.js';
import { oneLine, quoted } from './text.js';

/** A re-wrap job as `keys status` reports it (from `getJob('rewrap:<destination>')`). */
export interface RewrapJobStatus {
  name: string;
  /** The destination master key id. */
  to: string;
  /** `finished` once a run completed; `unfinished` while a run is going or was stopped (a rerun continues). */
  state: 'finished' | 'unfinished';
  rewrapped: number;
  skipped: number;
  failed: number;
  /** Keys under other master keys when the job started. */
  total: number | null;
  /** Keys under other master keys now (from the store summary). */
  pending: number;
  startedAt: string | null;
  finishedAt: string | null;
  /** When the job last saved progress. */
  updatedAt: string | null;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) ? v : 0);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/**
 * The re-wrap jobs of the schema. The store has no "list jobs" call, so their names come from
 * the jobs table (one indexed read); each job's state is then read through the store.
 */
async function rewrapJobs(pool: Pool, schema: string, store: PostgresKeyStore, summary: KeyStoreSummary): Promise<RewrapJobStatus[]> {
  let res;
  try {
    res = await pool.query<{ name: string; updated_at: Date | string }>(
      `SELECT name, updated_at FROM ${quoteIdent(schema)}.keywarden_jobs WHERE name LIKE 'rewrap:%' ORDER BY updated_at DESC, name`,
    );
  } catch (err) {
    throw toStoreError('jobs', err);
  }
  const out: RewrapJobStatus[] = [];
  for (const row of res.rows) {
    const job = (await store.getJob(row.name)) ?? {};
    const to = str(job.to) ?? row.name.slice('rewrap:'.length);
    out.push({
      name: row.name,
      to,
      state: str(job.finishedAt) === null ? 'unfinished' : 'finished',
      rewrapped: num(job.rewrapped),
      skipped: num(job.skipped),
      failed: num(job.failed),
      total: typeof job.total === 'number' ? job.total : null,
      pending: Object.entries(summary.byMasterKey).reduce((n, [id, c]) => (id === to ? n : n + c), 0),
      startedAt: str(job.startedAt),
      finishedAt: str(job.finishedAt),
      updatedAt: iso(row.updated_at instanceof Date ? row.updated_at : new Date(row.updated_at)),
    });
  }
  return out;
}

function renderSummary(schema: string, s: KeyStoreSummary, jobs: RewrapJobStatus[]): string {
  const lines = [
    `schema ${schema}: ${s.conversations} conversation(s)`,
    `key versions: ${s.versions.active} active, ${s.versions.superseded} superseded, ${s.versions.shredded} shredded`,
    'wrapped keys by master key:',
  ];
  const keys = Object.entries(s.byMasterKey).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) lines.push('  (none)');
  for (const [id, n] of keys) lines.push(`  ${oneLine(id)}  ${n}`);
  if (jobs.length > 0) lines.push('re-wrap jobs:');
  for (const j of jobs) {
    const of = j.total === null ? '' : ` of ${j.total}`;
    lines.push(`  to ${oneLine(j.to)}: ${j.state}, ${j.rewrapped}${of} re-wrapped, ${j.skipped} skipped, ${j.failed} failed; ${j.pending} key(s) under other master keys now`);
    lines.push(`    started ${oneLine(j.startedAt ?? '?')}, ${j.finishedAt !== null ? `finished ${oneLine(j.finishedAt)}` : `last progress ${oneLine(j.updatedAt ?? '?')} (run 'keywarden keys rewrap' again to continue)`}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One version's metadata for JSON: every KeyRecord field but the wrapped key, times as RFC 3339. */
function versionJson(r: KeyRecord) {
  return {
    version: r.version,
    state: r.state,
    suite: r.suite,
    masterKeyId: r.state === 'shredded' ? null : r.masterKeyId,
    createdAt: r.createdAt.toISOString(),
    activatedAt: r.activatedAt.toISOString(),
    supersededAt: iso(r.supersededAt),
    shreddedAt: iso(r.shreddedAt),
    shredScope: r.shredScope ?? null,
    sealedReserved: r.sealedReserved,
  };
}

function renderConversation(c: ReturnType<typeof conversationJson>): string {
  const lines = [
    `conversation ${quoted(c.conversationId)}: ${c.versions.length} key version(s), ${c.state === 'open' ? `open${c.activeVersion !== null ? ` (active version ${c.activeVersion})` : ' (next seal creates a version)'}` : "shredded (keys start-generation opens it again)"}`,
  ];
  for (const v of c.versions) {
    const times = [`activated ${v.activatedAt}`, v.supersededAt && `superseded ${v.supersededAt}`, v.shreddedAt && `shredded ${v.shreddedAt}${v.shredScope ? ` (${v.shredScope})` : ''}`];
    const rest = v.state === 'shredded' ? [] : [`master key ${oneLine(String(v.masterKeyId))}`, oneLine(v.suite), `${v.sealedReserved} message(s) reserved`];
    lines.push(`  v${v.version}  ${v.state.padEnd(10)}  ${[...times, ...rest].filter(Boolean).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function conversationJson(conversationId: string, rows: KeyRecord[]) {
  const latest = rows[rows.length - 1]!;
  return {
    conversationId,
    state: closesConversation(latest) ? ('shredded' as const) : ('open' as const),
    activeVersion: rows.find((r) => r.state === 'active')?.version ?? null,
    versions: rows.map(versionJson),
  };
}

/** The `keywarden keys status` command. */
export const statusCommand: CommandSpec = {
  name: 'status',
  summary: "counts, master keys and re-wrap jobs; or one conversation's key versions (no key material)",
  description:
    'Without CONVERSATION: conversations, key versions by state, wrapped keys per master key, and\n' +
    'every re-wrap job with its progress. With CONVERSATION: each key version with its state,\n' +
    'times, master key and messages reserved. Read-only; needs no master key.\n' +
    'Exit status 1 (ERR_KEY_NOT_FOUND) when the conversation has no key.',
  positionals: [{ name: 'CONVERSATION', description: "a conversation id: show its key versions" }],
  options: [...keysDatabaseOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const db = databaseConfig(args);
    const id = args.positional('CONVERSATION');
    try {
      await withPool(db.url, { readOnly: true }, async (pool) => {
        const store = new PostgresKeyStore(pool, { schema: db.schema });
        if (id !== undefined) {
          const rows = await store.listVersions(id);
          if (rows.length === 0) throw new RefusedError('ERR_KEY_NOT_FOUND', `conversation ${JSON.stringify(id)} has no key`);
          const c = conversationJson(id, rows);
          ctx.emit(c, renderConversation(c));
          return;
        }
        const summary = await store.summary();
        const jobs = await rewrapJobs(pool, db.schema, store, summary);
        ctx.emit({ schema: db.schema, ...summary, jobs }, renderSummary(db.schema, summary, jobs));
      });
    } catch (err) {
      throw explain(err, db.schema);
    }
    return EXIT.OK;
  },
};
