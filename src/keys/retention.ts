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
import type { KeyStore, ScanRow } from '../store/types.js';
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
  /** Key versions shredded (or that would be). */
  versions: number;
  /** Of which taken by their rotation deadline (`includeIdle`): versions of conversations that went quiet. */
  idleVersions: number;
  /** Distinct conversations touched (counted exactly up to 100,000; see `conversationsExact`). */
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
  /** Shreds one page: versions per conversation, as one store transaction with its audit entries. */
  shredPage(items: { conversationId: string; versions: number[] }[]): Promise<void>;
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
    cutoff: new Date(o.cutoff).toISOString(), dryRun: o.dryRun, versions: 0, idleVersions: 0, conversations: 0, conversationsExact: true, items: [], truncated: false, complete: false,
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
      if (o.dryRun) {
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
      } else if (rows.length > 0) {
        await ctx.shredPage([...groups].map(([conversationId, versions]) => ({ conversationId, versions })));
      }
      report.versions += rows.length;
      if (pass.by === 'activated') report.idleVersions += rows.length;
      // Exact distinct count in bounded memory: past the cap, a lower bound.
      for (const c of groups.keys()) {
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
