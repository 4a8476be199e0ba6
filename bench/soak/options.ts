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
  /** Share of operations that are shreds (new generations come at half this rate). */
  shredRate: number;
  /** keywarden's `rotation.maxMessages` (rotation by count). */
  rotateMaxMessages: number;
  /**
   * keywarden's `reservationSize` (seals reserved per key store round trip). Default: 1/20 of
   * `rotateMaxMessages`, since a cache eviction forfeits what the evicted version had reserved
   * and keywarden's default (1,024) is over half the soak's budget of 2,000.
   */
  reservation: number;
  /** Stop starting operations after this many seconds (0: no limit); the report says so. */
  maxSeconds: number;
  /** keywarden's `rotation.maxAgeMs` (rotation by age; at least 60,000). */
  rotateMaxAgeMs: number;
  /**
   * How fast keywarden's clock (`options.now`) runs against the real one, so that rotation by age
   * happens within a short run. 1 = real time. The cache's age bound stays on the real clock.
   */
  clockSpeed: number;
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
       [--shred-rate F] [--rotate-max-messages N] [--rotate-max-age-ms N] [--clock-speed F]
       [--reservation N] [--max-seconds N]
       [--seed N] [--postgres [URL]]

Defaults: 1,000,000 messages over 100,000 conversations, a 10,000-entry cache, a KMS endpoint with
20 ms latency and injected faults, 64 operations in flight, a sample every 10 s; 1 operation in
10,000 a shred (whole conversation or below its latest version), new generations at half that
rate; rotation policy maxMessages 2,000 (reservations of 100) and maxAgeMs 600,000 on a
real-time clock; manual rotations 1 in 10,000 operations.
--quick: 30,000 messages over 5,000 conversations, a 500-entry cache, a sample every 1 s, a shred
every 1,000 operations, maxMessages 100, maxAgeMs 60,000 on a clock 10x real time (under a minute).
--max-seconds N: stop starting operations after N s (a loaded machine): the report has stopped_early.
--postgres: PostgresKeyStore on a real server (URL, else DATABASE_URL), in a fresh schema dropped at the end.
The table goes to stderr; with --json, stdout carries one JSON object (the report and time series).
Exit code 1 on any failure (an error other than the expected one, a shredded message that opens, a
wrong plaintext, a stuck operation, a key store that disagrees with the rotation policy or the
shreds) or heap growth.`;

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
  '--shred-rate': 'shredRate',
  '--rotate-max-messages': 'rotateMaxMessages',
  '--rotate-max-age-ms': 'rotateMaxAgeMs',
  '--clock-speed': 'clockSpeed',
  '--reservation': 'reservation',
  '--max-seconds': 'maxSeconds',
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
    shredRate: quick ? 1 / 1_000 : 1 / 10_000,
    rotateMaxMessages: quick ? 100 : 2_000,
    rotateMaxAgeMs: quick ? 60_000 : 600_000,
    // 10x: an age rotation (54 s of clock) needs only ~6 s of a run that takes 25-50 s here; at 2x
    // a 26.6 s run on a faster CI machine saw none (CI, 2026-12-01).
    clockSpeed: quick ? 10 : 1,
    reservation: 0,
    maxSeconds: 0,
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
  for (const f of ['messages', 'conversations', 'cache', 'concurrency', 'intervalMs', 'kmsTimeoutMs', 'rotateMaxMessages'] as const) {
    if (!Number.isInteger(o[f]) || o[f] < 1) throw new UsageError(`--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} expects an integer >= 1`);
  }
  if (o.warmup >= 1) throw new UsageError('--warmup expects a fraction below 1');
  if (o.reservation === 0) o.reservation = Math.max(1, Math.floor(o.rotateMaxMessages / 20));
  if (!Number.isInteger(o.reservation)) throw new UsageError('--reservation expects an integer >= 1');
  if (o.shredRate > 0.1) throw new UsageError('--shred-rate expects a fraction up to 0.1');
  if (!Number.isInteger(o.rotateMaxAgeMs) || o.rotateMaxAgeMs < 60_000) throw new UsageError('--rotate-max-age-ms expects an integer >= 60000 (keywarden\'s minimum)');
  if (!(o.clockSpeed >= 1 && o.clockSpeed <= 1000)) throw new UsageError('--clock-speed expects a number from 1 to 1000');
  return o;
}
