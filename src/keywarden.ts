/**
 * Keywarden: per-conversation envelope encryption. Wire format in docs/FORMAT.md.
 *
 * The hot path (a cached key) is `encrypt` → `#seal` and `decrypt` → `#open`: one Map lookup,
 * the AAD written into a scratch buffer, one AEAD call. Everything that can wait on the store or
 * the KMS lives in ./keys/lifecycle.ts.
 */
import type { AeadImpl } from './aead/types.js';
import { nobleAead } from './aead/noble.js';
import { type CachedKey, type CachePartition, KeyCache, type KeyCacheOptions, type KeyCacheStats, LOAD_GRACE_MS, isForeignKeyCache } from './cache/key-cache.js';
import { AbortedError, ClosedError, DecryptionError, InvalidInputError, KeyNotFoundError, KeyShreddedError, StoreError } from './errors.js';
import { SUITES, type SuiteName, suiteByName } from './format/suites.js';
import { type DecryptItem, type DecryptResult, EMPTY, parseDecryptItems, validAad } from './format/items.js';
import { AadBuilder, HEADER_LENGTH_V2, MAX_KEY_VERSION, MAX_SEALED_AT, headerVersion, writeHeaderV2 } from './format/wire.js';
import { type KeyAuditOptions, KeyLifecycle } from './keys/lifecycle.js';
import { type Deadlines, openMessage, shreddedError } from './keys/key-path.js';
import { validTimeouts } from './keys/timeouts.js';
import { KeyWatcher, type WatchStats } from './keys/watch.js';
import { type RotationOptions, type RotationPolicy, rotationPolicy } from './keys/rotation.js';
import { type RetentionOptions, type RetentionReport, applyRetention, retentionOptions } from './keys/retention.js';
import { type RewrapOptions, type RewrapReport, rewrapKeys, rewrapOptions } from './keys/rewrap.js';
import { BranchKeyProvider } from './keys/branch-keys.js';
import { validKeyAudit } from './keys/audit-options.js';
import { isAbortSignal, raceAbort } from './util/deadline.js';

/** Allowance for clocks of different instances disagreeing, in retention's margins. */
const CLOCK_SKEW_MS = 60_000;
/** Rounds of re-reading keys that aged out while a decryptMany page waited, before it gives up (retryable). */
const MAX_REREAD_ROUNDS = 4;
import { type KeyVersionInfo, toInfo } from './keys/records.js';
import type { MasterKeyProvider } from './kms/provider.js';
import type { KeyChange, KeyStore } from './store/types.js';
import { clean, fromUtf8, utf8 } from './util/bytes.js';
import { fillNonce } from './util/random.js';
// Attachments (issue #16): the machinery lives in src/stream/, reached through the block at the end of the class.
import { type AttachmentDecryptOptions, type AttachmentEncryptOptions, type AttachmentKeys, Attachments, checkCall } from './stream/attachments.js';
import type { AttachmentReader, AttachmentSource } from './stream/reader.js';
import type { AttachmentDecryptor, AttachmentEncryptor } from './stream/sealer.js';
import { segmentsFor } from './stream/segment-aead.js';
import { decryptTransform, encryptTransform } from './stream/web.js';
import { MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES, assertBytes, assertInt, assertOptions, changedWhileWaiting, conversationIdBytes, isBytes, ownBytes, ownOptions, plainBytes } from './util/validate.js';

/** Options of {@link Keywarden}. */
export interface KeywardenOptions {
  /** Master key that wraps every conversation key (`AwsKmsMasterKey`, or `LocalMasterKey` in development). */
  masterKey: MasterKeyProvider;
  /** Where wrapped keys and their metadata live. */
  keyStore: KeyStore;
  /** Suite of new key versions. Default `'AES-256-GCM'` (docs/FORMAT.md §2 says why). */
  suite?: SuiteName;
  /** Data-key cache bounds, or a {@link KeyCache} to share between instances. */
  cache?: KeyCacheOptions | KeyCache;
  /** AEAD implementation. Default: native node:crypto from the `node` entry point, noble elsewhere. */
  aead?: AeadImpl;
  /**
   * Lower the number of messages one key version may seal (never above the suite's bound,
   * docs/FORMAT.md §5). Same as `rotation.maxMessages` (the smaller of the two applies).
   */
  maxMessagesPerKey?: number;
  /**
   * Rotation policy (docs/KEYS.md §4): rotate a conversation's key version once it is
   * `maxAgeMs` old or has sealed `maxMessages` messages. Lazy — on the next seal, spread over
   * the last 10% of the age so conversations created together do not rotate together — and
   * race-free across instances (one new version per conversation). Default: no age limit.
   */
  rotation?: RotationOptions;
  /**
   * Messages reserved per key-store round trip when counting seals (default 1024); at most 1/16
   * of a version's message limit, since a key that leaves the cache loses its unused reservation
   * (docs/FORMAT.md §5).
   */
  reservationSize?: number;
  /** Rotate automatically when a key version's message budget is spent (default true); else fail with ERR_KEY_LIMIT_REACHED. */
  autoRotate?: boolean;
  /**
   * Record key lifecycle events (`key.created`, `key.rotated`) in an audit log, in the same
   * key-store transaction as the key insert: fail-closed, so no key version exists without its
   * record (docs/AUDIT.md).
   */
  audit?: KeyAuditOptions;
  /**
   * Subscribe to the key store's change notifications (`KeyStore.subscribe`, e.g. PostgreSQL
   * LISTEN/NOTIFY) and drop a conversation's cached active version as soon as any instance
   * rotates it. Without it (or when notifications are missed) `cache.maxAgeMs` bounds how long
   * an old version keeps sealing. Default false (the subscription holds one connection).
   */
  watchKeyChanges?: boolean;
  /**
   * keywarden's own deadlines, in milliseconds, on every call that leaves the process: `kmsMs`
   * for a master key call (default 10,000), `storeMs` for a key store call (default 10,000).
   * Past a deadline the call fails with a retryable `ERR_KMS_UNAVAILABLE` / `ERR_STORE_FAILED`
   * for everyone waiting on it, and the next call starts afresh; a KMS call is also aborted.
   */
  timeouts?: { kmsMs?: number; storeMs?: number };
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
  /** Gives up this call's wait with `ERR_ABORTED` when it fires (work shared with other callers goes on). */
  signal?: AbortSignal;
}

/** Options of {@link Keywarden.shred}. */
export interface ShredOptions {
  /** Shred these versions only (the conversation goes on). */
  versions?: number[];
  /** Shred every version below this one: the conversation's minimum decryptable version. */
  below?: number;
  /** Gives up this call's wait with `ERR_ABORTED` when it fires (the shred may still commit). */
  signal?: AbortSignal;
}

/** What {@link Keywarden.shred} did. */
export interface ShredReport {
  conversationId: string;
  /** Versions this call shredded, ascending. */
  shredded: number[];
  /** Versions that had been shredded before, ascending. */
  alreadyShredded: number[];
}

/** Options of the calls that take only a signal (`decryptMany`, `rotate`, `describeKeys`). */
export interface CallOptions {
  /** Gives up this call's wait with `ERR_ABORTED` when it fires. */
  signal?: AbortSignal;
}

/** One item of a {@link Keywarden.decryptMany} page. */
export type { DecryptItem } from './format/items.js';

/** Per-item outcome of {@link Keywarden.decryptMany}. */
export type { DecryptResult } from './format/items.js';

/** Counters for tests, dashboards and benchmarks. */
export interface KeywardenStats {
  cache: KeyCacheStats;
  kms: { generateDataKey: number; unwrapDataKey: number };
  /** The key-change subscription (`watchKeyChanges`): `state` is `off` when not configured. */
  watch: WatchStats;
}

const OPTION_KEYS = ['masterKey', 'keyStore', 'suite', 'cache', 'aead', 'maxMessagesPerKey', 'rotation', 'reservationSize', 'autoRotate', 'audit', 'watchKeyChanges', 'timeouts', 'now'] as const;

// Scratch buffers of the hot path (JavaScript runs one seal or open at a time, and neither
// awaits while using them): v2 header + nonce, and the associated data of docs/FORMAT.md §4.
// Views of them are made once, so that a message costs no allocation beyond what node:crypto
// itself makes.
const PREFIX = new Uint8Array(HEADER_LENGTH_V2 + 24);
const SEAL_VIEWS = [12, 24].map((n) => ({ nonce: PREFIX.subarray(HEADER_LENGTH_V2, HEADER_LENGTH_V2 + n), prefix: PREFIX.subarray(0, HEADER_LENGTH_V2 + n) }));

/** Whole seconds since 1970 of a clock reading, as format v2 stores it (§3.1). */
function sealingSeconds(ms: number): number {
  const s = Math.floor(ms / 1000);
  if (!(s >= 0 && s <= MAX_SEALED_AT)) throw new InvalidInputError('options.now', 'clock reads outside 1970..2106');
  return s;
}
const AD = new AadBuilder(MAX_AAD_BYTES);

/** Reads a Date's time from its internal slot: anything that is not a Date (a look-alike too) throws. */
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(value)
const DATE_TIME: (this: unknown) => number = Date.prototype.getTime;

/**
 * `options.now`, checked at every reading: a Date in 1970..2106 (what format v2's sealing time
 * carries, docs/FORMAT.md §3.1), else ERR_INVALID_INPUT naming `options.now`. Every call that can
 * create or use a key reads it first, so a bad clock is refused before any master key or key
 * store call (outside review 4, 2026-12-02: a clock returning a number escaped as a raw TypeError,
 * and one returning an invalid Date stored version 1 with `createdAt: Invalid Date` and spent a
 * seal reservation before the seal refused it; test/review4-core-now-clock.test.ts).
 */
function checkedClock(now: () => Date): () => number {
  return () => {
    const d: unknown = now();
    let ms = Number.NaN;
    try {
      ms = DATE_TIME.call(d);
    } catch {
      // not a Date: refused below
    }
    if (!(ms >= 0 && ms < (MAX_SEALED_AT + 1) * 1000)) throw new InvalidInputError('options.now', 'expected a function returning a valid Date in 1970..2106');
    return ms;
  };
}

/**
 * The checked clock for a KeyCache: a bad reading is refused by every public call that reads the
 * clock itself, so here (the cache's epoch at construction, a lookup before that call's own
 * reading) it falls back to Date.now rather than throw from the constructor.
 */
function lenientClock(clock: () => number): () => number {
  return () => {
    try {
      return clock();
    } catch {
      return Date.now();
    }
  };
}

// Cache partitions are per (master key provider instance, key store instance): the same
// conversation id under another store is another key, and a key one provider unwrapped is never
// handed to another provider that merely claims the same key id (it might not be able to unwrap
// it: a denied KMS client, a LocalMasterKey with other bytes). Each gets a process-local number.
const instanceIds = new WeakMap<object, number>();
let nextInstanceId = 1;
function instanceId(o: object): number {
  let id = instanceIds.get(o);
  if (id === undefined) instanceIds.set(o, (id = nextInstanceId++));
  return id;
}

function messageAad(options: unknown, view?: (b: Uint8Array) => Uint8Array): Uint8Array | string {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) assertOptions('options', options, MESSAGE_OPTIONS);
  for (const key in options as object) if (key !== 'aad' && key !== 'signal') assertOptions('options', options, MESSAGE_OPTIONS);
  // Own property only: a polluted Object.prototype.aad is not the caller's aad.
  return validAad('options.aad', Object.hasOwn(options as object, 'aad') ? (options as MessageOptions).aad : undefined, view);
}
const MESSAGE_OPTIONS = ['aad', 'signal'];

/** Validates `{ signal? }` options; throws ERR_ABORTED at once if the signal already fired. */
function callSignal(options: CallOptions | undefined): AbortSignal | undefined {
  ownOptions('options', options, ['signal']);
  const signal = signalOf(options);
  if (signal?.aborted) throw new AbortedError(signal.reason);
  return signal;
}

/** The caller's AbortSignal from message or call options (own property only), validated. */
function signalOf(options: object | undefined): AbortSignal | undefined {
  if (options === undefined || !Object.hasOwn(options, 'signal')) return undefined;
  const s = (options as { signal?: unknown }).signal;
  if (s !== undefined && !isAbortSignal(s)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
  return s;
}




/** What the attachment calls hand out that owns a key: a reader (close) or an encryptor/decryptor (destroy). */
type KeyHolder = AttachmentReader | AttachmentEncryptor | AttachmentDecryptor;

/** Wipes a key holder's key as its Keywarden closes: later calls fail ERR_CLOSED (idempotent). */
function wipeHolder(o: KeyHolder | undefined): void {
  if (o === undefined) return;
  if ('ownerClosed' in o) o.ownerClosed();
  else o.close();
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
  readonly #store: KeyStore;
  readonly #cache: KeyCache;
  readonly #part: CachePartition;
  readonly #aead: AeadImpl;
  readonly #keys: KeyLifecycle;
  readonly #watch: KeyWatcher | undefined;
  readonly #deadlines: Deadlines;
  /** Milliseconds since 1970: Date.now, or options.now for tests (no Date per message otherwise). */
  readonly #clock: () => number;
  readonly #rotation: RotationPolicy;
  readonly #masterKey: MasterKeyProvider;
  readonly #audit: KeyAuditOptions | undefined;
  readonly #now: () => Date;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(options: KeywardenOptions) {
    if (options === undefined) throw new InvalidInputError('options', 'expected an options object');
    // Own properties only (a polluted Object.prototype sets nothing), and every option checked
    // before anything with a side effect (cache partition, subscription) happens.
    const o = ownOptions('options', options, OPTION_KEYS);
    const { masterKey, keyStore } = o;
    if (!masterKey || typeof masterKey.generateDataKey !== 'function' || typeof masterKey.unwrapDataKey !== 'function' || typeof masterKey.keyId !== 'string') {
      throw new InvalidInputError('options.masterKey', 'expected a MasterKeyProvider');
    }
    if (!keyStore || typeof keyStore.getLatest !== 'function' || typeof keyStore.insertFirst !== 'function') {
      throw new InvalidInputError('options.keyStore', 'expected a KeyStore');
    }
    const suite = suiteByName(o.suite ?? 'AES-256-GCM');
    if (!suite) throw new InvalidInputError('options.suite', `expected one of ${Object.values(SUITES).map((s) => s.name).join(', ')}`);
    if (o.aead !== undefined && (typeof o.aead?.seal !== 'function' || typeof o.aead.open !== 'function')) {
      throw new InvalidInputError('options.aead', 'expected an AeadImpl');
    }
    if (o.maxMessagesPerKey !== undefined) assertInt('options.maxMessagesPerKey', o.maxMessagesPerKey, 1, Number.MAX_SAFE_INTEGER);
    if (o.reservationSize !== undefined) assertInt('options.reservationSize', o.reservationSize, 1, 2 ** 30);
    if (o.autoRotate !== undefined && typeof o.autoRotate !== 'boolean') throw new InvalidInputError('options.autoRotate', 'expected boolean');
    if (o.now !== undefined && typeof o.now !== 'function') throw new InvalidInputError('options.now', 'expected a function returning a Date');
    if (o.watchKeyChanges !== undefined && typeof o.watchKeyChanges !== 'boolean') throw new InvalidInputError('options.watchKeyChanges', 'expected boolean');
    if (o.watchKeyChanges && typeof keyStore.subscribe !== 'function') throw new InvalidInputError('options.watchKeyChanges', 'this key store has no change notifications');
    const audit = o.audit === undefined ? undefined : validKeyAudit('options.audit', o.audit);
    const rotation = rotationPolicy(o.rotation, o.maxMessagesPerKey);
    const deadlines = validTimeouts(o.timeouts);
    if (isForeignKeyCache(o.cache)) throw new InvalidInputError('options.cache', 'a KeyCache from another copy of keywarden (ESM and CommonJS both loaded, or two versions): create it from the same import as Keywarden');
    if (o.cache instanceof KeyCache && !KeyCache._owns(o.cache)) throw new InvalidInputError('options.cache', 'expected a KeyCache (a Proxy of one, or an object made from its prototype, holds no cache)');
    // Every reading of options.now is checked (see checkedClock); the lifecycle dates its records
    // with the same checked clock, and this instance's own cache ages keys on it too: retention's
    // margin is the cache's max age on the clock that dates supersessions and cut-offs (outside
    // review 6: on Date.now, an instance sealed under a version superseded a clock-day earlier).
    const clock = o.now === undefined ? Date.now : checkedClock(o.now);
    const cache = o.cache instanceof KeyCache ? o.cache : new KeyCache(o.cache, o.now === undefined ? Date.now : lenientClock(clock), 'options.cache');

    // Validated: now the side effects.
    this.#store = keyStore;
    this.#cache = cache;
    // A cached key carries its loader's budget (the reservation it holds, the message limit) and
    // its rotation time: instances whose policies differ must not share them, or each would seal
    // under the other's limits (outside review, 2026-12-02). Nor their deadlines: a load in flight
    // is joined by every caller of the partition, and runs under its starter's timeouts (review 7:
    // a decrypt with kmsMs 100 waited out another instance's ten-minute KMS deadline).
    const policy = `${rotation.maxMessages}/${rotation.maxAgeMs}/${o.reservationSize ?? 1024}/${o.autoRotate ?? true}/${deadlines.kmsMs}/${deadlines.storeMs}`;
    this.#part = cache.partition(`${instanceId(keyStore)}:${instanceId(masterKey)}:${policy}`);
    this.#part.retain();
    this.#aead = o.aead ?? nobleAead;
    const nowDate = o.now === undefined ? () => new Date() : () => new Date(clock());
    this.#keys = new KeyLifecycle({
      masterKey, keyStore, suite, part: this.#part,
      maxMessages: rotation.maxMessages,
      rotation,
      reservation: o.reservationSize ?? 1024,
      autoRotate: o.autoRotate ?? true,
      now: nowDate,
      deadlines,
      ...(audit === undefined ? {} : { audit }),
    });
    this.#deadlines = deadlines;
    this.#clock = clock;
    this.#rotation = rotation;
    this.#masterKey = masterKey;
    this.#audit = audit;
    this.#now = nowDate;
    // A rotation elsewhere: stop sealing with the cached active version. A shred: drop every
    // cached version of the conversation at once (docs/KEYS.md §5).
    const onChange = (conversationId: string, change: KeyChange) => (change === 'shredded' ? this.#part.forget(conversationId) : this.#part.deactivate(conversationId));
    this.#watch = o.watchKeyChanges ? new KeyWatcher(keyStore, onChange, () => this.#part.deactivateAll()) : undefined;
    // Branch keys: a shredded branch takes every conversation key unwrapped under it along.
    this.#unsubscribe = masterKey.onKeysInvalidated?.(() => this.#part.clear(true));
  }

  /** Resolves once the key-change subscription (watchKeyChanges) has made its first attempt (see `stats().watch`). */
  async ready(): Promise<void> {
    await this.#watch?.ready;
  }

  /** The deadlines in force (`options.timeouts` with defaults filled in). */
  get timeouts(): Readonly<Deadlines> {
    return this.#deadlines;
  }

  /** Name of the AEAD implementation in use (`"node"` or `"noble"`). */
  get implementation(): string {
    return this.#aead.name;
  }

  /**
   * Seals one message of a conversation under its active key version (created on first use).
   *
   * @param conversationId 1 to 256 UTF-8 bytes; bound to the ciphertext, not stored in it.
   * @param plaintext the message (a Buffer is fine); up to 64 MiB.
   * @returns format v2: `version | suite | key version | sealed at | nonce | ciphertext | tag` (38 bytes of overhead with AES-256-GCM).
   * @example
   * ```ts
   * const body = await kw.encrypt(conversationId, plaintext, { aad: messageId });
   * ```
   */
  encrypt(conversationId: string, plaintext: Uint8Array, options?: MessageOptions): Promise<Uint8Array> {
    // Not an async function: with a cached key the work is synchronous, and a plain
    // Promise.resolve costs less than an async function's machinery (bench/README §hot path).
    try {
      if (this.#keys.closed) throw new ClosedError();
      if (!isBytes(plaintext)) assertBytes('plaintext', plaintext);
      // A plain view: no code of the caller's runs while the message is sealed (util/validate.ts).
      const pt = ownBytes(plaintext);
      if (pt.length > MAX_PLAINTEXT_BYTES) throw new InvalidInputError('plaintext', `expected at most ${MAX_PLAINTEXT_BYTES} bytes, got ${pt.length}`);
      const aad = options === undefined ? EMPTY : messageAad(options, ownBytes);
      const signal = options === undefined ? undefined : signalOf(options);
      if (signal?.aborted) throw new AbortedError(signal.reason);
      // Hot path: a cached, fresh active key with seals left. A cache hit implies the id was
      // validated when it was inserted, so it is not re-validated here.
      const k = typeof conversationId === 'string' ? this.#part.active(conversationId) : undefined;
      const now = this.#clock();
      if (k === undefined || k.slot < 0 || k.remaining === 0 || now >= k.rotateAt) return raceAbort(this.#encryptSlow(conversationId, pt, aad, k, now), signal);
      if (k.remaining > 0) k.remaining--;
      return Promise.resolve(this.#seal(conversationId, k, pt, aad, now));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #encryptSlow(conversationId: string, plaintext: Uint8Array, aad: Uint8Array | string, last: CachedKey | undefined, now: number): Promise<Uint8Array> {
    // At least one pass: the hot path also lands here for a key the rotation policy says is due.
    // The deadline is checked again with the time after each wait (a key load can take seconds
    // under KMS faults): a version that came due meanwhile is rotated, never sealed past its age
    // (docs/KEYS.md §4; found by npm run soak, test/rotation-deadline-wait.test.ts).
    let k: CachedKey | undefined;
    let t = now;
    const size = plaintext.length;
    const aadSize = typeof aad === 'string' ? -1 : aad.length;
    do {
      k = await this.#keys.activeForSeal(conversationId, k ?? last, t);
      if (this.#keys.closed) throw new ClosedError(); // closed while we waited: seal nothing
      t = this.#clock();
    } while (k.slot < 0 || k.remaining === 0 || t >= k.rotateAt);
    // The caller's bytes are a view (util/validate.ts): a buffer transferred away or shrunk while
    // the key loaded would be sealed short, without a word (outside review, 2026-12-01).
    if (plaintext.length !== size) throw changedWhileWaiting('plaintext');
    if (typeof aad !== 'string' && aad.length !== aadSize) throw changedWhileWaiting('options.aad');
    if (k.remaining > 0) k.remaining--;
    return this.#seal(conversationId, k, plaintext, aad, t);
  }

  #seal(conversationId: string, k: CachedKey, plaintext: Uint8Array, aad: Uint8Array | string, now: number): Uint8Array {
    const n = k.suite.nonceLength;
    const v = SEAL_VIEWS[n === 12 ? 0 : 1]!;
    const sealedAt = sealingSeconds(now); // authenticated sealing time, docs/FORMAT.md §3.1
    const ad = AD.buildV2(k.suite.id, k.version, sealedAt, conversationId, aad);
    // The nonce last, just before the cipher takes it: nothing between here and there can
    // re-enter a seal and draw into the same scratch (inputs are plain views, util/validate.ts).
    writeHeaderV2(PREFIX, k.suite.id, k.version, sealedAt);
    fillNonce(PREFIX, HEADER_LENGTH_V2, n); // fresh CSPRNG nonce, docs/FORMAT.md §3
    return this.#aead.seal(k.suite.id, this.#part.key(k), v.nonce, plaintext, ad, v.prefix);
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
  decrypt(conversationId: string, ciphertext: Uint8Array, options?: MessageOptions): Promise<Uint8Array> {
    try {
      if (this.#keys.closed) throw new ClosedError();
      if (!isBytes(ciphertext)) assertBytes('ciphertext', ciphertext);
      const ct = plainBytes(ciphertext);
      const aad = options === undefined ? EMPTY : messageAad(options);
      const signal = options === undefined ? undefined : signalOf(options);
      if (signal?.aborted) throw new AbortedError(signal.reason);
      const version = headerVersion(ct);
      if (version === 0) {
        conversationIdBytes(conversationId); // a bad id is reported as such, before the ciphertext
        throw new DecryptionError();
      }
      const k = typeof conversationId === 'string' ? this.#part.version(conversationId, version) : undefined;
      if (k === undefined || k.slot < 0) return raceAbort(this.#decryptSlow(conversationId, ct, version, aad), signal);
      return Promise.resolve(this.#open(conversationId, k, ct, aad));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #decryptSlow(conversationId: string, ciphertext: Uint8Array, version: number, aad: Uint8Array | string): Promise<Uint8Array> {
    let k: CachedKey | undefined;
    while (k === undefined || k.slot < 0) {
      k = await this.#keys.version(conversationId, version);
      if (this.#keys.closed) throw new ClosedError();
    }
    return this.#open(conversationId, k, ciphertext, aad);
  }

  #open(conversationId: string, k: CachedKey, ct: Uint8Array, aad: Uint8Array | string): Uint8Array {
    const pt = this.#openOrNull(conversationId, k, ct, aad);
    if (pt === null) throw new DecryptionError();
    return pt;
  }

  /** Opens with a cached key; null for every failure (the caller raises the one DecryptionError). */
  #openOrNull(conversationId: string, k: CachedKey, ct: Uint8Array, aad: Uint8Array | string): Uint8Array | null {
    return openMessage(this.#aead, AD, conversationId, k.suite, k.version, this.#part.key(k), ct, aad);
  }

  /**
   * Opens a page of one conversation's messages, loading each key version once (a key that
   * outlived `cache.maxAgeMs` while the page waited for others is read again). Returns one
   * result per item, in order: a tampered message does not hide the rest of the page. Input
   * errors and KMS/store outages reject the whole call.
   *
   * @example
   * ```ts
   * const results = await kw.decryptMany(conversationId, rows.map((r) => ({ ciphertext: r.body, aad: r.id })));
   * for (const r of results) if (r.ok) show(r.plaintext);
   * ```
   */
  async decryptMany(conversationId: string, items: readonly DecryptItem[], options?: CallOptions): Promise<DecryptResult[]> {
    if (this.#keys.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    if (!Array.isArray(items)) throw new InvalidInputError('items', 'expected an array');
    const signal = callSignal(options);
    const { cts, aads } = parseDecryptItems(items);
    const versions = new Array<number>(cts.length);
    const keys = new Map<number, CachedKey | null>();
    const shredded = new Set<number>();
    /** Versions whose key was held while the page waited for another load. */
    const waited = new Set<number>();
    // Loads one version's key and pins it (later awaits may evict it; it must stay usable for
    // this page); null when shredded or absent (the items say which).
    const take = async (v: number): Promise<CachedKey | null> => {
      let k: CachedKey | null = null;
      try {
        while (k === null || k.slot < 0) k = await raceAbort(this.#keys.version(conversationId, v), signal);
        this.#part.pin(k);
        return k;
      } catch (err) {
        if (err instanceof KeyShreddedError) shredded.add(v);
        else if (!(err instanceof DecryptionError)) throw err;
        return null;
      }
    };
    try {
      for (let i = 0; i < cts.length; i++) {
        const v = (versions[i] = headerVersion(cts[i]!)); // 0: malformed
        if (v === 0 || keys.has(v)) continue;
        const cached = this.#part.version(conversationId, v);
        if (cached !== undefined && cached.slot >= 0) {
          this.#part.pin(cached); // synchronous: a page of cached keys never yields
          keys.set(v, cached);
          continue;
        }
        for (const held of keys.keys()) waited.add(held);
        keys.set(v, await take(v));
      }
      // No key is used more than cache.maxAgeMs after its load (KeyCacheOptions.maxAgeMs), as
      // decrypt guarantees: one held while the page waited on other loads (a KMS call each, one
      // after the other) may have aged out meanwhile, and a shred on another instance reaches this
      // one only through that bound. Each such key is read again, once, all together, and used as
      // decrypt uses one it just loaded (outside review 4, 2026-12-02: a page returned plaintext of
      // a version that this instance's own decrypt already reported shredded;
      // test/review4-core-decryptmany-max-age.test.ts).
      // A re-read is a wait too: every key held across it is checked again after it (review 7: one
      // that aged out while another was re-read opened its items; test/review7-cache-decryptmany-
      // reread-ages.test.ts). Loads that keep outlasting the max age give up, retryable.
      for (let round = 1; waited.size > 0; round++) {
        const aged = [...waited].filter((v) => {
          const k = keys.get(v);
          return k !== undefined && k !== null && !k.revoked && !this.#part.fresh(k);
        });
        if (aged.length === 0) break;
        if (round > MAX_REREAD_ROUNDS) throw new StoreError('key loads of this page kept outlasting cache.maxAgeMs; retry', undefined, true);
        for (const held of keys.keys()) waited.add(held);
        // allSettled: every re-read has pinned or failed before an error leaves (the finally unpins).
        const again = await Promise.allSettled(aged.map(take));
        let failure: { reason: unknown } | undefined;
        aged.forEach((v, j) => {
          const r = again[j]!;
          if (r.status === 'rejected') return void (failure ??= r);
          this.#part.unpin(keys.get(v)!);
          keys.set(v, r.value);
        });
        if (failure !== undefined) throw failure.reason;
      }
      if (this.#keys.closed) throw new ClosedError();
      const results = new Array<DecryptResult>(cts.length);
      // A page is usually one version: remember the last lookup instead of asking the map.
      let lastV = 0;
      let lastK: CachedKey | null | undefined;
      for (let i = 0; i < cts.length; i++) {
        const v = versions[i]!;
        if (v !== lastV) {
          lastV = v;
          lastK = v === 0 ? null : keys.get(v);
          // A shred that completed while this page loaded its other keys revoked the pinned key
          // (nothing can revoke it during this synchronous loop: checked once per version).
          if (lastK?.revoked === true) {
            shredded.add(v);
            lastK = null;
          }
        }
        const pt = lastK ? this.#openOrNull(conversationId, lastK, cts[i]!, aads[i]!) : null;
        results[i] = pt !== null ? { ok: true, plaintext: pt } : { ok: false, error: shredded.has(v) ? shreddedError(v) : new DecryptionError() };
      }
      return results;
    } finally {
      for (const k of keys.values()) if (k) this.#part.unpin(k);
    }
  }

  /** {@link Keywarden.encrypt} for a string (sealed as UTF-8). */
  async encryptString(conversationId: string, text: string, options?: MessageOptions): Promise<Uint8Array> {
    if (typeof text !== 'string') throw new InvalidInputError('text', `expected string, got ${typeof text}`);
    // A lone surrogate would be sealed as U+FFFD and not come back as given (as for ids and aads).
    if (!text.isWellFormed()) throw new InvalidInputError('text', 'expected well-formed Unicode (lone surrogate)');
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
  async rotate(conversationId: string, options?: CallOptions): Promise<KeyVersionInfo> {
    if (this.#keys.closed) throw new ClosedError();
    const signal = callSignal(options);
    this.#clock(); // a bad options.now is refused before a key is generated (checkedClock)
    return toInfo(await raceAbort(this.#keys.rotate(conversationId), signal));
  }

  /**
   * Crypto-shreds a conversation's keys (docs/KEYS.md §3): the wrapped keys are deleted from the
   * key store (tombstones remain), this instance's cache drops them at once and other instances
   * on the store's change notification (`watchKeyChanges`; at the latest after `cache.maxAgeMs`),
   * and a `key.shredded` audit entry commits in the same store transaction. Afterwards every
   * message sealed under a shredded version fails with `ERR_KEY_SHREDDED`, for everyone, for
   * good.
   *
   * Without options, shreds every version and closes the conversation: `encrypt` is refused
   * with `ERR_KEY_SHREDDED` until {@link Keywarden.startGeneration}. With `versions` or `below`
   * (a minimum decryptable version: shreds every version under it), shreds those only and the
   * conversation goes on (if the active version was among them, the next seal creates a new
   * one). Idempotent: versions already shredded are reported, not shredded twice.
   * Throws `ERR_KEY_NOT_FOUND` when the conversation has no key and no options are given; with
   * `versions` or `below` it shreds nothing and reports empty lists (nothing is stored or
   * recorded: test/keywarden-shred-edges.test.ts).
   *
   * @example
   * ```ts
   * await kw.shred(conversationId);                     // the whole conversation
   * await kw.shred(conversationId, { below: 5 });       // versions 1-4 only
   * ```
   */
  async shred(conversationId: string, options?: ShredOptions): Promise<ShredReport> {
    if (this.#keys.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    const o = ownOptions('options', options, ['versions', 'below', 'signal']);
    const signal = callSignal(o.signal === undefined ? undefined : { signal: o.signal });
    let target: 'conversation' | number[] = 'conversation';
    if (o.versions !== undefined && o.below !== undefined) throw new InvalidInputError('options', 'pass versions or below, not both');
    if (o.versions !== undefined) {
      if (!Array.isArray(o.versions) || o.versions.length === 0 || o.versions.length > 10_000) throw new InvalidInputError('options.versions', 'expected a non-empty array of key versions');
      o.versions.forEach((v, i) => assertInt(`options.versions[${i}]`, v, 1, MAX_KEY_VERSION));
      target = [...o.versions];
    } else if (o.below !== undefined) {
      assertInt('options.below', o.below, 2, MAX_KEY_VERSION);
      return this.#shredBelow(conversationId, o.below, signal);
    }
    const res = await raceAbort(this.#keys.shred(conversationId, target, 'request'), signal);
    return { conversationId, shredded: res.shredded, alreadyShredded: res.alreadyShredded };
  }

  /**
   * `shred({ below })`: the versions under `below` are read, shredded, and read again until none
   * is left. A rotation that committed between a read and its shred added a version under
   * `below` that the shred did not name (outside review, 2026-12-02); the last read, which finds
   * none, is the moment the call takes effect: every version under `below` that existed then is
   * shredded. Versions only grow, so this ends after at most `below - 1` shreds.
   */
  async #shredBelow(conversationId: string, below: number, signal: AbortSignal | undefined): Promise<ShredReport> {
    const shredded = new Set<number>();
    const already = new Set<number>();
    const asked = new Set<number>(); // each version is asked for once: the loop always ends
    for (let first = true; ; first = false) {
      const rows = await raceAbort(this.#keys.storeCall('read', () => this.#store.listVersions(conversationId)), signal);
      if (rows.length === 0) throw new KeyNotFoundError('conversation has no key');
      const target = rows.filter((r) => r.version < below && (first || r.state !== 'shredded') && !asked.has(r.version)).map((r) => r.version);
      if (target.length === 0) break;
      for (const v of target) asked.add(v);
      const res = await raceAbort(this.#keys.shred(conversationId, target, 'minimum-version'), signal);
      for (const v of res.shredded) shredded.add(v);
      for (const v of res.alreadyShredded) if (!shredded.has(v)) already.add(v);
    }
    const asc = (set: Set<number>) => [...set].sort((a, b) => a - b);
    return { conversationId, shredded: asc(shredded), alreadyShredded: asc(already) };
  }

  /**
   * Starts a new key generation for a conversation that was shredded as a whole, so that it can
   * seal again: stores a fresh key version, numbered after the shredded ones (old ciphertexts
   * name their shredded versions and stay unreadable), audited as `key.created`. On a
   * conversation that was not shredded, returns its active version (created if needed).
   *
   * @example
   * ```ts
   * await kw.shred('dm:alice:bob');
   * await kw.startGeneration('dm:alice:bob'); // the same id may now carry new messages
   * ```
   */
  async startGeneration(conversationId: string, options?: CallOptions): Promise<KeyVersionInfo> {
    if (this.#keys.closed) throw new ClosedError();
    const signal = callSignal(options);
    this.#clock(); // as rotate
    return toInfo(await raceAbort(this.#keys.startGeneration(conversationId), signal));
  }

  /**
   * Retention by crypto-shredding (docs/KEYS.md §7): makes every message older than the cut-off
   * unreadable by shredding the key versions superseded before it — no message row is touched.
   * With a rotation policy by age this erases old messages at the granularity of the rotation
   * period; `includeIdle` also takes the active versions of conversations idle since before the
   * cut-off. Each page of versions is shredded in one store transaction with its `key.shredded`
   * entries (`reason: 'retention'`). `dryRun` reports what would be shredded.
   *
   * @example
   * ```ts
   * const DAY = 86_400_000;
   * const preview = await kw.retain({ olderThanMs: 90 * DAY, dryRun: true });
   * const done = await kw.retain({ olderThanMs: 90 * DAY });
   * ```
   */
  async retain(options: RetentionOptions): Promise<RetentionReport> {
    if (this.#keys.closed) throw new ClosedError();
    const o = retentionOptions(options, this.#now(), this.#rotation);
    if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
    return applyRetention({
      // How long a version read as active may still seal: the cache's max age from the read, or,
      // for a load that outlasted it, one second after the load's end (LOAD_GRACE_MS; outside
      // review 6: an uncounted key loaded over five minutes sealed under a version retention took
      // with a margin of one). A load is a store read — its answer may arrive up to the store
      // deadline after the row was read as active — and then an unwrap of up to the KMS deadline
      // (outside review 7: a slow store read had the same effect as a slow unwrap).
      keyStore: this.#store, rotation: this.#rotation,
      marginMs: Math.max(this.#cache.maxAgeMs, this.#deadlines.storeMs + this.#deadlines.kmsMs + LOAD_GRACE_MS) + CLOCK_SKEW_MS, now: this.#now, deadlines: this.#deadlines,
      shredPage: (items) => this.#keys.shredBatch(items, 'retention'),
    }, o);
  }

  /**
   * Moves every stored wrapped key to another master key, touching no message (docs/KEYS.md §6):
   * AWS KMS `ReEncrypt` where the destination reaches the source key, else unwrap with this
   * instance's master key (a {@link MasterKeyRing} holding the old keys) and wrap with the
   * destination. Batched, `concurrency` KMS calls at once, bounded backoff on throttling;
   * idempotent and resumable — progress is saved in the key store after every page, a rerun
   * continues, and a key is only ever replaced by a compare-and-set, in one transaction with its
   * `key.rewrapped` audit entry. Old and new master keys both work throughout (use a ring).
   *
   * @example
   * ```ts
   * const kw = new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore });
   * const report = await kw.rewrap({ onProgress: (p) => console.log(p.rewrapped, '/', p.total) });
   * ```
   */
  async rewrap(options?: RewrapOptions & { branch?: string }): Promise<RewrapReport> {
    if (this.#keys.closed) throw new ClosedError();
    this.#clock(); // as rotate: a bad options.now is refused before any key moves
    const { branch, ...rest } = ownOptions('options', options, ['to', 'batchSize', 'concurrency', 'maxAttempts', 'signal', 'onProgress', 'branch']);
    const o = rewrapOptions(rest, this.#masterKey);
    const mk = this.#masterKey;
    const ctx = { keyStore: this.#store, source: mk, audit: this.#audit, now: this.#now, deadlines: this.#deadlines };
    if (mk instanceof BranchKeyProvider) {
      // Branch mode (docs/KEYS.md §9): a new master key moves the branch keys only; otherwise the
      // conversation keys move into branch keys (or, with `branch`, to its newest version).
      if (o.to !== mk) {
        // A new master key moves branch keys, whichever branch (outside review, 2026-12-01:
        // a `branch` given with it was ignored, unchecked, and every branch moved).
        if (branch !== undefined) throw new InvalidInputError('options.branch', 'not with options.to: a new master key re-wraps every branch key');
        const report = await mk.rewrapBranchKeys(rest);
        // Complete means no key is left under another master key: conversation keys still in
        // direct mode stay under the old one (outside review, 2026-12-01: reported complete, and
        // retiring the old key as §6 says lost them). kw.rewrap() moves them into branch keys.
        if (!report.complete || this.#store.scanWrapped === undefined) return report;
        const direct = await this.#keys.storeCall('scan', () => this.#store.scanWrapped!({ notMasterKeyId: report.to, excludeMasterKeyIdPrefix: 'branch:', limit: 1 }));
        return direct.length === 0 ? report : { ...report, complete: false };
      }
      const target = await mk.rewrapTarget(branch);
      return rewrapKeys(ctx, { ...o, to: target.provider }, target);
    }
    if (branch !== undefined) throw new InvalidInputError('options.branch', 'only with branch keys (a BranchKeyProvider as master key)');
    return rewrapKeys(ctx, o);
  }

  /** The rotation policy in force (`options.rotation` with defaults: Infinity for none). */
  get rotation(): Readonly<RotationPolicy> {
    return this.#rotation;
  }

  /**
   * Metadata of every key version of a conversation, oldest first (no key material).
   * Throws `ERR_KEY_NOT_FOUND` when the conversation has no key.
   */
  async describeKeys(conversationId: string, options?: CallOptions): Promise<KeyVersionInfo[]> {
    if (this.#keys.closed) throw new ClosedError();
    conversationIdBytes(conversationId);
    const signal = callSignal(options);
    const rows = await raceAbort(this.#keys.storeCall('read', () => this.#store.listVersions(conversationId)), signal);
    if (rows.length === 0) throw new KeyNotFoundError('conversation has no key');
    return rows.map(toInfo);
  }

  /** Counters: cache hits/misses/loads, KMS calls made by this instance, and the key-change subscription. */
  stats(): KeywardenStats {
    return { cache: this.#cache.stats(), kms: { ...this.#keys.kmsCalls }, watch: this.#watch?.stats() ?? { state: 'off', reconnects: 0, failures: 0 } };
  }

  /**
   * Refuses further calls with `ERR_CLOSED` and wipes this instance's cached keys — unless
   * another open instance shares them (same cache, key store and master key), in which case
   * the last one to close wipes them.
   */
  close(): void {
    if (this.#keys.closed) return;
    this.#keys.closed = true;
    this.#part.release();
    this.#unsubscribe?.();
    void this.#watch?.close();
    // The attachment keys of the readers, encryptors and decryptors handed out (review 6).
    for (const ref of this.#holders) wipeHolder(ref.deref());
    this.#holders.clear();
  }

  // ==== Attachments (issue #16) ==============================================================
  // Everything attachments need from this class, in one block: the machinery is in src/stream/
  // (docs/FORMAT.md §9) and reaches keys only through the AttachmentKeys adapter below — this
  // instance's cache and KeyLifecycle, as encrypt and decrypt use them — so reservations,
  // rotation, shredding and close() apply to attachments exactly as to messages.

  #attachmentsImpl: Attachments | undefined;

  /**
   * Weak references to the readers, encryptors and decryptors handed out (each owns an attachment
   * key): close() wipes them (review 6: their keys outlived close() until the caller touched
   * them again). One the garbage collector took leaves the set through the registry.
   */
  readonly #holders = new Set<WeakRef<KeyHolder>>();
  readonly #holdersGone = new FinalizationRegistry<WeakRef<KeyHolder>>((ref) => this.#holders.delete(ref));

  /** Registers `o` for close(); closed meanwhile (the key arrived after close), it is wiped and refused. */
  #hold<T extends KeyHolder>(o: T): T {
    if (this.#keys.closed) {
      wipeHolder(o);
      throw new ClosedError();
    }
    const ref = new WeakRef<KeyHolder>(o);
    this.#holders.add(ref);
    this.#holdersGone.register(o, ref);
    return o;
  }

  get #attachments(): Attachments {
    if (this.#keys.closed) throw new ClosedError();
    return (this.#attachmentsImpl ??= new Attachments(this.#attachmentKeys(), segmentsFor(this.#aead)));
  }

  /** Copies of cached conversation keys for attachments (the receiver wipes them). */
  #attachmentKeys(): AttachmentKeys {
    const keys = this.#keys;
    const part = this.#part;
    return {
      get closed() {
        return keys.closed;
      },
      forSealing: async (conversationId, signal) => {
        // As encrypt: the cached active key unless it is missing, spent or due for rotation by the
        // rotation policy; then the lifecycle's (reserving, rotating, refusing a shredded one).
        // The deadline is checked again with the time after each wait, and that time is the
        // sealing time, as in #encryptSlow (test/rotation-deadline-wait.test.ts).
        let t = this.#clock();
        const cached = part.active(conversationId);
        let k = cached;
        if (k === undefined || k.slot < 0 || k.remaining === 0 || t >= k.rotateAt) {
          k = undefined;
          do {
            k = await raceAbort(keys.activeForSeal(conversationId, k ?? cached, t), signal);
            if (keys.closed) throw new ClosedError();
            t = this.#clock();
          } while (k.slot < 0 || k.remaining === 0 || t >= k.rotateAt);
        }
        // One message of the version's budget per attachment, not per segment (docs/FORMAT.md §9.5).
        if (k.remaining > 0) k.remaining--;
        return { key: part.key(k).slice(), version: k.version, suite: k.suite, sealedAt: sealingSeconds(t) };
      },
      forOpening: async (conversationId, version, signal) => {
        let k = part.version(conversationId, version);
        while (k === undefined || k.slot < 0) {
          k = await raceAbort(keys.version(conversationId, version), signal);
          if (keys.closed) throw new ClosedError();
        }
        return { key: part.key(k).slice(), suite: k.suite };
      },
      readable: async (conversationId, version, signal) => {
        const k = part.version(conversationId, version);
        if (k !== undefined && k.slot >= 0) return;
        await raceAbort(keys.version(conversationId, version), signal);
        if (keys.closed) throw new ClosedError();
      },
    };
  }

  /**
   * Seals a whole attachment held in memory (docs/FORMAT.md §9): a 46-byte header, then 64 KiB
   * segments (or `options.segmentSize`) each with a 16-byte tag, under a key derived for this
   * attachment from the conversation's active key. Counts as one message of that key version.
   * For large media use {@link Keywarden.encryptAttachmentStream} or `keywarden/attachments`.
   *
   * @example
   * ```ts
   * const stored = await kw.encryptAttachment(conversationId, photo, { aad: attachmentId });
   * ```
   */
  async encryptAttachment(conversationId: string, plaintext: Uint8Array, options?: AttachmentEncryptOptions): Promise<Uint8Array> {
    const c = checkCall(conversationId, options, true);
    return this.#attachments.encrypt(conversationId, plaintext, c);
  }

  /**
   * Opens a whole attachment held in memory, for the same conversation and aad: all of it
   * authenticates or it throws `ERR_DECRYPT_FAILED` and returns nothing.
   *
   * @example
   * ```ts
   * const photo = await kw.decryptAttachment(conversationId, stored, { aad: attachmentId });
   * ```
   */
  async decryptAttachment(conversationId: string, ciphertext: Uint8Array, options?: AttachmentDecryptOptions): Promise<Uint8Array> {
    const c = checkCall(conversationId, options, false);
    return this.#attachments.decrypt(conversationId, ciphertext, c);
  }

  /**
   * A Web Streams `TransformStream` that seals a plaintext stream into an attachment with bounded
   * memory (about one segment plus one chunk), at any length up to 1 TiB. Bad arguments throw
   * here; a failure to get the key errors the stream.
   *
   * @example
   * ```ts
   * await request.body.pipeThrough(kw.encryptAttachmentStream(conversationId, { aad: attachmentId })).pipeTo(upload);
   * ```
   */
  encryptAttachmentStream(conversationId: string, options?: AttachmentEncryptOptions): TransformStream<Uint8Array, Uint8Array> {
    const c = checkCall(conversationId, options, true);
    const pending = this.#attachments.encryptor(conversationId, c).then((e) => this.#hold(e));
    return encryptTransform(pending);
  }

  /**
   * A Web Streams `TransformStream` that opens an attachment stream. Each segment's plaintext
   * is released only after that segment authenticates; any failure errors the stream with
   * `ERR_DECRYPT_FAILED`, after which the plaintext already released is authentic but the
   * attachment is incomplete — write it somewhere provisional and use it only once the stream
   * has closed without error (docs/FORMAT.md §9.7).
   *
   * @example
   * ```ts
   * await download.pipeThrough(kw.decryptAttachmentStream(conversationId, { aad: attachmentId })).pipeTo(tempFile);
   * ```
   */
  decryptAttachmentStream(conversationId: string, options?: AttachmentDecryptOptions): TransformStream<Uint8Array, Uint8Array> {
    const c = checkCall(conversationId, options, false);
    const attachments = this.#attachments;
    return decryptTransform(async (header) => this.#hold(await attachments.decryptor(conversationId, header, c)));
  }

  /**
   * Opens a stored attachment for random access (docs/FORMAT.md §9.6): reads its header and
   * authenticates its last segment (so `reader.size` is authentic), then
   * `reader.decryptRange(offset, length)` reads and authenticates only the segments that range
   * needs. `source` is a `Uint8Array` or `{ size, read(offset, length) }` (e.g. object-store
   * Range GETs). `close()` the reader to wipe its key.
   *
   * @example
   * ```ts
   * const att = await kw.openAttachment(conversationId, { size, read: (o, n) => getRange(key, o, n) }, { aad: attachmentId });
   * const head = await att.decryptRange(0, 1024);
   * att.close();
   * ```
   */
  async openAttachment(conversationId: string, source: AttachmentSource | Uint8Array, options?: AttachmentDecryptOptions): Promise<AttachmentReader> {
    const c = checkCall(conversationId, options, false);
    // Held before its first read: a close() while the last segment is read wipes its key at once.
    return this.#attachments.open(conversationId, source, c, (r) => this.#hold(r));
  }

  /**
   * The push-based encryptor the stream APIs are built on, for other stream libraries: call
   * `update(chunk, emit)` per chunk and `final(emit)` at the end; `emit` receives the header and
   * the sealed segments. `destroy()` wipes its key if you give up.
   *
   * @example
   * ```ts
   * const enc = await kw.createAttachmentEncryptor(conversationId, { aad: attachmentId });
   * for (const chunk of chunks) enc.update(chunk, (c) => out.push(c));
   * enc.final((c) => out.push(c));
   * ```
   */
  async createAttachmentEncryptor(conversationId: string, options?: AttachmentEncryptOptions): Promise<AttachmentEncryptor> {
    const c = checkCall(conversationId, options, true);
    return this.#hold(await this.#attachments.encryptor(conversationId, c));
  }

  /**
   * The push-based decryptor: give it the attachment's first 46 bytes here, then the rest to
   * `update(chunk, emit)` and call `final(emit)` at the end of the input.
   *
   * @example
   * ```ts
   * const dec = await kw.createAttachmentDecryptor(conversationId, stored.subarray(0, 46), { aad: attachmentId });
   * dec.update(stored.subarray(46), (p) => out.push(p));
   * dec.final((p) => out.push(p));
   * ```
   */
  async createAttachmentDecryptor(conversationId: string, header: Uint8Array, options?: AttachmentDecryptOptions): Promise<AttachmentDecryptor> {
    const c = checkCall(conversationId, options, false);
    if (!isBytes(header)) assertBytes('header', header);
    return this.#hold(await this.#attachments.decryptor(conversationId, plainBytes(header), c));
  }
  // ==== end of attachments =====================================================================
}
