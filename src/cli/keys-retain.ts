/**
 * `keywarden keys retain --older-than 90d`: retention by crypto-shredding (Keywarden.retain).
 * Messages older than the cut-off become unreadable by shredding the key versions superseded
 * before it; no message row is touched. `--dry-run` lists what would be shredded.
 * @module
 */
import type { RetentionReport } from '../keys/retention.js';
import { type CommandSpec, EXIT, IncompleteError, type OptionSpec, UsageError, boundedArg } from './common.js';
import { DURATION_SYNTAX, parseDuration } from './durations.js';
import { interruptible } from './interrupt.js';
import { type AuditConfig, auditConfig, auditOptions, keysDatabaseOptions, keysParams, withKeys } from './keys-config.js';
import { databaseConfig, jsonOption } from './options.js';
import { progressBar } from './progress.js';
import { quoted } from './text.js';

/** KeyCache's bound on maxAgeMs (2^40 ms, about 1,818 weeks). */
const MAX_CACHE_AGE_MS = 2 ** 40;

const options: OptionSpec[] = [
  { name: 'older-than', type: 'string', value: 'DURATION', required: true, description: 'make messages sealed longer ago than this unreadable (e.g. 90d; at least 1m)' },
  { name: 'dry-run', type: 'boolean', description: 'list what would be shredded; change nothing (needs no audit keys)' },
  { name: 'include-idle', type: 'boolean', description: 'also shred versions whose rotation deadline passed before the cut-off (quiet conversations)' },
  { name: 'rotation-max-age', type: 'string', value: 'DURATION', description: "with --include-idle: your services' rotation.maxAgeMs (e.g. 30d)" },
  { name: 'cache-max-age', type: 'string', value: 'DURATION', description: "your services' cache.maxAgeMs, kept as a safety margin (default 5m)" },
  { name: 'batch-size', type: 'string', value: 'N', description: 'key versions per page and transaction (default 500)' },
  { name: 'list-limit', type: 'string', value: 'N', description: 'with --dry-run: versions listed at most (default 1000)' },
];

function render(r: RetentionReport): string {
  const what = `${r.versions} key version(s) of ${r.conversationsExact ? '' : 'at least '}${r.conversations} conversation(s)${r.idleVersions > 0 ? ` (${r.idleVersions} by their rotation deadline)` : ''}`;
  const lines = [r.dryRun ? `dry run, cut-off ${r.cutoff}: would shred ${what}` : `cut-off ${r.cutoff}: shredded ${what}${r.alreadyShredded > 0 ? `; ${r.alreadyShredded} more found shredded already (a concurrent shred)` : ''}`];
  for (const it of r.items) {
    const times = [it.activatedAt !== undefined && `activated ${it.activatedAt}`, it.supersededAt !== undefined && `superseded ${it.supersededAt}`].filter(Boolean).join(', ');
    // Conversation ids come from the key store: controls and format characters escaped (src/cli/text.ts).
    lines.push(`  ${quoted(it.conversationId)} v${it.version} ${it.state}${times ? ` (${times})` : ''}`);
  }
  if (r.truncated) lines.push('  … (list cut; --list-limit N shows more)');
  return `${lines.join('\n')}\n`;
}

/** The `keywarden keys retain` command. */
export const retainCommand: CommandSpec = {
  name: 'retain',
  summary: 'retention: shred the key versions of messages older than a cut-off (--dry-run to preview)',
  usage: '--older-than DURATION [--dry-run] [--include-idle --rotation-max-age DURATION] [options]',
  description:
    `DURATION is ${DURATION_SYNTAX}. A version superseded before the cut-off (less the cache\n` +
    'margin) sealed nothing after it, so shredding it erases older messages only; with rotation by\n' +
    'age that is retention at the granularity of the rotation period. Each page is shredded in one\n' +
    'transaction with its key.shredded entries. Ctrl-C stops after the page in progress (exit 3);\n' +
    'run the command again to go on. Needs no master key.',
  options: [...keysDatabaseOptions, ...options, ...auditOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const db = databaseConfig(args);
    const olderThanMs = parseDuration(args.required('older-than'), args.label('older-than'), 60_000, '1m');
    const includeIdle = args.flag('include-idle');
    const rotationText = args.string('rotation-max-age');
    const rotationMaxAge = rotationText === undefined ? undefined : parseDuration(rotationText, args.label('rotation-max-age'), 60_000, '1m');
    if (includeIdle && rotationMaxAge === undefined) throw new UsageError('--include-idle needs --rotation-max-age DURATION: the rotation policy your services apply');
    if (!includeIdle && rotationMaxAge !== undefined) throw new UsageError('--rotation-max-age applies to --include-idle only');
    const cacheText = args.string('cache-max-age');
    const cacheMaxAgeMs = cacheText === undefined ? undefined : parseDuration(cacheText, args.label('cache-max-age'));
    // The library's own bounds, checked before anything connects (exit 2, the flag named):
    // outside review, 2026-12-02.
    if (cacheMaxAgeMs !== undefined && cacheMaxAgeMs > MAX_CACHE_AGE_MS) throw new UsageError(`${args.label('cache-max-age')}: at most ${Math.floor(MAX_CACHE_AGE_MS / 604_800_000)}w`);
    const batchSize = boundedArg(args.string('batch-size'), '--batch-size', 1, 10_000);
    const listLimit = boundedArg(args.string('list-limit'), '--list-limit', 0, 1_000_000);
    const paging = {
      ...(batchSize !== undefined && { batchSize }),
      ...(listLimit !== undefined && { listLimit }),
    };
    const dryRun = args.flag('dry-run');
    if (listLimit !== undefined && !dryRun) throw new UsageError('--list-limit applies to --dry-run only');
    // A dry run changes nothing, so it needs no audit record.
    const audit: AuditConfig = dryRun ? undefined : await auditConfig(args, ctx);
    const keywarden = {
      ...(rotationMaxAge !== undefined && { rotation: { maxAgeMs: rotationMaxAge } }),
      ...(cacheMaxAgeMs !== undefined && { cache: { maxAgeMs: cacheMaxAgeMs } }),
    };
    const report = await withKeys(db, { audit, keywarden }, async (s) => {
      // The bar's total is an upper bound (every superseded version, and active ones for idle).
      const total = ctx.io.terminal?.stderr !== undefined && !args.json
        ? await s.store.summary().then((x) => x.versions.superseded + (includeIdle ? x.versions.active : 0))
        : undefined;
      const bar = progressBar(args, ctx, dryRun ? 'retain (dry run)' : 'retain', 'versions');
      const stop = interruptible(ctx, () => bar.stop());
      try {
        return await s.kw.retain({
          olderThanMs, dryRun, includeIdle, signal: stop.signal, ...paging,
          onProgress: (p) => bar.update(p.versions, total),
        });
      } finally {
        bar.stop();
        stop.release();
      }
    });
    ctx.emit(report, render(report));
    if (!report.complete) throw new IncompleteError(`interrupted after ${report.versions} key version(s); run the same command again to go on`);
    return EXIT.OK;
  },
};
