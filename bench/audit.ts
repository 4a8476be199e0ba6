/**
 * `npm run bench:audit [-- --json] [-- --quick] [-- --sizes 1000,1000000,10000000] [-- --duration-ms N] [-- --keep] [-- --only throughput,newconv,scale,snapshot] [-- --stores file,pg]`
 *
 * The audit log at platform scale (issue #14), in one run, on the file store and on PostgreSQL
 * (DATABASE_URL; those parts are skipped without it):
 * 1. integrated entries/s with 1, 4 and 8 service processes appending at once (each with 64
 *    concurrent records; one of them is the sequencer, the others go through the outbox);
 * 2. new conversations/s (first encrypts) with audit on vs off — PostgreSQL key store with the
 *    PostgreSQL audit log, 1 and 4 processes; memory key store with the file audit log;
 * 3. memory and open time of AuditLog.open at each size, then inclusion and consistency proof
 *    times (each in a fresh process; logs built through the stores' own integration step);
 * 4. PostgreSQL: the tree-head lookup after appends under a long-running snapshot.
 * Every child process is bench/audit-worker.ts. Progress goes to stderr; stdout carries the
 * report, or with --json exactly one JSON object. Scratch data lives in the OS temp directory
 * and is removed (--keep leaves the built logs for the next run).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { FileAuditStore } from '../src/audit/file-store.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const json = flag('--json');
const quick = flag('--quick');
const keep = flag('--keep');
// Parts to run (default all): a 10,000,000-entry build takes long, so it can run on its own.
const ONLY = new Set((value('--only') ?? 'throughput,newconv,scale,snapshot').split(','));
const SIZES = (value('--sizes') ?? (quick ? '1000,20000' : '1000,1000000,10000000')).split(',').map(Number);
const DURATION = Number(value('--duration-ms') ?? (quick ? 1500 : 5000));
const PROCESSES = quick ? [1, 2] : [1, 4, 8];
/** Paired rounds of new conversations audit off / on. */
const NC_ROUNDS = quick ? 1 : 5;
const url = process.env.DATABASE_URL;
const { signerKey } = generateNoteKey('bench.example/audit', new Uint8Array(32).fill(1));
const WORKER = fileURLToPath(new URL('./audit-worker.ts', import.meta.url));
const DATA = join(tmpdir(), 'keywarden-bench-audit');
const log = (s: string) => process.stderr.write(`${s}\n`);
let admin: pg.Pool | undefined;
const schemas: string[] = [];

interface Worker {
  child: ChildProcess;
  next: () => Promise<Record<string, unknown>>;
}

function worker(job: Record<string, unknown>): Worker {
  const child = fork(WORKER, [JSON.stringify({ signerKey, ...job })], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m) => (waiting.length > 0 ? waiting.shift()!(m as Record<string, unknown>) : queue.push(m as Record<string, unknown>)));
  const exited = new Promise<never>((_, reject) => child.on('exit', (code) => reject(new Error(`bench worker exited with ${code}`))));
  exited.catch(() => undefined);
  return { child, next: () => Promise.race([queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<Record<string, unknown>>((r) => waiting.push(r)), exited]) };
}
async function stop(ws: Worker[]): Promise<void> {
  await Promise.all(ws.map((w) => new Promise((r) => {
    w.child.once('exit', r);
    w.child.send('exit');
  })));
}

/** Waits until every worker is ready (opened), then starts them all together; returns the start time. */
async function start(ws: Worker[]): Promise<number> {
  for (const w of ws) await w.next();
  const startAt = Date.now() + 300;
  for (const w of ws) w.child.send({ go: startAt });
  return startAt;
}

async function freshSchema(): Promise<string> {
  admin ??= new pg.Pool({ connectionString: url, max: 2 });
  const schema = `kw_bench_${process.pid}_${schemas.length}`;
  schemas.push(schema);
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrate(admin, { schema });
  return schema;
}
async function sizeOf(target: { dir?: string; schema?: string }): Promise<number> {
  if (target.dir !== undefined) {
    const s = await FileAuditStore.open(target.dir);
    try {
      return await s.size();
    } finally {
      await s.close();
    }
  }
  return new PostgresAuditStore(admin!, { schema: target.schema! }).size();
}
const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));

/** 1. integrated entries/s from `n` processes. */
async function throughput(kind: 'file' | 'pg', n: number) {
  const target = kind === 'file' ? { dir: await mkdtemp(join(tmpdir(), 'kw-bench-tp-')) } : { schema: await freshSchema() };
  // All processes open first (one of them takes the sequencer role), then start together.
  const ws = Array.from({ length: n }, (_, i) => worker({ mode: 'produce', store: kind, ...target, url, durationMs: DURATION, concurrency: 64, tag: `p${i}` }));
  const startAt = await start(ws);
  // Integration is measured from 0.5 s after the start (the pipeline is full) to the end.
  await new Promise((r) => setTimeout(r, Math.max(0, startAt + 500 - Date.now())));
  const s0 = await sizeOf(target);
  const t0 = performance.now();
  const reports = await Promise.all(ws.map((w) => w.next()));
  const s1 = await sizeOf(target);
  const ms = performance.now() - t0;
  await stop(ws);
  if (target.dir !== undefined) await rm(target.dir, { recursive: true, force: true });
  const acked = reports.reduce((a, r) => a + (r.acked as number), 0);
  const sequencer = reports.find((r) => r.sequencer) as { stats: { batches: number; size: number } } | undefined;
  return {
    processes: n, integrated_per_sec: rate(s1 - s0, ms), acknowledged_per_sec: rate(acked, DURATION),
    batches: sequencer?.stats.batches ?? null,
    // The log started empty: everything in it was integrated by the one sequencer of the run.
    mean_batch: sequencer ? Math.round(sequencer.stats.size / Math.max(1, sequencer.stats.batches)) : null,
  };
}

/** 2. new conversations/s, audit on vs off. */
async function newConversations(keyStore: 'pg' | 'memory', audit: 'pg' | 'file' | 'none', n: number): Promise<number> {
  const schema = keyStore === 'pg' ? await freshSchema() : undefined;
  const dir = audit === 'file' ? await mkdtemp(join(tmpdir(), 'kw-bench-nc-')) : undefined;
  const ws = Array.from({ length: n }, (_, i) => worker({
    mode: 'newconv', store: audit, dir, schema, ...(keyStore === 'pg' && { url }), durationMs: DURATION, concurrency: 32, tag: `n${i}`,
  }));
  await start(ws);
  const reports = await Promise.all(ws.map((w) => w.next()));
  await stop(ws);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  return rate(reports.reduce((a, r) => a + (r.created as number), 0), DURATION);
}

/** 3. memory, open time and proofs at `size` entries. */
async function scale(kind: 'file' | 'pg', size: number) {
  let target: { dir?: string; schema?: string };
  let built: number | null = null;
  if (kind === 'file') {
    const dir = join(DATA, `file-${size}`);
    if (!existsSync(join(dir, 'built'))) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      log(`building a file log of ${size.toLocaleString('en-US')} entries…`);
      const w = worker({ mode: 'build', store: 'file', dir, size });
      built = (await w.next()).seconds as number;
      await stop([w]);
      await writeFile(join(dir, 'built'), '');
    }
    target = { dir };
  } else {
    admin ??= new pg.Pool({ connectionString: url, max: 2 });
    const schema = `kw_bench_scale_${size}`;
    const ready = await admin.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]).then((r) => r.rowCount === 1 && keep);
    if (!ready || (await new PostgresAuditStore(admin, { schema }).size().catch(() => 0)) !== size) {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await migrate(admin, { schema });
      log(`building a PostgreSQL log of ${size.toLocaleString('en-US')} entries…`);
      const w = worker({ mode: 'build', store: 'pg', url, schema, size });
      built = (await w.next()).seconds as number;
      await stop([w]);
      await admin.query('ANALYZE');
    }
    if (!keep) schemas.push(schema);
    target = { schema };
  }
  const w = worker({ mode: 'open', store: kind, ...target, url, proofs: size >= 1_000_000 ? 200 : 100 });
  const r = await w.next();
  await stop([w]);
  return { size, build_seconds: built, ...r };
}

/** 4. the head lookup after 20 s of appends under a snapshot held open. */
async function snapshotHead() {
  const schema = await freshSchema();
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await holder.query('SELECT count(*) FROM pg_class');
  const ws = [worker({ mode: 'produce', store: 'pg', schema, url, durationMs: quick ? 1500 : 20_000, concurrency: 8 })];
  await start(ws);
  const r = await ws[0]!.next();
  await stop(ws);
  const q = `SELECT note FROM "${schema}".audit_tree ORDER BY start DESC LIMIT 1`;
  const plan = (await admin!.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q}`)).rows[0]['QUERY PLAN'][0];
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await admin!.query(q);
    times.push(performance.now() - t);
  }
  await holder.query('ROLLBACK');
  await holder.end();
  return { appends: r.acked, batches: (r.stats as { batches: number }).batches, head_lookup_buffers: plan.Plan['Shared Hit Blocks'] + plan.Plan['Shared Read Blocks'], head_lookup_ms_median: median(times), execution_ms: plan['Execution Time'] };
}

const report: Record<string, unknown> = { node: process.version, cpus: cpus().length, duration_ms: DURATION, postgres: url !== undefined };
try {
  const kinds = (url !== undefined ? ['file', 'pg'] as const : ['file'] as const).filter((k) => (value('--stores') ?? 'file,pg').split(',').includes(k));
  const tp: Record<string, unknown[]> = {};
  for (const kind of ONLY.has('throughput') ? kinds : []) {
    tp[kind] = [];
    for (const n of PROCESSES) {
      log(`integrated entries/s: ${kind}, ${n} process(es)…`);
      tp[kind]!.push(await throughput(kind, n));
    }
  }
  report.throughput = tp;

  const nc: Record<string, unknown> = {};
  const pairs: [string, 'pg' | 'memory', 'pg' | 'file', number][] = [['memory keys + file audit, 1 process', 'memory', 'file', 1]];
  if (url !== undefined) pairs.push(['postgres keys + postgres audit, 1 process', 'pg', 'pg', 1], ['postgres keys + postgres audit, 4 processes', 'pg', 'pg', 4]);
  for (const [label, keyStore, audit, n] of ONLY.has('newconv') ? pairs : []) {
    const off: number[] = [];
    const on: number[] = [];
    // Rounds of one off and one on run, in alternating order (a drift of the machine's speed
    // within a round then favours neither); the ratio is the median of the rounds' ratios.
    for (let r = 0; r < NC_ROUNDS; r++) {
      log(`new conversations/s: ${label}, round ${r + 1}…`);
      if (r % 2 === 0) off.push(await newConversations(keyStore, 'none', n));
      on.push(await newConversations(keyStore, audit, n));
      if (r % 2 === 1) off.push(await newConversations(keyStore, 'none', n));
    }
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    nc[label] = {
      audit_off: median(off), audit_on: median(on), ratio: round3(median(on.map((v, r) => v / off[r]!))),
      ratio_of_medians: round3(median(on) / median(off)), samples: { off, on },
    };
  }
  report.new_conversations = nc;

  const sc: Record<string, unknown[]> = {};
  for (const kind of ONLY.has('scale') ? kinds : []) {
    sc[kind] = [];
    for (const size of SIZES) {
      log(`open and proofs: ${kind}, ${size.toLocaleString('en-US')} entries…`);
      const row = await scale(kind, size);
      sc[kind]!.push(row);
      log(`  ${kind} ${size}: ${JSON.stringify(row)}`); // each row as it completes: a 10^7 build takes long
    }
  }
  report.scale = sc;
  if (url !== undefined && ONLY.has('snapshot')) {
    log('head lookup under a held snapshot…');
    report.head_under_snapshot = await snapshotHead();
  }
} finally {
  if (admin !== undefined) {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
  if (!keep) await rm(DATA, { recursive: true, force: true });
}

if (json) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  const fmt = (x: unknown) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: 2 }) : String(x));
  const out: string[] = [`audit log at scale — node ${report.node}, ${report.cpus} cores, ${DURATION} ms per throughput case${url ? '' : ' (no DATABASE_URL: file store only)'}`];
  out.push('', 'integrated entries/s (each process: 64 concurrent records)');
  for (const [kind, rows] of Object.entries(report.throughput as Record<string, Record<string, unknown>[]>)) {
    for (const r of rows) out.push(`  ${kind.padEnd(5)} ${String(r.processes).padStart(2)} proc  integrated ${fmt(r.integrated_per_sec).padStart(9)}/s  acknowledged ${fmt(r.acknowledged_per_sec).padStart(9)}/s  mean batch ${fmt(r.mean_batch)}`);
  }
  out.push('', 'new conversations/s (first encrypts; median of rounds)');
  for (const [label, r] of Object.entries(report.new_conversations as Record<string, Record<string, number>>)) out.push(`  ${label.padEnd(46)} off ${fmt(r.audit_off).padStart(7)}  on ${fmt(r.audit_on).padStart(7)}  on/off ${fmt(r.ratio)}`);
  out.push('', 'AuditLog.open and proofs (fresh process per row)');
  for (const [kind, rows] of Object.entries(report.scale as Record<string, Record<string, unknown>[]>)) {
    for (const r of rows) {
      const p = r.proof_ms as Record<string, number>;
      const c = r.consistency_ms as Record<string, number>;
      out.push(`  ${kind.padEnd(5)} ${fmt(r.size).padStart(11)} entries  open ${fmt(r.open_ms).padStart(7)} ms  heap +${fmt((r.heap_delta_bytes as number) / 1024).padStart(7)} KiB  rss +${fmt((r.rss_delta_bytes as number) / 1048576).padStart(6)} MiB  proof p50 ${fmt(p.median)} ms p99 ${fmt(p.p99)} ms (first ${fmt(p.first)})  consistency p50 ${fmt(c.median)} ms`);
    }
  }
  if (report.head_under_snapshot) {
    const h = report.head_under_snapshot as Record<string, number>;
    out.push('', `head lookup after ${fmt(h.appends)} appends (${fmt(h.batches)} batches) under a held snapshot: ${fmt(h.head_lookup_buffers)} buffers, ${fmt(h.head_lookup_ms_median)} ms median`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
