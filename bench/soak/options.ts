/** Command line of `npm run soak` (bench/soak.ts). */

export interface SoakOptions {
  /** Messages written (encrypts); reads and rotations come on top, in proportion. */
  messages: number;
  conversations: number;
  /** Cache capacity (key versions). */
  cache: number;
  /** Cache maxAgeMs (keywarden's default: 5 minutes). */
  cacheMaxAgeMs: number;
  kmsLatencyMs: number;
  /** keywarden's `timeouts.kmsMs`. */
  kmsTimeoutMs: number;
  concurrency: number;
  /** Operations between two samples is not fixed: a sample is taken every `intervalMs`. */
  intervalMs: number;
  /** Fraction of the messages that is warm-up (every conversation gets its first message in it). */
  warmup: number;
  /** Zipf exponent of conversation popularity. */
  zipf: number;
  /** A fault episode (or a quiet one) starts every `faultEveryMs`; 0 disables faults. */
  faultEveryMs: number;
  /** Heap growth from the post-warm-up median to the end that fails the run (0.2 = 20%). */
  heapGrowthLimit: number;
  seed: number;
  quick: boolean;
  json: boolean;
  /** PostgreSQL URL when `--postgres` is given (the argument, else DATABASE_URL). */
  postgres: string | undefined;
}

export const USAGE = `usage: npm run soak -- [--quick] [--json] [--messages N] [--conversations N] [--cache N]
       [--kms-latency-ms N] [--kms-timeout-ms N] [--concurrency N] [--interval-ms N] [--warmup F]
       [--zipf S] [--fault-every-ms N (0: no faults)] [--cache-max-age-ms N] [--heap-growth-limit F]
       [--seed N] [--postgres [URL]]

Defaults: 1,000,000 messages over 100,000 conversations, a 10,000-entry cache, a KMS endpoint with
20 ms latency and injected faults, 64 operations in flight, a sample every 10 s.
--quick: 30,000 messages over 5,000 conversations, a 500-entry cache, a sample every 1 s (about a minute).
--postgres: PostgresKeyStore on a real server (URL, else DATABASE_URL), in a fresh schema dropped at the end.
The table goes to stderr; with --json, stdout carries one JSON object (the report and time series).
Exit code 1 on any failure (non-retryable or foreign error, wrong plaintext, stuck operation) or heap growth.`;

const NUMERIC: Record<string, keyof SoakOptions> = {
  '--messages': 'messages',
  '--conversations': 'conversations',
  '--cache': 'cache',
  '--cache-max-age-ms': 'cacheMaxAgeMs',
  '--kms-latency-ms': 'kmsLatencyMs',
  '--kms-timeout-ms': 'kmsTimeoutMs',
  '--concurrency': 'concurrency',
  '--interval-ms': 'intervalMs',
  '--warmup': 'warmup',
  '--zipf': 'zipf',
  '--fault-every-ms': 'faultEveryMs',
  '--heap-growth-limit': 'heapGrowthLimit',
  '--seed': 'seed',
};

export class UsageError extends Error {}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SoakOptions {
  const quick = argv.includes('--quick');
  const o: SoakOptions = {
    messages: quick ? 30_000 : 1_000_000,
    conversations: quick ? 5_000 : 100_000,
    cache: quick ? 500 : 10_000,
    cacheMaxAgeMs: 300_000,
    kmsLatencyMs: 20,
    kmsTimeoutMs: 2_000,
    concurrency: 64,
    intervalMs: quick ? 1_000 : 10_000,
    warmup: 0.2,
    zipf: 1,
    faultEveryMs: 2_500,
    heapGrowthLimit: 0.2,
    seed: 1,
    quick,
    json: false,
    postgres: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') continue;
    if (a === '--json') o.json = true;
    else if (a === '--postgres') {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        o.postgres = next;
        i++;
      } else {
        o.postgres = env.DATABASE_URL;
        if (!o.postgres) throw new UsageError('--postgres needs a URL (or DATABASE_URL)');
      }
    } else if (Object.hasOwn(NUMERIC, a)) {
      const field = NUMERIC[a]!;
      const v = Number(argv[++i]);
      if (argv[i] === undefined || !Number.isFinite(v) || v < 0) throw new UsageError(`${a} expects a number >= 0`);
      (o as unknown as Record<string, number>)[field] = v;
    } else throw new UsageError(`unknown argument ${a}`);
  }
  for (const f of ['messages', 'conversations', 'cache', 'concurrency', 'intervalMs', 'kmsTimeoutMs'] as const) {
    if (!Number.isInteger(o[f]) || o[f] < 1) throw new UsageError(`--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} expects an integer >= 1`);
  }
  if (o.warmup >= 1) throw new UsageError('--warmup expects a fraction below 1');
  return o;
}
