/**
 * The slow paths of Keywarden: everything that waits on the key store or the master key.
 * First use (race-free create), loading and unwrapping, message reservations (docs/FORMAT.md §5)
 * and rotation. Loads are single-flight per conversation and version through the cache.
 */
import type { CachedKey, CachePartition } from '../cache/key-cache.js';
import { ClosedError, DecryptionError, KeyLimitError, StoreError } from '../errors.js';
import { type CheckedRecord, type Deadlines, checkRecord, generateKey, readVersion, storeCall, unwrapRecord } from './key-path.js';
import type { SuiteInfo } from '../format/suites.js';
import { MAX_KEY_VERSION } from '../format/wire.js';
import type { GeneratedDataKey, MasterKeyProvider } from '../kms/provider.js';
import type { InsertResult, KeyStore } from '../store/types.js';
import { type AuditIdHasher, newEvent } from '../audit/entry.js';
import type { AuditLog } from '../audit/log.js';
import { clean } from '../util/bytes.js';
import { conversationIdBytes } from '../util/validate.js';
import { type KeyRecord, keyContext } from './records.js';

/** Where key lifecycle events are recorded (KeywardenOptions.audit). */
export interface KeyAuditOptions {
  /** The audit log. */
  log: AuditLog;
  /** Turns conversation ids into keyed HMACs for the log. */
  ids: AuditIdHasher;
  /** Who is acting, recorded in every entry (e.g. the service name). */
  actor: string;
}

export interface LifecycleOptions {
  audit?: KeyAuditOptions;
  deadlines: Deadlines;
  masterKey: MasterKeyProvider;
  keyStore: KeyStore;
  suite: SuiteInfo;
  part: CachePartition;
  maxMessages: number;
  reservation: number;
  autoRotate: boolean;
  now: () => Date;
}

export class KeyLifecycle {
  closed = false;
  readonly kmsCalls = { generateDataKey: 0, unwrapDataKey: 0 };
  readonly #o: LifecycleOptions;
  /** In-flight reservation or rotation per cached key (single-flight). */
  readonly #refills = new Map<CachedKey, Promise<CachedKey>>();

  constructor(options: LifecycleOptions) {
    this.#o = options;
  }

  /** A live active key with seals left for `conversationId`, loading, reserving or rotating as needed. */
  async activeForSeal(conversationId: string, last: CachedKey | undefined): Promise<CachedKey> {
    if (this.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    const k = last !== undefined && last.slot >= 0 ? last : this.#o.part.peekActive(conversationId);
    if (k !== undefined && k.slot >= 0) return k.remaining === 0 ? this.#refill(conversationId, k) : k;
    return this.#loadActive(conversationId);
  }

  /** The cached key of one version, unwrapping it (single-flight) on a miss; DecryptionError if it does not exist. */
  async version(conversationId: string, version: number): Promise<CachedKey> {
    if (this.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    if (version < 1 || version > MAX_KEY_VERSION) throw new DecryptionError();
    const cached = this.#o.part.peekVersion(conversationId, version);
    if (cached !== undefined && cached.slot >= 0) return cached;
    return this.#o.part.load(`v${version}:${conversationId}`, async () => {
      const checked = await readVersion(this.#o.keyStore, conversationId, version, this.#o.deadlines);
      if (checked === undefined) throw new DecryptionError();
      return this.#cache(checked, checked.record.state === 'active');
    });
  }

  /** Rotates to a new version (or creates version 1) and returns its record. */
  async rotate(conversationId: string): Promise<KeyRecord> {
    conversationIdBytes(conversationId);
    const cur = await this.storeCall('read', () => this.#o.keyStore.getActive(conversationId));
    if (cur !== undefined) return this.#rotateFrom(conversationId, cur.version);
    const k = await this.#loadActive(conversationId);
    const rec = await this.storeCall('read', () => this.#o.keyStore.getVersion(conversationId, k.version));
    if (rec === undefined) throw new StoreError('key store lost a version it just returned');
    return rec;
  }

  /** Runs a store call with keywarden's error mapping (see key-path.ts). */
  storeCall<T>(op: string, fn: () => Promise<T>, owned?: Uint8Array): Promise<T> {
    return storeCall(op, fn, owned, this.#o.deadlines);
  }

  #limit(suite: SuiteInfo): number {
    return Math.min(suite.maxMessagesPerKey, this.#o.maxMessages);
  }

  /** Seals granted with a new version's record: one reservation block, or none if uncounted (-1). */
  #initialGrant(): number {
    const limit = this.#limit(this.#o.suite);
    return limit === Infinity ? -1 : Math.min(this.#o.reservation, limit);
  }

  /** Resolves (single-flight) and caches the active version, creating version 1 on first use. */
  #loadActive(conversationId: string): Promise<CachedKey> {
    return this.#o.part.load(`a:${conversationId}`, async () => {
      let rec = await this.storeCall('read', () => this.#o.keyStore.getActive(conversationId));
      if (rec === undefined) {
        const gen = await this.#generate(conversationId, 1);
        const grant = this.#initialGrant();
        const record = this.#newRecord(conversationId, 1, gen, grant);
        const res = await this.storeCall('insert', () => this.#insertAudited((tx) => tx.insertFirst(record), (r) => ({
          type: 'key.created', conversation: r.conversationId, version: r.version, masterKeyId: r.masterKeyId, suite: r.suite,
        })), gen.plaintextKey);
        if (res.inserted) return this.#adopt(res.record, gen.plaintextKey, grant);
        clean(gen.plaintextKey); // lost the race: use the winner's key (docs/FORMAT.md §1)
        rec = res.record;
      }
      const cached = this.#o.part.peekVersion(conversationId, rec.version);
      if (cached !== undefined && cached.slot >= 0) {
        // Known from a decrypt: re-insert as active (copy first: insert wipes the old slot).
        const copy = this.#o.part.key(cached).slice();
        const k = this.#o.part.insert(conversationId, rec.version, cached.suite, copy, cached.remaining, true);
        clean(copy);
        return k;
      }
      return this.#cache(checkRecord(rec), true);
    });
  }

  /** Unwraps a stored version (the shared key path) and caches it. */
  async #cache({ record, suite }: CheckedRecord, active: boolean): Promise<CachedKey> {
    this.kmsCalls.unwrapDataKey++;
    const plain = await unwrapRecord(this.#o.masterKey, record, this.#o.deadlines);
    this.#refuseIfClosed(plain);
    const remaining = this.#limit(suite) === Infinity ? -1 : 0; // counted suites reserve on first seal
    const k = this.#o.part.insert(record.conversationId, record.version, suite, plain, remaining, active);
    clean(plain);
    return k;
  }

  /** Caches a version we just generated and stored; wipes the provider's plaintext buffer. */
  #adopt(rec: KeyRecord, plaintextKey: Uint8Array, grant: number): CachedKey {
    this.#refuseIfClosed(plaintextKey);
    const k = this.#o.part.insert(rec.conversationId, rec.version, this.#o.suite, plaintextKey, grant, true);
    clean(plaintextKey);
    return k;
  }

  /** Reserves more seals for `k` (single-flight); rotates when its budget is spent. */
  #refill(conversationId: string, k: CachedKey): Promise<CachedKey> {
    const pending = this.#refills.get(k);
    if (pending !== undefined) return pending;
    const p = (async () => {
      try {
        const limit = this.#limit(k.suite);
        const granted = await this.storeCall('reserve', () => this.#o.keyStore.reserveMessages(conversationId, k.version, this.#o.reservation, limit));
        if (granted > 0) {
          // If k was evicted meanwhile the grant is simply unused: counts stay conservative.
          if (k.slot >= 0) k.remaining = (k.remaining < 0 ? 0 : k.remaining) + granted;
          return k;
        }
        // Spent, or superseded by another process: re-read which version is active.
        this.#o.part.deactivate(conversationId);
        const fresh = await this.#loadActive(conversationId);
        if (fresh.version !== k.version) return fresh;
        if (!this.#o.autoRotate) throw new KeyLimitError(`key version ${k.version} has sealed its limit of ${limit} messages; rotate the conversation key`);
        await this.#rotateFrom(conversationId, k.version);
        return await this.activeForSeal(conversationId, undefined);
      } finally {
        this.#refills.delete(k);
      }
    })();
    this.#refills.set(k, p);
    return p;
  }

  async #rotateFrom(conversationId: string, fromVersion: number): Promise<KeyRecord> {
    if (fromVersion >= MAX_KEY_VERSION) throw new KeyLimitError('conversation has used every key version');
    const version = fromVersion + 1;
    const gen = await this.#generate(conversationId, version);
    const grant = this.#initialGrant();
    const record = this.#newRecord(conversationId, version, gen, grant);
    const res = await this.storeCall('insert', () => this.#insertAudited((tx) => tx.insertNext(record, fromVersion), (r) => ({
      type: 'key.rotated', conversation: r.conversationId, fromVersion, version: r.version, masterKeyId: r.masterKeyId,
    })), gen.plaintextKey);
    // The old version stays cached for decryption, but this process stops sealing with it.
    const old = this.#o.part.peekVersion(conversationId, fromVersion);
    if (old !== undefined) old.remaining = 0;
    if (res.inserted) this.#adopt(res.record, gen.plaintextKey, grant);
    else {
      clean(gen.plaintextKey);
      this.#o.part.deactivate(conversationId);
    }
    return res.record;
  }

  /**
   * Runs a key insert and, when it stores a new version and an audit log is configured, appends
   * the event in the same key-store transaction: if the (fail-closed) append fails, the insert is
   * rolled back, so no key version exists without its record.
   */
  #insertAudited(
    op: (store: KeyStore) => Promise<InsertResult>,
    fields: (r: KeyRecord) => { type: 'key.created' | 'key.rotated'; conversation: string; [k: string]: unknown },
  ): Promise<InsertResult> {
    const audit = this.#o.audit;
    if (audit === undefined) return op(this.#o.keyStore);
    return this.#o.keyStore.transaction(async (tx) => {
      const res = await op(tx);
      if (res.inserted) {
        const f = fields(res.record);
        // Same database: the entry joins the key's transaction (both commit or neither).
        const join = audit.log.joinsTransactions && tx.txHandle !== undefined ? { tx: tx.txHandle } : undefined;
        const { type, ...rest } = f;
        // Acknowledged once durable (the outbox row commits with the key): docs/AUDIT.md §4.
        await audit.log.record(newEvent(type, { actor: audit.actor, now: this.#o.now }, { ...rest, conversation: audit.ids.conversation(f.conversation) }), join);
      }
      return res;
    });
  }

  #newRecord(conversationId: string, version: number, gen: GeneratedDataKey, grant: number): KeyRecord {
    const now = this.#o.now();
    return {
      conversationId, version, masterKeyId: gen.masterKeyId, wrappedKey: gen.wrappedKey, suite: this.#o.suite.name,
      state: 'active', createdAt: now, activatedAt: now, supersededAt: null, sealedReserved: grant < 0 ? 0 : grant,
    };
  }

  /**
   * After an await: if every instance using this partition closed meanwhile, wipe the key we
   * were about to cache and stop. (Another open instance may have joined this load, so this
   * instance's own `closed` flag is not the test; callers check that themselves.)
   */
  #refuseIfClosed(plaintextKey: Uint8Array): void {
    if (this.#o.part.closed) {
      clean(plaintextKey);
      throw new ClosedError();
    }
  }

  #generate(conversationId: string, version: number): Promise<GeneratedDataKey> {
    this.kmsCalls.generateDataKey++;
    return generateKey(this.#o.masterKey, keyContext(conversationId, version), this.#o.deadlines);
  }

}
