/**
 * Branch keys (docs/KEYS.md §9): a two-level hierarchy, KMS master key → branch keys →
 * conversation data keys. A branch key is a 256-bit key from KMS `GenerateDataKey`, stored
 * KMS-wrapped and versioned in a key store of its own; it wraps the data keys of many
 * conversations locally (./branch-wrap.ts), so that once a branch key is cached, creating or
 * opening a conversation's key makes no KMS call.
 *
 * The provider is a MasterKeyProvider: Keywarden uses it where it would use the KMS key, and
 * every conversation record names the branch version that wrapped it (`branch:<id>#<version>`).
 * Records written in direct mode (wrapped by the KMS key itself) keep unwrapping through the KMS
 * key, so a deployment can switch to branch mode and migrate conversation by conversation.
 *
 * Branch keys live through the same machinery as conversation keys (KeyLifecycle over the branch
 * store): race-free first use, versions, rotation (by hand or by age), shredding with tombstones,
 * audit entries (`branch.*`), a cache of their own with a max age and wiping on eviction.
 */
import { nobleAead } from '../aead/noble.js';
import type { AeadImpl } from '../aead/types.js';
import { KeyCache } from '../cache/key-cache.js';
import { ClosedError, DecryptionError, InvalidInputError, KmsError } from '../errors.js';
import { suiteByName } from '../format/suites.js';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider, WrappedDataKey } from '../kms/provider.js';
import type { KeyStore } from '../store/types.js';
import { clean } from '../util/bytes.js';
import { raceAbort } from '../util/deadline.js';
import { randomBytes } from '../util/random.js';
import { assertBytes, assertInt, ownOptions } from '../util/validate.js';
import { MAX_KEY_VERSION } from '../format/wire.js';
import { branchUnwrap, branchWrap } from '../kms/branch-wrap.js';
import type { CachedKey, CachePartition } from '../cache/key-cache.js';
import { type Deadlines } from './key-path.js';
import { type KeyAuditOptions, KeyLifecycle } from './lifecycle.js';
import { validKeyAudit } from './audit-options.js';
import { type KeyVersionInfo, toInfo } from './records.js';
import { type RewrapOptions, type RewrapReport, type RewrapTarget, rewrapKeys, rewrapOptions } from './rewrap.js';
import { rotationPolicy } from './rotation.js';
import { validTimeouts } from './timeouts.js';
import { KeyWatcher, type WatchStats } from './watch.js';

/** Options of {@link BranchKeyProvider}. */
export interface BranchKeyOptions {
  /** The master key that wraps branch keys (an `AwsKmsMasterKey`; a `MasterKeyRing` while it is being replaced). */
  masterKey: MasterKeyProvider;
  /** Where branch keys live: a store of their own (`new PostgresKeyStore(pool, { schema, keys: 'branches' })`, or a second `MemoryKeyStore`). */
  store: KeyStore;
  /**
   * The branch a conversation's new keys go under: per tenant, region or shard. Default: one
   * branch, `default`. Branch ids: 1-128 of `A-Z a-z 0-9 . _ : / -`, starting with a letter or
   * digit; recorded in clear in audit entries and KMS encryption contexts, so not personal data.
   */
  branchFor?: (conversationId: string) => string;
  /** Branch key cache: `maxAgeMs` (default 10 minutes) bounds how long a rotated or shredded branch key is used; `maxEntries` default 1,000. */
  cache?: { maxAgeMs?: number; maxEntries?: number };
  /** Rotate branch keys by age, lazily on their next use (as conversation keys, docs/KEYS.md §4). */
  rotation?: { maxAgeMs?: number };
  /** Record `branch.created`, `branch.rotated`, `branch.shredded` and `branch.rewrapped` in the same store transaction. */
  audit?: KeyAuditOptions;
  /** Follow the branch store's change notifications (rotations and shreds by other processes). Default false. */
  watchKeyChanges?: boolean;
  /** Deadlines on KMS and store calls (as KeywardenOptions.timeouts). */
  timeouts?: { kmsMs?: number; storeMs?: number };
  /** Clock, for tests. */
  now?: () => Date;
  /**
   * The AES-256-GCM implementation for local wrapping (FORMAT.md §6.3). Default: portable
   * (`nobleAead`); the Node entry point's `BranchKeyProvider` defaults to native node:crypto.
   */
  aead?: AeadImpl;
}

/** What `stats()` reports. */
export interface BranchKeyStats {
  /** KMS calls for branch keys: GenerateDataKey (new branch versions) and unwraps. */
  kms: { generateDataKey: number; unwrapDataKey: number };
  /** Conversation keys wrapped and unwrapped locally under branch keys. */
  wraps: number;
  unwraps: number;
  /** Calls passed through to the master key for direct-mode records. */
  direct: number;
  cache: ReturnType<KeyCache['stats']>;
  watch: WatchStats;
}

const BRANCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const PREFIX = 'branch:';
const DEFAULT_MAX_AGE_MS = 10 * 60_000;

/** `branch:<id>#<version>`, the master key id conversation records carry in branch mode. */
export function branchKeyId(branch: string, version: number): string {
  return `${PREFIX}${branch}#${version}`;
}

/** Parses a branch master key id; undefined for anything else. */
export function parseBranchKeyId(id: string): { branch: string; version: number } | undefined {
  if (typeof id !== 'string') throw new InvalidInputError('id', `expected a string, got ${id === null ? 'null' : typeof id}`);
  if (!id.startsWith(PREFIX)) return undefined;
  const hash = id.lastIndexOf('#');
  const branch = id.slice(PREFIX.length, hash);
  const version = Number(id.slice(hash + 1));
  if (hash < 0 || !BRANCH_ID.test(branch) || !Number.isSafeInteger(version) || version < 1 || String(version) !== id.slice(hash + 1)) return undefined;
  return { branch, version };
}

function checkBranch(param: string, branch: unknown): string {
  if (typeof branch !== 'string' || !BRANCH_ID.test(branch)) throw new InvalidInputError(param, 'expected a branch id: 1-128 of A-Z a-z 0-9 . _ : / -, starting with a letter or digit');
  return branch;
}

/**
 * A master key provider that wraps conversation keys under branch keys.
 *
 * @example
 * ```ts
 * const branches = new BranchKeyProvider({
 *   masterKey: new AwsKmsMasterKey({ client, keyId: 'alias/keywarden-dm' }),
 *   store: new PostgresKeyStore(pool, { schema: 'keywarden', keys: 'branches' }),
 *   branchFor: (conversationId) => tenantOf(conversationId),
 * });
 * const kw = new Keywarden({ masterKey: branches, keyStore: new PostgresKeyStore(pool, { schema: 'keywarden' }) });
 * ```
 */
export class BranchKeyProvider implements MasterKeyProvider {
  /** Every conversation record written by this provider names a branch version instead. */
  readonly keyId = 'keywarden:branch-keys';
  readonly masterKey: MasterKeyProvider;
  readonly store: KeyStore;
  readonly #branchFor: (conversationId: string) => string;
  readonly #cache: KeyCache;
  readonly #part: CachePartition;
  readonly #keys: KeyLifecycle;
  readonly #audit: KeyAuditOptions | undefined;
  readonly #deadlines: Deadlines;
  readonly #aead: AeadImpl;
  readonly #now: () => Date;
  readonly #watch: KeyWatcher | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #counts = { wraps: 0, unwraps: 0, direct: 0 };

  constructor(options: BranchKeyOptions) {
    if (options === undefined) throw new InvalidInputError('options', 'expected { masterKey, store }');
    const o = ownOptions('options', options, ['masterKey', 'store', 'branchFor', 'cache', 'rotation', 'audit', 'watchKeyChanges', 'timeouts', 'now', 'aead']);
    const audit = o.audit === undefined ? undefined : validKeyAudit('options.audit', o.audit);
    const mk = o.masterKey;
    if (!mk || typeof mk.generateDataKey !== 'function' || typeof mk.unwrapDataKey !== 'function' || typeof mk.keyId !== 'string') throw new InvalidInputError('options.masterKey', 'expected a MasterKeyProvider');
    if (mk instanceof BranchKeyProvider) throw new InvalidInputError('options.masterKey', 'branch keys are wrapped by a KMS key, not by other branch keys');
    const store = o.store;
    if (!store || typeof store.getLatest !== 'function' || typeof store.insertFirst !== 'function') throw new InvalidInputError('options.store', 'expected a KeyStore');
    if (o.branchFor !== undefined && typeof o.branchFor !== 'function') throw new InvalidInputError('options.branchFor', 'expected a function (conversationId) => branch id');
    const c = ownOptions('options.cache', o.cache, ['maxAgeMs', 'maxEntries']);
    if (c.maxAgeMs !== undefined) assertInt('options.cache.maxAgeMs', c.maxAgeMs, 0, 2 ** 40);
    if (c.maxEntries !== undefined) assertInt('options.cache.maxEntries', c.maxEntries, 1, 2 ** 24);
    // Branch keys rotate by age only: they are uncounted (one version wraps any number of
    // conversation keys), so a count limit would be accepted and never act (outside review, 2026-12-02).
    const r = ownOptions('options.rotation', o.rotation as { maxAgeMs?: number; maxMessages?: number } | undefined, ['maxAgeMs', 'maxMessages']);
    if (r.maxMessages !== undefined) throw new InvalidInputError('options.rotation.maxMessages', 'branch keys rotate by age only (rotation.maxAgeMs)');
    const rotation = rotationPolicy(o.rotation, undefined);
    if (o.watchKeyChanges !== undefined && typeof o.watchKeyChanges !== 'boolean') throw new InvalidInputError('options.watchKeyChanges', 'expected boolean');
    if (o.watchKeyChanges && typeof store.subscribe !== 'function') throw new InvalidInputError('options.watchKeyChanges', 'this key store has no change notifications');
    if (o.now !== undefined && typeof o.now !== 'function') throw new InvalidInputError('options.now', 'expected a function returning a Date');
    const deadlines = validTimeouts(o.timeouts);
    if (o.aead !== undefined && (typeof o.aead?.seal !== 'function' || typeof o.aead?.open !== 'function')) throw new InvalidInputError('options.aead', 'expected an AEAD implementation (nobleAead or nodeAead)');

    this.masterKey = mk;
    this.store = store;
    this.#branchFor = o.branchFor ?? (() => 'default');
    // On the provider's clock (`now`), which also ages the keys it hands out (wrappingKeyAgeMs).
    const clock = o.now;
    this.#cache = new KeyCache({ maxAgeMs: c.maxAgeMs ?? DEFAULT_MAX_AGE_MS, maxEntries: c.maxEntries ?? 1000 }, clock === undefined ? Date.now : () => clock().getTime());
    this.#part = this.#cache.partition('branches');
    this.#part.retain();
    this.#audit = audit;
    this.#deadlines = deadlines;
    this.#aead = o.aead ?? nobleAead;
    this.#now = o.now ?? (() => new Date());
    this.#keys = new KeyLifecycle({
      masterKey: mk, keyStore: store, suite: suiteByName('AES-256-GCM')!, part: this.#part, maxMessages: Infinity, reservation: 1,
      autoRotate: true, rotation, now: this.#now, deadlines, subject: 'branch', uncounted: true, ...(this.#audit === undefined ? {} : { audit: this.#audit }),
    });
    this.#watch = o.watchKeyChanges
      ? new KeyWatcher(store, (branch, change) => (change === 'shredded' ? this.#forget(branch) : this.#part.deactivate(branch)), () => this.#part.deactivateAll())
      : undefined;
  }

  /** Resolves once the branch-change subscription has made its first attempt. */
  async ready(): Promise<void> {
    await this.#watch?.ready;
  }

  /** The branch a conversation's new keys go under (validated). */
  branchOf(conversationId: string): string {
    return checkBranch('branchFor(conversationId)', this.#branchFor(conversationId));
  }

  // ---- MasterKeyProvider ------------------------------------------------------------------

  async generateDataKey(context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<GeneratedDataKey> {
    const { conversationId, keyVersion } = conversationOf(context);
    const plaintextKey = randomBytes(32);
    try {
      return { plaintextKey, ...(await this.#wrapUnder(this.branchOf(conversationId), conversationId, keyVersion, plaintextKey, options)) };
    } catch (err) {
      clean(plaintextKey);
      throw err;
    }
  }

  async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, options?: KmsCallOptions): Promise<Uint8Array> {
    const ref = parseBranchKeyId(masterKeyId);
    if (ref === undefined) {
      // A record from direct mode, wrapped by the master key itself.
      this.#counts.direct++;
      return this.masterKey.unwrapDataKey(wrappedKey, context, masterKeyId, options);
    }
    const { conversationId, keyVersion } = conversationOf(context);
    for (;;) {
      const k = await this.#branchVersion(ref.branch, ref.version, options);
      if (k.slot < 0) continue; // evicted between load and use: load again
      this.#counts.unwraps++;
      const key = branchUnwrap(this.#part.key(k), { branch: ref.branch, branchVersion: ref.version, conversationId, keyVersion }, wrappedKey, this.#aead);
      if (key === null) throw new KmsError('ERR_KMS_INVALID_CIPHERTEXT', 'wrapped data key or its binding was refused by the branch key');
      return key;
    }
  }

  /** Wraps an existing data key under the conversation's branch (re-wrap into branch mode). */
  async wrapDataKey(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<WrappedDataKey> {
    // Before any branch key is made or read: as LocalMasterKey, only a 32-byte data key.
    assertBytes('plaintextKey', plaintextKey, 32);
    const { conversationId, keyVersion } = conversationOf(context);
    return this.#wrapUnder(this.branchOf(conversationId), conversationId, keyVersion, plaintextKey, options);
  }

  /**
   * How long ago the branch key that wraps keys recorded with `masterKeyId` was read from the
   * branch store (its cache entry): Keywarden counts a conversation key's cache age from then,
   * so a branch shred elsewhere reaches the conversation keys unwrapped under it within the
   * larger of the two caches' max ages, not their sum (outside review, 2026-12-01). Undefined
   * for direct-mode keys. A branch key no longer cached here (expired or evicted between the
   * unwrap and this question) counts as the oldest a cached one can be, the branch cache's max
   * age — never as new (outside review, 2026-12-02).
   */
  wrappingKeyAgeMs(masterKeyId: string): number | undefined {
    const ref = parseBranchKeyId(masterKeyId);
    if (ref === undefined) return undefined;
    const k = this.#part.peekVersion(ref.branch, ref.version);
    return k === undefined ? this.#cache.maxAgeMs : this.#cache.ageMs(k);
  }

  handlesKeyId(masterKeyId: string): boolean {
    return parseBranchKeyId(masterKeyId) !== undefined || masterKeyId === this.masterKey.keyId || this.masterKey.handlesKeyId?.(masterKeyId) === true;
  }

  /**
   * Registers `listener`, called when keys this provider unwrapped before may no longer be valid
   * (a branch was shredded): Keywarden then drops its cached conversation keys. Returns a
   * function that unregisters it.
   */
  onKeysInvalidated(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  // ---- branch lifecycle ----------------------------------------------------------------------

  /** Adds a new version of a branch key: new conversation keys wrap under it, older versions keep unwrapping. */
  async rotateBranch(branch: string): Promise<KeyVersionInfo> {
    return toInfo(await this.#keys.rotate(checkBranch('branch', branch)));
  }

  /** Every version of a branch key, oldest first (no key material). */
  async describeBranch(branch: string): Promise<KeyVersionInfo[]> {
    checkBranch('branch', branch);
    return (await this.#keys.storeCall('read', () => this.store.listVersions(branch))).map(toInfo);
  }

  /**
   * Shreds a branch key (tenant off-boarding): every version, or `versions`. Every conversation
   * key wrapped under a shredded version is lost with it: their messages fail with
   * ERR_KEY_SHREDDED. Recorded as `branch.shredded`; cached conversation keys are dropped by the
   * Keywarden instances using this provider at once (others on the branch store's notification,
   * or at their cache's max age).
   */
  async shredBranch(branch: string, options?: { versions?: number[] }): Promise<{ shredded: number[]; alreadyShredded: number[] }> {
    checkBranch('branch', branch);
    const o = ownOptions('options', options, ['versions']);
    if (o.versions !== undefined && (!Array.isArray(o.versions) || o.versions.length === 0)) throw new InvalidInputError('options.versions', 'expected a non-empty array of versions');
    o.versions?.forEach((v, i) => assertInt(`options.versions[${i}]`, v, 1, 0xffff_ffff));
    const res = await this.#keys.shred(branch, o.versions ?? 'conversation', 'request');
    this.#forget(branch);
    return { shredded: res.shredded, alreadyShredded: res.alreadyShredded };
  }

  /** After a branch was shredded as a whole, lets new conversation keys go under it again (a new generation). */
  async startBranchGeneration(branch: string): Promise<KeyVersionInfo> {
    return toInfo(await this.#keys.startGeneration(checkBranch('branch', branch)));
  }

  /**
   * Moves every branch key to another master key (the master key is being replaced): O(branch
   * versions) KMS calls, whatever the number of conversations, which are not touched.
   * Resumable and audited (`branch.rewrapped`), as `Keywarden.rewrap`.
   */
  async rewrapBranchKeys(options?: RewrapOptions): Promise<RewrapReport> {
    const o = rewrapOptions(options, this.masterKey); // a bad option rejects, as every async call's errors do
    return rewrapKeys({ keyStore: this.store, source: this.masterKey, audit: this.#audit, now: this.#now, deadlines: this.#deadlines, subject: 'branch' }, o);
  }

  /**
   * @internal What `Keywarden.rewrap` moves in branch mode: without `branch`, every conversation
   * key not yet under a branch key (direct mode → branch mode); with it, that branch's
   * conversation keys not yet under its newest version.
   */
  async rewrapTarget(branch?: string): Promise<RewrapTarget & { provider: MasterKeyProvider }> {
    if (branch === undefined) {
      return { to: 'branch keys', job: 'rewrap:branches', query: { notMasterKeyId: '', excludeMasterKeyIdPrefix: PREFIX }, accepts: (id) => parseBranchKeyId(id) !== undefined, provider: this };
    }
    checkBranch('options.branch', branch);
    const latest = await this.#keys.storeCall('read', () => this.store.getLatest(branch));
    if (latest === undefined || latest.state !== 'active') throw new InvalidInputError('options.branch', `branch ${branch} has no active key version`);
    const to = branchKeyId(branch, latest.version);
    // Wrap under that version of that branch, whatever branchFor says about the conversation now.
    const provider: MasterKeyProvider = {
      keyId: to,
      generateDataKey: () => Promise.reject(new InvalidInputError('to', 'not for new keys')),
      unwrapDataKey: (w, ctx, id, opts) => this.unwrapDataKey(w, ctx, id, opts),
      wrapDataKey: (pt, ctx, opts) => {
        const { conversationId, keyVersion } = conversationOf(ctx);
        return this.#wrapUnder(branch, conversationId, keyVersion, pt, opts, latest.version);
      },
    };
    return { to, job: `rewrap:${to}`, query: { notMasterKeyId: to, masterKeyIdPrefix: `${PREFIX}${branch}#` }, accepts: (id) => id === to, provider, live: (ids) => this.#liveVersions(ids) };
  }

  /**
   * The branch key ids among `ids` whose version the branch store still holds unshredded, read
   * afresh (not from the cache: a process may hold a version for `cache.maxAgeMs` after another
   * shredded it); a shredded one also leaves this cache. Ids of master keys are live.
   */
  async #liveVersions(ids: readonly string[]): Promise<ReadonlySet<string>> {
    const live = new Set<string>();
    for (const id of ids) {
      const ref = parseBranchKeyId(id);
      if (ref === undefined) {
        live.add(id);
        continue;
      }
      const rec = await this.#keys.storeCall('read', () => this.store.getVersion(ref.branch, ref.version));
      if (rec !== undefined && rec.state !== 'shredded') live.add(id);
      else this.#part.forget(ref.branch, ref.version);
    }
    return live;
  }

  /** Counters: KMS calls for branch keys, local wraps and unwraps, the branch key cache. */
  stats(): BranchKeyStats {
    return { kms: { ...this.#keys.kmsCalls }, ...this.#counts, cache: this.#cache.stats(), watch: this.#watch?.stats() ?? { state: 'off', reconnects: 0, failures: 0 } };
  }

  /** Stops following changes and wipes the cached branch keys; later calls fail with ERR_CLOSED. */
  close(): void {
    if (this.#keys.closed) return;
    this.#keys.closed = true;
    this.#part.release();
    void this.#watch?.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Wraps under the branch's active version (or `version`), loading the branch key (no KMS call when cached). */
  async #wrapUnder(branch: string, conversationId: string, keyVersion: number, dataKey: Uint8Array, options?: KmsCallOptions, version?: number): Promise<WrappedDataKey> {
    for (;;) {
      const k = version === undefined ? await this.#activeBranch(branch, options) : await this.#branchVersion(branch, version, options);
      if (k.slot < 0) continue; // evicted between load and use
      this.#counts.wraps++;
      const wrappedKey = branchWrap(this.#part.key(k), { branch, branchVersion: k.version, conversationId, keyVersion }, dataKey, undefined, this.#aead);
      return { wrappedKey, masterKeyId: branchKeyId(branch, k.version) };
    }
  }

  #activeBranch(branch: string, options?: KmsCallOptions): Promise<CachedKey> {
    if (this.#keys.closed) return Promise.reject(new ClosedError());
    const cached = this.#part.active(branch);
    if (cached !== undefined && cached.slot >= 0 && this.#now().getTime() < cached.rotateAt) return Promise.resolve(cached);
    return raceAbort(this.#keys.activeForSeal(branch, cached, this.#now().getTime()), options?.signal);
  }

  async #branchVersion(branch: string, version: number, options?: KmsCallOptions): Promise<CachedKey> {
    if (this.#keys.closed) throw new ClosedError();
    const cached = this.#part.version(branch, version);
    if (cached !== undefined && cached.slot >= 0) return cached;
    try {
      return await raceAbort(this.#keys.version(branch, version), options?.signal);
    } catch (err) {
      // The record names a branch version the store does not have: not a decryption oracle (the
      // caller maps it), but the data key cannot be reached.
      if (err instanceof DecryptionError) throw new KmsError('ERR_KMS_KEY_UNAVAILABLE', `branch key ${branch} version ${version} does not exist`);
      throw err;
    }
  }

  #forget(branch: string): void {
    this.#part.forget(branch);
    for (const l of this.#listeners) l();
  }
}

/** The conversation and key version a wrapping context names (Keywarden always sets both). */
function conversationOf(context: Readonly<Record<string, string>>): { conversationId: string; keyVersion: number } {
  if (typeof context !== 'object' || context === null) throw new InvalidInputError('context', 'expected the wrapping context (an object)');
  const conversationId = context['keywarden:conversation'];
  const keyVersion = Number(context['keywarden:key-version']);
  // The binding holds the version in 32 bits (docs/FORMAT.md §6.3): a larger one would be bound
  // as another version (outside review, 2026-12-01: 2^32 + 1 unwrapped as version 1).
  if (typeof conversationId !== 'string' || !Number.isSafeInteger(keyVersion) || keyVersion < 1 || keyVersion > MAX_KEY_VERSION) {
    throw new InvalidInputError('context', 'branch keys wrap conversation keys: expected keywarden:conversation and keywarden:key-version');
  }
  return { conversationId, keyVersion };
}
