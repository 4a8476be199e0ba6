/**
 * Retention by crypto-shredding (docs/KEYS.md §7): "messages older than N become unreadable",
 * carried out on keys, never on message rows. A key version superseded before the cut-off sealed
 * nothing after it, so shredding it erases only older messages; with rotation by age, that
 * erases old messages at the granularity of the rotation period.
 *
 * Margins, so that nothing younger than the cut-off is ever erased: a version is taken only if
 * it was superseded `marginMs` before the cut-off (an instance that has not yet heard of a
 * rotation may seal under the old version until its cache entry expires), and, with
 * `includeIdle`, an active version only if even its rotation deadline lies `marginMs` before the
 * cut-off (the policy rotates it on any later seal, so it sealed nothing after that).
 */
import { InvalidInputError } from '../errors.js';
import type { KeyStore, ScanRow, ShredResult } from '../store/types.js';
import { normalizeTime } from '../util/time.js';
import { assertInt, ownOptions } from '../util/validate.js';
import { type Deadlines, storeCall } from './key-path.js';
import { type RotationPolicy, lastSealBy } from './rotation.js';

/** Options of `Keywarden.retain`. */
export interface RetentionOptions {
  /** Make every message older than this many milliseconds unreadable (e.g. 90 days). */
  olderThanMs?: number;
  /** Or an absolute cut-off (a Date or RFC 3339 time). Exactly one of the two. */
  before?: Date | string;
  /** Report what would be shredded, shredding nothing. */
  dryRun?: boolean;
  /**
   * Also shred versions whose rotation deadline passed before the cut-off — the versions of
   * conversations that went quiet, which lazy rotation superseded late or not at all — so that
   * their old messages go too. Needs `rotation.maxAgeMs`, applied by every instance that seals
   * (docs/KEYS.md §7).
   */
  includeIdle?: boolean;
  /** Key versions per page and store transaction (default 500). */
  batchSize?: number;
  /** Key versions listed in a dry run's report (default 1000). */
  listLimit?: number;
  /** Stops after the page in progress. */
  signal?: AbortSignal;
  /** Called after every page. */
  onProgress?: (progress: { versions: number; conversations: number }) => void;
}

/** What `Keywarden.retain` did (or, in a dry run, would do). */
export interface RetentionReport {
  /** The cut-off: messages sealed before it are the target. */
  cutoff: string;
  dryRun: boolean;
  /**
   * Key versions this run shredded (or, in a dry run, would). Versions a concurrent shred (another
   * retention job, a `shred` call) took between this run's scan and its transaction are not
   * counted here but in `alreadyShredded`: two jobs at once never both report the same version.
   */
  versions: number;
  /** Versions the scan found that a concurrent shred had taken by the time this run shredded its page (0 in a dry run). */
  alreadyShredded: number;
  /** Of which taken by their rotation deadline (`includeIdle`): versions of conversations that went quiet. */
  idleVersions: number;
  /** Distinct conversations this run shredded versions of (counted exactly up to 100,000; see `conversationsExact`). */
  conversations: number;
  /** False when there were more conversations than counted exactly (then `conversations` is a lower bound). */
  conversationsExact: boolean;
  /** Dry run: the versions, up to `listLimit` (conversation ids are the caller's own data). */
  items: { conversationId: string; version: number; state: 'superseded' | 'active'; activatedAt?: string; supersededAt?: string }[];
  /** True when `items` was cut at `listLimit`. */
  truncated: boolean;
  /** False when stopped by `signal` before the end. */
  complete: boolean;
}

export interface RetentionContext {
  keyStore: KeyStore;
  rotation: RotationPolicy;
  /** Cache max age plus clock-skew allowance (see the module comment). */
  marginMs: number;
  now: () => Date;
  deadlines: Deadlines;
  /** Shreds one page: versions per conversation, as one store transaction with its audit entries; the store's answer per item. */
  shredPage(items: { conversationId: string; versions: number[] }[]): Promise<readonly ShredResult[]>;
}

const MAX_COUNTED = 100_000;

export function retentionOptions(options: RetentionOptions | undefined, now: Date, rotation: RotationPolicy) {
  if (options === undefined) throw new InvalidInputError('options', 'expected { olderThanMs } or { before }');
  const o = ownOptions('options', options, ['olderThanMs', 'before', 'dryRun', 'includeIdle', 'batchSize', 'listLimit', 'signal', 'onProgress']);
  if ((o.olderThanMs === undefined) === (o.before === undefined)) throw new InvalidInputError('options', 'expected exactly one of olderThanMs and before');
  let cutoff: number;
  if (o.olderThanMs !== undefined) {
    assertInt('options.olderThanMs', o.olderThanMs, 60_000, 2 ** 47);
    cutoff = now.getTime() - o.olderThanMs;
  } else {
    cutoff = Date.parse(normalizeTime('options.before', o.before));
    if (cutoff > now.getTime()) throw new InvalidInputError('options.before', 'expected a time in the past');
  }
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') throw new InvalidInputError('options.dryRun', 'expected boolean');
  if (o.includeIdle !== undefined && typeof o.includeIdle !== 'boolean') throw new InvalidInputError('options.includeIdle', 'expected boolean');
  if (o.includeIdle && rotation.maxAgeMs === Infinity) throw new InvalidInputError('options.includeIdle', 'needs a rotation policy with maxAgeMs (KeywardenOptions.rotation)');
  const batchSize = o.batchSize ?? 500;
  const listLimit = o.listLimit ?? 1000;
  assertInt('options.batchSize', batchSize, 1, 10_000);
  assertInt('options.listLimit', listLimit, 0, 1_000_000);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidInputError('options.onProgress', 'expected a function');
  return { cutoff, dryRun: o.dryRun ?? false, includeIdle: o.includeIdle ?? false, batchSize, listLimit, signal: o.signal, onProgress: o.onProgress };
}

/** Runs retention: superseded versions first, then (optionally) idle active ones. */
export async function applyRetention(ctx: RetentionContext, o: ReturnType<typeof retentionOptions>): Promise<RetentionReport> {
  const store = ctx.keyStore;
  if (store.scanKeys === undefined) throw new InvalidInputError('options.keyStore', 'this key store cannot scan for retention (no scanKeys)');
  const report: RetentionReport = {
    cutoff: new Date(o.cutoff).toISOString(), dryRun: o.dryRun, versions: 0, alreadyShredded: 0, idleVersions: 0, conversations: 0, conversationsExact: true, items: [], truncated: false, complete: false,
  };
  const seen = new Set<string>();
  const supersededBefore = o.cutoff - ctx.marginMs;
  const passes: { by: 'superseded' | 'activated'; before: number }[] = [{ by: 'superseded', before: supersededBefore }];
  // A version sealed nothing after its rotation deadline (maxAgeMs after activation): under
  // lazy rotation a version of a conversation that went quiet may be superseded long after its
  // last message, or still be active.
  if (o.includeIdle) passes.push({ by: 'activated', before: supersededBefore - lastSealBy(ctx.rotation, 0) });
  for (const pass of passes) {
    // Keywarden's clock reads 1970..2106 (options.now), so no version was superseded or activated
    // before 1970: an earlier bound (a far cut-off, less the margin and maxAgeMs) matches nothing,
    // and is not handed to a store that cannot represent it (outside review, 2026-12-01: PostgreSQL
    // failed the run with SQLSTATE 22008 where the memory store answered an empty page).
    if (!(pass.before > 0)) continue;
    let after: ScanRow | undefined;
    for (;;) {
      if (o.signal?.aborted) return report;
      const page = await storeCall('scan', () => store.scanKeys!({ by: pass.by, before: new Date(pass.before), after, limit: o.batchSize }), undefined, ctx.deadlines);
      if (page.length === 0) break;
      after = page[page.length - 1];
      // In a dry run nothing leaves the scan: do not count what the first pass already took.
      const rows = pass.by === 'activated' && o.dryRun ? page.filter((r) => !(r.supersededAt !== null && r.supersededAt.getTime() < supersededBefore)) : page;
      const groups = new Map<string, number[]>();
      for (const r of rows) {
        const versions = groups.get(r.conversationId);
        if (versions === undefined) groups.set(r.conversationId, [r.version]);
        else versions.push(r.version);
      }
      // What this page shredded, per conversation: in a dry run, every row; otherwise what the
      // store says this transaction shredded (outside review, 2026-12-02: rows a concurrent shred
      // took after the scan were counted as this run's, so two jobs reported them twice).
      let done: [string, number][];
      if (o.dryRun) {
        done = [...groups].map(([c, vs]) => [c, vs.length]);
        for (const r of rows) {
          if (report.items.length >= o.listLimit) {
            report.truncated = true;
            break;
          }
          report.items.push({
            conversationId: r.conversationId, version: r.version, state: r.state,
            ...(pass.by === 'activated' ? { activatedAt: r.at.toISOString() } : {}),
            ...(r.supersededAt === null ? {} : { supersededAt: r.supersededAt.toISOString() }),
          });
        }
      } else {
        const items = [...groups].map(([conversationId, versions]) => ({ conversationId, versions }));
        const results = items.length > 0 ? await ctx.shredPage(items) : [];
        done = items.map((it, i) => [it.conversationId, results[i]?.shredded.length ?? 0]);
        report.alreadyShredded += results.reduce((n, r) => n + r.alreadyShredded.length, 0);
      }
      const count = done.reduce((n, [, k]) => n + k, 0);
      report.versions += count;
      if (pass.by === 'activated') report.idleVersions += count;
      // Exact distinct count in bounded memory: past the cap, a lower bound.
      for (const [c, k] of done) {
        if (k === 0) continue;
        if (seen.size < MAX_COUNTED) seen.add(c);
        else if (!seen.has(c)) report.conversationsExact = false;
      }
      report.conversations = seen.size;
      o.onProgress?.({ versions: report.versions, conversations: report.conversations });
      if (page.length < o.batchSize) break;
    }
  }
  report.complete = true;
  return report;
}
