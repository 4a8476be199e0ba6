/**
 * Review 6 (mutation review). Property: MACs and tags that guard the audit log (receipt MACs,
 * outbox record MACs, the replay guard's seal) are compared in constant time — `equalBytes` in
 * src/util/bytes.ts ("the time taken depends only on the lengths, not on the contents"). SECURITY.md
 * names no test for it (no row of the guarantee table), and timing cannot be tested reliably.
 *
 * Survived: `equalBytes` replaced by an early-exit loop (`diff |= a[i] ^ b[i]` →
 * `if (a[i] !== b[i]) return false`). test/audit-receipt-forged.test.ts and
 * test/audit-outbox-replay.test.ts (the users of those MACs) still passed, as does every other
 * functional test: the results are the same.
 *
 * Now asserted, structurally rather than by the clock: `equalBytes` reads every byte of both
 * inputs whatever the first difference is (a first-byte difference reads as many elements as a
 * last-byte one or equal inputs), and the MAC checks in src/audit use `equalBytes`, not `===` on
 * hex or `Buffer.equals`/`compare`.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../src/util/bytes.js';

/** A Uint8Array whose element reads are counted. */
function counted(bytes: Uint8Array, reads: { n: number }): Uint8Array {
  return new Proxy(bytes, {
    get(target, prop) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) reads.n++;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('equalBytes is constant-time in the contents', () => {
  it('reads every element of both inputs, wherever they differ', () => {
    const base = new Uint8Array(32).map((_, i) => i * 7);
    const readsFor = (pos: number | undefined) => {
      const other = Uint8Array.from(base);
      if (pos !== undefined) other[pos]! ^= 0xff;
      const reads = { n: 0 };
      const same = equalBytes(counted(base, reads), counted(other, reads));
      expect(same).toBe(pos === undefined);
      return reads.n;
    };
    const all = readsFor(undefined);
    expect(all).toBe(64);
    for (const pos of [0, 1, 15, 31]) expect(readsFor(pos)).toBe(all);
  });

  it('the audit MAC checks go through equalBytes', async () => {
    for (const [file, pattern] of [
      ['src/audit/waiters.ts', /equalBytes\(receiptMac\(/],
      ['src/audit/records.ts', /equalBytes\(outboxMac\(/],
      ['src/audit/replay-guard.ts', /equalBytes\(hmacSha256\(key, GUARD_DOMAIN/],
    ] as const) {
      const text = await readFile(new URL(`../${file}`, import.meta.url), 'utf8');
      expect(text, file).toMatch(pattern);
    }
  });
});
