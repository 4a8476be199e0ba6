/**
 * The slow paths of Keywarden: everything that waits on the key store or the master key.
 * First use (race-free create), loading and unwrapping, message reservations (docs/FORMAT.md §5)
 * and rotation. Loads are single-flight per conversation and version through the cache.
 */
import { type CachedKey, type CachePartition, StaleLoad } from '../cache/key-cache.js';
import { ClosedError, DecryptionError, KeyLimitError, KeyNotFoundError, KeyShreddedError, StoreError } from '../errors.js';
import { type CheckedRecord, type Deadlines, checkRecord, generateKey, readVersion, storeCall, unwrapRecord } from './key-path.js';
import type { SuiteInfo } from '../format/suites.js';
import { MAX_KEY_VERSION } from '../format/wire.js';
import type { GeneratedDataKey, MasterKeyProvider } from '../kms/provider.js';
import type { InsertResult, KeyStore, ShredResult } from '../store/types.js';
import { type AuditEvent, type AuditEventType, type AuditIdHasher, newEvent } from '../audit/entry.js';
import type { AuditLog } from '../audit/log.js';
import { clean } from '../util/bytes.js';
import { conversationIdBytes } from '../util/validate.js';
import { type KeyRecord, closesConversation, wrappingContext } from './records.js';
import { type RotationPolicy, rotateAt } from './rotation.js';

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
  rotation: RotationPolicy;
  now: () => Date;
  /**
   * What the keys belong to, for the audit entries: conversations (`key.*` entries, ids as
   * keyed HMACs) or branch keys (`branch.*` entries, branch ids in clear: they name tenants or
   * shards, not people, and match what CloudTrail logs for their KMS calls).
   */
  subject?: 'conversation' | 'branch';
  /** Keys that seal nothing directly (branch keys derive a key per wrap): no message counting. */
  uncounted?: boolean;
}

/** Why key versions are shredded, as the `key.shredded` audit entry records it. */
export type ShredReason = 'request' | 'retention' | 'minimum-version';

type KeyEventType = 'key.created' | 'key.rotated' | 'key.shredded';
/** A key change to record: its type, the conversation (or branch) and the entry's fields. */
type KeyEvent = { type: KeyEventType; conversation: string; [k: string]: unknown };

export class KeyLifecycle {
  closed = false;
  readonly kmsCalls = { generateDataKey: 0, unwrapDataKey: 0 };
  readonly #o: LifecycleOptions;
  /** In-flight reservation or rotation per cached key (single-flight). */
  readonly #refills = new Map<CachedKey, Promise<CachedKey>>();

  constructor(options: LifecycleOptions) {
    this.#o = options;
  }

  /**
   * A live active key with seals left for `conversationId`, loading, rotating (policy) or
   * reserving as needed. Rotates at most once per call: a version that is due again at once
   * (clocks far apart) seals rather than rotating in a loop.
   */
  async activeForSeal(conversationId: string, last: CachedKey | undefined, nowMs: number): Promise<CachedKey> {
    if (this.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    // A key a shred revoked stays readable while a page holds it pinned (slot >= 0): never seal with it.
    const cached = last !== undefined && last.slot >= 0 && !last.revoked ? last : this.#o.part.peekActive(conversationId);
    let k = cached !== undefined && cached.slot >= 0 ? cached : await this.#loadActive(conversationId);
    if (nowMs >= k.rotateAt) k = await this.#rotateDue(conversationId, k);
    return k.remaining === 0 ? this.#refill(conversationId, k) : k;
  }

  /** The cached key of one version, unwrapping it (single-flight) on a miss; DecryptionError if it does not exist. */
  async version(conversationId: string, version: number): Promise<CachedKey> {
    if (this.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    if (version < 1 || version > MAX_KEY_VERSION) throw new DecryptionError();
    const cached = this.#o.part.peekVersion(conversationId, version);
    if (cached !== undefined && cached.slot >= 0) return cached;
    return this.#o.part.load(`v${version}`, conversationId, async (stamp) => {
      const checked = await readVersion(this.#o.keyStore, conversationId, version, this.#o.deadlines);
      if (checked === undefined) throw new DecryptionError();
      return this.#cache(checked, checked.record.state === 'active', stamp);
    });
  }

  /**
   * Rotates to a new version (or creates version 1) and returns its record. On a conversation
   * shredded as a whole: ERR_KEY_SHREDDED (see startGeneration).
   */
  async rotate(conversationId: string): Promise<KeyRecord> {
    conversationIdBytes(conversationId);
    const cur = await this.storeCall('read', () => this.#o.keyStore.getLatest(conversationId));
    if (cur?.state === 'active') return this.#rotateFrom(conversationId, cur.version);
    return this.#activeRecord(conversationId);
  }

  /**
   * The active record of a conversation after a whole-conversation shred: stores the first
   * version of a new generation (numbering continues, so old ciphertexts keep naming their
   * shredded versions and stay unreadable). On a conversation that is not shredded, its active
   * version (created if it has none).
   */
  async startGeneration(conversationId: string): Promise<KeyRecord> {
    conversationIdBytes(conversationId);
    const cur = await this.storeCall('read', () => this.#o.keyStore.getLatest(conversationId));
    if (cur === undefined || !closesConversation(cur)) return this.#activeRecord(conversationId);
    const stamp = this.#o.part.begin();
    let res: InsertResult;
    try {
      res = await this.#create(conversationId, cur.version + 1, (tx, r) => tx.insertNext(r, cur.version, { reopen: true }), stamp);
    } finally {
      this.#o.part.end(stamp);
    }
    if (!res.inserted && res.record.state !== 'active') throw new KeyShreddedError('this conversation was shredded again while starting a new generation');
    return res.record;
  }

  /**
   * Shreds versions of many conversations (a retention page) in one store transaction, with one
   * `key.shredded` entry per conversation; then drops them from this instance's cache.
   */
  async shredBatch(items: readonly { conversationId: string; versions: readonly number[] }[], reason: ShredReason): Promise<ShredResult[]> {
    const at = this.#o.now();
    // A store without a transaction to join (DynamoDB) may run the callback again after a lost
    // race, keeping what an earlier run stored: a shred is never taken back, and the run again
    // finds it `alreadyShredded`. Those versions are this call's (its key.shredded entry is
    // recorded by the earlier run), so they are reported as shredded, as the audit log has them.
    const earlier = items.map(() => new Set<number>());
    // In conversation id order (code points, i.e. UTF-8 bytes: the key table's COLLATE "C"), the
    // lock order of every other multi-conversation change (a re-wrap page), not the scan's time
    // order: a retention page and a re-wrap page deadlocked (outside review 7, SQLSTATE 40P01).
    const order = items.map((_it, i) => i).sort((x, y) => byCodePoint(items[x]!.conversationId, items[y]!.conversationId));
    const res = await this.storeCall('shred', () => this.#audited(
      async (tx) => {
        const out = new Array<ShredResult>(items.length);
        for (const i of order) {
          const r = await tx.shred(items[i]!.conversationId, items[i]!.versions, at);
          for (const v of r.shredded) earlier[i]!.add(v);
          out[i] = r;
        }
        return out;
      },
      (rs) => rs.flatMap((r, i) => (r.shredded.length > 0 ? [{ type: 'key.shredded' as const, conversation: items[i]!.conversationId, versions: r.shredded, scope: 'version', reason }] : [])),
    )).then((rs) => rs.map((r, i) => {
      const mine = r.alreadyShredded.filter((v) => earlier[i]!.has(v));
      if (mine.length === 0) return r;
      return { ...r, shredded: [...r.shredded, ...mine].sort((x, y) => x - y), alreadyShredded: r.alreadyShredded.filter((v) => !earlier[i]!.has(v)) };
    }));
    // Versions found shredded already go too: the store has just said so, and this instance may
    // not have heard of that shred (no watcher, a lost notification, a transaction that left it stored).
    res.forEach((r, i) => {
      for (const v of [...r.shredded, ...r.alreadyShredded]) this.#o.part.forget(items[i]!.conversationId, v);
    });
    return res;
  }

  /**
   * Shreds key versions (see KeyStore.shred), recording `key.shredded` in the same store
   * transaction when an audit log is configured, then drops them from this instance's cache
   * (other instances drop them on the store's notification, or at the cache's max age).
   * ERR_KEY_NOT_FOUND when the conversation has no key at all.
   */
  async shred(conversationId: string, target: 'conversation' | readonly number[], reason: ShredReason): Promise<ShredResult> {
    conversationIdBytes(conversationId);
    const at = this.#o.now();
    const res = await this.storeCall('shred', () => this.#audited(
      (tx) => tx.shred(conversationId, target, at),
      (r) => (r.shredded.length > 0 || r.closed ? [{ type: 'key.shredded', conversation: conversationId, versions: r.shredded, scope: target === 'conversation' ? 'conversation' : 'version', reason }] : []),
      (r) => target === 'conversation' && r.shredded.length === 0 && r.alreadyShredded.length === 0,
    ));
    if (target === 'conversation') this.#o.part.forget(conversationId);
    else for (const v of [...res.shredded, ...res.alreadyShredded]) this.#o.part.forget(conversationId, v); // see shredBatch
    return res;
  }

  /** Runs a store call with keywarden's error mapping (see key-path.ts). */
  storeCall<T>(op: string, fn: () => Promise<T>, owned?: Uint8Array): Promise<T> {
    return storeCall(op, fn, owned, this.#o.deadlines);
  }

  #limit(suite: SuiteInfo): number {
    if (this.#o.uncounted) return Infinity;
    return Math.min(suite.maxMessagesPerKey, this.#o.maxMessages);
  }

  /**
   * Seals reserved per store round trip under a version limit: the configured reservation, but
   * at most 1/16 of the limit. The unused part of a block is lost when the key leaves the cache
   * (eviction, max age, restart: the store's counter stays conservative), so with a block as
   * large as the budget every cache miss would spend a version (found by `npm run soak`:
   * maxMessages 100 under the default 1024 rotated on every miss). docs/KEYS.md §4.
   */
  #block(limit: number): number {
    return Math.min(this.#o.reservation, Math.max(1, Math.ceil(limit / 16)));
  }

  /** Seals granted with a new version's record: one reservation block, or none if uncounted (-1). */
  #initialGrant(): number {
    const limit = this.#limit(this.#o.suite);
    return limit === Infinity ? -1 : Math.min(this.#block(limit), limit);
  }

  /** The active record, creating the next version if the conversation has none (see #loadActive). */
  async #activeRecord(conversationId: string): Promise<KeyRecord> {
    const k = await this.#loadActive(conversationId);
    const rec = await this.storeCall('read', () => this.#o.keyStore.getVersion(conversationId, k.version));
    if (rec === undefined) throw new StoreError('key store lost a version it just returned');
    return rec;
  }

  /**
   * Resolves (single-flight) and caches the active version: creates version 1 on first use, and
   * the next version when every version was shredded by version (retention, a minimum version).
   * A conversation shredded as a whole refuses with ERR_KEY_SHREDDED until startGeneration.
   */
  #loadActive(conversationId: string): Promise<CachedKey> {
    return this.#o.part.load('a', conversationId, async (stamp) => {
      let rec = await this.storeCall('read', () => this.#o.keyStore.getLatest(conversationId));
      // Two rounds cover losing one race (another writer created the version we wanted).
      for (let round = 0; rec?.state !== 'active'; round++) {
        if (rec !== undefined && closesConversation(rec)) {
          throw new KeyShreddedError('this conversation was shredded; start a new key generation (startGeneration) to seal again');
        }
        if (round === 2) throw new StoreError('key store has no active version after creating one');
        const last = rec;
        const res = last === undefined
          ? await this.#create(conversationId, 1, 'first', stamp)
          : await this.#create(conversationId, last.version + 1, (tx, r) => tx.insertNext(r, last.version), stamp);
        if (res.inserted) {
          if (res.key === undefined) throw new StaleLoad(); // a shred came meanwhile: read again
          return res.key;
        }
        rec = res.record;
      }
      const cached = this.#o.part.peekVersion(conversationId, rec.version);
      if (cached !== undefined && cached.slot >= 0) {
        // Known from a decrypt: re-insert as active (copy first: insert wipes the old slot).
        const copy = this.#o.part.key(cached).slice();
        // As old as the copy it was made from (its wrapping key's age included).
        const k = this.#o.part.insertUnlessStale(stamp, conversationId, rec.version, cached.suite, copy, cached.remaining, true, this.#rotateAt(rec), this.#o.part.ageMs(cached));
        clean(copy);
        if (k === undefined) throw new StaleLoad();
        return k;
      }
      return this.#cache(checkRecord(rec), true, stamp);
    });
  }

  /**
   * Generates a version and stores it with `insert` (insertFirst, or insertNext from the current
   * highest version), audited as `key.created`; caches it when stored. A lost race returns the
   * winner's record and wipes our key.
   */
  async #create(
    conversationId: string, version: number, insert: 'first' | ((tx: KeyStore, r: KeyRecord) => Promise<InsertResult>), stamp: number,
  ): Promise<InsertResult & { key?: CachedKey | undefined }> {
    if (version > MAX_KEY_VERSION) throw new KeyLimitError('conversation has used every key version');
    const gen = await this.#generate(conversationId, version);
    const grant = this.#initialGrant();
    const record = this.#newRecord(conversationId, version, gen, grant);
    const created = [{ type: 'key.created' as const, conversation: conversationId, version, masterKeyId: record.masterKeyId, suite: record.suite }];
    const res = await this.storeCall('insert', async () => (insert === 'first' ? await this.#insertFirstInOneStatement(record, created) : undefined)
      ?? this.#audited((tx) => (insert === 'first' ? tx.insertFirst(record) : insert(tx, record)), (r) => (r.inserted ? created : [])), gen.plaintextKey);
    if (res.inserted) return { ...res, key: this.#adopt(res.record, gen.plaintextKey, grant, stamp) };
    clean(gen.plaintextKey); // lost the race: use the winner's key (docs/FORMAT.md §1)
    return res;
  }

  /** Rotates a version the policy says is due (single-flight per version); returns the active key. */
  #rotateDue(conversationId: string, k: CachedKey): Promise<CachedKey> {
    return this.#o.part.load(`r${k.version}`, conversationId, async (stamp) => {
      // One new version per conversation, whatever the number of instances: insertNext is a
      // compare-and-set on this version, and the losers adopt the winner's (docs/KEYS.md §4).
      await this.#rotateFrom(conversationId, k.version, stamp);
      const fresh = this.#o.part.peekActive(conversationId);
      return fresh !== undefined && fresh.slot >= 0 ? fresh : this.#loadActive(conversationId);
    });
  }

  /** When the rotation policy wants a version replaced (ms since 1970), or Infinity. */
  #rotateAt(r: KeyRecord): number {
    return rotateAt(this.#o.rotation, r.conversationId, r.version, r.activatedAt.getTime());
  }

  /** Unwraps a stored version (the shared key path) and caches it. */
  async #cache({ record, suite }: CheckedRecord, active: boolean, stamp: number): Promise<CachedKey> {
    this.kmsCalls.unwrapDataKey++;
    const plain = await unwrapRecord(this.#o.masterKey, record, this.#o.deadlines, this.#o.subject);
    this.#refuseIfClosed(plain);
    const remaining = this.#limit(suite) === Infinity ? -1 : 0; // counted suites reserve on first seal
    // Not cached when a shred came after the read began (CachePartition.begin): read again.
    const k = this.#o.part.insertUnlessStale(stamp, record.conversationId, record.version, suite, plain, remaining, active, this.#rotateAt(record), this.#wrapAge(record.masterKeyId));
    clean(plain);
    if (k === undefined) throw new StaleLoad();
    return k;
  }

  /**
   * Caches a version we just generated and stored, unless a shred of its conversation came after
   * `stamp` (then undefined: the caller reads again); wipes the provider's plaintext buffer.
   */
  #adopt(rec: KeyRecord, plaintextKey: Uint8Array, grant: number, stamp: number): CachedKey | undefined {
    this.#refuseIfClosed(plaintextKey);
    const k = this.#o.part.insertUnlessStale(stamp, rec.conversationId, rec.version, this.#o.suite, plaintextKey, grant, true, this.#rotateAt(rec), this.#wrapAge(rec.masterKeyId));
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
        if (limit === Infinity) {
          // An uncounted key whose seals this process stopped (#rotateFrom): no grant to ask for;
          // the store says which version is active now.
          this.#o.part.deactivate(conversationId);
          const fresh = await this.#loadActive(conversationId);
          if (fresh.remaining === 0 && fresh.slot >= 0) fresh.remaining = -1; // still the active one: no count
          return fresh;
        }
        const granted = await this.storeCall('reserve', () => this.#o.keyStore.reserveMessages(conversationId, k.version, this.#block(limit), limit));
        if (granted > 0) {
          // If k was evicted meanwhile the grant is simply unused: counts stay conservative. One a
          // shred revoked meanwhile seals nothing more, though a page may hold its bytes (review 7:
          // a grant asked for before the shred revived it, and a seal after shred() was unreadable).
          if (k.slot >= 0 && !k.revoked) k.remaining = (k.remaining < 0 ? 0 : k.remaining) + granted;
          return k;
        }
        // Spent, or superseded by another process: re-read which version is active.
        this.#o.part.deactivate(conversationId);
        const fresh = await this.#loadActive(conversationId);
        if (fresh.version !== k.version) return fresh;
        if (!this.#o.autoRotate) throw new KeyLimitError(`key version ${k.version} has sealed its limit of ${limit} messages; rotate the conversation key`);
        await this.#rotateFrom(conversationId, k.version);
        const next = this.#o.part.peekActive(conversationId) ?? (await this.#loadActive(conversationId));
        return next.remaining === 0 ? await this.#refill(conversationId, next) : next;
      } finally {
        this.#refills.delete(k);
      }
    })();
    this.#refills.set(k, p);
    return p;
  }

  async #rotateFrom(conversationId: string, fromVersion: number, stamp?: number): Promise<KeyRecord> {
    if (stamp === undefined) {
      const own = this.#o.part.begin(); // outside a load: fence this rotation's cache insert itself
      try {
        return await this.#rotateFrom(conversationId, fromVersion, own);
      } finally {
        this.#o.part.end(own);
      }
    }
    if (fromVersion >= MAX_KEY_VERSION) throw new KeyLimitError('conversation has used every key version');
    const version = fromVersion + 1;
    const gen = await this.#generate(conversationId, version);
    const grant = this.#initialGrant();
    const record = this.#newRecord(conversationId, version, gen, grant);
    const res = await this.storeCall('insert', () => this.#audited(
      (tx) => tx.insertNext(record, fromVersion),
      (r) => (r.inserted ? [{ type: 'key.rotated', conversation: conversationId, fromVersion, version, masterKeyId: record.masterKeyId }] : []),
    ), gen.plaintextKey);
    // The old version stays cached for decryption, but this process stops sealing with it.
    const old = this.#o.part.peekVersion(conversationId, fromVersion);
    if (old !== undefined) old.remaining = 0;
    // Not cached (a shred of this conversation came meanwhile, CachePartition.begin): the old
    // version must lose the active mark too, or seals keep finding it (outside review,
    // 2026-12-01: with an uncounted suite every encrypt then asked the store for an infinite grant).
    if (res.inserted) {
      if (this.#adopt(res.record, gen.plaintextKey, grant, stamp) === undefined) this.#o.part.deactivate(conversationId);
    } else {
      clean(gen.plaintextKey);
      this.#o.part.deactivate(conversationId);
    }
    return res.record;
  }

  /**
   * A new conversation's first version with its `key.created` outbox row in one statement, when
   * the key store and the audit log share a database (PostgreSQL): one round trip instead of a
   * transaction's four, so audit costs new conversations little (issue #14, docs/AUDIT.md §4.2).
   * Undefined when not available: the caller takes the transaction path.
   */
  async #insertFirstInOneStatement(record: KeyRecord, created: KeyEvent[]): Promise<InsertResult | undefined> {
    const audit = this.#o.audit;
    const store = this.#o.keyStore;
    if (audit === undefined || store.insertFirstWith === undefined || !audit.log.joinsTransactions) return undefined;
    const companion = audit.log.companionFor(this.#auditEvents(audit, created));
    return companion === undefined ? undefined : store.insertFirstWith(record, companion);
  }

  /** Audit events for key changes (branch keys as `branch.*`, conversation ids hashed). */
  #auditEvents(audit: KeyAuditOptions, list: readonly KeyEvent[]): AuditEvent[] {
    const source = { actor: audit.actor, now: this.#o.now };
    const branch = this.#o.subject === 'branch';
    return list.map(({ type, conversation, ...rest }) => branch
      ? newEvent(type.replace('key.', 'branch.') as AuditEventType, source, { ...rest, branch: conversation })
      : newEvent(type, source, { ...rest, conversation: audit.ids.conversation(conversation) }));
  }

  /**
   * Runs a key store change and, when an audit log is configured, appends the events it calls
   * for in the same key-store transaction: if the (fail-closed) append fails, the change is
   * rolled back, so no key version is created, rotated or shredded without its record.
   * `abort(result)` rolls back a change that turned out to do nothing (and throws ERR_KEY_NOT_FOUND).
   */
  #audited<R>(
    op: (store: KeyStore) => Promise<R>,
    events: (r: R) => KeyEvent[],
    abort?: (r: R) => boolean,
  ): Promise<R> {
    const audit = this.#o.audit;
    const notFound = () => new KeyNotFoundError('conversation has no key');
    if (audit === undefined && abort === undefined) return op(this.#o.keyStore);
    // A store without a transaction to join (DynamoDB, memory) may run the callback again after a
    // lost race; an event a run already recorded (durable on its own) is not recorded twice
    // (outside review, 2026-12-01: one shred racing one reservation recorded key.shredded twice).
    const recorded = new Set<string>();
    return this.#o.keyStore.transaction(async (tx) => {
      const res = await op(tx);
      if (abort?.(res)) throw notFound();
      const join = audit !== undefined && audit.log.joinsTransactions && tx.txHandle !== undefined ? { tx: tx.txHandle } : undefined;
      const all = audit === undefined ? [] : events(res);
      const list = join !== undefined ? all : all.filter((e) => !recorded.has(JSON.stringify(e)));
      if (audit !== undefined && list.length > 0) {
        // Same database: the entries join the key's transaction (both commit or neither).
        // Acknowledged once durable (the outbox row commits with the key): docs/AUDIT.md §4.2.
        await audit.log.record(this.#auditEvents(audit, list), join);
        if (join === undefined) for (const e of list) recorded.add(JSON.stringify(e));
      }
      return res;
    });
  }

  #newRecord(conversationId: string, version: number, gen: GeneratedDataKey, grant: number): KeyRecord {
    const now = this.#o.now();
    return {
      conversationId, version, masterKeyId: gen.masterKeyId, wrappedKey: gen.wrappedKey, suite: this.#o.suite.name,
      state: 'active', createdAt: now, activatedAt: now, supersededAt: null, sealedReserved: grant < 0 ? 0 : grant, shreddedAt: null, shredScope: null,
    };
  }

  /**
   * After an await: if every instance using this partition closed meanwhile, wipe the key we
   * were about to cache and stop. (Another open instance may have joined this load, so this
   * instance's own `closed` flag is not the test; callers check that themselves.)
   */
  /** How long ago the key wrapping `masterKeyId`'s data keys was read (a branch key): see insertUnlessStale. */
  #wrapAge(masterKeyId: string): number {
    const age = this.#o.masterKey.wrappingKeyAgeMs?.(masterKeyId);
    return typeof age === 'number' && Number.isFinite(age) && age > 0 ? age : 0;
  }

  #refuseIfClosed(plaintextKey: Uint8Array): void {
    if (this.#o.part.closed) {
      clean(plaintextKey);
      throw new ClosedError();
    }
  }

  #generate(conversationId: string, version: number): Promise<GeneratedDataKey> {
    this.kmsCalls.generateDataKey++;
    return generateKey(this.#o.masterKey, wrappingContext(this.#o.subject, conversationId, version), this.#o.deadlines);
  }

}

/** Code point order (the order of their UTF-8 bytes), unlike `<` on UTF-16 code units. */
function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++; // the same pair in both: skip its low half
  }
  return a.length - b.length;
}
