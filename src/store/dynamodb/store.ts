/**
 * DynamoDbKeyStore: the {@link KeyStore} on Amazon DynamoDB (docs/KEYS.md §10), for fleets that
 * outgrow one PostgreSQL primary. `@aws-sdk/client-dynamodb` is an optional peer dependency:
 * import this from `keywarden/dynamodb`, and pass your own client.
 *
 * Single-table design (layout in codec.ts): one item per conversation holds all its versions,
 * and every write is one conditional write on that item's revision (optimistic concurrency).
 * Request paths — getLatest, getVersion, listVersions, insertFirst, insertNext, shred,
 * reserveMessages — are GetItem and PutItem on one key: no scans, on-demand capacity friendly.
 * The maintenance scans (retention's scanKeys, re-wrap's scanWrapped, summary) use Scan: they are
 * for batch jobs, not request paths. scanKeys and scanWrapped page in the table's scan order,
 * each page resuming from its cursor's item, so a whole job reads the table once.
 * @module
 */
import {
  ConditionalCheckFailedException, CreateTableCommand, type DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { KeyRecord } from '../../keys/records.js';
import { InvalidInputError, StoreError } from '../../errors.js';
import { ownOptions } from '../../util/validate.js';
import type { InsertResult, KeyChange, KeyStore, KeyStoreSummary, ScanQuery, ScanRow, ShredResult, WrappedQuery, WrappingUpdate } from '../types.js';
import { type Conversation, type Step, cloneConversation, insertFirst, insertNext, reserve, revert, shred, updateWrapping } from './conversation.js';
import { type Item, type KeyKind, KEYS_SK, conversationKey, decodeConversation, encodeConversation, idOf } from './codec.js';
import { pollChanges, recordChange } from './changes.js';

/** Attempts of one optimistic write before giving up (retryable) under heavy contention. */
const MAX_ATTEMPTS = 100;
/** Runs of a transaction's callback that lost a race before giving up (retryable). */
const MAX_TRANSACTION_RUNS = 10;

/** A conversation a transaction read (`base`) and its buffered state (`cur`). */
interface Touched {
  base: Conversation;
  cur: Conversation;
  dirty: boolean;
  changes: KeyChange[];
}

/** Options of {@link DynamoDbKeyStore}. */
export interface DynamoDbKeyStoreOptions {
  /** The table (create it with {@link DynamoDbKeyStore.createTable}). */
  table: string;
  /** `conversations` (default) or `branches` (branch keys, in the same table under `b#`). */
  keys?: 'conversations' | 'branches';
  /** How often {@link DynamoDbKeyStore.subscribe} polls the change sequence (default 1000 ms, 10..60000). */
  pollIntervalMs?: number;
}

/** Maps an AWS SDK error to a StoreError naming the operation and the error's name only. */
function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { name?: unknown; $retryable?: unknown; $fault?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' ? e.name : 'driver error';
  const retryable = e?.$retryable !== undefined || e?.$fault === 'server' || /Throttl|ProvisionedThroughput|RequestLimit|InternalServer|ServiceUnavailable|TransactionConflict/.test(name)
    // The network codes the KMS side (mapKmsError) treats as transient too: a DNS hiccup
    // (EAI_AGAIN, ENOTFOUND) or a lost route is a blip the SDK itself retries (outside review, 2026-12-02).
    || (typeof e?.code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH)$/.test(e.code));
  return new StoreError(`dynamodb key store: ${op} failed (${name})`, err, retryable);
}

/**
 * A {@link KeyStore} on DynamoDB through `@aws-sdk/client-dynamodb`.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { DynamoDbKeyStore } from 'keywarden/dynamodb';
 * const client = new DynamoDBClient({});
 * await DynamoDbKeyStore.createTable(client, 'keywarden-keys'); // once
 * const kw = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(client, { table: 'keywarden-keys' }) });
 * ```
 */
export class DynamoDbKeyStore implements KeyStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #kind: KeyKind;
  readonly #pollIntervalMs: number;

  /**
   * @param client a DynamoDBClient (the caller owns it).
   * @throws InvalidInputError for a missing client or a bad option (named).
   */
  constructor(client: DynamoDBClient, options: DynamoDbKeyStoreOptions) {
    if (client === null || typeof client !== 'object' || typeof (client as { send?: unknown }).send !== 'function') throw new InvalidInputError('client', 'expected a DynamoDBClient');
    const o = ownOptions('options', options, ['table', 'keys', 'pollIntervalMs']);
    if (typeof o.table !== 'string' || !/^[A-Za-z0-9_.-]{3,255}$/.test(o.table)) throw new InvalidInputError('options.table', 'expected a DynamoDB table name (3..255 of A-Z a-z 0-9 _ . -)');
    const keys = o.keys ?? 'conversations';
    if (keys !== 'conversations' && keys !== 'branches') throw new InvalidInputError('options.keys', "expected 'conversations' or 'branches'");
    const interval = o.pollIntervalMs ?? 1000;
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 10 || interval > 60_000) throw new InvalidInputError('options.pollIntervalMs', 'expected an integer from 10 to 60000');
    this.#client = client;
    this.#table = o.table;
    this.#kind = keys === 'branches' ? 'b' : 'c';
    this.#pollIntervalMs = interval;
  }

  /**
   * Creates the table (on-demand capacity, `pk`/`sk` strings). Idempotent: an existing table is
   * left as it is. Enable time-to-live on the attribute `ttl` to expire the change sequence.
   *
   * @example
   * ```ts
   * await DynamoDbKeyStore.createTable(new DynamoDBClient({}), 'keywarden-keys');
   * ```
   */
  static async createTable(client: DynamoDBClient, table: string): Promise<void> {
    try {
      await client.send(new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      }));
    } catch (err) {
      if ((err as { name?: unknown }).name === 'ResourceInUseException') return;
      throw toStoreError('createTable', err);
    }
  }

  // ---- reads: one strongly consistent GetItem ----

  async #load(id: string, op: string): Promise<Conversation> {
    try {
      const res = await this.#client.send(new GetItemCommand({ TableName: this.#table, Key: conversationKey(this.#kind, id), ConsistentRead: true }));
      return decodeConversation(id, res.Item);
    } catch (err) {
      throw toStoreError(op, err);
    }
  }

  async getLatest(conversationId: string): Promise<KeyRecord | undefined> {
    return (await this.#load(conversationId, 'getLatest')).versions.at(-1);
  }
  async getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    return (await this.#load(conversationId, 'getVersion')).versions[version - 1];
  }
  async listVersions(conversationId: string): Promise<KeyRecord[]> {
    return (await this.#load(conversationId, 'listVersions')).versions;
  }

  // ---- writes: read, change, conditional put on the revision; again on a lost race ----

  /** Stores `next` if the item is still at `next.rev` (absent for 0); false when another writer got there first. */
  async #put(next: Conversation, op: string): Promise<boolean> {
    try {
      await this.#client.send(new PutItemCommand({
        TableName: this.#table,
        Item: encodeConversation(this.#kind, next, next.rev + 1),
        ConditionExpression: next.rev === 0 ? 'attribute_not_exists(pk)' : 'rev = :rev',
        ExpressionAttributeValues: next.rev === 0 ? undefined : { ':rev': { N: String(next.rev) } },
      }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw toStoreError(op, err);
    }
  }

  async #write<T>(id: string, op: string, change: (c: Conversation) => Step<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const c = await this.#load(id, op);
      const step = change(c);
      if (!step.changed) return step.out;
      if (await this.#put(c, op)) {
        if (step.change) await this.#announce(id, step.change);
        return step.out;
      }
    }
    throw new StoreError(`dynamodb key store: ${op}: too much contention on one conversation; retry`, undefined, true);
  }

  /** Adds to the change sequence; a failure loses only the notification (the cache's max age bounds it). */
  async #announce(id: string, change: KeyChange): Promise<void> {
    await recordChange(this.#client, this.#table, this.#kind, id, change).catch(() => undefined);
  }

  async insertFirst(record: KeyRecord): Promise<InsertResult> {
    // First use: one conditional put, no read (attribute_not_exists settles any race).
    const step = insertFirst({ id: record.conversationId, rev: 0, versions: [] }, record);
    if (await this.#put({ id: record.conversationId, rev: 0, versions: [record] }, 'insertFirst')) return step.out;
    return this.#write(record.conversationId, 'insertFirst', (c) => insertFirst(c, record));
  }
  insertNext(record: KeyRecord, expectedVersion: number, options?: { reopen?: boolean }): Promise<InsertResult> {
    if (!Number.isSafeInteger(expectedVersion)) return Promise.reject(new StoreError('dynamodb key store: insertNext: expected version must be a safe integer'));
    return this.#write(record.conversationId, 'insertNext', (c) => insertNext(c, record, expectedVersion, options?.reopen === true));
  }
  shred(conversationId: string, target: 'conversation' | readonly number[], at: Date): Promise<ShredResult> {
    return this.#write(conversationId, 'shred', (c) => shred(c, target, at));
  }
  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    assertCount(count, 'count');
    assertCount(limit, 'limit');
    return this.#write(conversationId, 'reserveMessages', (c) => reserve(c, version, count, limit));
  }
  async updateWrappings(items: readonly WrappingUpdate[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const u of items) out.push(await this.#write(u.conversationId, 'updateWrappings', (c) => updateWrapping(c, u)));
    return out;
  }

  /**
   * Runs `fn` with a store whose writes are kept in memory and stored when `fn` resolves — each
   * touched conversation with one conditional write on the revision it was first read at — or
   * dropped when it rejects. Others see none of them before that. A write that loses a race (another
   * writer changed a conversation since `fn` read it) takes back those already stored and runs
   * `fn` again on fresh reads, up to 10 times, as the single writes do: a lost insert race then
   * returns the winner (`inserted: false`). A shred, or a change another writer built on, is not
   * taken back: it stays stored and announced, and the next run of `fn` finds it done (a shred
   * reports it `alreadyShredded`). Side effects of `fn` itself (an audit record on another store)
   * are not taken back. A crash between two conversations' writes can leave some stored.
   *
   * @example
   * ```ts
   * await store.transaction(async (tx) => {
   *   const { record } = await tx.insertFirst(rec);
   *   await tx.reserveMessages(record.conversationId, record.version, 100, limit);
   * });
   * ```
   */
  async transaction<T>(fn: (tx: KeyStore) => Promise<T>): Promise<T> {
    for (let run = 1; ; run++) {
      const out = await this.#transactionRun(fn);
      if (out.stored) return out.result;
      // Outside review, 2026-12-01: one reservation by another instance between the read and the
      // write failed a shred, a first use or a rotation with audit on; the single writes retry.
      if (run >= MAX_TRANSACTION_RUNS) throw new StoreError('dynamodb key store: transaction: too much contention on its conversations; retry', undefined, true);
    }
  }

  async #transactionRun<T>(fn: (tx: KeyStore) => Promise<T>): Promise<{ stored: true; result: T } | { stored: false }> {
    const touched = new Map<string, Touched>();
    // Closed the moment fn settles: a call made later, or one still reading then, would change a
    // buffer already stored or dropped, and resolve as if stored (outside review 7).
    let open = true;
    let running = 0;
    const ended = () => new StoreError('dynamodb key store: the transaction has already ended');
    const guard = <R>(call: () => Promise<R>): Promise<R> => {
      if (!open) return Promise.reject(ended());
      running++;
      return call().finally(() => running--);
    };
    const get = async (id: string, op: string) => {
      let t = touched.get(id);
      if (!t) {
        const base = await this.#load(id, op);
        t = { base, cur: cloneConversation(base), dirty: false, changes: [] };
        touched.set(id, t);
      }
      return t;
    };
    const read = (id: string, op: string) => guard(async () => {
      const t = await get(id, op);
      if (!open) throw ended();
      return cloneConversation(t.cur);
    });
    const write = <R>(id: string, op: string, change: (c: Conversation) => Step<R>): Promise<R> => guard(async () => {
      const t = await get(id, op);
      if (!open) throw ended();
      const step = change(t.cur);
      if (step.changed) t.dirty = true;
      if (step.change) t.changes.push(step.change);
      return step.out;
    });
    const view: KeyStore = {
      getLatest: async (c) => (await read(c, 'getLatest')).versions.at(-1),
      getVersion: (c, v) => (Number.isSafeInteger(v) && v >= 1 ? read(c, 'getVersion').then((x) => x.versions[v - 1]) : guard(async () => undefined)),
      listVersions: async (c) => (await read(c, 'listVersions')).versions,
      insertFirst: (r) => write(r.conversationId, 'insertFirst', (c) => insertFirst(c, r)),
      insertNext: (r, e, o) => write(r.conversationId, 'insertNext', (c) => insertNext(c, r, e, o?.reopen === true)),
      shred: (c, target, at) => write(c, 'shred', (x) => shred(x, target, at)),
      reserveMessages: (c, v, n, l) => {
        assertCount(n, 'count');
        assertCount(l, 'limit');
        return write(c, 'reserveMessages', (x) => reserve(x, v, n, l));
      },
      updateWrappings: (items) => guard(async () => {
        const out: boolean[] = [];
        for (const u of items) out.push(await write(u.conversationId, 'updateWrappings', (c) => updateWrapping(c, u)));
        return out;
      }),
      transaction: (inner) => (open ? inner(view) : Promise.reject(ended())),
    };
    let result: T;
    try {
      result = await fn(view);
    } finally {
      open = false;
    }
    // A call still running would be cut off from what is stored: store none of it (as PostgreSQL rolls back).
    if (running > 0) throw new StoreError('dynamodb key store: transaction: fn settled while a call on its store was still running (nothing stored)');
    const stored: Touched[] = [];
    for (const t of touched.values()) {
      if (!t.dirty) continue;
      const next = { ...t.cur, rev: t.base.rev };
      if (await this.#put(next, 'transaction')) {
        stored.push(t);
        continue;
      }
      // Conversations stored before the conflict are taken back where nothing can have seen the
      // change; the rest (a shred, or what another writer built on) stay stored, and subscribers
      // must hear of them as after a commit. Then `fn` runs again, on what is stored now.
      for (const s of stored) {
        if (await this.#takeBack(s)) continue;
        for (const change of s.changes) await this.#announce(s.cur.id, change);
      }
      return { stored: false };
    }
    for (const t of touched.values()) for (const change of t.changes) await this.#announce(t.cur.id, change);
    return { stored: true, result };
  }

  /**
   * Takes back a conversation a failing transaction stored (conversation.ts `revert`): the
   * versions it changed go back as they were unless another writer changed those very versions
   * since (a reservation on another version does not stand in the way). False when it stays.
   */
  async #takeBack(t: Touched): Promise<boolean> {
    // As the server holds it (the codec's round trip), to compare with what is read back.
    const ours = decodeConversation(t.cur.id, encodeConversation(this.#kind, t.cur, t.base.rev + 1));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let now: Conversation;
      try {
        now = await this.#load(t.cur.id, 'transaction');
      } catch {
        return false;
      }
      if (!revert(now, t.base, ours)) return false;
      // A conversation the transaction created stays as an item without versions (read as no key),
      // never deleted: its revision only grows, so a write computed on the taken-back version
      // cannot land on another first use at the same revision (outside review, 2026-12-01).
      try {
        if (await this.#put(now, 'transaction')) return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  /**
   * Polls the change sequence (see changes.ts) and calls `onChange` for every rotation and shred
   * of this kind of keys, within `pollIntervalMs`.
   *
   * @example
   * ```ts
   * const stop = await store.subscribe((conversationId, change) => console.log(change, conversationId));
   * await stop();
   * ```
   */
  async subscribe(onChange: (conversationId: string, change: KeyChange) => void, onLost?: (err: unknown) => void): Promise<() => Promise<void>> {
    try {
      return await pollChanges(this.#client, this.#table, this.#kind, this.#pollIntervalMs, onChange, onLost && ((err) => onLost(toStoreError('subscribe', err))));
    } catch (err) {
      throw toStoreError('subscribe', err);
    }
  }

  // ---- maintenance: whole-table Scan (batch jobs only) ----

  async #all(op: string): Promise<Conversation[]> {
    const out: Conversation[] = [];
    let start: Item | undefined;
    try {
      do {
        const res = await this.#client.send(new ScanCommand({
          TableName: this.#table, ConsistentRead: true, ExclusiveStartKey: start,
          FilterExpression: 'begins_with(pk, :p) AND sk = :k', ExpressionAttributeValues: { ':p': { S: `${this.#kind}#` }, ':k': { S: KEYS_SK } },
        }));
        for (const item of res.Items ?? []) out.push(decodeConversation(idOf(item), item));
        start = res.LastEvaluatedKey;
      } while (start !== undefined);
    } catch (err) {
      throw toStoreError(op, err);
    }
    return out;
  }

  /**
   * One page of a maintenance scan in the table's own scan order, resuming after `after`: the
   * rest of `after`'s conversation (one item holds all its versions), then a Scan from that
   * item's key, stopping once `limit` rows are found. Each page reads only as far as it needs,
   * so a whole scan reads the table once (not once per page).
   */
  async #page<R>(op: string, after: { conversationId: string; version: number } | undefined, limit: number, pick: (c: Conversation) => R[], versionOf: (r: R) => number): Promise<R[]> {
    const out: R[] = [];
    if (after !== undefined) {
      out.push(...pick(await this.#load(after.conversationId, op)).filter((r) => versionOf(r) > after.version));
      if (out.length >= limit) return out.slice(0, limit);
    }
    let start: Item | undefined = after === undefined ? undefined : conversationKey(this.#kind, after.conversationId);
    try {
      do {
        const res = await this.#client.send(new ScanCommand({
          TableName: this.#table, ConsistentRead: true, ExclusiveStartKey: start,
          // Items evaluated (and paid for) per call: about what the page still needs.
          Limit: Math.min(1_000, Math.max(1, limit - out.length)),
          FilterExpression: 'begins_with(pk, :p) AND sk = :k', ExpressionAttributeValues: { ':p': { S: `${this.#kind}#` }, ':k': { S: KEYS_SK } },
        }));
        for (const item of res.Items ?? []) {
          out.push(...pick(decodeConversation(idOf(item), item)));
          if (out.length >= limit) return out.slice(0, limit);
        }
        start = res.LastEvaluatedKey;
      } while (start !== undefined);
    } catch (err) {
      throw toStoreError(op, err);
    }
    return out;
  }

  /** Pages in the table's scan order (types.ts ScanQuery: the order is the store's). */
  scanKeys(q: ScanQuery): Promise<ScanRow[]> {
    const before = q.before.getTime();
    return this.#page('scanKeys', q.after, q.limit, (c) => {
      const rows: ScanRow[] = [];
      for (const r of c.versions) {
        if (r.state === 'shredded' || (q.by === 'superseded' && r.state !== 'superseded')) continue;
        const at = q.by === 'superseded' ? r.supersededAt! : r.activatedAt;
        if (at.getTime() < before) rows.push({ conversationId: r.conversationId, version: r.version, at, state: r.state, supersededAt: r.supersededAt });
      }
      return rows;
    }, (r) => r.version);
  }

  /** Pages in the table's scan order. */
  scanWrapped(q: WrappedQuery): Promise<KeyRecord[]> {
    const wanted = (id: string) =>
      id !== q.notMasterKeyId && (q.masterKeyIdPrefix === undefined || id.startsWith(q.masterKeyIdPrefix)) && (q.excludeMasterKeyIdPrefix === undefined || !id.startsWith(q.excludeMasterKeyIdPrefix));
    return this.#page('scanWrapped', q.after, q.limit, (c) => c.versions.filter((r) => r.state !== 'shredded' && wanted(r.masterKeyId)), (r) => r.version);
  }

  async summary(): Promise<KeyStoreSummary> {
    const all = await this.#all('summary');
    // An item without versions (a first use a transaction took back) is no conversation.
    const out: KeyStoreSummary = { conversations: all.filter((c) => c.versions.length > 0).length, versions: { active: 0, superseded: 0, shredded: 0 }, byMasterKey: {} };
    for (const c of all) {
      for (const r of c.versions) {
        out.versions[r.state]++;
        if (r.state !== 'shredded') out.byMasterKey[r.masterKeyId] = (out.byMasterKey[r.masterKeyId] ?? 0) + 1;
      }
    }
    return out;
  }

  async getJob(name: string): Promise<Record<string, unknown> | undefined> {
    let text: string | undefined;
    try {
      const res = await this.#client.send(new GetItemCommand({ TableName: this.#table, Key: { pk: { S: `j#${this.#kind}#${name}` }, sk: { S: 'j' } }, ConsistentRead: true }));
      text = res.Item?.st?.S;
    } catch (err) {
      throw toStoreError('getJob', err);
    }
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new StoreError(`dynamodb key store: job ${JSON.stringify(name)} has unreadable state`, err);
    }
  }

  async putJob(name: string, state: Record<string, unknown>): Promise<void> {
    try {
      await this.#client.send(new PutItemCommand({ TableName: this.#table, Item: { pk: { S: `j#${this.#kind}#${name}` }, sk: { S: 'j' }, st: { S: JSON.stringify(state) } } }));
    } catch (err) {
      throw toStoreError('putJob', err);
    }
  }
}

function assertCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value)) throw new StoreError(`dynamodb key store: reserveMessages: ${name} must be a safe integer`);
}
