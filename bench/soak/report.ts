/** The soak's samples, its table on stderr, and the "heap flat after warm-up" check. */

export interface Sample {
  t_s: number;
  ops: number;
  messages: number;
  ops_per_s: number;
  ops_per_s_overall: number;
  /** Latency of the operations completed in the interval. */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Requests the KMS endpoint received, by operation (SDK retries included), cumulative. */
  kms_endpoint: Record<string, number>;
  /** keywarden's own KMS calls (`stats().kms`), cumulative. */
  kms_keywarden: { generateDataKey: number; unwrapDataKey: number };
  cache: { hits: number; misses: number; loads: number; coalesced: number; evictions: number; size: number };
  retries: number;
  failures: number;
  /** After a full gc(). */
  heap_used: number;
  rss: number;
  external: number;
  array_buffers: number;
  kms_process_rss: number;
  /** Versions held by an in-process MemoryKeyStore (tombstones included); 0 for PostgreSQL. */
  key_store_versions: number;
}

export interface HeapCheck {
  /**
   * What was fitted: `heap_used`, or `heap_used + array_buffers` (ArrayBuffer backing stores live
   * outside the JS heap); `-key_store`: less the in-process MemoryKeyStore's versions (its data,
   * which grows with every rotation by design), at `key_store_bytes_per_version` each.
   */
  metric: 'heap_used' | 'heap_used+array_buffers' | 'heap_used-key_store' | 'heap_used+array_buffers-key_store';
  key_store_bytes_per_version: number;
  warmup_messages: number;
  samples_after_warmup: number;
  first_after_warmup: number;
  median_after_warmup: number;
  end: number;
  /** Least-squares slope of heap used against operations, post-warm-up. */
  slope_bytes_per_1k_ops: number;
  /** The fitted line's rise over the post-warm-up operations, as a fraction of the median. */
  fitted_growth: number;
  ratio_last_to_first: number;
  growth_from_median: number;
  limit: number;
  ok: boolean;
  note?: string;
}

const MB = (b: number) => (b / 1048576).toFixed(1);
const COLUMNS: [string, number][] = [
  ['t(s)', 6], ['ops', 9], ['msgs', 9], ['ops/s', 7], ['avg/s', 7], ['p99ms', 7], ['GDK', 7], ['Decrypt', 8], ['kw unw', 7],
  ['hits', 9], ['misses', 8], ['evict', 8], ['size', 6], ['retry', 6], ['fail', 5], ['heapMB', 7], ['abufMB', 7], ['rssMB', 7],
];

export function tableHeader(): string {
  return COLUMNS.map(([h, w]) => h.padStart(w)).join(' ');
}

export function tableRow(s: Sample): string {
  const cells = [
    s.t_s.toFixed(0), s.ops, s.messages, Math.round(s.ops_per_s), Math.round(s.ops_per_s_overall), s.p99_ms.toFixed(0),
    s.kms_endpoint.GenerateDataKey ?? 0, s.kms_endpoint.Decrypt ?? 0, s.kms_keywarden.unwrapDataKey,
    s.cache.hits, s.cache.misses, s.cache.evictions, s.cache.size, s.retries, s.failures, MB(s.heap_used), MB(s.array_buffers), MB(s.rss),
  ];
  return cells.map((c, i) => String(c).padStart(COLUMNS[i]![1])).join(' ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Fits the heap samples taken after warm-up (messages >= warmupMessages). The run fails when the
 * end heap exceeds the post-warm-up median by more than `limit` (a fraction), or when the fitted
 * line rises by more than `limit` of the median over the post-warm-up operations: a flat heap
 * fluctuates around its median; a leak keeps climbing (a steady one ends only ~half its rise
 * above the median, hence the second test).
 */
export function heapCheck(samples: Sample[], warmupMessages: number, limit: number, metric: HeapCheck['metric'] = 'heap_used', storeBytesPerVersion = 0): HeapCheck {
  const post = samples.filter((s) => s.messages >= warmupMessages);
  const base = { metric, key_store_bytes_per_version: storeBytesPerVersion, warmup_messages: warmupMessages, samples_after_warmup: post.length, limit };
  if (post.length < 3) {
    return { ...base, first_after_warmup: 0, median_after_warmup: 0, end: 0, slope_bytes_per_1k_ops: 0, fitted_growth: 0, ratio_last_to_first: 1, growth_from_median: 0, ok: true, note: 'fewer than 3 samples after warm-up: not checked' };
  }
  const xs = post.map((s) => s.ops);
  const store = (s: Sample) => (metric.endsWith('-key_store') ? s.key_store_versions * storeBytesPerVersion : 0);
  const ys = post.map((s) => (metric.startsWith('heap_used+array_buffers') ? s.heap_used + s.array_buffers : s.heap_used) - store(s));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const first = ys[0]!;
  const end = ys[ys.length - 1]!;
  const med = median(ys);
  const growth = end / med - 1;
  const fitted = (slope * (xs[xs.length - 1]! - xs[0]!)) / med;
  return {
    ...base,
    first_after_warmup: first,
    median_after_warmup: med,
    end,
    slope_bytes_per_1k_ops: Math.round(slope * 1000),
    fitted_growth: Math.round(fitted * 1000) / 1000,
    ratio_last_to_first: Math.round((end / first) * 1000) / 1000,
    growth_from_median: Math.round(growth * 1000) / 1000,
    ok: growth <= limit && fitted <= limit,
  };
}

export function heapSummary(h: HeapCheck): string {
  if (h.note) return `${h.metric} after warm-up: ${h.note}`;
  const per = h.metric.endsWith('-key_store') ? ` (${h.key_store_bytes_per_version} B per stored version)` : '';
  return `${h.metric}${per} after warm-up (${h.samples_after_warmup} samples from message ${h.warmup_messages.toLocaleString('en-US')}): first ${MB(h.first_after_warmup)} MB, median ${MB(h.median_after_warmup)} MB, end ${MB(h.end)} MB; slope ${h.slope_bytes_per_1k_ops} B per 1,000 ops (fitted rise ${(h.fitted_growth * 100).toFixed(1)}%); last/first ${h.ratio_last_to_first}; end vs median ${(h.growth_from_median * 100).toFixed(1)}% (limit ${(h.limit * 100).toFixed(0)}%): ${h.ok ? 'flat' : 'GROWING'}`;
}
