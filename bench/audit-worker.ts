/**
 * A child process of `npm run bench:audit` (bench/audit.ts), driven over IPC. Modes:
 * - `produce`: one service instance appending audit events (records, acknowledged once durable)
 *   with `concurrency` loops for `durationMs`; whichever instance wins the role integrates;
 * - `newconv`: one service instance creating new conversations (first encrypts) with or without
 *   audit, for `durationMs`;
 * - `open`: memory and time to open a large log, then inclusion and consistency proof times;
 * - `build`: builds a large log (bench/audit-build.ts).
 * Each reports one JSON message to the parent and waits for `exit`.
 */
import pg from 'pg';
import { AuditIdHasher, newEvent } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import type { AuditStore } from '../src/audit/store.js';
import { verifyTlogProof } from '../src/audit/formats.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { buildLog } from './audit-build.js';

interface Job {
  mode: 'produce' | 'newconv' | 'open' | 'build';
  store: 'file' | 'pg' | 'memory' | 'none';
  dir?: string;
  url?: string;
  schema?: string;
  signerKey: string;
  durationMs?: number;
  concurrency?: number;
  size?: number;
  proofs?: number;
  tag?: string;
}

const job = JSON.parse(process.argv[2]!) as Job;
const ids = new AuditIdHasher(new Uint8Array(32).fill(3));
const gc = (globalThis as { gc?: () => void }).gc;
const send = (m: unknown) => process.send!(m);
let pool: pg.Pool | undefined;

async function store(): Promise<AuditStore> {
  if (job.store === 'file') return FileAuditStore.open(job.dir!);
  pool ??= new pg.Pool({ connectionString: job.url, max: 8 });
  return new PostgresAuditStore(pool, { schema: job.schema! });
}
const until = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
// The parent sends { go: startAt } once every worker is ready (process start-up under load takes
// seconds, so a start time fixed before the fork could already be past).
const go = new Promise<number>((resolve) => {
  const on = (m: unknown) => {
    if (m !== null && typeof m === 'object' && typeof (m as { go?: unknown }).go === 'number') {
      process.off('message', on);
      resolve((m as { go: number }).go);
    }
  };
  process.on('message', on);
});
const mem = () => {
  for (let i = 0; i < 4; i++) gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
};
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function produce(): Promise<unknown> {
  const log = await AuditLog.open({ store: await store(), signerKey: job.signerKey, appendTimeoutMs: 60_000, pollMs: 20, roleCheckMs: 500 });
  send({ ready: true });
  const startAt = await go;
  await until(startAt);
  const end = startAt + job.durationMs!;
  let acked = 0;
  let n = 0;
  const tag = job.tag ?? String(process.pid);
  await Promise.all(Array.from({ length: job.concurrency! }, async () => {
    while (Date.now() < end) {
      const i = n++;
      await log.record(newEvent('key.created', { actor: `bench-${tag}`, now: () => new Date() }, { conversation: ids.conversation(`c-${tag}-${i}`), version: 1, masterKeyId: 'local:bench', suite: 'AES-256-GCM' }));
      acked++;
    }
  }));
  return { acked, sequencer: log.isSequencer, stats: log.stats(), hold: log };
}

async function newconv(): Promise<unknown> {
  const keyStore = job.url !== undefined ? new PostgresKeyStore((pool ??= new pg.Pool({ connectionString: job.url, max: 16 })), { schema: job.schema! }) : new MemoryKeyStore();
  const log = job.store === 'none' ? undefined : await AuditLog.open({ store: await store(), signerKey: job.signerKey, appendTimeoutMs: 60_000, pollMs: 20 });
  const kw = new Keywarden({ masterKey: new LocalMasterKey(new Uint8Array(32).fill(9)), keyStore, ...(log !== undefined && { audit: { log, ids, actor: 'bench' } }) });
  send({ ready: true });
  const startAt = await go;
  await until(startAt);
  const end = startAt + job.durationMs!;
  let created = 0;
  let n = 0;
  const tag = job.tag ?? String(process.pid);
  const pt = new Uint8Array(64);
  await Promise.all(Array.from({ length: job.concurrency! }, async () => {
    while (Date.now() < end) {
      await kw.encrypt(`conv-${tag}-${n++}`, pt);
      created++;
    }
  }));
  return { created, hold: { kw, log } };
}

async function open(): Promise<unknown> {
  const before = mem();
  const t0 = performance.now();
  const log = await AuditLog.open({ store: await store(), signerKey: job.signerKey, appendTimeoutMs: 60_000, roleCheckMs: 60_000 });
  const openMs = performance.now() - t0;
  const after = mem();
  const size = log.size;
  const proofs: number[] = [];
  const consistency: number[] = [];
  let verified = 0;
  for (let k = 0; k < job.proofs!; k++) {
    const i = Math.floor(Math.random() * size);
    const t = performance.now();
    const text = await log.proof(i);
    proofs.push(performance.now() - t);
    if (k < 20 && verifyTlogProof(text, await log.entry(i), log.verifierKey).ok) verified++;
    const m = Math.floor(Math.random() * size);
    const t2 = performance.now();
    await log.consistency(m);
    consistency.push(performance.now() - t2);
  }
  const end = mem();
  await log.close();
  return {
    size, open_ms: openMs, rss_delta_bytes: after.rss - before.rss, heap_delta_bytes: after.heap - before.heap, heap_after_proofs_delta_bytes: end.heap - before.heap,
    proof_ms: { first: proofs[0], median: percentile(proofs, 0.5), p99: percentile(proofs, 0.99) },
    consistency_ms: { first: consistency[0], median: percentile(consistency, 0.5), p99: percentile(consistency, 0.99) },
    proofs_verified: verified,
  };
}

async function build(): Promise<unknown> {
  const s = await store();
  const t0 = performance.now();
  let last = 0;
  await buildLog(s, job.signerKey, job.size!, (done) => {
    if (performance.now() - last > 10_000) {
      last = performance.now();
      process.stderr.write(`  built ${done.toLocaleString('en-US')} of ${job.size!.toLocaleString('en-US')} entries\n`);
    }
  });
  await s.close();
  return { seconds: (performance.now() - t0) / 1000 };
}

const run = { produce, newconv, open, build }[job.mode];
const result = (await run()) as { hold?: unknown };
const { hold, ...report } = result;
send(report);
process.on('message', async (m) => {
  if (m !== 'exit') return;
  void hold;
  await pool?.end().catch(() => undefined);
  process.exit(0);
});
