/**
 * The cold path, direct mode against branch mode (issue #13, docs/KEYS.md §9), in one run.
 *
 * For each mode: N new conversations (the first message of each), then N cold opens (the first
 * decrypt of each on a fresh instance sharing the key store: nothing cached, as after a deploy or
 * on another instance). The real @aws-sdk/client-kms talks HTTP to the KMS-compatible test
 * endpoint on 127.0.0.1 with a fixed delay per call. Operations run with a fixed number in flight,
 * as a service handling many users does. Latency is taken on the first `latencySample` operations
 * of each phase, run one at a time (so it is the operation's own cost, not time spent queued behind
 * others in flight); the rest run `inFlight` at a time, for throughput and the KMS call count.
 * Reports KMS calls, p50/p99 latency and throughput per mode.
 */
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { BranchKeyProvider, Keywarden, MemoryKeyStore, type MasterKeyProvider } from '../src/node.js';
import { kmsClientFor, startKmsServer } from '../test/support/kms-server.js';

export interface ModeResult {
  kms_calls_create: number;
  kms_calls_open: number;
  create_p50_ms: number;
  create_p99_ms: number;
  open_p50_ms: number;
  open_p99_ms: number;
  create_per_sec: number;
  open_per_sec: number;
  every_message_opened: boolean;
}

export interface BranchColdResult {
  kms_delay_ms: number;
  conversations: number;
  in_flight: number;
  latency_sample: number;
  direct: ModeResult;
  branch: ModeResult;
}

export async function measureBranchCold(opts: { delayMs: number; conversations: number; inFlight: number; latencySample: number }): Promise<BranchColdResult> {
  const server = await startKmsServer({ latencyMs: opts.delayMs });
  try {
    const key = server.createKey({ alias: 'alias/keywarden-bench-branches' });
    const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: key.arn });
    // Warm the SDK (code paths, credentials, a pooled connection) outside the measurement.
    const warm = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
    await warm.decrypt('warm', await warm.encrypt('warm', new Uint8Array(8)));
    await warm.close();
    const kmsCalls = () => Object.values(server.calls).reduce((a, b) => a + b, 0);

    const run = async (mode: 'direct' | 'branch'): Promise<ModeResult> => {
      const keyStore = new MemoryKeyStore();
      const branchStore = new MemoryKeyStore();
      const provider = (): MasterKeyProvider => (mode === 'direct' ? masterKey : new BranchKeyProvider({ masterKey, store: branchStore }));
      // The cache holds every conversation: the measurement is the cold path, not eviction.
      const cache = { maxEntries: opts.conversations + 16 };
      const ids = Array.from({ length: opts.conversations }, (_, i) => `${mode}:dm:${i}`);
      const body = new Uint8Array(200);

      server.resetCounters();
      const writer = new Keywarden({ masterKey: provider(), keyStore, cache });
      const cts: Uint8Array[] = new Array(ids.length);
      const create = await timed(ids.length, opts.latencySample, opts.inFlight, async (i) => {
        cts[i] = await writer.encrypt(ids[i]!, body);
      });
      const createCalls = kmsCalls();
      await writer.close();

      server.resetCounters();
      const reader = new Keywarden({ masterKey: provider(), keyStore, cache }); // a fresh instance
      let opened = 0;
      const open = await timed(ids.length, opts.latencySample, opts.inFlight, async (i) => {
        if ((await reader.decrypt(ids[i]!, cts[i]!)).length === body.length) opened++;
      });
      const openCalls = kmsCalls();
      await reader.close();
      return {
        kms_calls_create: createCalls,
        kms_calls_open: openCalls,
        create_p50_ms: r3(pct(create.latencies, 0.5)),
        create_p99_ms: r3(pct(create.latencies, 0.99)),
        open_p50_ms: r3(pct(open.latencies, 0.5)),
        open_p99_ms: r3(pct(open.latencies, 0.99)),
        create_per_sec: Math.round(ids.length / (create.elapsedMs / 1000)),
        open_per_sec: Math.round(ids.length / (open.elapsedMs / 1000)),
        every_message_opened: opened === ids.length,
      };
    };

    const direct = await run('direct');
    const branch = await run('branch');
    return { kms_delay_ms: opts.delayMs, conversations: opts.conversations, in_flight: opts.inFlight, latency_sample: Math.min(opts.latencySample, opts.conversations), direct, branch };
  } finally {
    await server.close();
  }
}

/**
 * Runs `op(0..n-1)`: the first `sample` one at a time, timing each; then the rest with `inFlight`
 * outstanding. Returns the sorted sample latencies and the wall time of the whole phase.
 */
async function timed(n: number, sample: number, inFlight: number, op: (i: number) => Promise<void>) {
  const latencies = new Float64Array(Math.min(sample, n));
  const t0 = performance.now();
  for (let i = 0; i < latencies.length; i++) {
    const s = performance.now();
    await op(i);
    latencies[i] = performance.now() - s;
  }
  let next = latencies.length;
  const lane = async () => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n - next) }, lane));
  const elapsedMs = performance.now() - t0;
  latencies.sort();
  return { latencies, elapsedMs };
}

const pct = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
