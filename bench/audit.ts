/**
 * `npm run bench:audit` — audit log append throughput and how it scales: entries/s for 1,000
 * and 10,000 entries, in batches of 100 and one by one (a checkpoint signed per append, as
 * break-glass does), in memory and on disk (FileAuditStore: fdatasync per append).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from '../test/support/audit-fixtures.js';

const { signerKey } = generateNoteKey('bench.example/audit');

async function run(label: string, n: number, batch: number, disk: boolean): Promise<void> {
  const dir = disk ? await mkdtemp(join(tmpdir(), 'kw-audit-bench-')) : '';
  const store = disk ? await FileAuditStore.open(dir) : new MemoryAuditStore();
  const log = await AuditLog.open({ store, signerKey, appendTimeoutMs: 60_000 });
  const events = Array.from({ length: n }, (_, i) => sampleEvent(i));
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) await log.append(events.slice(i, i + batch));
  const ms = performance.now() - t0;
  await log.close();
  if (disk) await rm(dir, { recursive: true, force: true });
  console.log(`${label.padEnd(34)} ${String(n).padStart(6)} entries  ${ms.toFixed(0).padStart(7)} ms  ${Math.round(n / (ms / 1000)).toLocaleString('en-US').padStart(8)} entries/s  ${((ms * 1000) / n).toFixed(1).padStart(7)} µs/entry`);
}

console.log(`audit log append, node ${process.version}`);
for (const n of [1_000, 10_000]) await run('memory, batches of 100', n, 100, false);
for (const n of [1_000, 10_000]) await run('memory, one per append', n, 1, false);
for (const n of [1_000, 10_000]) await run('file (fdatasync), batches of 100', n, 100, true);
for (const n of [1_000, 10_000]) await run('file (fdatasync), one per append', n, 1, true);
