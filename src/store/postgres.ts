/**
 * PostgresKeyStore: the {@link KeyStore} for a fleet of processes sharing one PostgreSQL
 * database. The database, not the process, provides the contract's atomicity:
 * - insert-if-absent is `INSERT ... ON CONFLICT DO NOTHING` (plus a partial unique index that
 *   allows one active version per conversation);
 * - compare-and-set locks the active row (`SELECT ... FOR UPDATE`) in a transaction;
 * - reservations are one bounded `UPDATE`, so no two processes can over-grant a key version.
 *
 * `pg` is an optional peer dependency: this module only imports its types, and the caller
 * supplies the Pool. Create the tables first with {@link migrate}.
 * @module
 */
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { type KeyRecord, type KeyState, type ShredScope, copyRecord } from '../keys/records.js';
import type { SuiteName } from '../format/suites.js';
import { InvalidInputError, StoreError } from '../errors.js';
import { ownOptions } from '../util/validate.js';
import type { CompanionInsert, InsertResult, KeyChange, KeyStore, KeyStoreSummary, ScanQuery, ScanRow, ShredResult, WrappedQuery, WrappingUpdate } from './types.js';
import { assertPool, guardPool, channelName, guardedClient, queryOn, quoteIdent, schemaOption, toStoreError, withPgTransaction } from './pg.js';
import { preparedStatementsOption } from './pg-statements.js';
import { type ChangeDetection, listenForChanges, pollForChanges } from './pg-changes.js';

/** Anything that runs a query: the Pool (one statement, any connection) or a checked-out client. */
type Queryable = Pick<Pool, 'query'> | Pick<PoolClient, 'query'>;

/** A row of `conversation_keys` as node-postgres returns it (int8 arrives as a string by default). */
interface Row extends QueryResultRow {
  conversation_id: string;
  version: unknown;
  master_key_id: string;
  wrapped_key: Uint8Array;
  suite: string;
  state: string;
  created_at: unknown;
  activated_at: unknown;
  superseded_at: unknown;
  sealed_reserved: unknown;
  shredded_at: unknown;
  shred_scope: string | null;
}

/**
 * What reads select, from the key table `k` joined to the master key ids `m` (migration 5 keeps
 * a small integer per master key id in the row, docs/KEYS.md §11).
 */
const COLUMNS =
  'k.conversation_id, k.version, m.name AS master_key_id, k.wrapped_key, k.suite, k.state, k.created_at, k.activated_at, k.superseded_at, k.sealed_reserved, k.shredded_at, k.shred_scope';
const INSERT_COLUMNS = 'conversation_id, version, master_key, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved';
const INSERT_VALUES = '($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)';

// `text` cannot hold U+0000, which a conversation id may contain: escape it injectively
// (see migrations.ts). Ids with neither `\` nor U+0000 are stored as they are.
function encodeId(id: string): string {
  if (typeof id !== 'string' || !id.isWellFormed()) {
    // A lone surrogate would reach the database as U+FFFD and let two ids share a row.
    throw new StoreError('postgres key store: conversation id must be a well-formed string');
  }
  return id.includes('\\') || id.includes('\u0000') ? id.replaceAll('\\', '\\\\').replaceAll('\u0000', '\\0') : id;
}
function decodeId(stored: string): string {
  return stored.includes('\\') ? stored.replace(/\\(\\|0)/g, (_m, c: string) => (c === '0' ? '\u0000' : '\\')) : stored;
}

// Values stay below 2^53 (versions and message counts), so a JS number is exact. Accept what an
// application's own pg type parsers may have turned int8 into (number, bigint) as well as the
// default string, and refuse anything that would lose precision rather than round silently.
function toInt(value: unknown, column: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' || typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new StoreError(`postgres key store: column ${column} is not a safe integer`);
  return n;
}
function toDate(value: unknown, column: string): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new StoreError(`postgres key store: column ${column} is not a timestamp`);
  return d;
}

/** Maps a row to a fresh record; bytea Buffers (which may share a pooled slab) become plain copies. */
function toRecord(row: Row): KeyRecord {
  return {
    conversationId: decodeId(row.conversation_id),
    version: toInt(row.version, 'version'),
    masterKeyId: row.master_key_id,
    wrappedKey: new Uint8Array(row.wrapped_key),
    suite: row.suite as SuiteName,
    state: row.state as KeyState,
    createdAt: toDate(row.created_at, 'created_at'),
    activatedAt: toDate(row.activated_at, 'activated_at'),
    supersededAt: row.superseded_at === null ? null : toDate(row.superseded_at, 'superseded_at'),
    sealedReserved: toInt(row.sealed_reserved, 'sealed_reserved'),
    shreddedAt: row.shredded_at === null ? null : toDate(row.shredded_at, 'shredded_at'),
    shredScope: row.shred_scope as ShredScope | null,
  };
}

function assertSafeInt(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new StoreError(`postgres key store: ${what} must be a safe integer`);
}

/** Parameters $1..$10 for INSERT_COLUMNS, with the master key's reference for $3. */
function recordParams(r: KeyRecord, masterKey: number): unknown[] {
  assertSafeInt(r.version, 'version');
  assertSafeInt(r.sealedReserved, 'sealedReserved');
  const key = r.wrappedKey;
  return [
    encodeId(r.conversationId),
    r.version,
    masterKey,
    // A Buffer view over the caller's bytes: serialised before the query resolves, never kept.
    Buffer.from(key.buffer, key.byteOffset, key.byteLength),
    r.suite,
    r.state,
    r.createdAt,
    r.activatedAt,
    r.supersededAt,
    r.sealedReserved,
  ];
}

async function run<R extends QueryResultRow = Row>(q: Queryable, op: string, sql: string, params?: unknown[]): Promise<QueryResult<R>> {
  try {
    return await queryOn<R>(q, sql, params);
  } catch (err) {
    throw toStoreError(op, err);
  }
}


/**
 * A {@link KeyStore} on PostgreSQL (any version from 12), through a node-postgres `Pool`.
 *
 * Each call outside {@link transaction} uses any pooled connection; `transaction` holds one
 * connection from BEGIN to COMMIT. Driver failures become {@link StoreError} (code
 * `ERR_STORE_FAILED`), with `retryable: true` for lost connections, serialization failures and
 * deadlocks, and the driver's error as `cause`.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'keywarden' });
 * const kw = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(pool, { schema: 'keywarden' }) });
 * ```
 */
export class PostgresKeyStore implements KeyStore {
  readonly #pool: Pool;
  /** `"schema".conversation_keys`, validated and quoted once. */
  readonly #table: string;
  /** NOTIFY channel for key changes in this schema. */
  readonly #channel: string;
  /** `"schema".keywarden_jobs`. */
  readonly #jobs: string;
  /** `"schema".conversation_keys AS k JOIN "schema".keywarden_master_keys AS m ...`: what reads select from. */
  readonly #from: string;
  /** `"schema".keywarden_master_keys`. */
  readonly #masterKeys: string;
  /** Master key id -> its reference, for references known to be committed (they never change). */
  readonly #masterKeyRefs = new Map<string, number>();
  /** The exact time (microseconds since 1970, as text) of rows scanKeys returned: their cursor. */
  readonly #scanExact = new WeakMap<ScanRow, string>();
  /** `"schema".keywarden_key_changes`: the change sequence pollers read (pg-changes.ts). */
  readonly #changes: string;
  readonly #schema: string;
  /** `keys` or `branches`: which rows of the change sequence are this store's. */
  readonly #kind: 'keys' | 'branches';
  readonly #changeMode: 'auto' | ChangeDetection;
  readonly #pollIntervalMs: number;
  #detection: ChangeDetection | undefined;

  /**
   * @param pool a node-postgres Pool (the caller owns it and ends it).
   * @param options.schema schema holding the tables (default `public`), as given to {@link migrate}.
   * @param options.keys `conversations` (default: the conversation keys) or `branches` (the branch
   *   keys of `BranchKeyProvider`, in their own table with the same guarantees).
   * @param options.changes how {@link subscribe} detects other processes' changes: `listen`
   *   (LISTEN/NOTIFY), `poll` (the change sequence, every `pollIntervalMs`), or `auto` (default:
   *   LISTEN when notifications demonstrably arrive, else polling — for transaction-mode poolers
   *   and engines without LISTEN).
   * @param options.pollIntervalMs polling period, 10..60000 (default 1000): the staleness bound
   *   when polling.
   * @param options.preparedStatements send keywarden's statements as named prepared statements,
   *   parsed and planned once per connection (default true; docs/KEYS.md §11.2). `false` for a
   *   pooler that does not keep them per client (PgBouncer in transaction mode before 1.21);
   *   without it the pool falls back by itself at the first statement such a pooler loses.
   * @throws InvalidInputError for a missing pool, a bad schema name (`options.schema`) or a bad
   *   option (named).
   */
  constructor(pool: Pool, options?: { schema?: string; keys?: 'conversations' | 'branches'; changes?: 'auto' | 'listen' | 'poll'; pollIntervalMs?: number; preparedStatements?: boolean }) {
    assertPool(pool);
    this.#pool = pool;
    const o = ownOptions('options', options, ['schema', 'keys', 'changes', 'pollIntervalMs', 'preparedStatements']);
    const schema = schemaOption(o.schema === undefined ? undefined : { schema: o.schema });
    const keys = o.keys ?? 'conversations';
    if (keys !== 'conversations' && keys !== 'branches') throw new InvalidInputError('options.keys', "expected 'conversations' or 'branches'");
    this.#table = `${quoteIdent(schema)}.${keys === 'branches' ? 'branch_keys' : 'conversation_keys'}`;
    this.#jobs = `${quoteIdent(schema)}.keywarden_jobs`;
    this.#masterKeys = `${quoteIdent(schema)}.keywarden_master_keys`;
    this.#from = `${this.#table} AS k JOIN ${this.#masterKeys} AS m ON m.id = k.master_key`;
    this.#kind = keys === 'branches' ? 'branches' : 'keys';
    this.#channel = channelName(this.#kind, schema);
    this.#schema = schema;
    this.#changes = `${quoteIdent(schema)}.keywarden_key_changes`;
    const changes = o.changes ?? 'auto';
    if (changes !== 'auto' && changes !== 'listen' && changes !== 'poll') throw new InvalidInputError('options.changes', "expected 'auto', 'listen' or 'poll'");
    this.#changeMode = changes;
    const interval = o.pollIntervalMs ?? 1000;
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 10 || interval > 60_000) {
      throw new InvalidInputError('options.pollIntervalMs', 'expected an integer from 10 to 60000');
    }
    this.#pollIntervalMs = interval;
    // Every option checked: only now the shared pool is touched (a refused constructor changes nothing).
    preparedStatementsOption(pool, o.preparedStatements); // checks its value before it marks the pool
    guardPool(pool);
  }

  /**
   * How the latest {@link subscribe} detects changes (`listen` or `poll`), or undefined before
   * the first subscription. In `auto` mode it tells which one was chosen.
   *
   * @example
   * ```ts
   * await store.subscribe(onChange);
   * console.log(store.changeDetection); // 'listen', or 'poll' behind PgBouncer in transaction mode
   * ```
   */
  get changeDetection(): ChangeDetection | undefined {
    return this.#detection;
  }

  getLatest(conversationId: string): Promise<KeyRecord | undefined> {
    return this.#getLatest(this.#pool, conversationId);
  }

  getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    return this.#getVersion(this.#pool, conversationId, version);
  }

  listVersions(conversationId: string): Promise<KeyRecord[]> {
    return this.#listVersions(this.#pool, conversationId);
  }

  insertFirst(record: KeyRecord): Promise<InsertResult> {
    return this.#insertFirst(this.#pool, record);
  }

  insertNext(record: KeyRecord, expectedVersion: number, options?: { reopen?: boolean }): Promise<InsertResult> {
    // Lock, compare and write must share one transaction (and so one connection).
    return this.#withTransaction('insertNext', (client) => this.#insertNext(client, record, expectedVersion, options?.reopen === true));
  }

  shred(conversationId: string, target: 'conversation' | readonly number[], at: Date): Promise<ShredResult> {
    return this.#withTransaction('shred', (client) => this.#shred(client, conversationId, target, at));
  }

  scanKeys(query: ScanQuery): Promise<ScanRow[]> {
    return this.#scanKeys(this.#pool, query);
  }

  scanWrapped(query: WrappedQuery): Promise<KeyRecord[]> {
    return this.#scanWrapped(this.#pool, query);
  }

  updateWrappings(items: readonly WrappingUpdate[]): Promise<boolean[]> {
    // A transaction: the page locks each conversation's highest row before its update (see #updateWrappings).
    if (items.length === 0) return Promise.resolve([]);
    return this.#withTransaction('updateWrappings', (client) => this.#updateWrappings(client, items));
  }

  async getJob(name: string): Promise<Record<string, unknown> | undefined> {
    const res = await run<{ state: string }>(this.#pool, 'getJob', `SELECT state FROM ${this.#jobs} WHERE name = $1`, [name]);
    const text = res.rows[0]?.state;
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new StoreError(`postgres key store: job ${JSON.stringify(name)} has unreadable state`, err);
    }
  }

  async putJob(name: string, state: Record<string, unknown>): Promise<void> {
    await run(this.#pool, 'putJob', `INSERT INTO ${this.#jobs} (name, state, updated_at) VALUES ($1, $2, now())
      ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`, [name, JSON.stringify(state)]);
  }

  /** Counts over the whole table: two full scans, for `keywarden keys status` (not for a hot path). */
  async summary(): Promise<KeyStoreSummary> {
    const byState = await run<{ state: string; master_key_id: string; n: unknown }>(
      this.#pool, 'summary', `SELECT k.state, m.name AS master_key_id, count(*) AS n FROM ${this.#from} GROUP BY k.state, m.name`,
    );
    const convs = await run<{ n: unknown }>(this.#pool, 'summary', `SELECT count(DISTINCT conversation_id) AS n FROM ${this.#table}`);
    const out: KeyStoreSummary = { conversations: toInt(convs.rows[0]?.n ?? 0, 'count'), versions: { active: 0, superseded: 0, shredded: 0 }, byMasterKey: {} };
    for (const r of byState.rows) {
      const n = toInt(r.n, 'count');
      if (r.state === 'active' || r.state === 'superseded' || r.state === 'shredded') out.versions[r.state] += n;
      if (r.state !== 'shredded') out.byMasterKey[r.master_key_id] = (out.byMasterKey[r.master_key_id] ?? 0) + n;
    }
    return out;
  }

  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    return this.#reserve(this.#pool, conversationId, version, count, limit);
  }

  /**
   * Runs `fn` in one database transaction (READ COMMITTED unless the server's default says
   * otherwise): all its calls commit together when it resolves, none when it rejects, and its
   * rejection is rethrown as is. Nested calls join the outer transaction. The `tx` store must
   * not be used after `fn` settles: from that moment its calls, and every further statement of a
   * call still running, are refused (StoreError), and when `fn` resolves with a call still
   * running the transaction rolls back and rejects (StoreError) rather than commit part of it.
   * Calls on the outer store inside `fn` run outside the transaction (and, with a pool of one
   * connection, would wait for it forever).
   *
   * @example
   * ```ts
   * await store.transaction(async (tx) => {
   *   const { record } = await tx.insertFirst(rec);
   *   await tx.reserveMessages(record.conversationId, record.version, 100, limit);
   * });
   * ```
   */
  transaction<T>(fn: (tx: KeyStore) => Promise<T>): Promise<T> {
    return this.#withTransaction('transaction', async (client, isOpen) => {
      const bound = this.#boundTo(client, isOpen);
      let out: T;
      try {
        out = await fn(bound.tx);
      } finally {
        bound.close();
      }
      // A call still running would be cut in two: its statements so far in the transaction, the
      // rest refused. Roll back all of it instead (outside review, 2026-12-02: fn resolving during
      // a rotation committed the supersede without the new version).
      if (bound.running() > 0) throw new StoreError('postgres key store: transaction: fn settled while a call on its store was still running (rolled back)');
      return out;
    });
  }

  /** A transaction on a dedicated connection (see withPgTransaction). */
  #withTransaction<T>(op: string, fn: (client: PoolClient, isOpen: () => boolean) => Promise<T>): Promise<T> {
    return withPgTransaction(
      this.#pool,
      (client, sql) => run(client, op, sql),
      {
        connect: (err) => toStoreError(op, err),
        rolledBack: () => new StoreError(`postgres key store: ${op} rolled back (a statement in it failed)`),
      },
      fn,
    );
  }

  /** The store `transaction` hands to fn: every call on the transaction's connection. */
  #boundTo(txClient: PoolClient, isOpen: () => boolean): { tx: KeyStore; close: () => void; running: () => number } {
    // Closed the moment fn settles (close()). Every statement checks it, not only each call's
    // start: a call still running then must not go on outside the transaction (guardedClient).
    let closed = false;
    let running = 0;
    const live = () => !closed && isOpen();
    const client = guardedClient(txClient, live);
    const guard = <T>(call: () => Promise<T>): Promise<T> => {
      if (!live()) return Promise.reject(new StoreError('postgres key store: the transaction has already ended'));
      running++;
      let p: Promise<T>;
      try {
        p = call();
      } catch (err) {
        running--;
        return Promise.reject(err);
      }
      return p.finally(() => running--);
    };
    const tx: KeyStore = {
      getLatest: (c) => guard(() => this.#getLatest(client, c)),
      getVersion: (c, v) => guard(() => this.#getVersion(client, c, v)),
      listVersions: (c) => guard(() => this.#listVersions(client, c)),
      insertFirst: (r) => guard(() => this.#insertFirst(client, r)),
      insertNext: (r, e, o) => guard(() => this.#insertNext(client, r, e, o?.reopen === true)),
      reserveMessages: (c, v, n, l) => guard(() => this.#reserve(client, c, v, n, l)),
      shred: (c, t, at) => guard(() => this.#shred(client, c, t, at)),
      scanKeys: (q) => guard(() => this.#scanKeys(client, q)),
      scanWrapped: (q) => guard(() => this.#scanWrapped(client, q)),
      updateWrappings: (items) => guard(() => this.#updateWrappings(client, items)),
      // Nested transactions join the outer one (no savepoint): the contract says a rejection
      // inside rolls back everything, which is what the outer rollback does.
      transaction: (fn) => guard(() => fn(tx)),
      // The connection of this transaction, so that an audit append can join it (a key and its
      // key.created record commit together): see AuditStore.appendSequenced's `tx`.
      txHandle: txClient,
    };
    return { tx, close: () => { closed = true; }, running: () => running };
  }

  async #getLatest(q: Queryable, conversationId: string): Promise<KeyRecord | undefined> {
    // A backward scan of the primary key: one row.
    const res = await run(q, 'getLatest', `SELECT ${COLUMNS} FROM ${this.#from} WHERE k.conversation_id = $1 ORDER BY k.version DESC LIMIT 1`, [
      encodeId(conversationId),
    ]);
    return res.rows[0] && toRecord(res.rows[0]);
  }

  async #getVersion(q: Queryable, conversationId: string, version: number): Promise<KeyRecord | undefined> {
    if (!Number.isSafeInteger(version)) return undefined;
    const res = await run(q, 'getVersion', `SELECT ${COLUMNS} FROM ${this.#from} WHERE k.conversation_id = $1 AND k.version = $2`, [
      encodeId(conversationId),
      version,
    ]);
    return res.rows[0] && toRecord(res.rows[0]);
  }

  async #listVersions(q: Queryable, conversationId: string): Promise<KeyRecord[]> {
    const res = await run(q, 'listVersions', `SELECT ${COLUMNS} FROM ${this.#from} WHERE k.conversation_id = $1 ORDER BY k.version`, [
      encodeId(conversationId),
    ]);
    return res.rows.map(toRecord);
  }

  /**
   * Inserts version 1 unless the conversation has a key; with `companion`, its row is written
   * by the same statement (a data-modifying CTE): both commit or neither, and the companion is
   * written only when the key row is.
   */
  async #insertFirst(q: Queryable, record: KeyRecord, companion?: CompanionInsert): Promise<InsertResult> {
    if (record.version !== 1 || record.state !== 'active' || record.supersededAt !== null) {
      throw new StoreError('postgres key store: insertFirst expects an active version 1');
    }
    // No conflict target: a conflict on either the primary key (version 1 exists, perhaps as a
    // tombstone) or the one-active index means the conversation has a key. ON CONFLICT waits for
    // a concurrent uncommitted insert, so after DO NOTHING the winner's row is committed.
    encodeId(record.conversationId); // refused before anything is written (a master key row included)
    const ref = await this.#masterKeyRef(q, record.masterKeyId, 'insertFirst');
    const params = recordParams(record, ref);
    const insert = `INSERT INTO ${this.#table} (${INSERT_COLUMNS}) VALUES ${INSERT_VALUES} ON CONFLICT DO NOTHING`;
    const ins = companion === undefined
      ? await run(q, 'insertFirst', insert, params)
      : await run(q, 'insertFirst', `WITH k AS (${insert} RETURNING 1) ${companion.sql('k', params.length + 1)}`, [...params, ...companion.params]);
    if (ins.rowCount === 1) return { inserted: true, record: copyRecord(record) };
    return { inserted: false, record: await this.#current(q, record.conversationId, 'insertFirst') };
  }

  /**
   * insertFirst and the companion row in one statement, when the companion's table is reached
   * through this store's pool (undefined otherwise: the caller uses a transaction).
   * @internal
   */
  async insertFirstWith(record: KeyRecord, companion: CompanionInsert): Promise<InsertResult | undefined> {
    if (companion.pool !== this.#pool) return undefined;
    return this.#insertFirst(this.#pool, record, companion);
  }

  /** The highest version (the active one, or a tombstone): InsertResult.record for a lost race. */
  async #current(q: Queryable, conversationId: string, op: string): Promise<KeyRecord> {
    const r = await this.#getLatest(q, conversationId);
    if (r === undefined) throw new StoreError(`postgres key store: ${op}: conversation has no key`);
    return r;
  }

  /**
   * Compare-and-set on the highest version; `client` must be inside a transaction. Locking the
   * expected row serialises this with concurrent rotations and with shred (which locks the
   * highest row too): whoever waits re-reads the row after the other commits and sees it
   * superseded or closed, so exactly one new version follows any version.
   */
  async #insertNext(client: PoolClient, record: KeyRecord, expected: number, reopen: boolean): Promise<InsertResult> {
    if (!Number.isSafeInteger(expected)) throw new StoreError('postgres key store: insertNext: expected version must be a safe integer');
    const id = encodeId(record.conversationId);
    const res = await run(client, 'insertNext', `SELECT ${COLUMNS} FROM ${this.#from} WHERE k.conversation_id = $1 AND k.version = $2 FOR UPDATE OF k`, [id, expected]);
    const row = res.rows[0] && toRecord(res.rows[0]);
    const open = row !== undefined && (row.state === 'active' || (row.state === 'shredded' && (reopen || row.shredScope !== 'conversation')));
    if (!open) return { inserted: false, record: await this.#current(client, record.conversationId, 'insertNext') };
    if (record.version !== expected + 1 || record.state !== 'active' || record.supersededAt !== null) {
      throw new StoreError('postgres key store: insertNext: record must be the active version following the highest one');
    }
    if (row.state === 'active') {
      await run(client, 'insertNext', `UPDATE ${this.#table} SET state = 'superseded', superseded_at = $3 WHERE conversation_id = $1 AND version = $2`, [
        id, expected, record.activatedAt,
      ]);
    }
    // A tombstone is not locked against a concurrent insert of the next version by another
    // path: the primary key settles that race (DO NOTHING, then report the winner).
    const ref = await this.#masterKeyRef(client, record.masterKeyId, 'insertNext');
    const ins = await run(client, 'insertNext', `INSERT INTO ${this.#table} (${INSERT_COLUMNS}) VALUES ${INSERT_VALUES} ON CONFLICT DO NOTHING`, recordParams(record, ref));
    if (ins.rowCount !== 1) return { inserted: false, record: await this.#current(client, record.conversationId, 'insertNext') };
    // Tell other instances (LISTEN, see subscribe): delivered when this transaction commits.
    await this.#notify(client, 'insertNext', id, 'rotated');
    return { inserted: true, record: copyRecord(record) };
  }

  /**
   * The small integer that rows store for a master key id (migration 5), adding the id on first
   * use. A reference read from a committed row is cached; one this call's transaction adds is
   * not (the transaction may roll back).
   */
  async #masterKeyRef(q: Queryable, masterKeyId: string, op: string): Promise<number> {
    const cached = this.#masterKeyRefs.get(masterKeyId);
    if (cached !== undefined) return cached;
    const found = await run<{ id: unknown }>(q, op, `SELECT id FROM ${this.#masterKeys} WHERE name = $1 ORDER BY id LIMIT 1`, [masterKeyId]);
    if (found.rows[0]) {
      const id = toInt(found.rows[0].id, 'id');
      // Cached only when read outside a transaction, so committed: inside one it may be the
      // transaction's own insert, gone with a rollback (outside review, 2026-12-01: every later
      // insert under that master key then failed with SQLSTATE 23503 until the process restarted).
      if (q === this.#pool) this.#masterKeyRefs.set(masterKeyId, id);
      return id;
    }
    // A plain insert, never waiting on a concurrent transaction that adds the same name (see
    // migration 5): a duplicate name under another id is harmless.
    const added = await run<{ id: unknown }>(q, op, `INSERT INTO ${this.#masterKeys} (name) VALUES ($1) RETURNING id`, [masterKeyId]);
    return toInt(added.rows[0]!.id, 'id');
  }

  /**
   * Tells other instances, on commit: NOTIFY for listeners, and a row of the change sequence for
   * pollers (pg-changes.ts) — both, since each subscriber picks its own way.
   */
  async #notify(client: Queryable, op: string, encodedId: string, change: KeyChange): Promise<void> {
    const payload = `${change === 'shredded' ? 's' : 'r'}:${encodedId}`;
    await run(client, op, `WITH c AS (INSERT INTO ${this.#changes} (kind, payload) VALUES ($3, $2)) SELECT pg_notify($1, $2)`, [this.#channel, payload, this.#kind]);
  }

  /** Shreds inside a transaction on `client` (see KeyStore.shred). */
  async #shred(client: PoolClient, conversationId: string, target: 'conversation' | readonly number[], at: Date): Promise<ShredResult> {
    const id = encodeId(conversationId);
    const set = `SET state = 'shredded', wrapped_key = ''::bytea, shredded_at = $2, shred_scope = 'version'`;
    const shredded: number[] = [];
    let asked: number[];
    let closed = false;
    if (target === 'conversation') {
      // Lock the highest row first: a concurrent insertNext locks it too, so it either commits
      // before us (and the loop below sees its new version) or waits and then finds it closed.
      await run(client, 'shred', `SELECT version FROM ${this.#table} WHERE conversation_id = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE`, [id]);
      // READ COMMITTED: each statement sees rows committed before it started, so repeat until
      // a statement finds nothing left (a version inserted meanwhile is caught by the next one).
      // The mark that closes the conversation goes on its highest row only once that row is
      // shredded: a version committed after the last UPDATE's snapshot (the row locked above
      // need not still be the highest when the lock is granted) is shredded by another round,
      // not marked while active, which the table's CHECK refuses (SQLSTATE 23514, found by an
      // outside review racing shreds with rotations from 3 processes).
      for (let round = 0; ; round++) {
        if (round === 10) throw new StoreError('postgres key store: shred kept finding new versions; retry', undefined, true);
        const res = await run<{ version: unknown }>(client, 'shred', `UPDATE ${this.#table} ${set} WHERE conversation_id = $1 AND state <> 'shredded' RETURNING version`, [id, at]);
        for (const r of res.rows) shredded.push(toInt(r.version, 'version'));
        if (res.rows.length > 0) continue;
        const mark = await run<{ state: string; marked: boolean }>(client, 'shred', `WITH top AS (
            SELECT version, state FROM ${this.#table} WHERE conversation_id = $1 ORDER BY version DESC LIMIT 1),
          m AS (UPDATE ${this.#table} k SET shred_scope = 'conversation' FROM top
            WHERE k.conversation_id = $1 AND k.version = top.version AND k.state = 'shredded'
              AND k.shred_scope IS DISTINCT FROM 'conversation' RETURNING 1)
          SELECT top.state, EXISTS (SELECT 1 FROM m) AS marked FROM top`, [id]);
        const top = mark.rows[0];
        if (top === undefined) break;
        if (top.state !== 'shredded') continue; // a version committed meanwhile: shred it first
        if (!top.marked) break; // the highest row is shredded and already closes the conversation
        // Marked now: go round once more. The mark may have waited on a rotation that held the
        // row (a tombstone this shred never locked) and has since committed a version above it.
        closed = true;
      }
      const all = await run<{ version: unknown }>(client, 'shred', `SELECT version FROM ${this.#table} WHERE conversation_id = $1`, [id]);
      asked = all.rows.map((r) => toInt(r.version, 'version'));
    } else {
      asked = [...new Set(target)].filter((v) => Number.isSafeInteger(v));
      // The highest row first, as every multi-row change of a conversation does (a whole shred,
      // a re-wrap page): one lock order, no deadlock (outside review, 2026-12-01: a whole shred
      // and a version shred of one conversation deadlocked in 16 of 30 rounds, SQLSTATE 40P01).
      await run(client, 'shred', `SELECT version FROM ${this.#table} WHERE conversation_id = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE`, [id]);
      const res = await run<{ version: unknown }>(client, 'shred', `UPDATE ${this.#table} ${set} WHERE conversation_id = $1 AND version = ANY($3::bigint[]) AND state <> 'shredded' RETURNING version`, [id, at, asked]);
      for (const r of res.rows) shredded.push(toInt(r.version, 'version'));
      const existing = await run<{ version: unknown }>(client, 'shred', `SELECT version FROM ${this.#table} WHERE conversation_id = $1 AND version = ANY($2::bigint[])`, [id, asked]);
      asked = existing.rows.map((r) => toInt(r.version, 'version'));
    }
    const done = new Set(shredded);
    if (shredded.length > 0 || closed) await this.#notify(client, 'shred', id, 'shredded');
    return { shredded: shredded.sort((a, b) => a - b), alreadyShredded: asked.filter((v) => !done.has(v)).sort((a, b) => a - b), closed };
  }

  async #scanKeys(q: Queryable, query: ScanQuery): Promise<ScanRow[]> {
    const a = query.after;
    const params: unknown[] = [query.before, query.limit];
    let sql: string;
    if (query.by === 'superseded') {
      // The partial index (superseded_at, conversation_id, version) WHERE state = 'superseded':
      // a page is a range scan. The cursor resumes at the last row's exact time, in microseconds
      // as the server holds it: a Date keeps milliseconds, and a row another writer stored with
      // microseconds came back on every page (outside review, 2026-12-01: a dry run never ended).
      const exact = a === undefined ? undefined : this.#scanExact.get(a);
      if (a !== undefined) params.push(exact ?? a.at, encodeId(a.conversationId), a.version);
      const at = exact === undefined ? '$3::timestamptz' : "(timestamptz 'epoch' + $3::bigint * interval '1 microsecond')";
      sql = `SELECT conversation_id, version, superseded_at AS at, state, superseded_at,
              (extract(epoch FROM superseded_at) * 1000000)::bigint::text AS at_us FROM ${this.#table}
       WHERE state = 'superseded' AND superseded_at < $1 ${a === undefined ? '' : `AND (superseded_at, conversation_id, version) > (${at}, $4, $5)`}
       ORDER BY superseded_at, conversation_id, version LIMIT $2`;
    } else {
      // Retention's opt-in idle pass reads every unshredded version once per run, in primary-key
      // order (pages resume after the last row's key): an index on activation time for it alone
      // cost ~64 bytes on every row (migration 7, docs/KEYS.md §11).
      if (a !== undefined) params.push(encodeId(a.conversationId), a.version);
      sql = `SELECT conversation_id, version, activated_at AS at, state, superseded_at FROM ${this.#table}
       WHERE state <> 'shredded' AND activated_at < $1 ${a === undefined ? '' : 'AND (conversation_id, version) > ($3, $4)'}
       ORDER BY conversation_id, version LIMIT $2`;
    }
    const res = await run<{ conversation_id: string; version: unknown; at: unknown; state: string; superseded_at: unknown; at_us?: string }>(q, 'scanKeys', sql, params);
    return res.rows.map((r) => {
      const row: ScanRow = {
        conversationId: decodeId(r.conversation_id), version: toInt(r.version, 'version'), at: toDate(r.at, 'at'),
        state: r.state as 'active' | 'superseded', supersededAt: r.superseded_at === null ? null : toDate(r.superseded_at, 'superseded_at'),
      };
      if (typeof r.at_us === 'string' && /^-?[0-9]{1,19}$/.test(r.at_us)) this.#scanExact.set(row, r.at_us);
      return row;
    });
  }

  async #scanWrapped(q: Queryable, query: WrappedQuery): Promise<KeyRecord[]> {
    const a = query.after;
    const params: unknown[] = [query.notMasterKeyId, query.limit, query.masterKeyIdPrefix ?? null, query.excludeMasterKeyIdPrefix ?? null];
    if (a !== undefined) params.push(encodeId(a.conversationId), a.version);
    // Primary-key order from the cursor on: a whole re-wrap reads the table once.
    const res = await run(
      q, 'scanWrapped',
      `SELECT ${COLUMNS} FROM ${this.#from}
       WHERE k.state <> 'shredded' AND m.name <> $1
         AND ($3::text IS NULL OR starts_with(m.name, $3)) AND ($4::text IS NULL OR NOT starts_with(m.name, $4))
         ${a === undefined ? '' : 'AND (k.conversation_id, k.version) > ($5, $6)'}
       ORDER BY k.conversation_id, k.version LIMIT $2`,
      params,
    );
    return res.rows.map(toRecord);
  }

  async #updateWrappings(q: Queryable, items: readonly WrappingUpdate[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const cols = { cid: [] as string[], ver: [] as number[], oldId: [] as string[], oldKey: [] as Buffer[], newRef: [] as number[], newKey: [] as Buffer[] };
    // Every item checked before anything is written (a master key row included).
    for (const u of items) {
      assertSafeInt(u.version, 'version');
      encodeId(u.conversationId);
    }
    const refs = new Map<string, number>();
    for (const u of items) if (!refs.has(u.next.masterKeyId)) refs.set(u.next.masterKeyId, await this.#masterKeyRef(q, u.next.masterKeyId, 'updateWrappings'));
    for (const u of items) {
      cols.cid.push(encodeId(u.conversationId));
      cols.ver.push(u.version);
      cols.oldId.push(u.expected.masterKeyId);
      cols.oldKey.push(Buffer.from(u.expected.wrappedKey));
      cols.newRef.push(refs.get(u.next.masterKeyId)!);
      cols.newKey.push(Buffer.from(u.next.wrappedKey));
    }
    // The highest row of each conversation first, in conversation order: the lock order of a
    // whole shred (see #shred), so a re-wrap page and a shred never deadlock (outside review,
    // 2026-12-01: 3 of 30 rounds failed with SQLSTATE 40P01).
    await run(q, 'updateWrappings', `SELECT 1 FROM ${this.#table} k
       JOIN (SELECT c.cid, (SELECT max(version) FROM ${this.#table} WHERE conversation_id = c.cid) AS top FROM unnest($1::text[]) AS c(cid) GROUP BY c.cid) t
         ON k.conversation_id = t.cid AND k.version = t.top
       ORDER BY k.conversation_id FOR UPDATE OF k`, [[...new Set(cols.cid)]]);
    // One statement for the batch; each row is compare-and-set on its current wrapping, and
    // the ordinality tells which item matched.
    const res = await run<{ ord: unknown }>(
      q, 'updateWrappings',
      `UPDATE ${this.#table} AS k SET master_key = u.new_ref, wrapped_key = u.new_key
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bytea[], $5::int[], $6::bytea[]) WITH ORDINALITY AS u(cid, ver, old_id, old_key, new_ref, new_key, ord),
         ${this.#masterKeys} AS m
       WHERE k.conversation_id = u.cid AND k.version = u.ver AND k.state <> 'shredded' AND m.id = k.master_key AND m.name = u.old_id AND k.wrapped_key = u.old_key
       RETURNING u.ord`,
      [cols.cid, cols.ver, cols.oldId, cols.oldKey, cols.newRef, cols.newKey],
    );
    const done = new Set(res.rows.map((r) => toInt(r.ord, 'ord') - 1));
    return items.map((_u, i) => done.has(i));
  }

  /**
   * Calls `onChange(conversationId, change)` whenever any process rotates or shreds a
   * conversation's keys in this schema. With LISTEN/NOTIFY (see `options.changes`) it holds one
   * pool connection until the returned function is called — so do not use `listen` on a
   * single-connection pool (PGlite); polling borrows a connection per poll only. Changes can be
   * missed (e.g. while reconnecting); keywarden's cache max age remains the bound.
   *
   * @example
   * ```ts
   * const stop = await store.subscribe((conversationId) => console.log('rotated', conversationId));
   * await stop();
   * ```
   */
  async subscribe(onChange: (conversationId: string, change: KeyChange) => void, onLost?: (err: unknown) => void): Promise<() => Promise<void>> {
    // `r:<id>` rotated, `s:<id>` shredded; keywarden 0.1 sent the bare id for a rotation.
    const onPayload = (p: string) => {
      if (p.startsWith('s:')) onChange(decodeId(p.slice(2)), 'shredded');
      else onChange(decodeId(p.startsWith('r:') ? p.slice(2) : p), 'rotated');
    };
    if (this.#changeMode !== 'poll') {
      const stop = await listenForChanges(this.#pool, this.#channel, onPayload, onLost, this.#changeMode === 'auto');
      if (stop !== undefined) {
        this.#detection = 'listen';
        return stop;
      }
    }
    const stop = await pollForChanges(this.#pool, this.#schema, this.#kind, this.#pollIntervalMs, onPayload, onLost);
    this.#detection = 'poll';
    return stop;
  }

  async #reserve(q: Queryable, conversationId: string, version: number, count: number, limit: number): Promise<number> {
    assertSafeInt(count, 'count');
    assertSafeInt(limit, 'limit');
    if (!Number.isSafeInteger(version) || count <= 0) return 0;
    // One statement, atomic on its own: the CTE locks the row (re-reading it after any
    // concurrent writer commits), the UPDATE adds at most what is left below the limit, and
    // RETURNING reports the grant computed from the locked value. A superseded, missing or
    // exhausted version matches nothing and grants 0.
    const res = await run<{ granted: unknown }>(
      q,
      'reserveMessages',
      `WITH cur AS (
         SELECT conversation_id, version, sealed_reserved AS old FROM ${this.#table}
         WHERE conversation_id = $1 AND version = $2 AND state = 'active' AND sealed_reserved < $4::bigint
         FOR UPDATE
       )
       UPDATE ${this.#table} AS k
       SET sealed_reserved = cur.old + LEAST($3::bigint, $4::bigint - cur.old)
       FROM cur
       WHERE k.conversation_id = cur.conversation_id AND k.version = cur.version
       RETURNING LEAST($3::bigint, $4::bigint - cur.old) AS granted`,
      [encodeId(conversationId), version, count, limit],
    );
    return res.rows[0] ? toInt(res.rows[0].granted, 'granted') : 0;
  }
}
