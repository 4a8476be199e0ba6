/**
 * PostgresAuditStore: the {@link AuditStore} for a fleet of processes sharing one audit log in
 * PostgreSQL. The single row of `audit_head` is the log's sequencer: every append locks it
 * (`SELECT ... FOR UPDATE`), so appends from any number of instances and processes queue there
 * and each one extends the tree the previous one committed. The head also keeps the tree's right
 * edge (a {@link CompactRange}), so an append never needs to read old entries to compute the new
 * root: {@link PostgresAuditStore.appendSequenced} writes the entries, the checkpoint over the
 * resulting tree and the new head in ONE transaction.
 *
 * `pg` is an optional peer dependency: this module only imports its types, and the caller
 * supplies (and owns) the Pool. Create the tables first with `migrate` (migration 2).
 * @module
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { assertPool, guardPool, driverErrorSummary, poolQuery, queryOn, quoteIdent, schemaOption, withPgTransaction } from '../store/pg.js';
import { CompactRange, leafHash } from './merkle.js';
import { type AuditStore, type SequencedHead, assertTruncation, checkpointSize } from './store.js';

type Queryable = Pick<PoolClient, 'query'>;

/** Rows per INSERT statement (3 parameters each, well below the protocol's 65535). */
const INSERT_CHUNK = 1000;


function unavailable(op: string, err: unknown): KeywardenError {
  if (err instanceof KeywardenError) return err;
  // The message names the operation and SQLSTATE only; the server's text stays in `cause`.
  return new AuditUnavailableError(`postgres audit store: ${op} failed (${driverErrorSummary(err)})`, err);
}

async function run<R extends QueryResultRow>(q: Queryable, op: string, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  try {
    return await queryOn<R>(q, sql, params);
  } catch (err) {
    throw unavailable(op, err);
  }
}

function toInt(value: unknown, column: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new AuditCorruptError(`postgres audit store: column ${column} is not a non-negative safe integer`);
  return n;
}

/** A Buffer view over the caller's bytes: serialised before the query resolves, never kept. */
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function assertEntries(entries: unknown): asserts entries is readonly Uint8Array[] {
  if (!Array.isArray(entries) || !entries.every((e) => e instanceof Uint8Array)) {
    throw new InvalidInputError('entries', 'expected an array of Uint8Array');
  }
}

/** Tree size on a checkpoint note's second line (C2SP tlog-checkpoint). */
function noteSize(note: string): number {
  const size = checkpointSize(note);
  if (size === undefined) throw new InvalidInputError('note', 'expected a checkpoint note (origin line, then a decimal tree size)');
  return size;
}

function isClient(tx: unknown): tx is PoolClient {
  return tx !== null && typeof tx === 'object' && typeof (tx as PoolClient).query === 'function';
}

/**
 * An {@link AuditStore} on PostgreSQL (12 or later), through a node-postgres `Pool`. Any number
 * of instances, in any number of processes, may append to the same schema: appends are
 * serialised by the database. Driver failures become `ERR_AUDIT_UNAVAILABLE`
 * ({@link AuditUnavailableError}, retryable); nothing is half-written, since each append is one
 * transaction.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'keywarden' });
 * const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema: 'keywarden' }), signerKey });
 * ```
 */
export class PostgresAuditStore implements AuditStore {
  readonly #pool: Pool;
  readonly #entries: string;
  readonly #checkpoints: string;
  readonly #head: string;

  constructor(pool: Pool, options?: { schema?: string }) {
    assertPool(pool);
    guardPool(pool);
    const s = quoteIdent(schemaOption(options));
    this.#pool = pool;
    this.#entries = `${s}.audit_entries`;
    this.#checkpoints = `${s}.audit_checkpoints`;
    this.#head = `${s}.audit_head`;
  }

  async size(): Promise<number> {
    let res: QueryResult<{ size: unknown }>;
    try {
      res = await poolQuery<{ size: unknown }>(this.#pool, `SELECT size FROM ${this.#head} WHERE id = 1`);
    } catch (err) {
      throw unavailable('size', err);
    }
    if (!res.rows[0]) throw new AuditUnavailableError('postgres audit store: the log head is missing (run migrate)');
    return toInt(res.rows[0].size, 'audit_head.size');
  }

  /** Appends under the head lock and keeps the stored right edge in step (no checkpoint). */
  async append(entries: readonly Uint8Array[]): Promise<number> {
    assertEntries(entries);
    return this.#transaction('append', undefined, undefined, async (client) => (await this.#appendLocked(client, entries)).index);
  }

  /**
   * Appends `entries` and a checkpoint over the resulting tree in ONE transaction holding the
   * log head (see {@link AuditStore.appendSequenced}). With `options.tx` (a pg PoolClient inside
   * a transaction) it runs in that transaction and neither begins nor commits; the head stays
   * locked until the caller commits or rolls back.
   */
  async appendSequenced(
    entries: readonly Uint8Array[],
    sign: (size: number, root: Uint8Array, previous: SequencedHead) => string,
    options?: { tx?: unknown; signal?: AbortSignal },
  ): Promise<{ index: number; size: number; checkpoint: string }> {
    assertEntries(entries);
    if (typeof sign !== 'function') throw new InvalidInputError('sign', 'expected a function');
    const tx = options?.tx;
    if (tx !== undefined && !isClient(tx)) throw new InvalidInputError('options.tx', 'expected a pg PoolClient inside a transaction');
    return this.#transaction('appendSequenced', tx, options?.signal, async (client) => {
      const { index, edge } = await this.#appendLocked(client, entries, async (e, previous) => {
        const note = sign(e.size, e.root(), previous);
        if (typeof note !== 'string') throw new InvalidInputError('sign', 'expected it to return the checkpoint note');
        await run(client, 'appendSequenced', `INSERT INTO ${this.#checkpoints} (size, note) VALUES ($1, $2)`, [e.size, note]);
        return note;
      });
      return { index, size: edge.size, checkpoint: edge.note! };
    });
  }

  async read(start: number, end: number): Promise<Uint8Array[]> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0) {
      throw new InvalidInputError('start', 'expected safe integers with 0 <= start');
    }
    if (end <= start) return [];
    let res: QueryResult<{ entry: Uint8Array }>;
    try {
      res = await poolQuery<{ entry: Uint8Array }>(this.#pool, 
        `SELECT entry FROM ${this.#entries} WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
        [start, end],
      );
    } catch (err) {
      throw unavailable('read', err);
    }
    // Plain copies: node-postgres Buffers may share a pooled slab.
    return res.rows.map((r) => new Uint8Array(r.entry));
  }

  async appendCheckpoint(note: string): Promise<void> {
    if (typeof note !== 'string') throw new InvalidInputError('note', 'expected a string');
    const size = noteSize(note);
    // Under the head lock too, so that checkpoint order (seq) is commit order across processes.
    await this.#transaction('appendCheckpoint', undefined, undefined, async (client) => {
      await this.#lockHead(client, 'appendCheckpoint');
      await run(client, 'appendCheckpoint', `INSERT INTO ${this.#checkpoints} (size, note) VALUES ($1, $2)`, [size, note]);
    });
  }

  /** Entries and latest checkpoint from one snapshot: one statement (see AuditStore.head). */
  async head(): Promise<{ size: number; checkpoint: string | undefined }> {
    let res: QueryResult<{ size: unknown; note: string | null }>;
    try {
      res = await poolQuery(this.#pool, `SELECT h.size, (SELECT note FROM ${this.#checkpoints} ORDER BY seq DESC LIMIT 1) AS note FROM ${this.#head} h WHERE h.id = 1`);
    } catch (err) {
      throw unavailable('head', err);
    }
    if (!res.rows[0]) throw new AuditUnavailableError('postgres audit store: the log head is missing (run migrate)');
    return { size: toInt(res.rows[0].size, 'audit_head.size'), checkpoint: res.rows[0].note ?? undefined };
  }

  async #latestCheckpoint(client: Queryable, op: string): Promise<string | undefined> {
    const res = await run<{ note: string }>(client, op, `SELECT note FROM ${this.#checkpoints} ORDER BY seq DESC LIMIT 1`);
    return res.rows[0]?.note;
  }

  async checkpoints(): Promise<string[]> {
    try {
      const res = await poolQuery<{ note: string }>(this.#pool, `SELECT note FROM ${this.#checkpoints} ORDER BY seq`);
      return res.rows.map((r) => r.note);
    } catch (err) {
      throw unavailable('checkpoints', err);
    }
  }

  /**
   * Removes the entries at and after `size` under the head lock and rewinds the stored right
   * edge to match (see AuditStore.truncate): only for an operator's repair of an unsigned tail,
   * never below the latest checkpoint. Reads the remaining leaf hashes to rebuild the edge.
   */
  async truncate(size: number): Promise<void> {
    await this.#transaction('truncate', undefined, undefined, async (client) => {
      const edge = await this.#lockHead(client, 'truncate');
      const last = await run<{ size: unknown }>(client, 'truncate', `SELECT size FROM ${this.#checkpoints} ORDER BY seq DESC LIMIT 1`);
      assertTruncation(size, edge.size, last.rows[0] ? [`x\n${toInt(last.rows[0].size, 'audit_checkpoints.size')}\n`] : []);
      const rest = CompactRange.empty();
      const rows = await run<{ leaf_hash: Uint8Array }>(client, 'truncate', `SELECT leaf_hash FROM ${this.#entries} WHERE idx < $1 ORDER BY idx`, [size]);
      for (const r of rows.rows) rest.append(new Uint8Array(r.leaf_hash));
      await run(client, 'truncate', `DELETE FROM ${this.#entries} WHERE idx >= $1`, [size]);
      await run(client, 'truncate', `UPDATE ${this.#head} SET size = $1, edge = $2 WHERE id = 1`, [rest.size, asBuffer(rest.encode())]);
    });
  }

  /** Nothing to release: the caller owns the pool. */
  async close(): Promise<void> {}

  async #lockHead(client: Queryable, op: string): Promise<CompactRange> {
    const res = await run<{ size: unknown; edge: Uint8Array }>(client, op, `SELECT size, edge FROM ${this.#head} WHERE id = 1 FOR UPDATE`);
    const row = res.rows[0];
    if (!row) throw new AuditUnavailableError('postgres audit store: the log head is missing (run migrate)');
    const size = toInt(row.size, 'audit_head.size');
    try {
      return CompactRange.decode(size, new Uint8Array(row.edge));
    } catch {
      throw new AuditCorruptError(`postgres audit store: the stored tree edge does not match the head size ${size}`, size);
    }
  }

  /**
   * Locks the head, appends the leaves to the edge, inserts the entries, optionally lets
   * `checkpoint` store a note over the new tree, and writes the new head. `client` must be in a
   * transaction.
   */
  async #appendLocked(
    client: Queryable,
    entries: readonly Uint8Array[],
    checkpoint?: (edge: CompactRange, previous: SequencedHead) => Promise<string>,
  ): Promise<{ index: number; edge: { size: number; note?: string } }> {
    const op = checkpoint ? 'appendSequenced' : 'append';
    const edge = await this.#lockHead(client, op);
    const index = edge.size;
    // The head as found, with the latest checkpoint (read under the lock), for the signer's check.
    const previous: SequencedHead | undefined = checkpoint && { size: edge.size, root: edge.root(), checkpoint: await this.#latestCheckpoint(client, op) };
    const hashes = entries.map((e) => {
      const h = leafHash(e);
      edge.append(h);
      return h;
    });
    const note = checkpoint ? await checkpoint(edge, previous!) : undefined;
    for (let off = 0; off < entries.length; off += INSERT_CHUNK) {
      const n = Math.min(INSERT_CHUNK, entries.length - off);
      const values: string[] = [];
      const params: unknown[] = [];
      for (let i = 0; i < n; i++) {
        values.push(`($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`);
        params.push(index + off + i, asBuffer(entries[off + i]!), asBuffer(hashes[off + i]!));
      }
      await run(client, op, `INSERT INTO ${this.#entries} (idx, entry, leaf_hash) VALUES ${values.join(', ')}`, params);
    }
    if (entries.length > 0) {
      await run(client, op, `UPDATE ${this.#head} SET size = $1, edge = $2 WHERE id = 1`, [edge.size, asBuffer(edge.encode())]);
    }
    return { index, edge: { size: edge.size, ...(note !== undefined && { note }) } };
  }

  /**
   * Runs fn in `tx` when given (the caller's transaction: no BEGIN/COMMIT here), else in its own
   * transaction on a dedicated connection: ROLLBACK on any failure, and a connection whose
   * ROLLBACK fails is destroyed rather than returned to the pool.
   */
  #transaction<T>(op: string, tx: PoolClient | undefined, signal: AbortSignal | undefined, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    if (tx !== undefined) return fn(tx);
    return withPgTransaction(
      this.#pool,
      (client, sql) => run(client, op, sql),
      {
        connect: (err) => unavailable(op, err),
        rolledBack: () => new AuditUnavailableError(`postgres audit store: ${op} rolled back (a statement in it failed)`),
      },
      (client) => fn(client),
      signal,
    );
  }
}
