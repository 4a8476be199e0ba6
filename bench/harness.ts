/**
 * A small interleaved benchmark loop. Every round runs each contender once, in a fresh random
 * order, for about `batchMs`; the reported figure is the median over rounds. Interleaving makes
 * slow drift of the machine (thermal, other tenants) hit every contender alike, so ratios taken
 * from one run are meaningful even when absolute numbers move between runs.
 */
export interface Contender {
  name: string;
  /** One operation. May return a promise, which is awaited before the next operation. */
  op: () => unknown;
  /** true when `op` returns a promise. */
  async: boolean;
}

export interface Measured {
  name: string;
  /** Median operations per second over rounds. */
  opsPerSec: number;
  /** Every round's ops/s, for spread. */
  samples: number[];
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function runBatch(c: Contender, n: number, collect = true): Promise<number> {
  // Start every batch from a collected heap, so that one contender's garbage is not collected
  // on another's clock (run with --expose-gc; `npm run bench` does). measurePair does not: see there.
  if (collect) gc?.();
  const t0 = performance.now();
  if (c.async) for (let i = 0; i < n; i++) await c.op();
  else for (let i = 0; i < n; i++) c.op();
  return performance.now() - t0;
}

/** Operations per batch so one batch takes about `batchMs` (after a warm-up of the JIT). */
async function calibrate(c: Contender, batchMs: number, collect = true): Promise<number> {
  let n = 1;
  for (;;) {
    const ms = await runBatch(c, n, collect);
    if (ms >= batchMs / 4 || n >= 1 << 22) return Math.max(1, Math.round((n * batchMs) / Math.max(ms, 0.001)));
    n *= 2;
  }
}

/**
 * The ratio of `a` to `b` as the median of their per-round ratios. Each round runs both within
 * about a second, so a slow stretch of the machine (another tenant, a frequency change) scales
 * both samples of that round and cancels in their ratio; the ratio of the two medians does not
 * pair them and inherits that drift twice. `samples[r]` is round r of each (see {@link measure}).
 */
export function pairedRatio(a: Measured, b: Measured): number {
  const n = Math.min(a.samples.length, b.samples.length);
  if (n === 0) return Number.NaN;
  return median(Array.from({ length: n }, (_, r) => a.samples[r]! / b.samples[r]!));
}

/** Measures all contenders interleaved over `rounds` rounds. */
export async function measure(contenders: Contender[], rounds: number, batchMs: number): Promise<Map<string, Measured>> {
  const sizes = new Map<string, number>();
  for (const c of contenders) sizes.set(c.name, await calibrate(c, batchMs));
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of shuffle([...contenders])) {
      const n = sizes.get(c.name)!;
      const ms = await runBatch(c, n);
      samples.get(c.name)!.push((n * 1000) / ms);
    }
  }
  return new Map(contenders.map((c) => [c.name, { name: c.name, opsPerSec: median(samples.get(c.name)!), samples: samples.get(c.name)! }]));
}

/**
 * Measures two contenders over `rounds` rounds, one batch each per round, in alternating order
 * (a b, b a, a b, …): for the ratio of a pair ({@link pairedRatio}). With more contenders in a
 * shuffled round, the two of a pair can sit a third batch apart, and the drift of the machine
 * between them does not cancel; with a fixed order, drift within each round favours the same
 * side every time.
 *
 * Unlike {@link measure}, no batch starts with a forced collection (`collect: false`, the
 * default here), and batches are short (the caller's `batchMs`, 10 ms for the decryptMany page).
 * Measured on this VM (2026-12-01, the decryptMany page against its stored baseline, 8 pair
 * measurements per process): with a `gc()` before each ~100 ms batch the pair's ratio moved
 * between processes and within one process from 0.67 to 1.43, the baseline alone from 2,600 to
 * 6,000 pages/s (a full collection resets the young generation's sizing, and the next batches
 * run in whichever state it left); with 10 ms batches and `gc()` before each, 0.88-0.93,
 * because every batch paid the first pages after a full collection; with 10 ms batches, no
 * forced collection and 200 rounds, 0.93-0.96 in 24 measurements over 3 processes. Garbage is
 * then collected on whichever side's clock the young generation fills, in proportion to what
 * each side allocates: the steady state of a service, which never forces a collection.
 */
export async function measurePair(a: Contender, b: Contender, rounds: number, batchMs: number, opts: { collect?: boolean } = {}): Promise<[Measured, Measured]> {
  const collect = opts.collect ?? false;
  const na = await calibrate(a, batchMs, collect);
  const nb = await calibrate(b, batchMs, collect);
  const sa: number[] = [];
  const sb: number[] = [];
  const one = async (c: Contender, n: number, into: number[]) => into.push((n * 1000) / (await runBatch(c, n, collect)));
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      await one(a, na, sa);
      await one(b, nb, sb);
    } else {
      await one(b, nb, sb);
      await one(a, na, sa);
    }
  }
  return [{ name: a.name, opsPerSec: median(sa), samples: sa }, { name: b.name, opsPerSec: median(sb), samples: sb }];
}
