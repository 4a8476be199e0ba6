/**
 * The branch-wrapped data key format (docs/FORMAT.md §6.3) against its vectors
 * (test/vectors/branch-wrap.json), cross-checked with a second implementation of the same
 * construction on node:crypto (hkdfSync, aes-256-gcm); and, for any binding, wrapping round-trips
 * and any other binding refuses (property).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BRANCH_WRAPPED_KEY_LENGTH, bindingBytes, branchUnwrap, branchWrap, type WrapBinding } from '../src/kms/branch-wrap.js';
import { nodeAead } from '../src/aead/node.js';
import { fromHex, toHex } from '../src/util/bytes.js';

interface V extends WrapBinding { name: string; branchKey: string; dataKey: string; salt: string; binding: string; wrapped: string }
const file = JSON.parse(readFileSync(new URL('./vectors/branch-wrap.json', import.meta.url), 'utf8')) as { valid: V[]; invalid: { name: string; base: number; change: Partial<V> }[] };

/** The construction, written again with node:crypto only. */
function nodeWrap(branchKey: Uint8Array, binding: Uint8Array, salt: Uint8Array, dataKey: Uint8Array): Uint8Array {
  const info = Buffer.concat([Buffer.from('keywarden/branch-wrap/v1'), Buffer.from([0]), binding]);
  const k = Buffer.from(hkdfSync('sha256', branchKey, salt, info, 32));
  const c = createCipheriv('aes-256-gcm', k, Buffer.alloc(12));
  c.setAAD(binding);
  return Buffer.concat([Buffer.from([2]), salt, c.update(dataKey), c.final(), c.getAuthTag()]);
}
function nodeUnwrap(branchKey: Uint8Array, binding: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const info = Buffer.concat([Buffer.from('keywarden/branch-wrap/v1'), Buffer.from([0]), binding]);
  const k = Buffer.from(hkdfSync('sha256', branchKey, wrapped.subarray(1, 17), info, 32));
  const d = createDecipheriv('aes-256-gcm', k, Buffer.alloc(12));
  d.setAAD(binding);
  d.setAuthTag(wrapped.subarray(49));
  return Buffer.concat([d.update(wrapped.subarray(17, 49)), d.final()]);
}

describe('branch-wrap vectors', () => {
  for (const v of file.valid) {
    it(`valid: ${v.name}`, () => {
      const [bk, dk, salt, wrapped] = [fromHex(v.branchKey), fromHex(v.dataKey), fromHex(v.salt), fromHex(v.wrapped)];
      expect(toHex(bindingBytes(v))).toBe(v.binding);
      expect(wrapped.length).toBe(BRANCH_WRAPPED_KEY_LENGTH);
      expect(toHex(branchWrap(bk, v, dk, salt))).toBe(v.wrapped);
      expect(toHex(branchWrap(bk, v, dk, salt, nodeAead))).toBe(v.wrapped); // the Node entry's native path
      expect(toHex(nodeWrap(bk, fromHex(v.binding), salt, dk))).toBe(v.wrapped);
      expect(toHex(branchUnwrap(bk, v, wrapped)!)).toBe(v.dataKey);
      expect(toHex(branchUnwrap(bk, v, wrapped, nodeAead)!)).toBe(v.dataKey);
      expect(toHex(nodeUnwrap(bk, fromHex(v.binding), wrapped))).toBe(v.dataKey);
    });
  }
  for (const bad of file.invalid) {
    it(`invalid: ${bad.name}`, () => {
      const base = file.valid[bad.base]!;
      const v = { ...base, ...bad.change };
      expect(branchUnwrap(fromHex(base.branchKey), v, fromHex(v.wrapped))).toBeNull();
      expect(branchUnwrap(fromHex(base.branchKey), v, fromHex(v.wrapped), nodeAead)).toBeNull();
    });
  }

  it('for any binding: round trip, and any other binding or branch key refuses (property)', () => {
    const binding = fc.record({
      branch: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}$/),
      branchVersion: fc.integer({ min: 1, max: 0xffffffff }),
      conversationId: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.isWellFormed()),
      keyVersion: fc.integer({ min: 1, max: 0xffffffff }),
    });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), binding, binding, (bk, dk, a, b) => {
        const wrapped = branchWrap(bk, a, dk);
        expect(toHex(branchUnwrap(bk, a, wrapped)!)).toBe(toHex(dk));
        // The native and portable AES-GCM agree both ways.
        expect(toHex(branchUnwrap(bk, a, wrapped, nodeAead)!)).toBe(toHex(dk));
        expect(toHex(branchUnwrap(bk, a, branchWrap(bk, a, dk, undefined, nodeAead))!)).toBe(toHex(dk));
        const same = a.branch === b.branch && a.branchVersion === b.branchVersion && a.conversationId === b.conversationId && a.keyVersion === b.keyVersion;
        if (!same) expect(branchUnwrap(bk, b, wrapped)).toBeNull();
        if (!same) expect(branchUnwrap(bk, b, wrapped, nodeAead)).toBeNull();
        const other = Uint8Array.from(bk, (x, i) => (i === 0 ? x ^ 1 : x));
        expect(branchUnwrap(other, a, wrapped)).toBeNull();
        // Two wraps of the same key differ (fresh salt).
        expect(toHex(branchWrap(bk, a, dk))).not.toBe(toHex(wrapped));
      }),
      { numRuns: 200 },
    );
  });
});
