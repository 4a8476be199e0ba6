/**
 * MemoryKeyStore: the KeyStore for one process (tests, the demo, single-instance tools). Its
 * operations are serialised through one lock, which makes insert-if-absent, compare-and-set
 * and transactions atomic exactly as a database would.
 */
import { type KeyRecord, closesConversation, copyRecord } from '../keys/records.js';
import { StoreError } from '../errors.js';
import type { InsertResult, KeyChange, KeyStore, KeyStoreSummary, ScanQuery, ScanRow, ShredResult, WrappedQuery, WrappingUpdate } from './types.js';

type Undo = () => void;
/** Buffers a transaction zeroes when it commits (a shred's wrapped keys), by journal. */
const WIPE_ON_COMMIT = new WeakMap<Undo[], Uint8Array[]>();

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
  readonly #listeners = new Set<(conversationId: string, change: KeyChange) => void>();
  readonly #jobs = new Map<string, string>();

  getLatest(conversationId: string): Promise<KeyRecord | undefined> {
    return this.#lock.run(async () => this.#latest(conversationId));
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
  insertNext(record: KeyRecord, expectedVersion: number, options?: { reopen?: boolean }): Promise<InsertResult> {
    return this.#lock.run(async () => this.#insertNext(record, expectedVersion, options?.reopen === true, []));
  }
  shred(conversationId: string, target: 'conversation' | readonly number[], at: Date): Promise<ShredResult> {
    return this.#lock.run(async () => this.#shred(conversationId, target, at, []));
  }
  async scanKeys(query: ScanQuery): Promise<ScanRow[]> {
    return this.#lock.run(async () => this.#scanKeys(query));
  }
  async scanWrapped(query: WrappedQuery): Promise<KeyRecord[]> {
    return this.#lock.run(async () => this.#scanWrapped(query));
  }
  updateWrappings(items: readonly WrappingUpdate[]): Promise<boolean[]> {
    return this.#lock.run(async () => items.map((u) => this.#updateWrapping(u, [])));
  }
  getJob(name: string): Promise<Record<string, unknown> | undefined> {
    return this.#lock.run(async () => {
      const j = this.#jobs.get(name);
      return j === undefined ? undefined : (JSON.parse(j) as Record<string, unknown>);
    });
  }
  putJob(name: string, state: Record<string, unknown>): Promise<void> {
    return this.#lock.run(async () => void this.#jobs.set(name, JSON.stringify(state)));
  }
  summary(): Promise<KeyStoreSummary> {
    return this.#lock.run(async () => {
      const out: KeyStoreSummary = { conversations: this.#rows.size, versions: { active: 0, superseded: 0, shredded: 0 }, byMasterKey: {} };
      for (const rows of this.#rows.values()) {
        for (const r of rows) {
          out.versions[r.state]++;
          if (r.state !== 'shredded') out.byMasterKey[r.masterKeyId] = (out.byMasterKey[r.masterKeyId] ?? 0) + 1;
        }
      }
      return out;
    });
  }
  reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    return this.#lock.run(async () => this.#reserve(conversationId, version, count, limit, []));
  }
  transaction<T>(fn: (tx: KeyStore) => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      const journal: Undo[] = [];
      const wipes: Uint8Array[] = [];
      WIPE_ON_COMMIT.set(journal, wipes);
      // Closed the moment fn settles: a call made later (a Promise.all branch still going, a kept
      // tx) would write outside the lock and the journal, for good (outside review 7).
      let open = true;
      const tx = this.#txView(journal, () => open);
      try {
        const out = await fn(tx);
        open = false;
        for (const b of wipes) b.fill(0);
        return out;
      } catch (err) {
        open = false;
        for (const undo of journal.reverse()) undo();
        throw err;
      }
    });
  }

  /** In-process change notifications (see KeyStore.subscribe), for instances sharing this store. */
  async subscribe(onChange: (conversationId: string, change: KeyChange) => void): Promise<() => Promise<void>> {
    this.#listeners.add(onChange);
    return async () => void this.#listeners.delete(onChange);
  }

  /** Number of conversations with at least one key (for tests and diagnostics). */
  get size(): number {
    return this.#rows.size;
  }

  // A view whose calls run inside the held lock and record how to undo their writes; refused
  // once the transaction has ended (`open()` false), as PostgresKeyStore's are.
  #txView(journal: Undo[], open: () => boolean): KeyStore {
    const ended = () => new StoreError('memory key store: the transaction has already ended');
    const g = <A extends unknown[], R>(call: (...a: A) => R) => async (...a: A): Promise<Awaited<R>> => {
      if (!open()) throw ended();
      return await call(...a);
    };
    const view: KeyStore = {
      getLatest: g((c: string) => this.#latest(c)),
      getVersion: g((c: string, v: number) => this.#version(c, v)),
      listVersions: g((c: string) => this.#list(c)),
      insertFirst: g((r: KeyRecord) => this.#insertFirst(r, journal)),
      insertNext: g((r: KeyRecord, e: number, o?: { reopen?: boolean }) => this.#insertNext(r, e, o?.reopen === true, journal)),
      reserveMessages: g((c: string, v: number, n: number, l: number) => this.#reserve(c, v, n, l, journal)),
      shred: g((c: string, t: 'conversation' | readonly number[], at: Date) => this.#shred(c, t, at, journal)),
      scanKeys: g((q: ScanQuery) => this.#scanKeys(q)),
      scanWrapped: g((q: WrappedQuery) => this.#scanWrapped(q)),
      updateWrappings: g((items: readonly WrappingUpdate[]) => items.map((u) => this.#updateWrapping(u, journal))),
      transaction: <T>(fn: (tx: KeyStore) => Promise<T>): Promise<T> => (open() ? fn(view) : Promise.reject(ended())),
    };
    return view;
  }

  #latest(conversationId: string): KeyRecord | undefined {
    const r = this.#rows.get(conversationId)?.at(-1);
    return r && copyRecord(r);
  }
  #version(conversationId: string, version: number): KeyRecord | undefined {
    const r = this.#rows.get(conversationId)?.[version - 1];
    return r && copyRecord(r);
  }
  #list(conversationId: string): KeyRecord[] {
    return (this.#rows.get(conversationId) ?? []).map(copyRecord);
  }

  /** The highest version (the active one, or a tombstone): InsertResult.record for a lost race. */
  #current(rows: KeyRecord[]): KeyRecord {
    return copyRecord(rows[rows.length - 1]!);
  }

  #insertFirst(record: KeyRecord, journal: Undo[]): InsertResult {
    if (record.version !== 1 || record.state !== 'active') throw new StoreError('insertFirst expects an active version 1');
    const rows = this.#rows.get(record.conversationId);
    if (rows && rows.length > 0) return { inserted: false, record: this.#current(rows) };
    this.#rows.set(record.conversationId, [copyRecord(record)]);
    journal.push(() => this.#rows.delete(record.conversationId));
    return { inserted: true, record: copyRecord(record) };
  }

  #insertNext(record: KeyRecord, expected: number, reopen: boolean, journal: Undo[]): InsertResult {
    const rows = this.#rows.get(record.conversationId);
    if (!rows || rows.length === 0) throw new StoreError('insertNext: conversation has no key');
    const last = rows[rows.length - 1]!;
    const open = last.state === 'active' || (last.state === 'shredded' && (reopen || !closesConversation(last)));
    if (last.version !== expected || !open) return { inserted: false, record: this.#current(rows) };
    if (record.version !== expected + 1 || record.state !== 'active') throw new StoreError('insertNext: record must be the active version following the highest one');
    // Undo restores fields in place: other journal entries (reservations) hold this object.
    const { state, supersededAt } = last;
    if (last.state === 'active') {
      last.state = 'superseded';
      last.supersededAt = new Date(record.activatedAt.getTime());
    }
    rows.push(copyRecord(record));
    this.#notify(record.conversationId, 'rotated');
    journal.push(() => {
      rows.pop();
      last.state = state;
      last.supersededAt = supersededAt;
    });
    return { inserted: true, record: copyRecord(record) };
  }

  #shred(conversationId: string, target: 'conversation' | readonly number[], at: Date, journal: Undo[]): ShredResult {
    const rows = this.#rows.get(conversationId) ?? [];
    const wanted = target === 'conversation' ? rows.map((r) => r.version) : [...new Set(target)].sort((a, b) => a - b);
    const out: ShredResult = { shredded: [], alreadyShredded: [], closed: false };
    for (const v of wanted) {
      const r = rows[v - 1];
      if (r === undefined) continue;
      if (r.state === 'shredded') {
        out.alreadyShredded.push(v);
        continue;
      }
      const before = { ...r };
      // Zeroed once the change commits: inside a transaction a rollback restores these bytes.
      const wipes = WIPE_ON_COMMIT.get(journal);
      if (wipes === undefined) r.wrappedKey.fill(0);
      else wipes.push(r.wrappedKey);
      Object.assign(r, { state: 'shredded', wrappedKey: new Uint8Array(0), shreddedAt: new Date(at.getTime()), shredScope: 'version' });
      journal.push(() => Object.assign(r, before));
      out.shredded.push(v);
    }
    const last = rows[rows.length - 1];
    if (target === 'conversation' && last !== undefined && last.shredScope !== 'conversation') {
      const scope = last.shredScope ?? null;
      last.shredScope = 'conversation';
      out.closed = true;
      journal.push(() => (last.shredScope = scope));
    }
    if (out.shredded.length > 0 || out.closed) this.#notify(conversationId, 'shredded');
    return out;
  }

  #scanKeys(q: ScanQuery): ScanRow[] {
    const found: ScanRow[] = [];
    for (const rows of this.#rows.values()) {
      for (const r of rows) {
        if (r.state === 'shredded' || (q.by === 'superseded' && r.state !== 'superseded')) continue;
        const at = q.by === 'superseded' ? r.supersededAt! : r.activatedAt;
        if (at.getTime() < q.before.getTime()) {
          found.push({ conversationId: r.conversationId, version: r.version, at: new Date(at.getTime()), state: r.state, supersededAt: r.supersededAt && new Date(r.supersededAt.getTime()) });
        }
      }
    }
    found.sort(compareScan);
    const a = q.after;
    return (a === undefined ? found : found.filter((x) => compareScan(x, a) > 0)).slice(0, q.limit);
  }

  #scanWrapped(q: WrappedQuery): KeyRecord[] {
    const found: KeyRecord[] = [];
    const wanted = (id: string) =>
      id !== q.notMasterKeyId && (q.masterKeyIdPrefix === undefined || id.startsWith(q.masterKeyIdPrefix)) && (q.excludeMasterKeyIdPrefix === undefined || !id.startsWith(q.excludeMasterKeyIdPrefix));
    for (const rows of this.#rows.values()) for (const r of rows) if (r.state !== 'shredded' && wanted(r.masterKeyId)) found.push(r);
    found.sort(compareRef);
    const a = q.after;
    return (a === undefined ? found : found.filter((x) => compareRef(x, a) > 0)).slice(0, q.limit).map(copyRecord);
  }

  #updateWrapping({ conversationId, version, expected, next }: WrappingUpdate, journal: Undo[]): boolean {
    const r = this.#rows.get(conversationId)?.[version - 1];
    if (!r || r.state === 'shredded' || r.masterKeyId !== expected.masterKeyId || !sameBytes(r.wrappedKey, expected.wrappedKey)) return false;
    const before = { masterKeyId: r.masterKeyId, wrappedKey: r.wrappedKey };
    r.masterKeyId = next.masterKeyId;
    r.wrappedKey = next.wrappedKey.slice();
    journal.push(() => Object.assign(r, before));
    return true;
  }

  // Like NOTIFY, tell listeners after this step (a rolled-back transaction may still have
  // notified: a spurious invalidation only costs a reload).
  #notify(conversationId: string, change: KeyChange): void {
    queueMicrotask(() => {
      for (const l of this.#listeners) l(conversationId, change);
    });
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

/** Scan order: time, then conversation id (UTF-16 code units), then version. */
function compareScan(a: ScanRow, b: ScanRow): number {
  return a.at.getTime() - b.at.getTime() || compareRef(a, b);
}
function compareRef(a: { conversationId: string; version: number }, b: { conversationId: string; version: number }): number {
  return a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : a.version - b.version;
}
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
