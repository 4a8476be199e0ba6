/**
 * The key store interface. Stores persist wrapped conversation keys with their metadata; they
 * never see a plaintext key. Every method is async so that database-backed stores fit, and a
 * store can run several calls in one transaction (`transaction`), so that a key change and an
 * audit append commit together.
 */
import type { KeyRecord } from '../keys/records.js';

/** Outcome of a conditional insert. */
export interface InsertResult {
  /** True when this call's record was stored; false when another writer got there first. */
  inserted: boolean;
  /**
   * This call's record on success. Otherwise the conversation's highest version: its active
   * record, or — when every version is shredded — the highest tombstone.
   */
  record: KeyRecord;
}

/**
 * A row another of keywarden's stores asks to be written in the same statement as a new key
 * (the audit outbox's `key.created`, when the audit log lives in the key store's database):
 * see {@link KeyStore.insertFirstWith}.
 * @internal
 */
export interface CompanionInsert {
  /** The connection pool the row's store writes through; a key store on another pool declines. */
  readonly pool: unknown;
  /**
   * The statement that inserts the row once per row of `cte` (the key insert's `RETURNING`),
   * with its parameters numbered from `first`.
   */
  sql(cte: string, first: number): string;
  readonly params: readonly unknown[];
}

/** Outcome of {@link KeyStore.shred}. */
export interface ShredResult {
  /** Versions this call shredded (their wrapped keys are gone), ascending. */
  shredded: number[];
  /** Versions asked for that were already shredded, ascending. */
  alreadyShredded: number[];
  /** True when this call marked the conversation closed (a `'conversation'` shred not done before). */
  closed: boolean;
}

/** What changed in a conversation's keys, as change notifications say. */
export type KeyChange = 'rotated' | 'shredded';

/** One row a {@link KeyStore.scanKeys} page returns, and the cursor for the next page. */
export interface ScanRow {
  conversationId: string;
  version: number;
  /** The time scanned by: `supersededAt` (by `superseded`) or `activatedAt` (by `activated`). */
  at: Date;
  state: 'active' | 'superseded';
  supersededAt: Date | null;
}

/** A {@link KeyStore.scanKeys} query. */
export interface ScanQuery {
  /**
   * `superseded`: superseded versions with `supersededAt` before `before`; `activated`: active and
   * superseded (unshredded) versions with `activatedAt` before `before`.
   */
  by: 'superseded' | 'activated';
  before: Date;
  /**
   * The last row of the previous page. Pages come in an order of the store's choosing, stable
   * across pages (PostgreSQL: `superseded` by time, `activated` by conversation id and version;
   * DynamoDB: the table's scan order); callers only pass the last row back.
   */
  after?: ScanRow | undefined;
  limit: number;
}

/** A {@link KeyStore.scanWrapped} query: which wrapped keys a re-wrap still has to move. */
export interface WrappedQuery {
  /** Keys whose master key id is not this one (the re-wrap's destination). */
  notMasterKeyId: string;
  /** Only keys whose master key id starts with this (e.g. the versions of one branch key). */
  masterKeyIdPrefix?: string | undefined;
  /** Leave out keys whose master key id starts with this (e.g. keys wrapped by branch keys). */
  excludeMasterKeyIdPrefix?: string | undefined;
  /** The last record of the previous page. */
  after?: { conversationId: string; version: number } | undefined;
  limit: number;
}

/** One re-wrap of {@link KeyStore.updateWrappings}. */
export interface WrappingUpdate {
  conversationId: string;
  version: number;
  expected: { masterKeyId: string; wrappedKey: Uint8Array };
  next: { masterKeyId: string; wrappedKey: Uint8Array };
}

/** Counts over a whole store (`keywarden keys status`). */
export interface KeyStoreSummary {
  /** Conversations with at least one version (tombstones included). */
  conversations: number;
  /** Versions per state. */
  versions: { active: number; superseded: number; shredded: number };
  /** Unshredded versions per master key id. */
  byMasterKey: Record<string, number>;
}

/**
 * Persistence for wrapped conversation keys.
 *
 * Contract, for implementers (the shared test suite in test/support/store-contract.ts checks it):
 * - at most one `active` version per conversation, always its highest; versions are 1, 2, 3, ...
 *   with no gaps, and never reused: a shredded version stays as a tombstone row (state
 *   `shredded`, empty wrapped key) for ever;
 * - `insertFirst` is insert-if-absent: of any number of concurrent calls for one conversation,
 *   exactly one stores version 1 and the others get that record back;
 * - `insertNext` is compare-and-set on the highest version;
 * - `reserveMessages` is an atomic bounded increment;
 * - `shred` deletes wrapped keys for good, atomically with any concurrent `insertNext`;
 * - records returned are copies: mutating them changes nothing stored.
 * The optional scans (`scanKeys`, `scanWrapped`, `updateWrapping`, jobs, `summary`) serve
 * retention, master-key re-wrap and `keywarden keys status`; a store without them supports
 * everything else.
 */
export interface KeyStore {
  /**
   * The highest version of a conversation — its active version when it has one, otherwise a
   * tombstone (every version shredded) — or undefined when it has no key at all.
   */
  getLatest(conversationId: string): Promise<KeyRecord | undefined>;
  /** One version of a conversation's key, or undefined. */
  getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined>;
  /** Every version of a conversation's key, oldest first (empty when none). */
  listVersions(conversationId: string): Promise<KeyRecord[]>;
  /**
   * Stores `record` (version 1, state active) unless the conversation already has a version
   * (a tombstone counts); in that case stores nothing and returns its highest version.
   */
  insertFirst(record: KeyRecord): Promise<InsertResult>;
  /**
   * {@link KeyStore.insertFirst} that also writes `companion` in the same statement, only when
   * the record is stored: one round trip where a transaction would take four (new conversations
   * with audit on, issue #14). Resolves undefined, having written nothing, when this store cannot
   * (the companion is for another database); the caller then uses a transaction.
   * @internal
   */
  insertFirstWith?(record: KeyRecord, companion: CompanionInsert): Promise<InsertResult | undefined>;
  /**
   * If the conversation's highest version is `expectedVersion` and it is active — or a tombstone
   * of a version shred, or (only with `options.reopen`) of a whole-conversation shred: marks an
   * active one superseded at `record.activatedAt` and stores `record` (version
   * `expectedVersion + 1`, active), as one atomic step. Otherwise stores nothing and returns the
   * current record (see {@link InsertResult.record}).
   */
  insertNext(record: KeyRecord, expectedVersion: number, options?: { reopen?: boolean }): Promise<InsertResult>;
  /**
   * Crypto-shreds key versions, atomically: deletes their wrapped keys and leaves tombstones
   * (state `shredded`, `shreddedAt` = `at`). `'conversation'` shreds every version of the
   * conversation — including one a concurrent `insertNext` adds — and marks the highest as
   * closing it (`shredScope: 'conversation'`); an array shreds those versions only (an active
   * one included: the conversation then seals under a new version). Versions that do not exist
   * are ignored. Notifies subscribers (`shredded`).
   */
  shred(conversationId: string, target: 'conversation' | readonly number[], at: Date): Promise<ShredResult>;
  /**
   * Atomically grants up to `count` more messages for sealing under an active version without
   * letting `sealedReserved` exceed `limit`. Returns how many were granted: 0 when the version
   * is exhausted, not active, or does not exist.
   */
  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number>;
  /**
   * Runs `fn` with a store whose calls all commit together when `fn` resolves, or none of them
   * when it rejects. Nested calls join the outer transaction.
   */
  transaction<T>(fn: (tx: KeyStore) => Promise<T>): Promise<T>;
  /**
   * Optional: calls `onChange(conversationId, change)` when any process rotates or shreds a
   * conversation's keys. Resolves to a function that stops the subscription. If the
   * subscription dies (its connection is lost), calls `onLost(err)` once and delivers nothing
   * more: the caller subscribes again. Keywarden instances with `watchKeyChanges` use it to drop
   * their cached active version (rotation) or every cached version (shred) at once instead of
   * after `cache.maxAgeMs`.
   */
  subscribe?(onChange: (conversationId: string, change: KeyChange) => void, onLost?: (err: unknown) => void): Promise<() => Promise<void>>;
  /**
   * Optional (retention): unshredded versions by time (see {@link ScanQuery}), ordered by (that
   * time, conversation id, version), starting after the cursor `after`, at most `limit`.
   */
  scanKeys?(query: ScanQuery): Promise<ScanRow[]>;
  /**
   * Optional (re-wrap): unshredded records matching `query`, in (conversation id, version) order
   * after `after`, at most `limit`.
   */
  scanWrapped?(query: WrappedQuery): Promise<KeyRecord[]>;
  /**
   * Optional (re-wrap): replaces versions' wrappings, each only if it is still exactly
   * `expected` (same master key id and wrapped bytes, not shredded). Returns, per item, whether
   * it did. Items are independent (a refused one does not stop the others).
   */
  updateWrappings?(items: readonly WrappingUpdate[]): Promise<boolean[]>;
  /** Optional: the saved state of a maintenance job (re-wrap progress), or undefined. */
  getJob?(name: string): Promise<Record<string, unknown> | undefined>;
  /** Optional: saves a maintenance job's state (JSON-compatible). */
  putJob?(name: string, state: Record<string, unknown>): Promise<void>;
  /** Optional: counts over the whole store. */
  summary?(): Promise<KeyStoreSummary>;
  /**
   * Set on the store a `transaction` hands to its callback when it is a database transaction
   * others can join (the PostgreSQL client): Keywarden passes it to the audit log so that a key
   * and its `key.created` entry commit together when both live in the same database.
   */
  readonly txHandle?: unknown;
}
