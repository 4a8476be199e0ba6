/**
 * The fuzz machinery itself (test/support/fuzz.ts): a check that cannot fail, or generators that
 * never reach the interesting inputs, would make the fuzz suites pass for nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectLinear, mutatedBytes, mutatedJson, mutatedText } from './support/fuzz.js';

describe('the fuzz harness', () => {
  it('expectLinear fails a super-linear (cubic) function and passes a linear one', () => {
    const sum = (xs: number[]) => {
      let s = 0;
      for (const x of xs) s += x;
      return s;
    };
    // Cubic, not quadratic: 8x the input costs 512x, far from the 40x bound even when a busy
    // machine distorts one measurement (a quadratic's 64x can dip under 40x under load).
    const quadratic = (xs: number[]) => {
      let s = 0;
      for (const x of xs) for (const y of xs) s += xs.indexOf(x + y > xs.length ? 0 : x); // n^3
      return s;
    };
    const input = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(() => expectLinear('cubic', input, quadratic, 40, { reps: 3, minMs: 0.25 })).toThrow(/not linear/);
    expectLinear('linear', input, sum, 5000);
  });

  it('mutatedBytes never changes its samples, not even Buffers (whose slice is a view)', () => {
    const samples = [Buffer.from('genuine sample one'), Buffer.from('genuine sample two!')];
    const copies = samples.map((b) => Buffer.from(b));
    fc.assert(fc.property(mutatedBytes(samples), () => true), { numRuns: 300 });
    samples.forEach((b, i) => expect(b.equals(copies[i]!)).toBe(true));
  });

  it('the generators reach the edge cases they promise: __proto__ keys, duplicate keys, deep nesting, lone surrogates, CRLF', () => {
    const texts = fc.sample(mutatedJson([{ a: 1, b: { c: 'x' }, d: [1, 2] }]), { numRuns: 600, seed: 11 });
    expect(texts.some((t) => t.includes('"__proto__":'))).toBe(true);
    expect(texts.some((t) => /"a":[^,]*,.*"a":/.test(t))).toBe(true);
    expect(texts.some((t) => t.includes('[[[[[[[['))).toBe(true);
    expect(texts.some((t) => t.includes('\r\n'))).toBe(true);
    const lines = fc.sample(mutatedText(['line one\nline two\n']), { numRuns: 600, seed: 12 });
    expect(lines.some((t) => !t.isWellFormed())).toBe(true);
    expect(lines.some((t) => t.startsWith('\ufeff'))).toBe(true);
    expect(lines.some((t) => t.length > 1000)).toBe(true);
  });
});
