/**
 * `npm run soak -- --quick --json` (issue #11) runs end to end: the report has its documented
 * shape, nothing failed (no non-retryable or foreign error, no wrong plaintext, nothing stuck),
 * the fault episodes and the cache's long tail actually happened, and the heap check ran. Speed
 * is not asserted; the full soak (`npm run soak`) is run by hand, its figures go in the notes.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
let report: any;
let exitCode: number;

describe('npm run soak -- --quick --json', () => {
  beforeAll(async () => {
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/soak.ts', '--quick', '--json'], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
      exitCode = 0;
      report = JSON.parse(stdout); // exactly one JSON object on stdout
    } catch (err: any) {
      exitCode = err.code;
      report = JSON.parse(err.stdout);
    }
  }, 240_000);

  it('finishes with no failure and exit code 0', () => {
    expect(report.failure_samples).toEqual([]);
    expect(report.failures).toBe(0);
    expect(report.finished).toBe(true);
    expect(report.ok).toBe(true);
    expect(exitCode).toBe(0);
  });

  it('wrote every message and read earlier ones back, under every kind of operation', () => {
    expect(report.config).toMatchObject({ quick: true, messages: 30_000, conversations: 5_000, cache: 500, kmsLatencyMs: 20 });
    expect(report.messages_written).toBe(30_000);
    expect(report.ops.encrypt).toBe(30_000);
    expect(report.ops.decrypt).toBeGreaterThan(1000);
    expect(report.ops.decryptMany).toBeGreaterThan(100);
    expect(report.messages_read).toBeGreaterThan(report.ops.decrypt);
    expect(report.conversations_introduced).toBe(5_000);
    expect(report.throughput.ops_per_s).toBeGreaterThan(0);
    for (const op of ['encrypt', 'decrypt', 'decryptMany']) expect(report.latency[op]).toMatchObject({ count: report.ops[op] });
  });

  it('the long tail kept missing the cache: cold opens, evictions, KMS calls counted on both sides', () => {
    expect(report.cache.size).toBeLessThanOrEqual(500);
    expect(report.cache.evictions).toBeGreaterThan(1000);
    expect(report.cache.misses).toBeGreaterThan(1000);
    expect(report.kms.keywarden.generateDataKey).toBeGreaterThanOrEqual(5_000);
    expect(report.kms.keywarden.unwrapDataKey).toBeGreaterThan(1000);
    // The endpoint sees keywarden's calls plus the SDK's own retries.
    expect(report.kms.endpoint.GenerateDataKey).toBeGreaterThanOrEqual(report.kms.keywarden.generateDataKey);
    expect(report.kms.endpoint.Decrypt).toBeGreaterThanOrEqual(report.kms.keywarden.unwrapDataKey);
  });

  it('faults were injected, and what reached the caller was retryable keywarden errors', () => {
    expect(Object.values(report.faults_injected as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
    for (const code of Object.keys(report.retries.by_code)) expect(code).toMatch(/^ERR_(KMS_UNAVAILABLE|STORE_FAILED)$/);
    expect(report.retries.total).toBe(Object.values(report.retries.by_code as Record<string, number>).reduce((a, b) => a + b, 0));
  });

  it('sampled heap and RSS over time and checked the heap after warm-up', () => {
    expect(report.series.length).toBeGreaterThan(5);
    for (const s of report.series) {
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['t_s', 'ops', 'messages', 'ops_per_s', 'kms_endpoint', 'kms_keywarden', 'cache', 'retries', 'heap_used', 'rss']));
      expect(s.heap_used).toBeGreaterThan(0);
    }
    for (const at of ['start', 'after_warmup', 'end']) expect(report.heap[at].heap_used).toBeGreaterThan(0);
    expect(report.heap.check.samples_after_warmup).toBeGreaterThanOrEqual(3);
    expect(report.heap.check).toMatchObject({ metric: 'heap_used', ok: true, limit: 0.2 });
    expect(report.heap.check_with_array_buffers).toMatchObject({ metric: 'heap_used+array_buffers', ok: true, limit: 0.2 });
    expect(typeof report.heap.check.slope_bytes_per_1k_ops).toBe('number');
  });
});
