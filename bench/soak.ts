/**
 * `npm run soak [-- --quick] [-- --json] [-- --postgres [URL]] …` (issue #11): keywarden under a
 * long, realistic load with a KMS that misbehaves. One million messages over 100,000
 * conversations of Zipf-like popularity through a 10,000-entry cache (so the long tail keeps
 * missing: cold opens and evictions all the time), with decrypts of earlier messages, pages
 * read with decryptMany, manual rotations, the rotation policy (by message count and by age),
 * shreds (whole conversations, and every version below the latest) and new generations of
 * shredded conversations, 64 operations in flight; every outcome is checked against the
 * expected plaintext or the expected ERR_KEY_SHREDDED, and the key store is checked at the end
 * (bench/soak/keycheck.ts). The master key is
 * AwsKmsMasterKey over the real @aws-sdk/client-kms against the KMS-compatible test endpoint
 * (20 ms latency, fault episodes: throttling, 5xx, dropped sockets, hangs shorter and longer than
 * keywarden's deadline), run in a child process. Reports throughput, KMS calls, cache counters,
 * retries, shreds, heap (after gc) and RSS over time, and checks that the heap is flat after
 * warm-up. Exits 1 on any unexpected outcome.
 * Not part of `npm test` (test/ci/soak.test.ts runs `--quick`). Modules: bench/soak/.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, type KeyStore, MemoryKeyStore } from '../src/node.js';
import { Driver, Histogram, OP_KINDS, describe } from './soak/driver.js';
import { checkKeys } from './soak/keycheck.js';
import { memoryStoreBytesPerVersion } from './soak/store-size.js';
import { startRemoteKms } from './soak/kms-remote.js';
import { type SoakOptions, USAGE, UsageError, parseOptions } from './soak/options.js';
import { type Sample, heapCheck, heapSummary, tableHeader, tableRow } from './soak/report.js';
import { Rng, conversationId } from './soak/workload.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('soak: run with --expose-gc (npm run soak does)\n');
  process.exit(2);
}
if (process.argv.includes('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
let o: SoakOptions;
try {
  o = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`soak: ${err.message}\n${USAGE}\n`);
  process.exit(2);
}
const log = (s: string) => process.stderr.write(`${s}\n`);
function speededClock(speed: number): () => Date {
  const start = Date.now();
  return () => new Date(start + (Date.now() - start) * speed);
}
/** An operation in flight longer than this is a stuck conversation (retries alone stay far below it). */
const STUCK_MS = Math.max(120_000, 30 * o.kmsTimeoutMs);

// ---- set-up: the KMS process, the key store, keywarden --------------------------------------
const kms = await startRemoteKms({ latencyMs: o.kmsLatencyMs, faultEveryMs: o.faultEveryMs, kmsTimeoutMs: o.kmsTimeoutMs, seed: o.seed });
const client = kms.client();
const masterKey = new AwsKmsMasterKey({ client, keyId: kms.keyArn });
let keyStore: KeyStore;
let closeStore = async () => {};
if (o.postgres !== undefined) {
  const { default: pg } = await import('pg');
  const { PostgresKeyStore, migrate } = await import('../src/postgres.js');
  const pool = new pg.Pool({ connectionString: o.postgres, max: 16 });
  pool.on('error', () => {}); // an idle client's lost connection: the next query reports it
  const schema = `kw_soak_${randomBytes(4).toString('hex')}`;
  await migrate(pool, { schema });
  keyStore = new PostgresKeyStore(pool, { schema });
  closeStore = async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  };
} else keyStore = new MemoryKeyStore();
const kw = new Keywarden({
  masterKey,
  keyStore,
  cache: { maxEntries: o.cache, maxAgeMs: o.cacheMaxAgeMs },
  timeouts: { kmsMs: o.kmsTimeoutMs, storeMs: 5_000 },
  rotation: { maxMessages: o.rotateMaxMessages, maxAgeMs: o.rotateMaxAgeMs },
  reservationSize: o.reservation,
  // A faster clock brings rotation by age into a short run; it starts at the real time.
  ...(o.clockSpeed === 1 ? {} : { now: speededClock(o.clockSpeed) }),
});
const driver = new Driver(kw, o, new Rng(o.seed));
process.on('unhandledRejection', (reason) => driver.fail({ kind: 'unhandled-rejection', op: 'process', error: describe(reason) }));

const storeName = o.postgres === undefined ? 'MemoryKeyStore' : 'PostgresKeyStore';
log(
  `soak: ${o.messages.toLocaleString('en-US')} messages over ${o.conversations.toLocaleString('en-US')} conversations (Zipf ${o.zipf}; ` +
    `ideal hit rate of a ${o.cache.toLocaleString('en-US')}-entry cache ${(driver.zipf.massOfTop(o.cache) * 100).toFixed(1)}%), ` +
    `${o.concurrency} in flight, KMS ${o.kmsLatencyMs} ms ${o.faultEveryMs > 0 ? `with a fault episode every ${o.faultEveryMs} ms` : 'without faults'}, ` +
    `kmsMs ${o.kmsTimeoutMs}, ${storeName}; rotation maxMessages ${o.rotateMaxMessages.toLocaleString('en-US')} (reservations of ${o.reservation}), maxAgeMs ${o.rotateMaxAgeMs.toLocaleString('en-US')}` +
    `${o.clockSpeed === 1 ? '' : ` (clock ${o.clockSpeed}x)`}; shreds 1 in ${Math.round(1 / o.shredRate).toLocaleString('en-US')} operations; ` +
    `warm-up: first ${(o.warmup * 100).toFixed(0)}% of the messages`,
);

// ---- sampling ---------------------------------------------------------------------------------
const samples: Sample[] = [];
const t0 = performance.now();
let prev = { t: 0, ops: 0 };
let stuck: (() => void) | undefined;
const stuckSignal = new Promise<void>((r) => (stuck = r));

/** Versions an in-process MemoryKeyStore holds (its data is in the heap the soak checks). */
async function storedVersions(): Promise<number> {
  if (o.postgres !== undefined || keyStore.summary === undefined) return 0;
  const v = (await keyStore.summary()).versions;
  return v.active + v.superseded + v.shredded;
}

async function sample(): Promise<Sample> {
  gc!();
  const mem = process.memoryUsage();
  const k = await kms.stats();
  const st = kw.stats();
  const t = (performance.now() - t0) / 1000;
  const ops = driver.opsDone;
  const h = driver.interval;
  driver.interval = new Histogram();
  const s: Sample = {
    t_s: Math.round(t * 10) / 10,
    ops,
    messages: driver.sealed,
    ops_per_s: t > prev.t ? (ops - prev.ops) / (t - prev.t) : 0,
    ops_per_s_overall: t > 0 ? ops / t : 0,
    ...(({ p50_ms, p99_ms, max_ms }) => ({ p50_ms, p99_ms, max_ms }))(h.summary()),
    kms_endpoint: k.calls,
    kms_keywarden: st.kms,
    cache: st.cache,
    retries: Object.values(driver.retries).reduce((a, b) => a + b, 0),
    failures: driver.failures,
    heap_used: mem.heapUsed,
    rss: mem.rss,
    external: mem.external,
    array_buffers: mem.arrayBuffers,
    kms_process_rss: k.memory.rss,
    key_store_versions: await storedVersions(),
  };
  prev = { t, ops };
  samples.push(s);
  log(tableRow(s));
  const oldest = driver.oldestInflight();
  if (oldest.ms > STUCK_MS) {
    driver.fail({ kind: 'stuck', op: oldest.op!, conversation: oldest.conversation!, error: `in flight for ${Math.round(oldest.ms / 1000)} s` });
    stuck!();
  }
  return s;
}

log(tableHeader());
await sample();
let sampling = false;
const timer = setInterval(() => {
  if (sampling) return;
  sampling = true;
  void sample().finally(() => (sampling = false));
}, o.intervalMs);

// ---- the run ----------------------------------------------------------------------------------
let stoppedEarly = false;
const maxTimer = o.maxSeconds > 0 ? setTimeout(() => ((stoppedEarly = true), (driver.stopping = true)), o.maxSeconds * 1000) : undefined;
const finished = await Promise.race([Promise.all(driver.run()).then(() => true), stuckSignal.then(() => false)]);
driver.stopping = true;
clearInterval(timer);
clearTimeout(maxTimer);
while (sampling) await new Promise((r) => setTimeout(r, 10));
const last = await sample();
const elapsed = (performance.now() - t0) / 1000;
const k = await kms.stats();
const st = kw.stats();
log('checking the key store...');
const kc = await checkKeys({
  keyStore,
  // Every rank: Zipf picks reach conversations the warm-up has not introduced yet.
  conversations: Array.from({ length: o.conversations }, (_, r) => conversationId(r)),
  policy: kw.rotation,
  madeByCall: driver.madeByCall,
  model: driver.model,
  kept: driver.keptMessages(),
});
// With the in-process store, judge keywarden's heap without the store's own data (store-size.ts).
let perVersion = { heap: 0, arrayBuffers: 0 };
// A stored version to size the store by: the hottest conversation's, or the next rank's when
// every version of it was shredded (CI on d272f97 met a run where rank 0 had none left, and the
// report then lacked the key store's size and its heap check).
const like = o.postgres === undefined ? await someStoredVersion(o.conversations) : undefined;
if (like !== undefined) perVersion = await memoryStoreBytesPerVersion(like, gc);

async function someStoredVersion(ranks: number) {
  for (let r = 0; r < ranks; r++) {
    const found = (await keyStore.listVersions(conversationId(r))).find((v) => v.state !== 'shredded');
    if (found !== undefined) return found;
  }
  return undefined;
}
const inProcess = o.postgres === undefined;
if (inProcess && like === undefined) throw new Error('soak: no conversation has a version left that is not shredded');
const hcRaw = heapCheck(samples, driver.warmupMessages, o.heapGrowthLimit);
const hc = inProcess ? heapCheck(samples, driver.warmupMessages, o.heapGrowthLimit, 'heap_used-key_store', perVersion.heap) : hcRaw;
const hcAb = inProcess
  ? heapCheck(samples, driver.warmupMessages, o.heapGrowthLimit, 'heap_used+array_buffers-key_store', perVersion.heap + perVersion.arrayBuffers)
  : heapCheck(samples, driver.warmupMessages, o.heapGrowthLimit, 'heap_used+array_buffers');
const afterWarmup = samples.find((s) => s.messages >= driver.warmupMessages);
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const opsTotal = driver.opsDone;
const ok = finished && driver.failures === 0 && kc.ok && hc.ok && hcAb.ok;
const MiB = (b: number) => (b / 1048576).toFixed(1);
const mem = (s: Sample | undefined) => (s === undefined ? null : { t_s: s.t_s, ops: s.ops, heap_used: s.heap_used, rss: s.rss, external: s.external, array_buffers: s.array_buffers });

const report = {
  node: process.version,
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', platform: `${process.platform}-${process.arch}` },
  config: { ...o, postgres: o.postgres === undefined ? undefined : o.postgres.replace(/:[^:@/]*@/, ':***@'), store: storeName },
  ok,
  finished,
  /** True when --max-seconds ended the run before every message was sealed. */
  stopped_early: stoppedEarly,
  elapsed_s: Math.round(elapsed * 10) / 10,
  ops: { ...driver.ops, total: opsTotal },
  messages_written: driver.sealed,
  messages_read: driver.messagesRead,
  refused_shredded: driver.refusedShredded,
  shreds: { ...driver.shreds, closed_at_end: driver.model.closedCount },
  key_check: kc,
  conversations_introduced: driver.introduced,
  throughput: { ops_per_s: Math.round(opsTotal / elapsed), messages_per_s: Math.round(driver.sealed / elapsed) },
  latency: Object.fromEntries(OP_KINDS.map((kind) => [kind, driver.latency[kind].summary()])),
  kms: {
    endpoint: k.calls,
    endpoint_total: sum(k.calls),
    keywarden: st.kms,
    keywarden_total: sum(st.kms),
    endpoint_per_1k_ops: Math.round((sum(k.calls) / opsTotal) * 1000 * 10) / 10,
  },
  faults_injected: k.faults,
  cache: { ...st.cache, hit_rate: Math.round((st.cache.hits / Math.max(1, st.cache.hits + st.cache.misses)) * 1000) / 1000, ideal_hit_rate: Math.round(driver.zipf.massOfTop(o.cache) * 1000) / 1000 },
  retries: { by_code: driver.retries, by_cause: driver.retryCauses, total: sum(driver.retries), retried_ops: driver.retriedOps, max_attempts: driver.maxAttemptsUsed },
  failures: driver.failures,
  failure_samples: driver.failureSamples,
  heap: {
    start: mem(samples[0]), after_warmup: mem(afterWarmup), end: mem(last),
    check: hc, check_with_array_buffers: hcAb,
    /** With the in-process store: the heap as measured, key store included (not judged). */
    ...(inProcess ? { raw: hcRaw, key_store_bytes_per_version: perVersion, key_store_versions_end: last.key_store_versions } : {}),
  },
  series: samples,
};

log(`\n${ok ? 'PASS' : 'FAIL'}: ${opsTotal.toLocaleString('en-US')} operations (${Object.entries(driver.ops).map(([n, v]) => `${n} ${v.toLocaleString('en-US')}`).join(', ')}) in ${report.elapsed_s} s = ${report.throughput.ops_per_s.toLocaleString('en-US')} ops/s`);
log(`KMS requests at the endpoint: ${JSON.stringify(k.calls)} (${report.kms.endpoint_per_1k_ops} per 1,000 ops); keywarden's: ${JSON.stringify(st.kms)}`);
log(`faults injected: ${JSON.stringify(k.faults)}; retries: ${JSON.stringify(driver.retryCauses)} over ${driver.retriedOps} operations (at most ${driver.maxAttemptsUsed} attempts)`);
log(`messages sealed ${driver.sealed.toLocaleString('en-US')}, plaintexts read and compared ${driver.messagesRead.toLocaleString('en-US')}; ERR_KEY_SHREDDED as expected: ${JSON.stringify(driver.refusedShredded)}`);
log(`shreds: ${JSON.stringify(driver.shreds)}, ${driver.model.closedCount} conversations still closed at the end`);
log(`key store: ${kc.conversations.toLocaleString('en-US')} conversations, versions ${JSON.stringify(kc.versions)}; new versions ${JSON.stringify(kc.new_versions)}; max reserved ${kc.max_sealed_reserved}, over budget ${kc.over_budget}; ${kc.kept_messages_checked.toLocaleString('en-US')} kept messages within their version's age, ${kc.sealed_past_age} past it; shred mismatches ${kc.shred_mismatches}: ${kc.ok ? 'ok' : 'FAILED'}`);
if (kc.problems.length > 0) log(`key store problems:\n${kc.problems.map((p) => `  ${p}`).join('\n')}`);
log(`cache: hit rate ${report.cache.hit_rate} (ideal ${report.cache.ideal_hit_rate}), ${st.cache.evictions.toLocaleString('en-US')} evictions, ${st.cache.coalesced} coalesced, size ${st.cache.size}`);
if (inProcess) log(`${heapSummary(hcRaw)} [key store included: not judged; ${last.key_store_versions.toLocaleString('en-US')} versions at the end]`);
log(heapSummary(hc));
log(heapSummary(hcAb));
const hr = (s: Sample | undefined) => (s === undefined ? 'n/a' : `${MiB(s.heap_used)}/${MiB(s.array_buffers)}/${MiB(s.rss)}`);
log(`heap used/array buffers/RSS MB: start ${hr(samples[0])}, after warm-up ${hr(afterWarmup)}, end ${hr(last)}`);
if (stoppedEarly) log(`--max-seconds ${o.maxSeconds} ended the run after ${driver.sealed.toLocaleString('en-US')} of ${o.messages.toLocaleString('en-US')} messages`);
if (!finished) log(`a stuck operation ended the run (more than ${STUCK_MS / 1000} s in flight)`);
if (driver.failures > 0) log(`${driver.failures} failures; first ones:\n${driver.failureSamples.map((f) => `  ${JSON.stringify(f)}`).join('\n')}`);

const out = o.json ? `${JSON.stringify(report)}\n` : '';
kw.close();
client.destroy();
await Promise.race([Promise.all([closeStore(), kms.close()]), new Promise((r) => setTimeout(r, 5000))]);
process.exitCode = ok ? 0 : 1;
process.stdout.write(out, () => process.exit(ok ? 0 : 1));
