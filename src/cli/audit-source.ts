/**
 * Where `keywarden audit …` reads a log from: a FileAuditStore directory (tiled, or keywarden
 * 0.1's `entries` + `checkpoints`), a directory exported with `audit export` (tlog-tiles), or a
 * PostgreSQL schema. Every source streams — entries and checkpoints are read once, in order, in
 * bounded memory — and is read-only and lenient: damage in storage becomes a problem in the
 * report, never an exception, so that an auditor learns what is wrong instead of being refused.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { TileFiles } from '../audit/file-tiles.js';
import { framedRecords, scanFrames } from '../audit/framing.js';
import { PostgresAuditStore } from '../audit/postgres-store.js';
import { checkpointSize, headSize } from '../audit/store.js';
import type { TileReader } from '../audit/tile-tree.js';
import { TILE_WIDTH, tileWidth } from '../audit/tiles.js';
import { type AuditProblem, ProblemList } from '../audit/verify.js';
import { type Args, IncompleteError, type OptionSpec, UsageError } from './common.js';
import { DATABASE_URL_ENV, databaseConfig, databaseOptions, withPool } from './options.js';

/** A readable audit log. */
export interface AuditSource {
  /** The newest tree head, when the layout has one. */
  head(): Promise<string | undefined>;
  /** The layout keeps a signed tree head (a store's, not an exported directory): one must exist once a checkpoint does. */
  keepsHead: boolean;
  /** The newest checkpoint. */
  latest(): Promise<string | undefined>;
  /** Every checkpoint published, oldest first. */
  checkpoints(): AsyncIterable<string>;
  /** Every entry stored from index `from` (default 0), in order — including any past the newest signature (a verifier reports them). */
  entries(from?: number): AsyncIterable<Uint8Array>;
  /** One entry. */
  entry(index: number): Promise<Uint8Array | undefined>;
  /** The stored tiles (undefined for keywarden 0.1 layouts, which have none). */
  readTile: TileReader | undefined;
  /** Storage damage found while reading (bounded, as the verifier's own problems). */
  problems: StorageProblems;
}

/**
 * Storage damage of one source, kept as the verifier keeps its problems: at most
 * MAX_PROBLEMS_PER_KIND listed, the rest counted. A plain array grew by one problem per deleted
 * row or per record that is not UTF-8, each checked against all before it — unbounded memory and
 * quadratic time for whoever can write the store (outside review 7). A file read more than once
 * (the tree head) reports its damage once.
 */
export class StorageProblems extends ProblemList {
  readonly #once = new Set<string>();

  /** Adds `p` unless a problem with the same message was added this way before. */
  once(p: AuditProblem): void {
    if (this.#once.has(p.message)) return;
    this.#once.add(p.message);
    this.push(p);
  }
}

/** Rows per query when reading from PostgreSQL. */
const PAGE = 1000;
// A signed note is bytes (signed-note §Format: valid UTF-8): decode them exactly — a byte-order
// mark is kept (so the note does not verify, as with Go's note.Open), and bytes that are not UTF-8
// are a storage problem, never silently U+FFFD (outside review 5, 2026-12-02: both passed verify).
const exact = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** `bytes` as text; when they are not UTF-8, a `storage` problem naming `what` (if `report` is given). */
function noteText(bytes: Uint8Array, what: string, report?: (p: AuditProblem) => void): string {
  try {
    return exact.decode(bytes);
  } catch {
    report?.({ kind: 'storage', message: `${what} is not valid UTF-8 (a signed note must be)` });
    return lossy.decode(bytes);
  }
}

/** `--dir`, `--database-url`, `--schema`: where the log is. */
export const auditSourceOptions: OptionSpec[] = [
  { name: 'dir', type: 'string', value: 'DIR', description: 'a FileAuditStore directory, or a directory written by audit export' },
  ...databaseOptions(false),
];

/** The usage-line form of {@link auditSourceOptions}. */
export const AUDIT_SOURCE_USAGE = '(--dir DIR | --database-url URL [--schema NAME])';

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  return readFile(path).then((b) => new Uint8Array(b), (err: unknown) => {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw new IncompleteError(`cannot read ${path}: ${(err as { code?: string }).code ?? (err as Error).message}`);
  });
}

/** A keywarden 0.1 directory: framed `entries` and `checkpoints`, no tiles. */
function legacyDirectory(dir: string): AuditSource {
  const problems = new StorageProblems();
  const damaged = (name: string) => (d: { offset: number; torn: boolean; message: string }) =>
    problems.push({ kind: 'storage', message: `${name}: ${d.message} at byte ${d.offset}${d.torn ? ' (torn last record)' : ''}; records after it were not read` });
  return {
    head: async () => undefined,
    keepsHead: false,
    async latest() {
      let last: string | undefined;
      for await (const r of framedRecords(join(dir, 'checkpoints'), () => undefined)) last = noteText(r, 'a checkpoint');
      return last;
    },
    async *checkpoints() {
      let n = 0;
      for await (const r of framedRecords(join(dir, 'checkpoints'), damaged('checkpoints'))) yield noteText(r, `checkpoints: record ${n++}`, (p) => problems.push(p));
    },
    async *entries(from = 0) {
      let i = 0;
      for await (const r of framedRecords(join(dir, 'entries'), damaged('entries'))) if (i++ >= from) yield r;
    },
    async entry(index) {
      let i = 0;
      for await (const r of framedRecords(join(dir, 'entries'), () => undefined)) if (i++ === index) return r;
      return undefined;
    },
    readTile: undefined,
    problems,
  };
}

/** A tiled directory: a FileAuditStore's, or one written by `audit export`. */
function tiledDirectory(dir: string, keepsHead: boolean): AuditSource {
  const tiles = new TileFiles(dir);
  const problems = new StorageProblems();
  const head = async (): Promise<string | undefined> => {
    const data = await readIfExists(join(dir, 'head'));
    if (data === undefined) return undefined;
    const scan = scanFrames(data);
    if (scan.damage !== undefined || scan.records.length !== 2) {
      problems.once({ kind: 'storage', message: `${join(dir, 'head')} is damaged` });
      return undefined;
    }
    const note = noteText(scan.records[0]!, join(dir, 'head'), (p) => problems.once(p));
    return note.length > 0 ? note : undefined;
  };
  const latest = async (): Promise<string | undefined> => {
    const file = await readIfExists(join(dir, 'checkpoint'));
    return file === undefined ? undefined : noteText(file, join(dir, 'checkpoint'));
  };
  const size = async () => Math.max(headSize(await head()), checkpointSize((await latest()) ?? '') ?? 0);
  return {
    head,
    keepsHead,
    latest,
    async *checkpoints() {
      const history = join(dir, 'checkpoints');
      if (await stat(history).then(() => true, () => false)) {
        let last: string | undefined;
        let n = 0;
        for await (const r of framedRecords(history, (d) => problems.push({ kind: 'storage', message: `checkpoints: ${d.message} at byte ${d.offset}${d.torn ? ' (torn last record)' : ''}` }))) yield (last = noteText(r, `checkpoints: record ${n++}`, (p) => problems.push(p)));
        // The `checkpoint` file is what open, proofs and export use: it must be the history's
        // newest. Anything else is checked as one more checkpoint after the history, so a fork
        // or an older one (a rollback of what is published) is reported as such.
        const file = await readIfExists(join(dir, 'checkpoint'));
        if (file === undefined) {
          if (last !== undefined) problems.push({ kind: 'storage', message: `${join(dir, 'checkpoint')} is missing; the history's newest checkpoint is not published` });
        } else {
          const text = noteText(file, join(dir, 'checkpoint'), (p) => problems.once(p));
          if (file.length === 0 || text !== last) yield text;
        }
        return;
      }
      const file = await readIfExists(join(dir, 'checkpoint')); // an exported directory publishes only the newest
      if (file !== undefined) yield noteText(file, join(dir, 'checkpoint'), (p) => problems.once(p));
    },
    async *entries(from = 0) {
      const n = await size();
      for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < n; b++) {
        const width = tileWidth(n, 0, b);
        const entries = await tiles.readBundle(b, width);
        if (entries === undefined) {
          problems.push({ kind: 'storage', index: b * TILE_WIDTH, message: `entry bundle ${b} (${width} entries) is missing or damaged; entries after it were not read` });
          return;
        }
        yield* entries.slice(Math.max(0, from - b * TILE_WIDTH));
      }
      yield* await tiles.entriesBeyond(n);
    },
    async entry(index) {
      const n = await size();
      if (index >= n) return undefined;
      const b = Math.floor(index / TILE_WIDTH);
      return (await tiles.readBundle(b, tileWidth(n, 0, b)))?.[index % TILE_WIDTH];
    },
    readTile: (level, index, width) => tiles.readTile(level, index, width),
    problems,
  };
}

/** A FileAuditStore directory (either layout) or an exported one, read without its lock. */
export async function directorySource(dir: string): Promise<AuditSource> {
  const has = async (name: string) => stat(join(dir, name)).then(() => true, () => false);
  if (!(await has('.'))) throw new IncompleteError(`${dir} does not exist`);
  if (await has('layout')) return tiledDirectory(dir, true);
  if (await has('entries')) return legacyDirectory(dir);
  // A checkpoint history or a tree head is a store's (an export writes neither): without its
  // `layout` file it is still a store, which FileAuditStore.open re-creates and then refuses
  // if its head was removed (outside review 7: removing `layout` with `head` passed verify).
  if ((await has('checkpoints')) || (await has('head'))) return tiledDirectory(dir, true);
  if (await has('checkpoint')) return tiledDirectory(dir, false);
  throw new IncompleteError(`${join(dir, 'entries')} does not exist (neither an audit store nor an exported log)`);
}

/** The log in a PostgreSQL schema, read in the command's one read-only snapshot. */
export function postgresSource(pool: Pool, schema: string): AuditSource {
  const store = new PostgresAuditStore(pool, { schema });
  const t = store.tables;
  const problems = new StorageProblems();
  return {
    head: async () => (await store.state()).head,
    keepsHead: true,
    latest: async () => (await store.state()).checkpoint,
    async *checkpoints() {
      for (let after = 0; ;) {
        const page = await store.checkpointPage(after, PAGE);
        for (const r of page) yield r.note;
        if (page.length < PAGE) return;
        after = page[page.length - 1]!.seq;
      }
    },
    async *entries(from = 0) {
      const { head, checkpoint } = await store.state();
      const size = Math.max(headSize(head), checkpointSize(checkpoint ?? '') ?? 0);
      const missing = (a: number, b: number) => problems.push({ kind: 'storage', index: a, message: `audit_entries: the entries ${a}..${b} are missing` });
      let next = from;
      for (;;) {
        const res = await pool.query<{ idx: string; entry: Uint8Array }>(`SELECT idx, entry FROM ${t.entries} WHERE idx >= $1 ORDER BY idx LIMIT ${PAGE}`, [next]);
        for (const r of res.rows) {
          const idx = Number(r.idx);
          // Rows deleted from the table: the verifier then sees the later entries shifted.
          if (idx !== next) missing(next, idx - 1);
          next = idx + 1;
          yield new Uint8Array(r.entry);
        }
        if (res.rows.length < PAGE) break;
      }
      if (next < size) missing(next, size - 1);
    },
    async entry(index) {
      return (await store.read(index, index + 1))[0];
    },
    readTile: (level, index, width) => store.readTile(level, index, width),
    problems,
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
    return { use: async (fn) => fn(await directorySource(dir)) };
  }
  if (urlFrom === undefined) throw new UsageError(`missing the audit log: give --dir DIR or --database-url URL (or set ${DATABASE_URL_ENV.join(' or ')})`);
  const { url, schema } = databaseConfig(args);
  return { use: (fn) => withPool(url, { readOnly: true }, (pool) => fn(postgresSource(pool, schema))) };
}

