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
import type { KeyRecord, KeyState } from '../keys/records.js';
import type { SuiteName } from '../format/suites.js';
import { StoreError } from '../errors.js';
import type { InsertResult, KeyStore } from './types.js';
import { assertPool, queryOn, quoteIdent, schemaOption, toStoreError, withPgTransaction } from './pg.js';

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
}

const COLUMNS =
  'conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved';

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
  };
}

function assertSafeInt(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new StoreError(`postgres key store: ${what} must be a safe integer`);
}

/** Parameters $1..$10 for COLUMNS. */
function recordParams(r: KeyRecord): unknown[] {
  assertSafeInt(r.version, 'version');
  assertSafeInt(r.sealedReserved, 'sealedReserved');
  const key = r.wrappedKey;
  return [
    encodeId(r.conversationId),
    r.version,
    r.masterKeyId,
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

  /**
   * @param pool a node-postgres Pool (the caller owns it and ends it).
   * @param options.schema schema holding the tables (default `public`), as given to {@link migrate}.
   * @throws InvalidInputError for a missing pool or a bad schema name (`options.schema`).
   */
  constructor(pool: Pool, options?: { schema?: string }) {
    assertPool(pool);
    this.#pool = pool;
    const schema = schemaOption(options);
    this.#table = `${quoteIdent(schema)}.conversation_keys`;
    this.#channel = `keywarden_keys_${schema}`;
  }

  getActive(conversationId: string): Promise<KeyRecord | undefined> {
    return this.#getActive(this.#pool, conversationId);
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

  insertNext(record: KeyRecord, expectedActiveVersion: number): Promise<InsertResult> {
    // Lock, compare and write must share one transaction (and so one connection).
    return this.#withTransaction('insertNext', (client) => this.#insertNext(client, record, expectedActiveVersion));
  }

  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    return this.#reserve(this.#pool, conversationId, version, count, limit);
  }

  /**
   * Runs `fn` in one database transaction (READ COMMITTED unless the server's default says
   * otherwise): all its calls commit together when it resolves, none when it rejects, and its
   * rejection is rethrown as is. Nested calls join the outer transaction. The `tx` store must
   * not be used after `fn` settles; calls on the outer store inside `fn` run outside the
   * transaction (and, with a pool of one connection, would wait for it forever).
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
    return this.#withTransaction('transaction', (client, isOpen) => fn(this.#boundTo(client, isOpen)));
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
  #boundTo(client: PoolClient, isOpen: () => boolean): KeyStore {
    const guard = <T>(call: () => Promise<T>): Promise<T> =>
      isOpen() ? call() : Promise.reject(new StoreError('postgres key store: the transaction has already ended'));
    const tx: KeyStore = {
      getActive: (c) => guard(() => this.#getActive(client, c)),
      getVersion: (c, v) => guard(() => this.#getVersion(client, c, v)),
      listVersions: (c) => guard(() => this.#listVersions(client, c)),
      insertFirst: (r) => guard(() => this.#insertFirst(client, r)),
      insertNext: (r, e) => guard(() => this.#insertNext(client, r, e)),
      reserveMessages: (c, v, n, l) => guard(() => this.#reserve(client, c, v, n, l)),
      // Nested transactions join the outer one (no savepoint): the contract says a rejection
      // inside rolls back everything, which is what the outer rollback does.
      transaction: (fn) => guard(() => fn(tx)),
      // The connection of this transaction, so that an audit append can join it (a key and its
      // key.created record commit together): see AuditStore.appendSequenced's `tx`.
      txHandle: client,
    };
    return tx;
  }

  async #getActive(q: Queryable, conversationId: string): Promise<KeyRecord | undefined> {
    const res = await run(q, 'getActive', `SELECT ${COLUMNS} FROM ${this.#table} WHERE conversation_id = $1 AND state = 'active'`, [
      encodeId(conversationId),
    ]);
    return res.rows[0] && toRecord(res.rows[0]);
  }

  async #getVersion(q: Queryable, conversationId: string, version: number): Promise<KeyRecord | undefined> {
    if (!Number.isSafeInteger(version)) return undefined;
    const res = await run(q, 'getVersion', `SELECT ${COLUMNS} FROM ${this.#table} WHERE conversation_id = $1 AND version = $2`, [
      encodeId(conversationId),
      version,
    ]);
    return res.rows[0] && toRecord(res.rows[0]);
  }

  async #listVersions(q: Queryable, conversationId: string): Promise<KeyRecord[]> {
    const res = await run(q, 'listVersions', `SELECT ${COLUMNS} FROM ${this.#table} WHERE conversation_id = $1 ORDER BY version`, [
      encodeId(conversationId),
    ]);
    return res.rows.map(toRecord);
  }

  async #insertFirst(q: Queryable, record: KeyRecord): Promise<InsertResult> {
    if (record.version !== 1 || record.state !== 'active' || record.supersededAt !== null) {
      throw new StoreError('postgres key store: insertFirst expects an active version 1');
    }
    // No conflict target: a conflict on either the primary key (version 1 exists) or the
    // one-active index means the conversation has a key. ON CONFLICT waits for a concurrent
    // uncommitted insert, so after DO NOTHING the winner's row is committed and readable.
    const ins = await run(
      q,
      'insertFirst',
      `INSERT INTO ${this.#table} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      recordParams(record),
    );
    if (ins.rows[0]) return { inserted: true, record: toRecord(ins.rows[0]) };
    // Lost: adopt the winner's active row. Each READ COMMITTED statement takes a new snapshot,
    // so a retry also covers a rotation committing between the two statements.
    for (let attempt = 0; attempt < 3; attempt++) {
      const active = await this.#getActive(q, record.conversationId);
      if (active) return { inserted: false, record: active };
    }
    throw new StoreError('postgres key store: insertFirst found a conversation with versions but no active one');
  }

  /** Compare-and-set; `client` must be inside a transaction (the row lock lasts until its end). */
  async #insertNext(client: PoolClient, record: KeyRecord, expected: number): Promise<InsertResult> {
    const id = encodeId(record.conversationId);
    let row: Row | undefined;
    // If another writer supersedes the row we wait on, FOR UPDATE re-checks it after the lock
    // is granted, finds it no longer active and returns nothing: read again (a new statement,
    // so a new snapshot) to get the new active row, which then fails the comparison.
    for (let attempt = 0; attempt < 3 && !row; attempt++) {
      const res = await run(
        client,
        'insertNext',
        `SELECT ${COLUMNS} FROM ${this.#table} WHERE conversation_id = $1 AND state = 'active' FOR UPDATE`,
        [id],
      );
      row = res.rows[0];
    }
    if (!row) throw new StoreError('postgres key store: insertNext: conversation has no active key');
    const current = toRecord(row);
    if (current.version !== expected) return { inserted: false, record: current };
    if (record.version !== expected + 1 || record.state !== 'active' || record.supersededAt !== null) {
      throw new StoreError('postgres key store: insertNext: record must be the active version following the active one');
    }
    await run(
      client,
      'insertNext',
      `UPDATE ${this.#table} SET state = 'superseded', superseded_at = $3 WHERE conversation_id = $1 AND version = $2`,
      [id, expected, record.activatedAt],
    );
    const ins = await run(
      client,
      'insertNext',
      `INSERT INTO ${this.#table} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${COLUMNS}`,
      recordParams(record),
    );
    // Tell other instances (LISTEN, see subscribe): delivered when this transaction commits.
    await run(client, 'insertNext', 'SELECT pg_notify($1, $2)', [this.#channel, id]);
    return { inserted: true, record: toRecord(ins.rows[0]!) };
  }

  /**
   * Calls `onChange(conversationId)` whenever any process rotates a conversation's key in this
   * schema (PostgreSQL LISTEN/NOTIFY). Holds one pool connection until the returned function is
   * called — so do not use it on a single-connection pool (PGlite). Notifications can be missed
   * (e.g. while reconnecting); keywarden's cache max age remains the bound.
   *
   * @example
   * ```ts
   * const stop = await store.subscribe((conversationId) => console.log('rotated', conversationId));
   * await stop();
   * ```
   */
  async subscribe(onChange: (conversationId: string) => void, onLost?: (err: unknown) => void): Promise<() => Promise<void>> {
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw toStoreError('subscribe', err);
    }
    let done = false;
    // The session can die (server restart, terminated backend): report it once, drop the client.
    const lost = (err: unknown) => {
      if (done) return;
      done = true;
      client.off('notification', onNotification);
      client.release(true);
      onLost?.(err);
    };
    const onError = (err: unknown) => lost(err);
    const onEnd = () => lost(new StoreError('postgres key store: the LISTEN connection ended', undefined, true));
    const onNotification = (msg: { channel: string; payload?: string | undefined }) => {
      if (msg.channel === this.#channel && typeof msg.payload === 'string') onChange(decodeId(msg.payload));
    };
    client.on('error', onError);
    client.on('end', onEnd);
    client.on('notification', onNotification);
    try {
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
    } catch (err) {
      done = true;
      client.off('notification', onNotification);
      client.release(true);
      throw toStoreError('subscribe', err);
    }
    return async () => {
      if (done) return;
      done = true;
      client.off('notification', onNotification);
      client.off('end', onEnd);
      await client.query(`UNLISTEN ${quoteIdent(this.#channel)}`).catch(() => undefined);
      client.off('error', onError);
      client.release();
    };
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
