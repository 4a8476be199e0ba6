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
  /** The stored record: this call's on success, the winner's otherwise. */
  record: KeyRecord;
}

/**
 * Persistence for wrapped conversation keys.
 *
 * Contract, for implementers (the shared test suite in test/store-contract.ts checks it):
 * - at most one `active` version per conversation, and versions are 1, 2, 3, ... with no gaps;
 * - `insertFirst` is insert-if-absent: of any number of concurrent calls for one conversation,
 *   exactly one stores version 1 and the others get that record back;
 * - `insertNext` is compare-and-set on the active version;
 * - `reserveMessages` is an atomic bounded increment;
 * - records returned are copies: mutating them changes nothing stored.
 */
export interface KeyStore {
  /** The active version of a conversation, or undefined when it has no key. */
  getActive(conversationId: string): Promise<KeyRecord | undefined>;
  /** One version of a conversation's key, or undefined. */
  getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined>;
  /** Every version of a conversation's key, oldest first (empty when none). */
  listVersions(conversationId: string): Promise<KeyRecord[]>;
  /**
   * Stores `record` (version 1, state active) unless the conversation already has a key; in
   * that case stores nothing and returns the existing active record.
   */
  insertFirst(record: KeyRecord): Promise<InsertResult>;
  /**
   * If the conversation's active version is `expectedActiveVersion`: marks it superseded at
   * `record.activatedAt` and stores `record` (version `expectedActiveVersion + 1`, active), as
   * one atomic step. Otherwise stores nothing and returns the current active record.
   */
  insertNext(record: KeyRecord, expectedActiveVersion: number): Promise<InsertResult>;
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
   * Optional: calls `onChange(conversationId)` when any process changes a conversation's keys
   * (rotation). Resolves to a function that stops the subscription. If the subscription dies
   * (its connection is lost), calls `onLost(err)` once and delivers nothing more: the caller
   * subscribes again. Keywarden instances with `watchKeyChanges` use it to drop their cached
   * active version at once instead of after `cache.maxAgeMs`.
   */
  subscribe?(onChange: (conversationId: string) => void, onLost?: (err: unknown) => void): Promise<() => Promise<void>>;
  /**
   * Set on the store a `transaction` hands to its callback when it is a database transaction
   * others can join (the PostgreSQL client): Keywarden passes it to the audit log so that a key
   * and its `key.created` entry commit together when both live in the same database.
   */
  readonly txHandle?: unknown;
}
