/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: "nonces are
 * CSPRNG-drawn and never reused from the pool" — held, the table said, by
 * test/keywarden-lifecycle.test.ts.
 *
 * Survived: in src/util/random.ts `fillNonce` no longer moving `poolOffset` on (the line
 * `poolOffset += length;` removed). The first seal then gets random bytes and every later seal the
 * zeros the pool was wiped to: the same nonce under the same key, message after message (for
 * AES-GCM the authentication key leaks and plaintexts XOR). keywarden-lifecycle.test.ts still
 * passed: it never looks at a nonce. So did dropping the CSPRNG altogether.
 *
 * Now asserted: many seals (through encrypt, for both suites, more than one pool refill) carry
 * pairwise distinct nonces, none of them all zeros; and the pool is filled from
 * `globalThis.crypto.getRandomValues` (a spy sees the refill, and its bytes are the nonces).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inspectCiphertext } from '../src/node.js';
import { fillNonce } from '../src/util/random.js';
import { pair } from './support/fixtures.js';

const nonceOf = (ct: Uint8Array, nonceLength: number) => Buffer.from(ct.subarray(10, 10 + nonceLength)).toString('hex');

afterEach(() => vi.restoreAllMocks());

describe('nonces: CSPRNG-drawn, never reused from the pool', () => {
  for (const [suite, nonceLength] of [['AES-256-GCM', 12], ['XChaCha20-Poly1305', 24]] as const) {
    it(`${suite}: 1,000 seals (several pool refills) carry 1,000 distinct, non-zero nonces`, async () => {
      const { node, noble } = pair({ suite });
      const seen = new Set<string>();
      for (let i = 0; i < 1000; i++) {
        const kw = i % 2 === 0 ? node : noble;
        const ct = await kw.encrypt(`nonce-${i % 3}`, new Uint8Array([i & 0xff]));
        expect(inspectCiphertext(ct).formatVersion).toBe(2); // nonce at offset 10
        const n = nonceOf(ct, nonceLength);
        expect(n).not.toBe('00'.repeat(nonceLength));
        expect(seen.has(n)).toBe(false);
        seen.add(n);
      }
      expect(seen.size).toBe(1000);
    });
  }

  it('fillNonce hands out consecutive pool bytes once each, refilled from crypto.getRandomValues', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    const out: string[] = [];
    // 4096-byte pool: 400 nonces of 24 bytes force at least two refills.
    for (let i = 0; i < 400; i++) {
      const b = new Uint8Array(24);
      fillNonce(b, 0, 24);
      out.push(Buffer.from(b).toString('hex'));
    }
    expect(spy).toHaveBeenCalled();
    expect(new Set(out).size).toBe(400);
    expect(out).not.toContain('00'.repeat(24));
  });
});
