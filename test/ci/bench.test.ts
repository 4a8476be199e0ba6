/**
 * `npm run bench -- --quick --json` runs end to end and reports the JSON shape. Speed is
 * not asserted (timed assertions are flaky on shared machines); the counts that do not depend
 * on speed are: KMS calls on the hot path, per new conversation and under a burst, and the
 * cache's heap bytes per key.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
let report: any;

describe('npm run bench -- --quick --json', () => {
  beforeAll(() => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/index.ts', '--quick', '--json', '--kms-delay-ms', '2'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 << 20,
    });
    report = JSON.parse(out); // exactly one JSON object on stdout
  }, 1_200_000); // main's 10 minutes, plus the attachment section (64 MiB and 1 GiB cases, each in its own process: ~8.5 min of --quick at load 15)

  it('has the documented shape for every case, suite and size', () => {
    expect(report.node).toBe(process.version);
    for (const r of report.results) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['case', 'suite', 'bytes', 'ops_per_sec', 'ratio_to_raw', 'ratio_to_esdk']));
      expect(r.ops_per_sec).toBeGreaterThan(0);
    }
    for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305']) {
      for (const op of ['encrypt', 'decrypt']) {
        const sizes = report.results.filter((r: any) => r.impl === 'keywarden' && r.suite === suite && r.case === op).map((r: any) => r.bytes);
        expect(sizes).toEqual([64, 1024, 16384, 1048576]);
      }
    }
    expect(report.results.some((r: any) => r.impl === 'esdk')).toBe(true);
    expect(report.results.some((r: any) => r.case === 'decryptMany' && r.impl === 'keywarden')).toBe(true);
  });

  it('the hot path makes no KMS call; a new conversation makes exactly one, also in a burst', () => {
    expect(report.cold.hot_path.kms_calls).toBe(0);
    expect(report.cold.sequential.kms_calls_per_conversation).toBe(1);
    expect(report.cold.burst).toMatchObject({ encrypts: 10_000, conversations: 1_000, kms_generate_calls: 1_000, every_ciphertext_decrypts: true });
  });

  it('branch keys: one KMS call for every new conversation and one for every cold open on a fresh instance; direct mode one per conversation each way', () => {
    const bc = report.branch_cold;
    expect(bc.conversations).toBe(1_000);
    expect(bc.branch).toMatchObject({ kms_calls_create: 1, kms_calls_open: 1, every_message_opened: true });
    expect(bc.direct).toMatchObject({ kms_calls_create: 1_000, kms_calls_open: 1_000, every_message_opened: true });
  });

  it('the cache stays under 250 heap bytes per key at 1M keys', () => {
    expect(report.memory.keys_1m.keys).toBe(1_000_000);
    expect(report.memory.keys_1m.bytes_per_key).toBeLessThanOrEqual(250);
    expect(report.memory.keys_100k.bytes_per_key).toBeLessThanOrEqual(250);
  });

  it('ciphertext overhead is 38 bytes (format v2) with the default suite at every size', () => {
    for (const o of Object.values(report.overhead_bytes) as any[]) expect(o.keywarden_aes).toBe(38);
  });

  it('attachments: every case at 64 MiB and 1 GiB, with throughput ratios to raw AES-GCM and peak RSS growth', () => {
    const rows = report.attachments.rows as any[];
    for (const bytes of [64 << 20, 1 << 30]) {
      for (const c of ['raw-enc', 'raw-dec', 'node-enc', 'node-dec', 'file-enc', 'file-dec']) {
        const r = rows.find((x) => x.case === c && x.bytes === bytes);
        expect(r, `${c} ${bytes}`).toBeDefined();
        expect(r.mb_per_sec).toBeGreaterThan(0);
        expect(r.rss_growth_mib).toBeGreaterThanOrEqual(0);
      }
    }
    expect(rows.find((x) => x.case === 'esdk-enc' && x.bytes === 64 << 20).ratio_to_raw).toBeGreaterThan(0);
    expect(rows.find((x) => x.case === 'node-enc' && x.bytes === 64 << 20).ratio_to_esdk).toBeGreaterThan(0);
    // The x-raw figures: raw one call and keywarden measured back to back (bench/attachment-case.ts).
    for (const bytes of [64 << 20, 1 << 30]) {
      for (const c of ['paired-enc', 'paired-dec']) expect(rows.find((x) => x.case === c && x.bytes === bytes)?.ratio_to_raw, `${c} ${bytes}`).toBeGreaterThan(0);
    }
    expect(rows.find((x) => x.case === 'paired-enc' && x.bytes === 64 << 20).ratio_to_esdk).toBeGreaterThan(0);
    expect(report.attachments.targets.length).toBeGreaterThanOrEqual(8);
  });
});
