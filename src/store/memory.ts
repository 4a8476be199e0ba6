/**
 * MemoryKeyStore: the KeyStore for one process (tests, the demo, single-instance tools). Its
 * operations are serialised through one lock, which makes insert-if-absent, compare-and-set
 * and transactions atomic exactly as a database would.
 */
import { type KeyRecord, copyRecord } from '../keys/records.js';
import { StoreError } from '../errors.js';
import type { InsertResult, KeyStore } from './types.js';

type Undo = () => void;

/** A FIFO async mutex. */
class Lock {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/**
 * An in-memory {@link KeyStore}. Holds wrapped keys only, like every store.
 *
 * @example
 * ```ts
 * const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
 * ```
 */
export class MemoryKeyStore implements KeyStore {
  readonly #rows = new Map<string, KeyRecord[]>();
  readonly #lock = new Lock();
  readonly #listeners = new Set<(conversationId: string) => void>();

  getActive(conversationId: string): Promise<KeyRecord | undefined> {
    return this.#lock.run(async () => this.#active(conversationId));
  }
  getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    return this.#lock.run(async () => this.#version(conversationId, version));
  }
  listVersions(conversationId: string): Promise<KeyRecord[]> {
    return this.#lock.run(async () => this.#list(conversationId));
  }
  insertFirst(record: KeyRecord): Promise<InsertResult> {
    return this.#lock.run(async () => this.#insertFirst(record, []));
  }
  insertNext(record: KeyRecord, expectedActiveVersion: number): Promise<InsertResult> {
    return this.#lock.run(async () => this.#insertNext(record, expectedActiveVersion, []));
  }
  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    return this.#lock.run(async () => this.#reserve(conversationId, version, count, limit, []));
  }
  transaction<T>(fn: (tx: KeyStore) => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      const journal: Undo[] = [];
      const tx = this.#txView(journal);
      try {
        return await fn(tx);
      } catch (err) {
        for (const undo of journal.reverse()) undo();
        throw err;
      }
    });
  }

  /** In-process change notifications (see KeyStore.subscribe), for instances sharing this store. */
  async subscribe(onChange: (conversationId: string) => void): Promise<() => Promise<void>> {
    this.#listeners.add(onChange);
    return async () => void this.#listeners.delete(onChange);
  }

  /** Number of conversations with at least one key (for tests and diagnostics). */
  get size(): number {
    return this.#rows.size;
  }

  // A view whose calls run inside the held lock and record how to undo their writes.
  #txView(journal: Undo[]): KeyStore {
    const view: KeyStore = {
      getActive: async (c) => this.#active(c),
      getVersion: async (c, v) => this.#version(c, v),
      listVersions: async (c) => this.#list(c),
      insertFirst: async (r) => this.#insertFirst(r, journal),
      insertNext: async (r, e) => this.#insertNext(r, e, journal),
      reserveMessages: async (c, v, n, l) => this.#reserve(c, v, n, l, journal),
      transaction: (fn) => fn(view),
    };
    return view;
  }

  #active(conversationId: string): KeyRecord | undefined {
    const rows = this.#rows.get(conversationId);
    const r = rows?.find((x) => x.state === 'active');
    return r && copyRecord(r);
  }
  #version(conversationId: string, version: number): KeyRecord | undefined {
    const r = this.#rows.get(conversationId)?.[version - 1];
    return r && copyRecord(r);
  }
  #list(conversationId: string): KeyRecord[] {
    return (this.#rows.get(conversationId) ?? []).map(copyRecord);
  }

  #insertFirst(record: KeyRecord, journal: Undo[]): InsertResult {
    if (record.version !== 1 || record.state !== 'active') throw new StoreError('insertFirst expects an active version 1');
    const rows = this.#rows.get(record.conversationId);
    if (rows && rows.length > 0) return { inserted: false, record: copyRecord(rows.find((x) => x.state === 'active') ?? rows[rows.length - 1]!) };
    this.#rows.set(record.conversationId, [copyRecord(record)]);
    journal.push(() => this.#rows.delete(record.conversationId));
    return { inserted: true, record: copyRecord(record) };
  }

  #insertNext(record: KeyRecord, expected: number, journal: Undo[]): InsertResult {
    const rows = this.#rows.get(record.conversationId);
    const current = rows?.find((x) => x.state === 'active');
    if (!rows || !current) throw new StoreError('insertNext: conversation has no active key');
    if (current.version !== expected) return { inserted: false, record: copyRecord(current) };
    if (record.version !== expected + 1 || rows.length !== expected) throw new StoreError('insertNext: version must follow the active version');
    // Undo restores fields in place: other journal entries (reservations) hold this object.
    const { state, supersededAt } = current;
    current.state = 'superseded';
    current.supersededAt = new Date(record.activatedAt.getTime());
    rows.push(copyRecord(record));
    // Like NOTIFY, tell listeners after this step (a rolled-back transaction may still have
    // notified: a spurious invalidation only costs a reload).
    queueMicrotask(() => {
      for (const l of this.#listeners) l(record.conversationId);
    });
    journal.push(() => {
      rows.pop();
      current.state = state;
      current.supersededAt = supersededAt;
    });
    return { inserted: true, record: copyRecord(record) };
  }

  #reserve(conversationId: string, version: number, count: number, limit: number, journal: Undo[]): number {
    const r = this.#rows.get(conversationId)?.[version - 1];
    if (!r || r.state !== 'active') return 0;
    const granted = Math.max(0, Math.min(count, limit - r.sealedReserved));
    if (granted > 0) {
      r.sealedReserved += granted;
      journal.push(() => {
        r.sealedReserved -= granted;
      });
    }
    return granted;
  }
}
