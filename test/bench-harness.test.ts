/** The benchmark's ratio estimator (bench/harness.ts): per-round pairs cancel drift that hits a round. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { measurePair, median, pairedRatio } from '../bench/harness.js';

const m = (samples: number[]) => ({ name: 'x', opsPerSec: median(samples), samples });

describe('pairedRatio', () => {
  it('recovers a constant ratio whatever each round\'s speed', () => {
    // Round speeds drift 4x; b is always 10 % faster than a in the same round.
    const speeds = [100, 400, 120, 380, 110, 90];
    expect(pairedRatio(m(speeds), m(speeds.map((s) => s * 1.1)))).toBeCloseTo(1 / 1.1, 10);
    // One contender's slow round (a collection on its clock) moves the paired median by one rank only.
    expect(pairedRatio(m([100, 100, 100, 10, 100]), m([100, 100, 100, 100, 100]))).toBe(1);
  });

  it('for any positive rounds: the median of the per-round ratios, and NaN with no rounds', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 1, max: 1e6, noNaN: true }), fc.double({ min: 1, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 31 }), (rounds) => {
        const r = pairedRatio(m(rounds.map(([x]) => x)), m(rounds.map(([, y]) => y)));
        expect(r).toBe(median(rounds.map(([x, y]) => x / y)));
      }),
    );
    expect(pairedRatio(m([]), m([]))).toBeNaN();
  });
});

describe('measurePair', () => {
  it('runs one batch of each per round in alternating order, and pairs the samples by round', async () => {
    const calls: string[] = [];
    let busy = 0;
    const spin = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end) busy++;
    };
    const a = { name: 'a', async: false, op: () => { calls.push('a'); spin(0.2); } };
    const b = { name: 'b', async: true, op: async () => { calls.push('b'); spin(0.1); } };
    const [ma, mb] = await measurePair(a, b, 6, 4);
    expect(busy).toBeGreaterThan(0);
    expect(ma.samples).toHaveLength(6);
    expect(mb.samples).toHaveLength(6);
    expect(ma.name).toBe('a');
    expect(mb.name).toBe('b');
    expect(ma.opsPerSec).toBe(median(ma.samples));
    // Calibration (a's, then b's), then rounds a b | b a | a b | b a | a b | b a: consecutive
    // batches of one contender merge, so the calls fall into exactly these runs. A fixed order
    // would give 14 runs; a shuffled one, a random number.
    const runs: string[] = [];
    for (const c of calls) if (runs.at(-1) !== c) runs.push(c);
    expect(runs).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a']);
    // b spins half as long per op: about twice a's ops/s in each round.
    expect(pairedRatio(ma, mb)).toBeGreaterThan(0.3);
    expect(pairedRatio(ma, mb)).toBeLessThan(0.8);
  });
});
