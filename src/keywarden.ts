/**
 * Keywarden: per-conversation envelope encryption. Wire format in docs/FORMAT.md.
 */
import type { AeadImpl } from './aead/types.js';
import { nobleAead } from './aead/noble.js';
import { KeyCache, type KeyCacheOptions, type KeyCacheStats } from './cache/key-cache.js';
import { ClosedError, DecryptionError, InvalidInputError, KeyLimitError, KeyNotFoundError, KeywardenError, KmsError, StoreError } from './errors.js';
import { SUITES, SuiteId, type SuiteInfo, type SuiteName, suiteByName } from './format/suites.js';
import { HEADER_LENGTH, MAX_KEY_VERSION, type CiphertextHeader, parseHeader } from './format/wire.js';
import { type ActivePointer, LiveKey } from './keys/live-key.js';
import { type KeyRecord, type KeyVersionInfo, keyContext, toInfo } from './keys/records.js';
import type { GeneratedDataKey, MasterKeyProvider } from './kms/provider.js';
import type { KeyStore } from './store/types.js';
import { clean, fromUtf8, utf8 } from './util/bytes.js';
import { fillNonce } from './util/random.js';
import { MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES, assertBytes, assertInt, assertOptions, conversationIdBytes, isBytes } from './util/validate.js';

/** Options of {@link Keywarden}. */
export interface KeywardenOptions {
  /** Master key that wraps every conversation key (`AwsKmsMasterKey`, or `LocalMasterKey` in development). */
  masterKey: MasterKeyProvider;
  /** Where wrapped keys and their metadata live. */
  keyStore: KeyStore;
  /** Suite of new key versions. Default `'AES-256-GCM'` (docs/FORMAT.md §2 says why). */
  suite?: SuiteName;
  /**
   * Data-key cache bounds; or a cache shared with other instances, made by
   * {@link Keywarden.createCache} (a plain `KeyCache` would not wipe evicted keys).
   */
  cache?: KeyCacheOptions | KeyCache<CacheValue>;
  /** AEAD implementation. Default: native node:crypto from the `node` entry point, noble elsewhere. */
  aead?: AeadImpl;
  /**
   * Lower the number of messages one key version may seal (never above the suite's bound,
   * docs/FORMAT.md §5), e.g. to rotate more often.
   */
  maxMessagesPerKey?: number;
  /** Messages reserved per key-store round trip when counting seals (default 1024). */
  reservationSize?: number;
  /** Rotate automatically when a key version's message budget is spent (default true); else fail with ERR_KEY_LIMIT_REACHED. */
  autoRotate?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Per-message options of `encrypt` and `decrypt`. */
export interface MessageOptions {
  /**
   * Caller associated data, bound to the message but not stored in it (typically the message
   * id). A string is taken as its UTF-8 bytes. Absent and empty are the same.
   */
  aad?: Uint8Array | string;
}

/** One item of a {@link Keywarden.decryptMany} page. */
export type DecryptItem = Uint8Array | { ciphertext: Uint8Array; aad?: Uint8Array | string };

/** Per-item outcome of {@link Keywarden.decryptMany}. */
export type DecryptResult = { ok: true; plaintext: Uint8Array } | { ok: false; error: KeywardenError };

/** Counters for tests, dashboards and benchmarks. */
export interface KeywardenStats {
  cache: KeyCacheStats;
  kms: { generateDataKey: number; unwrapDataKey: number };
}

/** What the cache holds: unwrapped key versions and active-version pointers. */
export type CacheValue = LiveKey | ActivePointer;

const OPTION_KEYS = ['masterKey', 'keyStore', 'suite', 'cache', 'aead', 'maxMessagesPerKey', 'reservationSize', 'autoRotate', 'now'] as const;
const EMPTY = new Uint8Array(0);

function disposeValue(v: CacheValue): void {
  if (v instanceof LiveKey) v.dispose();
}

function storeError(op: string, cause: unknown): KeywardenError {
  if (cause instanceof KeywardenError) return cause;
  return new StoreError(`key store ${op} failed`, cause);
}

function aadBytes(param: string, aad: unknown): Uint8Array {
  if (aad === undefined) return EMPTY;
  const b = typeof aad === 'string' ? utf8(aad) : aad;
  if (!isBytes(b)) throw new InvalidInputError(param, `expected Uint8Array or string, got ${aad === null ? 'null' : typeof aad}`);
  if (b.length > MAX_AAD_BYTES) throw new InvalidInputError(param, `expected at most ${MAX_AAD_BYTES} bytes, got ${b.length}`);
  return b;
}

function messageAad(options: unknown): Uint8Array {
  if (options === undefined) return EMPTY;
  assertOptions('options', options, ['aad']);
  return aadBytes('options.aad', (options as MessageOptions).aad);
}

/**
 * Envelope encryption for the messages of many conversations. Each conversation has its own
 * 256-bit data key per version, wrapped by the master key and stored by the key store; unwrapped
 * keys live only in the cache.
 *
 * @example
 * ```ts
 * import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
 *
 * const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
 * const sealed = await kw.encrypt('conv-42', new TextEncoder().encode('hi'), { aad: 'msg-1' });
 * const plain = await kw.decrypt('conv-42', sealed, { aad: 'msg-1' });
 * ```
 */
export class Keywarden {
  readonly #mk: MasterKeyProvider;
  readonly #store: KeyStore;
  readonly #suite: SuiteInfo;
  readonly #cache: KeyCache<CacheValue>;
  readonly #aead: AeadImpl;
  readonly #maxMessages: number;
  readonly #reservation: number;
  readonly #autoRotate: boolean;
  readonly #now: () => Date;
  /** Cache-key prefix: the length-prefixed master key id, so partitions never collide. */
  readonly #partition: string;
  #closed = false;
  #kms = { generateDataKey: 0, unwrapDataKey: 0 };

  constructor(options: KeywardenOptions) {
    assertOptions('options', options, OPTION_KEYS);
    if (options === undefined) throw new InvalidInputError('options', 'expected an options object');
    const { masterKey, keyStore } = options;
    if (!masterKey || typeof masterKey.generateDataKey !== 'function' || typeof masterKey.unwrapDataKey !== 'function' || typeof masterKey.keyId !== 'string') {
      throw new InvalidInputError('options.masterKey', 'expected a MasterKeyProvider');
    }
    if (!keyStore || typeof keyStore.getActive !== 'function' || typeof keyStore.insertFirst !== 'function') {
      throw new InvalidInputError('options.keyStore', 'expected a KeyStore');
    }
    const suite = suiteByName(options.suite ?? 'AES-256-GCM');
    if (!suite) throw new InvalidInputError('options.suite', `expected one of ${Object.values(SUITES).map((s) => s.name).join(', ')}`);
    if (options.aead !== undefined && (typeof options.aead.seal !== 'function' || typeof options.aead.open !== 'function')) {
      throw new InvalidInputError('options.aead', 'expected an AeadImpl');
    }
    if (options.maxMessagesPerKey !== undefined) assertInt('options.maxMessagesPerKey', options.maxMessagesPerKey, 1, 2 ** 53);
    if (options.reservationSize !== undefined) assertInt('options.reservationSize', options.reservationSize, 1, 2 ** 32);
    if (options.autoRotate !== undefined && typeof options.autoRotate !== 'boolean') throw new InvalidInputError('options.autoRotate', 'expected boolean');
    if (options.now !== undefined && typeof options.now !== 'function') throw new InvalidInputError('options.now', 'expected a function returning a Date');
    this.#mk = masterKey;
    this.#store = keyStore;
    this.#suite = suite;
    this.#cache = options.cache instanceof KeyCache ? options.cache : new KeyCache<CacheValue>(options.cache, disposeValue);
    this.#aead = options.aead ?? nobleAead;
    this.#maxMessages = options.maxMessagesPerKey ?? Infinity;
    this.#reservation = options.reservationSize ?? 1024;
    this.#autoRotate = options.autoRotate ?? true;
    this.#now = options.now ?? (() => new Date());
    this.#partition = `${masterKey.keyId.length}:${masterKey.keyId}`;
  }

  /**
   * A data-key cache to share between instances (e.g. one per master key): it wipes keys as
   * they leave it, and is partitioned by master key id, so instances never see each other's keys.
   * Pass it as the `cache` option.
   *
   * @param now clock in milliseconds (for tests)
   * @example
   * ```ts
   * const cache = Keywarden.createCache({ maxEntries: 100_000, maxAgeMs: 300_000 });
   * const a = new Keywarden({ masterKey: keyA, keyStore, cache });
   * const b = new Keywarden({ masterKey: keyB, keyStore, cache });
   * ```
   */
  static createCache(options?: KeyCacheOptions, now?: () => number): KeyCache<CacheValue> {
    return new KeyCache<CacheValue>(options, disposeValue, now);
  }

  /** Name of the AEAD implementation in use (`"node"` or `"noble"`). */
  get implementation(): string {
    return this.#aead.name;
  }

  // Cache keys: partition, a tag ('a' active pointer, 'v' version), then the fields. The
  // conversation id comes last and every earlier field is self-delimiting, so keys never collide.
  #pointerKey(conversationId: string): string {
    return `${this.#partition}a${conversationId}`;
  }
  #versionKey(conversationId: string, version: number): string {
    return `${this.#partition}v${version}:${conversationId}`;
  }

  /**
   * Seals one message of a conversation under its active key version (created on first use).
   *
   * @param conversationId 1 to 256 UTF-8 bytes; bound to the ciphertext, not stored in it.
   * @param plaintext the message (a Buffer is fine); up to 64 MiB.
   * @returns `version | suite | key version | nonce | ciphertext | tag` (34 bytes of overhead with AES-256-GCM).
   * @example
   * ```ts
   * const body = await kw.encrypt(conversationId, plaintext, { aad: messageId });
   * ```
   */
  async encrypt(conversationId: string, plaintext: Uint8Array, options?: MessageOptions): Promise<Uint8Array> {
    if (this.#closed) throw new ClosedError();
    if (!isBytes(plaintext)) assertBytes('plaintext', plaintext);
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidInputError('plaintext', `expected at most ${MAX_PLAINTEXT_BYTES} bytes, got ${plaintext.length}`);
    const aad = messageAad(options);
    // Hot path: the pointer and its key are cached (a hit implies the id was validated when
    // it was inserted). Everything else goes through #activeForSeal.
    const ptr = typeof conversationId === 'string' ? (this.#cache.get(this.#pointerKey(conversationId)) as ActivePointer | undefined) : undefined;
    let live = ptr?.live;
    while (live === undefined || live.disposed || live.remaining <= 0) {
      live = await this.#activeForSeal(conversationId, live);
      if (this.#closed) throw new ClosedError(); // closed while we waited: seal nothing
    }
    live.remaining--;
    const n = live.suite.nonceLength;
    const prefix = new Uint8Array(HEADER_LENGTH + n);
    prefix.set(live.aadPrefix.subarray(0, HEADER_LENGTH));
    fillNonce(prefix, HEADER_LENGTH, n);
    const fullAad = aad.length === 0 ? live.aadPrefix : concat2(live.aadPrefix, aad);
    return this.#aead.seal(live.suite.id, live.key, prefix.subarray(HEADER_LENGTH), plaintext, fullAad, prefix);
  }

  /**
   * Opens a message sealed by {@link Keywarden.encrypt} for the same conversation and aad.
   * Every failure to authenticate or parse, including a wrong conversation, aad or key
   * version, throws the same `ERR_DECRYPT_FAILED`. KMS and store outages throw their own codes.
   *
   * @example
   * ```ts
   * const plaintext = await kw.decrypt(conversationId, row.body, { aad: row.messageId });
   * ```
   */
  async decrypt(conversationId: string, ciphertext: Uint8Array, options?: MessageOptions): Promise<Uint8Array> {
    if (this.#closed) throw new ClosedError();
    if (!isBytes(ciphertext)) assertBytes('ciphertext', ciphertext);
    const aad = messageAad(options);
    const h = parseHeader(ciphertext);
    if (h === undefined) {
      conversationIdBytes(conversationId); // a bad id is reported as such, before the ciphertext
      throw new DecryptionError();
    }
    let live = typeof conversationId === 'string' ? (this.#cache.get(this.#versionKey(conversationId, h.keyVersion)) as LiveKey | undefined) : undefined;
    while (live === undefined || live.disposed) {
      live = await this.#loadVersion(conversationId, h.keyVersion);
      if (this.#closed) throw new ClosedError();
    }
    return this.#open(live, h, ciphertext, aad);
  }

  #open(live: LiveKey, h: CiphertextHeader, ct: Uint8Array, aad: Uint8Array): Uint8Array {
    if (live.suite.id !== h.suite.id) throw new DecryptionError();
    const fullAad = aad.length === 0 ? live.aadPrefix : concat2(live.aadPrefix, aad);
    const pt = this.#aead.open(h.suite.id, live.key, ct.subarray(HEADER_LENGTH, h.bodyOffset), ct.subarray(h.bodyOffset), fullAad);
    if (pt === null) throw new DecryptionError();
    return pt;
  }

  /**
   * Opens a page of one conversation's messages, loading each key version once. Returns one
   * result per item, in order: a tampered message does not hide the rest of the page. Input
   * errors and KMS/store outages reject the whole call.
   *
   * @example
   * ```ts
   * const results = await kw.decryptMany(conversationId, rows.map((r) => ({ ciphertext: r.body, aad: r.id })));
   * for (const r of results) if (r.ok) show(r.plaintext);
   * ```
   */
  async decryptMany(conversationId: string, items: readonly DecryptItem[]): Promise<DecryptResult[]> {
    if (this.#closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    if (!Array.isArray(items)) throw new InvalidInputError('items', 'expected an array');
    const parsed = items.map((item, i) => {
      const param = `items[${i}]`;
      if (isBytes(item)) return { ct: item, aad: EMPTY };
      assertOptions(param, item, ['ciphertext', 'aad']);
      if (item === undefined) throw new InvalidInputError(param, 'expected Uint8Array or { ciphertext, aad? }');
      assertBytes(`${param}.ciphertext`, item.ciphertext);
      return { ct: item.ciphertext, aad: aadBytes(`${param}.aad`, item.aad) };
    });
    const headers = parsed.map((p) => parseHeader(p.ct));
    const keys = new Map<number, LiveKey | null>();
    try {
      for (const h of headers) {
        if (h === undefined || keys.has(h.keyVersion)) continue;
        let live = (this.#cache.get(this.#versionKey(conversationId, h.keyVersion)) as LiveKey | undefined) ?? null;
        try {
          while (live === null || live.disposed) live = await this.#loadVersion(conversationId, h.keyVersion);
          live.pin(); // later awaits may evict it; it must stay usable for this page
        } catch (err) {
          if (!(err instanceof DecryptionError)) throw err;
          live = null;
        }
        keys.set(h.keyVersion, live);
      }
      return parsed.map((p, i) => {
        const h = headers[i];
        const live = h && keys.get(h.keyVersion);
        try {
          if (!h || !live) throw new DecryptionError();
          return { ok: true as const, plaintext: this.#open(live, h, p.ct, p.aad) };
        } catch (error) {
          return { ok: false as const, error: error as KeywardenError };
        }
      });
    } finally {
      for (const live of keys.values()) live?.unpin();
    }
  }

  /** {@link Keywarden.encrypt} for a string (sealed as UTF-8). */
  async encryptString(conversationId: string, text: string, options?: MessageOptions): Promise<Uint8Array> {
    if (typeof text !== 'string') throw new InvalidInputError('text', `expected string, got ${typeof text}`);
    return this.encrypt(conversationId, utf8(text), options);
  }

  /** {@link Keywarden.decrypt} returning a string; a plaintext that is not valid UTF-8 fails with ERR_DECRYPT_FAILED. */
  async decryptString(conversationId: string, ciphertext: Uint8Array, options?: MessageOptions): Promise<string> {
    const pt = await this.decrypt(conversationId, ciphertext, options);
    try {
      return fromUtf8(pt);
    } catch {
      throw new DecryptionError();
    } finally {
      clean(pt);
    }
  }

  /**
   * Adds a new key version that new messages use from now on; older versions keep opening
   * their messages. The previous version is marked superseded at the new one's activation
   * time. On a conversation with no key, creates version 1. If another writer rotates at the
   * same moment, one new version is stored and both calls return it.
   *
   * @example
   * ```ts
   * const { version, activatedAt } = await kw.rotate(conversationId);
   * ```
   */
  async rotate(conversationId: string): Promise<KeyVersionInfo> {
    if (this.#closed) throw new ClosedError();
    const idBytes = conversationIdBytes(conversationId);
    const cur = await this.#storeCall('read', () => this.#store.getActive(conversationId));
    if (!cur) {
      const ptr = await this.#loadActive(conversationId, idBytes);
      return toInfo((await this.#storeCall('read', () => this.#store.getVersion(conversationId, ptr.version)))!);
    }
    return toInfo(await this.#rotateFrom(conversationId, idBytes, cur.version));
  }

  /**
   * Metadata of every key version of a conversation, oldest first (no key material).
   * Throws `ERR_KEY_NOT_FOUND` when the conversation has no key.
   */
  async describeKeys(conversationId: string): Promise<KeyVersionInfo[]> {
    if (this.#closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    const rows = await this.#storeCall('read', () => this.#store.listVersions(conversationId));
    if (rows.length === 0) throw new KeyNotFoundError('conversation has no key');
    return rows.map(toInfo);
  }

  /** Counters: cache hits/misses/loads and KMS calls made by this instance. */
  stats(): KeywardenStats {
    return { cache: this.#cache.stats(), kms: { ...this.#kms } };
  }

  /** Wipes every cached key and refuses further calls with `ERR_CLOSED`. */
  close(): void {
    this.#closed = true;
    this.#cache.deletePrefix(this.#partition);
  }

  // ---- slow paths -------------------------------------------------------------------------

  /** A live active key with seals left, loading, reserving or rotating as needed. */
  async #activeForSeal(conversationId: string, last: LiveKey | undefined): Promise<LiveKey> {
    if (this.#closed) throw new ClosedError();
    const idBytes = conversationIdBytes(conversationId);
    if (last !== undefined && !last.disposed && last.remaining <= 0) return this.#refill(last, idBytes);
    const ptr = (this.#cache.peek(this.#pointerKey(conversationId)) as ActivePointer | undefined) ?? (await this.#loadActive(conversationId, idBytes));
    if (!ptr.live.disposed) return ptr.live;
    // The pointer outlived its key (evicted for capacity): reload the key, refresh the hint.
    const live = await this.#liveFor(conversationId, idBytes, ptr.version);
    ptr.live = live;
    return live;
  }

  /** Resolves (single-flight) and caches the active pointer, creating version 1 on first use. */
  #loadActive(conversationId: string, idBytes: Uint8Array): Promise<ActivePointer> {
    return this.#cache.load(this.#pointerKey(conversationId), async () => {
      let rec = await this.#storeCall('read', () => this.#store.getActive(conversationId));
      if (rec === undefined) {
        const gen = await this.#generate(conversationId, 1);
        const now = this.#now();
        const grant = this.#initialGrant();
        const record: KeyRecord = {
          conversationId, version: 1, masterKeyId: gen.masterKeyId, wrappedKey: gen.wrappedKey, suite: this.#suite.name,
          state: 'active', createdAt: now, activatedAt: now, supersededAt: null, sealedReserved: Number.isFinite(grant) ? grant : 0,
        };
        const res = await this.#storeCall('insert', () => this.#store.insertFirst(record), gen.plaintextKey);
        if (res.inserted) return { version: 1, live: this.#adopt(res.record, idBytes, gen.plaintextKey, grant) };
        clean(gen.plaintextKey); // lost the race: use the winner's key (docs/FORMAT.md §6)
        rec = res.record;
      }
      return { version: rec.version, live: await this.#liveFor(conversationId, idBytes, rec.version, rec) };
    }) as Promise<ActivePointer>;
  }

  /** The cached key of one version, unwrapping it (single-flight) on a miss. */
  #liveFor(conversationId: string, idBytes: Uint8Array, version: number, known?: KeyRecord): Promise<LiveKey> {
    const key = this.#versionKey(conversationId, version);
    // peek, not get: the caller's fast path already counted this lookup as a miss.
    const cached = this.#cache.peek(key) as LiveKey | undefined;
    if (cached !== undefined && !cached.disposed) return Promise.resolve(cached);
    return this.#cache.load(key, async () => {
      const rec = known ?? (await this.#storeCall('read', () => this.#store.getVersion(conversationId, version)));
      if (rec === undefined) throw new DecryptionError();
      const suite = suiteByName(rec.suite);
      if (!suite) throw new StoreError('key record names an unknown suite');
      const plain = await this.#unwrap(rec);
      this.#refuseIfClosed(plain);
      return new LiveKey(conversationId, idBytes, version, suite, plain, suite.maxMessagesPerKey === Infinity && this.#maxMessages === Infinity ? Infinity : 0);
    }) as Promise<LiveKey>;
  }

  #loadVersion(conversationId: string, version: number): Promise<LiveKey> {
    if (this.#closed) throw new ClosedError();
    const idBytes = conversationIdBytes(conversationId);
    if (version < 1 || version > MAX_KEY_VERSION) throw new DecryptionError();
    return this.#liveFor(conversationId, idBytes, version);
  }

  /** Messages to reserve with a new version: none needed where the suite has no bound. */
  #initialGrant(): number {
    const limit = Math.min(this.#suite.maxMessagesPerKey, this.#maxMessages);
    return limit === Infinity ? Infinity : Math.min(this.#reservation, limit);
  }

  /** After an await: if close() ran meanwhile, wipe the key we were about to cache and stop. */
  #refuseIfClosed(plaintextKey: Uint8Array): void {
    if (this.#closed) {
      clean(plaintextKey);
      throw new ClosedError();
    }
  }

  /** Caches a freshly stored version whose plaintext key we generated. */
  #adopt(rec: KeyRecord, idBytes: Uint8Array, plaintextKey: Uint8Array, grant: number): LiveKey {
    this.#refuseIfClosed(plaintextKey);
    const live = new LiveKey(rec.conversationId, idBytes, rec.version, this.#suite, plaintextKey, grant);
    this.#cache.set(this.#versionKey(rec.conversationId, rec.version), live);
    return live;
  }

  /** Reserves more seals for `live` (single-flight); rotates when its budget is spent. */
  #refill(live: LiveKey, idBytes: Uint8Array): Promise<LiveKey> {
    live.refill ??= (async () => {
      const conv = live.conversationId;
      try {
        const limit = Math.min(live.suite.maxMessagesPerKey, this.#maxMessages);
        const granted = await this.#storeCall('reserve', () => this.#store.reserveMessages(conv, live.version, this.#reservation, limit));
        if (granted > 0) {
          live.remaining += granted;
          return live;
        }
        // Spent, or superseded elsewhere: re-read which version is active.
        this.#cache.delete(this.#pointerKey(conv));
        const ptr = await this.#loadActive(conv, idBytes);
        if (ptr.version !== live.version) return ptr.live;
        if (!this.#autoRotate) throw new KeyLimitError(`key version ${live.version} has sealed its limit of ${limit} messages; rotate the conversation key`);
        await this.#rotateFrom(conv, idBytes, live.version);
        return (await this.#activeForSeal(conv, undefined));
      } finally {
        live.refill = undefined;
      }
    })();
    return live.refill;
  }

  async #rotateFrom(conversationId: string, idBytes: Uint8Array, fromVersion: number): Promise<KeyRecord> {
    if (fromVersion >= MAX_KEY_VERSION) throw new KeyLimitError('conversation has used every key version');
    const version = fromVersion + 1;
    const gen = await this.#generate(conversationId, version);
    const now = this.#now();
    const grant = this.#initialGrant();
    const record: KeyRecord = {
      conversationId, version, masterKeyId: gen.masterKeyId, wrappedKey: gen.wrappedKey, suite: this.#suite.name,
      state: 'active', createdAt: now, activatedAt: now, supersededAt: null, sealedReserved: Number.isFinite(grant) ? grant : 0,
    };
    const res = await this.#storeCall('insert', () => this.#store.insertNext(record, fromVersion), gen.plaintextKey);
    // The old version stays cached for decryption, but this process stops sealing with it.
    const old = this.#cache.get(this.#versionKey(conversationId, fromVersion)) as LiveKey | undefined;
    if (old) old.remaining = 0;
    if (res.inserted) {
      const live = this.#adopt(res.record, idBytes, gen.plaintextKey, grant);
      this.#cache.set(this.#pointerKey(conversationId), { version, live });
    } else {
      clean(gen.plaintextKey);
      this.#cache.delete(this.#pointerKey(conversationId));
    }
    return res.record;
  }

  async #generate(conversationId: string, version: number): Promise<GeneratedDataKey> {
    this.#kms.generateDataKey++;
    let gen: GeneratedDataKey;
    try {
      gen = await this.#mk.generateDataKey(keyContext(conversationId, version));
    } catch (err) {
      throw err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', 'master key provider failed to generate a data key', err);
    }
    if (!isBytes(gen?.plaintextKey) || gen.plaintextKey.length !== 32 || !isBytes(gen.wrappedKey) || typeof gen.masterKeyId !== 'string') {
      if (isBytes(gen?.plaintextKey)) clean(gen.plaintextKey);
      throw new KmsError('ERR_KMS_FAILED', 'master key provider returned a malformed data key');
    }
    return gen;
  }

  async #unwrap(rec: KeyRecord): Promise<Uint8Array> {
    this.#kms.unwrapDataKey++;
    let key: Uint8Array;
    try {
      key = await this.#mk.unwrapDataKey(rec.wrappedKey, keyContext(rec.conversationId, rec.version), rec.masterKeyId);
    } catch (err) {
      throw err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', 'master key provider failed to unwrap a data key', err);
    }
    if (!isBytes(key) || key.length !== 32) {
      if (isBytes(key)) clean(key);
      throw new KmsError('ERR_KMS_FAILED', 'master key provider returned a malformed data key');
    }
    return key;
  }

  /** Runs a store call, mapping driver errors to ERR_STORE_FAILED and wiping `owned` on failure. */
  async #storeCall<T>(op: string, fn: () => Promise<T>, owned?: Uint8Array): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (owned) clean(owned);
      throw storeError(op, err);
    }
  }
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export { SuiteId };
