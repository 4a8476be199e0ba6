/** The benchmark's ratio estimator (bench/harness.ts): per-round pairs cancel drift that hits a round. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, pairedRatio } from '../bench/harness.js';

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
