/**
 * Attachments (issue #16): streaming encrypt and decrypt of 64 MiB and 1 GiB against raw
 * node:crypto AES-256-GCM over the same bytes in one call (and in one context fed 64 KiB at a
 * time), and against the AWS Encryption SDK's streaming encrypt; the peak RSS growth of each, in
 * memory and from storage to storage (bench/attachment-case.ts says what each case does). Every
 * case runs in a process of its own, in a fresh random order each round; figures are medians over
 * rounds (RSS: the largest growth seen). Part of `npm run bench`; alone: `npm run
 * bench:attachments [-- --quick] [-- --json]`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encryptFile } from '../src/stream/node.js';
import { BENCH_CONVERSATION, type CaseResult, fixedKeywarden } from './attachment-case.js';
import { median } from './harness.js';

const MiB = 1 << 20;
const script = fileURLToPath(new URL('./attachment-case.ts', import.meta.url));

export interface AttachmentRow {
  case: string;
  bytes: number;
  mb_per_sec: number;
  /** x raw AES-256-GCM over the same bytes in one call (the baseline). */
  ratio_to_raw: number;
  /** x raw AES-256-GCM in one context fed 64 KiB at a time (the ceiling of any stream). */
  ratio_to_raw_stream: number;
  ratio_to_esdk: number | null;
  rss_growth_mib: number;
  rounds: number;
}

export interface AttachmentReport {
  node: string;
  rows: AttachmentRow[];
  targets: { name: string; value: number; target: number; higher: boolean; ok: boolean }[];
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Runs every case of both sizes; `quick` does one round and leaves the slower contenders out of the 1 GiB size. */
export async function measureAttachments(opts: { quick: boolean; log: (s: string) => void }): Promise<AttachmentReport> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kw-bench-att-'));
  try {
    const dataKey = randomBytes(32);
    writeFileSync(join(dir, 'key'), dataKey);
    const kw = fixedKeywarden(dataKey);
    const sizes = [64 * MiB, 1024 * MiB];
    const rows: AttachmentRow[] = [];
    for (const size of sizes) {
      const big = size > 64 * MiB;
      // Inputs for every case, made once: random plaintext and its attachment (on tmpfs when there is one).
      const plain = join(dir, `plain-${size}`);
      writeFileSync(plain, randomBytes(size));
      await encryptFile(kw, BENCH_CONVERSATION, plain, join(dir, `att-${size}`));
      const all = ['raw', 'paired-enc', 'paired-dec', 'node-enc', 'node-dec', 'web-enc', 'web-dec', 'esdk-enc', 'pipe-enc', 'pipe-dec', 'file-enc', 'file-dec', 'copy'];
      const cases = all.filter((c) => !(opts.quick && big && ['web-enc', 'web-dec', 'esdk-enc', 'copy'].includes(c)));
      const rounds = opts.quick ? 1 : big ? 2 : 3;
      opts.log(`attachments: ${size / MiB} MiB, ${cases.length} cases x ${rounds} rounds, each in its own process…`);
      const samples = new Map<string, CaseResult[]>();
      for (let r = 0; r < rounds; r++) {
        for (const c of shuffle([...cases])) {
          const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, c, String(size), dir, opts.quick ? 'quick' : 'full'], { encoding: 'utf8', maxBuffer: 1 << 20 });
          for (const res of JSON.parse(out.trim().split('\n').pop()!) as CaseResult[]) samples.set(res.case, [...(samples.get(res.case) ?? []), res]);
        }
      }
      const mbps = (c: string) => median(samples.get(c)?.map((s) => s.mb_per_sec) ?? [NaN]);
      const r3 = (x: number) => Math.round(x * 1000) / 1000;
      for (const [c, list] of samples) {
        const dec = c.endsWith('-dec');
        const raw = mbps(dec ? 'raw-dec' : 'raw-enc');
        const esdk = !dec && samples.has('esdk-enc') ? mbps('esdk-enc') : null;
        // Paired cases carry their own ratios, each from raw and keywarden measured back to back.
        const paired = list.flatMap((x) => x.ratios ?? []);
        rows.push({
          case: c, bytes: size, mb_per_sec: mbps(c), ratio_to_raw: r3(paired.length > 0 ? median(paired) : mbps(c) / raw), ratio_to_raw_stream: r3(mbps(c) / mbps(dec ? 'raw-stream-dec' : 'raw-stream-enc')),
          ratio_to_esdk: list.some((x) => x.esdkRatios) ? Math.round(median(list.flatMap((x) => x.esdkRatios ?? [])) * 100) / 100 : esdk === null ? null : Math.round((mbps(c) / esdk) * 100) / 100,
          rss_growth_mib: Math.max(...list.map((s) => s.rss_growth_mib)), rounds: list.length,
        });
      }
      rmSync(plain, { force: true });
      rmSync(join(dir, `att-${size}`), { force: true });
    }
    const row = (c: string, size: number) => rows.find((x) => x.case === c && x.bytes === size)!;
    const targets = [
      ...['paired-enc', 'paired-dec'].flatMap((c) => sizes.map((s) => ({ name: `${c} ${s / MiB} MiB (Node Transform), x raw AES-256-GCM in one call, median of back-to-back pairs`, value: row(c, s).ratio_to_raw, target: 0.9, higher: true }))),
      ...['pipe-enc', 'pipe-dec', 'file-enc', 'file-dec'].map((c) => ({ name: `${c} 1 GiB, peak RSS growth (MiB)`, value: row(c, 1024 * MiB).rss_growth_mib, target: 16, higher: false })),
    ].map((t) => ({ ...t, ok: t.higher ? t.value >= t.target : t.value < t.target }));
    return { node: process.version, rows, targets };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The report as a table. */
export function attachmentTable(r: AttachmentReport): string {
  const head = ['case', 'size', 'MB/s', 'x raw', 'x raw-stream', 'x esdk', 'RSS+ MiB'];
  const widths = [14, 9, 7, 7, 12, 7, 9];
  const line = (cells: (string | number)[]) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' ');
  const lines = [`attachments (node ${r.node}; medians; RSS = largest peak growth over rounds; x raw = one call over the same bytes)`, line(head)];
  const order = ['raw-enc', 'raw-stream-enc', 'paired-enc', 'node-enc', 'web-enc', 'esdk-enc', 'raw-dec', 'raw-stream-dec', 'paired-dec', 'node-dec', 'web-dec', 'copy', 'pipe-enc', 'file-enc', 'pipe-dec', 'file-dec'];
  const rows = [...r.rows].sort((a, b) => a.bytes - b.bytes || order.indexOf(a.case) - order.indexOf(b.case));
  for (const x of rows) lines.push(line([x.case, `${x.bytes / MiB} MiB`, x.mb_per_sec, x.ratio_to_raw, x.ratio_to_raw_stream, x.ratio_to_esdk ?? '', x.rss_growth_mib]));
  lines.push('', 'attachment targets:');
  for (const t of r.targets) lines.push(`  ${t.ok ? 'ok  ' : 'MISS'} ${t.name}: ${t.value} (target ${t.higher ? '>=' : '<'} ${t.target})`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('attachments.ts')) {
  const args = process.argv.slice(2);
  const report = await measureAttachments({ quick: args.includes('--quick'), log: (s) => process.stderr.write(`${s}\n`) });
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(report)}\n` : `${attachmentTable(report)}\n`);
}
