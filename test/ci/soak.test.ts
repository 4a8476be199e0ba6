/**
 * `npm run soak -- --quick --json` (issue #11) runs end to end: the report has its documented
 * shape, nothing failed (no unexpected error, no wrong plaintext, no shredded message opened,
 * nothing stuck, the key store agrees with the rotation policy and the shreds), the fault
 * episodes, the cache's long tail, the shreds, new generations and rotations by count and by
 * age actually happened, and the heap check ran. Speed is not asserted; the full soak
 * (`npm run soak`) is run by hand, its figures are in the README (Performance).
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
  }, 1_200_000); // a minute or two alone; 10-15 minutes on a 2-core machine shared with ~6 test runs

  it('finishes with no failure and exit code 0', () => {
    expect(report.failure_samples).toEqual([]);
    expect(report.failures).toBe(0);
    expect(report.finished).toBe(true);
    expect(report.stopped_early).toBe(false);
    expect(report.ok).toBe(true);
    expect(exitCode).toBe(0);
  });

  it('wrote every message and read earlier ones back, under every kind of operation', () => {
    expect(report.config).toMatchObject({ quick: true, messages: 30_000, conversations: 5_000, cache: 500, kmsLatencyMs: 20 });
    expect(report.messages_written).toBe(30_000);
    // Encrypts refused because their conversation was shredded as a whole are operations too.
    expect(report.ops.encrypt).toBe(30_000 + report.refused_shredded.encrypt);
    expect(report.ops.decrypt).toBeGreaterThan(1000);
    expect(report.ops.decryptMany).toBeGreaterThan(100);
    expect(report.messages_read).toBeGreaterThan(report.ops.decrypt);
    expect(report.conversations_introduced).toBe(5_000);
    expect(report.throughput.ops_per_s).toBeGreaterThan(0);
    for (const op of ['encrypt', 'decrypt', 'decryptMany', 'shred', 'startGeneration']) expect(report.latency[op]).toMatchObject({ count: report.ops[op] });
  });

  it('shredded conversations refused with ERR_KEY_SHREDDED, some started a new generation, the store agrees', () => {
    expect(report.ops.shred).toBeGreaterThanOrEqual(10);
    expect(report.shreds.whole).toBeGreaterThan(0);
    expect(report.shreds.below).toBeGreaterThan(0);
    expect(report.shreds.whole + report.shreds.below).toBe(report.ops.shred);
    // Every shred that was not a repeat shredded at least one version.
    expect(report.shreds.versionsShredded).toBeGreaterThanOrEqual(report.ops.shred - report.shreds.repeated);
    expect(report.shreds.generationsStarted).toBe(report.ops.startGeneration);
    expect(report.shreds.generationsStarted).toBeGreaterThan(0);
    // Old messages of shredded versions were read back and refused, as they must be.
    expect(report.refused_shredded.decrypt + report.refused_shredded.decryptManyItems).toBeGreaterThan(0);
    expect(report.key_check).toMatchObject({ ok: true, problems: [], shred_mismatches: 0, over_budget: 0, sealed_past_age: 0 });
    expect(report.key_check.versions.shredded).toBe(report.shreds.versionsShredded);
  });

  it('the rotation policy rotated by message count and by age, alongside manual rotations', () => {
    expect(report.config).toMatchObject({ rotateMaxMessages: 100, reservation: 5, rotateMaxAgeMs: 60_000, clockSpeed: 10 });
    const v = report.key_check.new_versions;
    expect(v.unexplained).toBe(0);
    expect(v.by_count).toBeGreaterThan(0);
    expect(v.by_age).toBeGreaterThan(0);
    expect(v.by_call).toBeGreaterThanOrEqual(report.shreds.generationsStarted);
    expect(report.key_check.max_sealed_reserved).toBeLessThanOrEqual(100);
    expect(report.key_check.kept_messages_checked).toBeGreaterThan(1000);
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
    // The in-process MemoryKeyStore grows with every rotation by design: judged without it.
    expect(report.heap.key_store_bytes_per_version.heap).toBeGreaterThan(100);
    expect(report.heap.key_store_versions_end).toBe(Object.values(report.key_check.versions as Record<string, number>).reduce((a, b) => a + b, 0));
    expect(report.heap.check).toMatchObject({ metric: 'heap_used-key_store', ok: true, limit: 0.2 });
    expect(report.heap.check_with_array_buffers).toMatchObject({ metric: 'heap_used+array_buffers-key_store', ok: true, limit: 0.2 });
    expect(report.heap.raw).toMatchObject({ metric: 'heap_used' });
    expect(typeof report.heap.check.slope_bytes_per_1k_ops).toBe('number');
  });
});
