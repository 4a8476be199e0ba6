/**
 * Master-key re-wrap (docs/KEYS.md §6): moves every stored wrapped key to another master key
 * without touching a message. Per key: KMS ReEncrypt when the destination can reach the source
 * key (the data key never leaves KMS), else unwrap with the source and wrap with the destination
 * (the plaintext key is wiped at once). Pages of keys are read in primary-key order; each page's
 * new wrappings are written with compare-and-set (a key rotated, shredded or re-wrapped meanwhile
 * is left alone) together with its `key.rewrapped` audit entries, in one store transaction.
 *
 * Killed at any moment, nothing is lost: a key's record changes only in that transaction, and
 * until then its old wrapping (still readable through the source) stays. Progress — the cursor
 * and the counts — is saved in the store after each page (`keywarden_jobs`), so a rerun resumes
 * where the last committed page ended; and since the scan only returns keys not yet under the
 * destination, a lost cursor costs a rescan, never a key.
 */
import { type AuditEvent, newEvent } from '../audit/entry.js';
import { InvalidInputError, KeywardenError, KmsError, StoreError } from '../errors.js';
import type { MasterKeyProvider, WrappedDataKey } from '../kms/provider.js';
import type { KeyStore, WrappedQuery, WrappingUpdate } from '../store/types.js';
import { clean } from '../util/bytes.js';
import { isAbortSignal, sleep, throwIfAborted } from '../util/deadline.js';
import { assertInt, ownOptions } from '../util/validate.js';
import { type Deadlines, kmsCall, storeCall } from './key-path.js';
import type { KeyAuditOptions } from './lifecycle.js';
import { type KeyRecord, wrappingContext } from './records.js';

/** Options of `Keywarden.rewrap`. */
export interface RewrapOptions {
  /** Master key to move every stored key to. Default: this instance's master key (a MasterKeyRing's primary). */
  to?: MasterKeyProvider;
  /** Keys per page: one store read, one transaction and one progress save each (default 500). */
  batchSize?: number;
  /** KMS calls in flight at once (default 16). */
  concurrency?: number;
  /** Attempts per key when KMS throttles or is unavailable, with capped exponential backoff and jitter (default 8). */
  maxAttempts?: number;
  /** Stops after the page in progress (its keys are committed; a rerun resumes). */
  signal?: AbortSignal;
  /** Called after every committed page. */
  onProgress?: (progress: RewrapProgress) => void;
}

/** Counts so far (including earlier runs of the same job). */
export interface RewrapProgress {
  /** Keys now wrapped by the destination. */
  rewrapped: number;
  /** Keys left alone because they changed meanwhile (rotated, shredded, re-wrapped by another run). */
  skipped: number;
  /**
   * Keys KMS refused as invalid (reported with their ids; the rest goes on), each counted once.
   * Past 100,000 refusals in one run, a key first refused on the run's second look (created behind
   * its cursor meanwhile) may go uncounted; `complete` is false either way.
   */
  failed: number;
  /** Keys still under other master keys when the job started (from the store summary), if known. */
  total: number | undefined;
  /** KMS calls this run made (ReEncrypt, or Decrypt + Encrypt), retries included. */
  kmsCalls: number;
  /** Milliseconds this run has taken. */
  elapsedMs: number;
}

/** What `Keywarden.rewrap` returns. */
export interface RewrapReport extends RewrapProgress {
  /** Destination master key id (e.g. the key ARN). */
  to: string;
  /** True when no key is left under another master key (apart from `failures`). */
  complete: boolean;
  /** True when this run continued a job an earlier run had started. */
  resumed: boolean;
  /** Keys per second this run. */
  keysPerSecond: number;
  /** The keys KMS refused (first 1000): conversation ids stay in the process, never in the log. */
  failures: { conversationId: string; version: number; code: string }[];
}

const MAX_REFUSED_REMEMBERED = 100_000;

interface JobState {
  to: string;
  cursor: { conversationId: string; version: number } | null;
  rewrapped: number;
  skipped: number;
  failed: number;
  total: number | null;
  startedAt: string;
  finishedAt: string | null;
}

/**
 * A job state read back from the store, checked field by field: the store is not trusted to
 * hand back what was put (outside review, 2026-12-01: a state of JSON `null` crashed the re-wrap
 * with a TypeError). Undefined when there is none.
 */
function readJobState(name: string, saved: unknown): JobState | undefined {
  if (saved === undefined) return undefined;
  const bad = () => new StoreError(`key store: the state of job ${JSON.stringify(name)} is not a re-wrap job state`);
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw bad();
  const s = saved as Record<string, unknown>;
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const c = s.cursor as Record<string, unknown> | null | undefined;
  const cursorOk = c === null || (typeof c === 'object' && c !== undefined && typeof c.conversationId === 'string' && Number.isSafeInteger(c.version) && (c.version as number) >= 1);
  if (typeof s.to !== 'string' || !cursorOk || !count(s.rewrapped) || !count(s.skipped) || !count(s.failed) || !(s.total === null || count(s.total)) ||
    typeof s.startedAt !== 'string' || !(s.finishedAt === null || typeof s.finishedAt === 'string')) throw bad();
  return { to: s.to, cursor: c === null ? null : { conversationId: c.conversationId as string, version: c.version as number }, rewrapped: s.rewrapped as number, skipped: s.skipped as number,
    failed: s.failed as number, total: s.total as number | null, startedAt: s.startedAt, finishedAt: s.finishedAt };
}

export interface RewrapContext {
  keyStore: KeyStore;
  /** What the keys belong to (audit entries `key.rewrapped` or `branch.rewrapped`). Default conversations. */
  subject?: 'conversation' | 'branch';
  /** Unwraps the current wrappings (a MasterKeyRing that includes the old keys). */
  source: MasterKeyProvider;
  audit: KeyAuditOptions | undefined;
  now: () => Date;
  deadlines: Deadlines;
}

const AUDIT_KEYS_PER_ENTRY = 256;
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 10_000;

/** Validates the options; returns them with defaults. */
export function rewrapOptions(options: RewrapOptions | undefined, fallback: MasterKeyProvider) {
  const o = ownOptions('options', options, ['to', 'batchSize', 'concurrency', 'maxAttempts', 'signal', 'onProgress']);
  const to = o.to ?? fallback;
  if (typeof to?.keyId !== 'string' || (to.wrapDataKey === undefined && to.reEncryptDataKey === undefined)) {
    throw new InvalidInputError('options.to', 'expected a MasterKeyProvider that can wrap existing keys (wrapDataKey or reEncryptDataKey)');
  }
  const batchSize = o.batchSize ?? 500;
  const concurrency = o.concurrency ?? 16;
  const maxAttempts = o.maxAttempts ?? 8;
  assertInt('options.batchSize', batchSize, 1, 10_000);
  assertInt('options.concurrency', concurrency, 1, 1024);
  assertInt('options.maxAttempts', maxAttempts, 1, 100);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidInputError('options.onProgress', 'expected a function');
  // Here, for every caller (Keywarden.rewrap and BranchKeyProvider.rewrapBranchKeys): outside review, 2026-12-02.
  if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
  return { to, batchSize, concurrency, maxAttempts, signal: o.signal, onProgress: o.onProgress };
}

/**
 * Which keys a re-wrap moves and what counts as done. For a master key: every key not under its
 * id. Branch keys (docs/KEYS.md §9) name their own targets: keys not yet in a branch, or one
 * branch's keys not yet under its newest version.
 */
export interface RewrapTarget {
  /** Destination label for the report (a key ARN, `branch:<id>#<version>`, `branches`). */
  to: string;
  /** Progress is saved under this name. */
  job: string;
  /** The store filter of the keys still to move. */
  query: Omit<WrappedQuery, 'after' | 'limit'>;
  /** Whether a new wrapping is under the destination (anything else is a provider fault). */
  accepts(masterKeyId: string): boolean;
  /**
   * Of the wrapping keys named, those still usable, read afresh from their store (branch keys:
   * not shredded). Asked before a page is unwrapped and again just before its write, so a key
   * under a wrapping key shredded meanwhile — or still cached by this process after its shred —
   * is not moved under a live one. Absent: every source is usable (a master key is not shredded
   * through keywarden).
   */
  live?: (masterKeyIds: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** The target of a re-wrap to a master key: every key not under its id. */
export async function masterKeyTarget(ctx: RewrapContext, options: ReturnType<typeof rewrapOptions>): Promise<RewrapTarget> {
  const to = await withRetry(options, () => kmsCall('describe', (signal) => options.to.resolveKeyId?.({ signal }) ?? Promise.resolve(options.to.keyId), ctx.deadlines));
  // Members configured by alias learn their ARNs, so the sources the provider accepts are known.
  if (ctx.source !== options.to) await kmsCall('describe', (signal) => ctx.source.resolveKeyId?.({ signal }) ?? Promise.resolve(''), ctx.deadlines).catch(() => undefined);
  return { to, job: `rewrap:${to}`, query: { notMasterKeyId: to }, accepts: (id) => id === to };
}

/** Runs (or resumes) the re-wrap job for the destination key (or `target`). */
export async function rewrapKeys(ctx: RewrapContext, options: ReturnType<typeof rewrapOptions>, target?: RewrapTarget): Promise<RewrapReport> {
  const { keyStore: store } = ctx;
  if (store.scanWrapped === undefined || store.updateWrappings === undefined || store.getJob === undefined || store.putJob === undefined) {
    throw new InvalidInputError('options.keyStore', 'this key store cannot re-wrap (no scanWrapped/updateWrappings/getJob/putJob)');
  }
  const started = performance.now();
  const t = target ?? (await masterKeyTarget(ctx, options));
  const { to } = t;
  const jobName = t.job;
  const saved = readJobState(jobName, await storeCall('read', () => store.getJob!(jobName), undefined, ctx.deadlines));
  const resumed = saved !== undefined && saved.finishedAt === null;
  const total = resumed ? saved.total : target === undefined ? await countPending(store, to, ctx.deadlines) : undefined;
  const job: JobState = resumed
    ? { ...saved }
    : { to, cursor: null, rewrapped: 0, skipped: 0, failed: 0, total: total ?? null, startedAt: ctx.now().toISOString(), finishedAt: null };
  // A resumed job's counts include earlier runs; the rate is this run's own keys over its time.
  const rewrappedBefore = job.rewrapped;
  const failures: RewrapReport['failures'] = [];
  // Every key this run refused, to count it once when the second look meets it again: an exact
  // set, not the capped `failures` list (outside review, 2026-12-02: with 1,005 refused keys the
  // 5 past the list counted twice). Bounded: past the cap a refusal on the second look is taken
  // as already counted (the under-count is documented on RewrapProgress.failed).
  const refused = new Set<string>();
  const refusedKey = (r: { conversationId: string; version: number }) => `${r.version}:${r.conversationId}`;
  let refusedOverflow = false;
  const calls = { n: 0 };
  const progress = (): RewrapProgress => ({
    rewrapped: job.rewrapped, skipped: job.skipped, failed: job.failed, total: job.total ?? undefined, kmsCalls: calls.n, elapsedMs: performance.now() - started,
  });
  let complete = false;
  // A resumed job started before what is behind its cursor now: keys moved elsewhere since, or
  // created there under an old key. Past its end it looks again from the start, once (outside
  // review, 2026-12-01: a resumed job said complete with keys left under other master keys).
  // A fresh job too: keys created behind its cursor while it ran (another process sealing a new
  // conversation under a cached old version) are found by one more look (outside review,
  // 2026-12-01: a branch re-wrap said complete with such a key left under the old version).
  let lookAgain = true;
  // On that second look the keys the first one skipped or could not move are met again: they are
  // not counted twice (a failure still blocks `complete`).
  let recheck = false;
  let recheckFailed = 0;
  for (;;) {
    if (options.signal?.aborted) break;
    const page = await storeCall('scan', () => store.scanWrapped!({ ...t.query, after: job.cursor ?? undefined, limit: options.batchSize }), undefined, ctx.deadlines);
    if (page.length === 0) {
      if (lookAgain) {
        lookAgain = false;
        const behind = await storeCall('scan', () => store.scanWrapped!({ ...t.query, limit: 1 }), undefined, ctx.deadlines);
        if (behind.length > 0) {
          job.cursor = null;
          recheck = true;
          continue;
        }
      }
      complete = true;
      break;
    }
    // Keys under a source that is gone are left as they are (skipped): not even unwrapped.
    const live = t.live === undefined ? undefined : await t.live([...new Set(page.map((r) => r.masterKeyId))]);
    const usable = live === undefined ? page : page.filter((r) => live.has(r.masterKeyId));
    if (!recheck) job.skipped += page.length - usable.length;
    const results = await mapLimit(usable, options.concurrency, (r) => rewrapOne(ctx, options, r, calls));
    const updates: WrappingUpdate[] = [];
    for (const [i, res] of results.entries()) {
      const r = usable[i]!;
      if (res instanceof KmsError) {
        // On the second look a key the first look already failed is not counted twice; one it
        // never met (behind a resumed run's cursor) is a failure of this run like any other
        // (outside review, 2026-12-02: the CLI exited 0 with such a key left behind).
        const known = recheck && (refused.has(refusedKey(r)) || refusedOverflow);
        if (recheck) recheckFailed++;
        if (!known) {
          job.failed++;
          if (refused.size < MAX_REFUSED_REMEMBERED) refused.add(refusedKey(r));
          else refusedOverflow = true;
        }
        if (!known && failures.length < 1000) failures.push({ conversationId: r.conversationId, version: r.version, code: res.code });
        continue;
      }
      if (!t.accepts(res.masterKeyId)) throw new KmsError('ERR_KMS_FAILED', `re-wrap produced a key under ${res.masterKeyId}, not ${to}`);
      updates.push({ conversationId: r.conversationId, version: r.version, expected: { masterKeyId: r.masterKeyId, wrappedKey: r.wrappedKey }, next: res });
    }
    // Again just before the write: a shred that committed while the page was unwrapped. (Not
    // inside the write's transaction: the source's store may share its connection pool, and a
    // second connection taken inside a transaction can wait for ever on a small pool.)
    const still = t.live === undefined ? undefined : await t.live([...new Set(updates.map((u) => u.expected.masterKeyId))]);
    const kept = still === undefined ? updates : updates.filter((u) => still.has(u.expected.masterKeyId));
    const done = await storeCall('update', () => commitPage(ctx, kept), undefined, ctx.deadlines);
    const n = done.filter(Boolean).length;
    job.rewrapped += n;
    if (!recheck) job.skipped += updates.length - n;
    const last = page[page.length - 1]!;
    job.cursor = { conversationId: last.conversationId, version: last.version };
    await storeCall('save', () => store.putJob!(jobName, { ...job }), undefined, ctx.deadlines);
    options.onProgress?.(progress());
  }
  if (complete) {
    job.finishedAt = ctx.now().toISOString();
    await storeCall('save', () => store.putJob!(jobName, { ...job }), undefined, ctx.deadlines);
  }
  const p = progress();
  return { ...p, to, complete: complete && job.failed === 0 && recheckFailed === 0, resumed, keysPerSecond: p.elapsedMs > 0 ? ((p.rewrapped - rewrappedBefore) * 1000) / p.elapsedMs : 0, failures };
}

/** Keys under other master keys, from the store summary when it has one. */
async function countPending(store: KeyStore, to: string, deadlines: Deadlines): Promise<number | undefined> {
  if (store.summary === undefined) return undefined;
  const s = await storeCall('summary', () => store.summary!(), undefined, deadlines);
  return Object.entries(s.byMasterKey).reduce((n, [id, count]) => (id === to ? n : n + count), 0);
}

/** One page's updates and their audit entries, in one store transaction. */
function commitPage(ctx: RewrapContext, updates: WrappingUpdate[]): Promise<boolean[]> {
  if (updates.length === 0) return Promise.resolve([]);
  // A store without a transaction to join (DynamoDB, memory) may run the callback again after a
  // lost race; a move a run already recorded (durable on its own) is not recorded twice
  // (outside review, 2026-12-02; as KeyLifecycle does for its events).
  const recorded = new Set<string>();
  const moveId = (u: WrappingUpdate) => `${u.conversationId}\u0000${u.version}\u0000${u.next.masterKeyId}`;
  return ctx.keyStore.transaction(async (tx) => {
    const done = await tx.updateWrappings!(updates);
    const audit = ctx.audit;
    const join = audit !== undefined && audit.log.joinsTransactions && tx.txHandle !== undefined ? { tx: tx.txHandle } : undefined;
    const moved = updates.filter((u, i) => done[i] && (join !== undefined || !recorded.has(moveId(u))));
    if (audit !== undefined && moved.length > 0) {
      // One entry per destination key and up to AUDIT_KEYS_PER_ENTRY keys (a move into branch
      // keys has one destination per branch version).
      const byDestination = new Map<string, WrappingUpdate[]>();
      for (const u of moved) {
        const group = byDestination.get(u.next.masterKeyId);
        if (group === undefined) byDestination.set(u.next.masterKeyId, [u]);
        else group.push(u);
      }
      const events: AuditEvent[] = [];
      for (const [to, group] of byDestination) {
        for (let i = 0; i < group.length; i += AUDIT_KEYS_PER_ENTRY) {
          const chunk = group.slice(i, i + AUDIT_KEYS_PER_ENTRY);
          const from = [...new Set(chunk.map((u) => u.expected.masterKeyId))].sort();
          events.push(ctx.subject === 'branch'
            ? newEvent('branch.rewrapped', { actor: audit.actor, now: ctx.now }, { branches: chunk.map((u) => ({ branch: u.conversationId, version: u.version })), fromMasterKeyIds: from, masterKeyId: to })
            : newEvent('key.rewrapped', { actor: audit.actor, now: ctx.now }, {
              keys: chunk.map((u) => ({ conversation: audit.ids.conversation(u.conversationId), version: u.version })), fromMasterKeyIds: from, masterKeyId: to,
            }));
        }
      }
      // Acknowledged once durable (the outbox row commits with the new wrappings), like every key
      // lifecycle event: docs/AUDIT.md §4.2.
      await audit.log.record(events, join);
      if (join === undefined) for (const u of moved) recorded.add(moveId(u));
    }
    return done;
  });
}

/** Whether `provider` unwraps keys recorded under `masterKeyId` (as a MasterKeyRing routes). */
function accepts(provider: MasterKeyProvider, masterKeyId: string): boolean {
  return provider.keyId === masterKeyId || provider.handlesKeyId?.(masterKeyId) === true;
}

/** Re-wraps one key, retrying throttling with backoff; a KMS refusal of this key is returned, not thrown. */
async function rewrapOne(ctx: RewrapContext, o: ReturnType<typeof rewrapOptions>, r: KeyRecord, calls: { n: number }): Promise<WrappedDataKey | KmsError> {
  const context = wrappingContext(ctx.subject, r.conversationId, r.version);
  try {
    return await withRetry(o, async () => {
      // ReEncrypt only from a master key this instance's own provider accepts: the recorded id
      // comes from the key store, and KMS would re-encrypt a key a store writer wrapped under a
      // KMS key of their own. Any other key goes through the provider's unwrap, which refuses it.
      if (o.to.reEncryptDataKey !== undefined && o.to.canReEncryptFrom?.(r.masterKeyId) === true && accepts(ctx.source, r.masterKeyId)) {
        calls.n++;
        return kmsCall('re-encrypt', (signal) => o.to.reEncryptDataKey!(r.wrappedKey, context, r.masterKeyId, { signal }), ctx.deadlines);
      }
      calls.n++;
      const plain = await kmsCall('unwrap', (signal) => ctx.source.unwrapDataKey(r.wrappedKey, context, r.masterKeyId, { signal }), ctx.deadlines, (late) => clean(late));
      try {
        if (!(plain instanceof Uint8Array) || plain.length !== 32) throw new KmsError('ERR_KMS_FAILED', 'master key provider returned a malformed data key');
        calls.n++;
        return await kmsCall('wrap', (signal) => o.to.wrapDataKey!(plain, context, { signal }), ctx.deadlines);
      } finally {
        if (plain instanceof Uint8Array) clean(plain);
      }
    });
  } catch (err) {
    // This key is bad (tampered, or bound to another context): report it and go on.
    if (err instanceof KmsError && err.code === 'ERR_KMS_INVALID_CIPHERTEXT') return err;
    throw err;
  }
}

/**
 * Runs `fn`, retrying keywarden errors marked retryable (throttling, KMS unavailable, deadlines)
 * up to `maxAttempts` with capped exponential backoff and full jitter (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"). Anything else is mapped to keywarden's errors and thrown.
 */
async function withRetry<T>(o: { maxAttempts: number; signal: AbortSignal | undefined }, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', 'master key provider failed during re-wrap', err);
      if (!e.retryable || attempt >= o.maxAttempts) throw e;
      throwIfAborted(o.signal);
      await sleep(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)), o.signal);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in order. The first rejection rejects (after the rest settle). */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed.err;
  return out;
}

