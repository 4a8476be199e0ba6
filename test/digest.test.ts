/**
 * SHA-256, HMAC-SHA-256 and Ed25519 signing through node:crypto (src/util/digest.ts,
 * src/util/ed25519.ts) give exactly noble's bytes, for any input: the audit log's hashes and
 * signatures must not depend on the runtime. Plus published vectors for each.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digests, hmacSha256, nativeDigests, nobleDigests, sha256 } from '../src/util/digest.js';
import { ED25519_NATIVE, ed25519Sign, ed25519SignNoble, ed25519Verify } from '../src/util/ed25519.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
/** Parts whose total crosses the 2,048-byte scratch buffer of the native multi-part path. */
const partsArb = fc.array(fc.uint8Array({ maxLength: 1200 }), { minLength: 1, maxLength: 4 });

describe('digests', () => {
  it('on Node, the native implementations are the ones in use', () => {
    expect(nativeDigests).toBeDefined();
    expect(digests.name).toBe('node');
    expect(ED25519_NATIVE).toBe(true);
  });

  it('SHA-256: NIST FIPS 180-2 vectors, one part or several', () => {
    for (const d of [digests, nobleDigests]) {
      expect(hex(d.sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      expect(hex(d.sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(hex(d.sha256(new TextEncoder().encode('a'), new Uint8Array(0), new TextEncoder().encode('bc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    }
  });

  it('HMAC-SHA-256: RFC 4231 test cases 2 and 6 (a key longer than the block)', () => {
    for (const d of [digests, nobleDigests]) {
      expect(hex(d.hmacSha256(new TextEncoder().encode('Jefe'), new TextEncoder().encode('what do ya want '), new TextEncoder().encode('for nothing?'))))
        .toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
      expect(hex(d.hmacSha256(new Uint8Array(131).fill(0xaa), new TextEncoder().encode('Test Using Larger Than Block-Size Key - Hash Key First'))))
        .toBe('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
    }
  });

  it('SHA-256 of any parts is noble SHA-256 of their concatenation', () => {
    fc.assert(
      fc.property(partsArb, (parts) => {
        const want = hex(nobleSha256(concat(parts)));
        expect(hex(sha256(...parts))).toBe(want);
        expect(hex(nobleDigests.sha256(...parts))).toBe(want);
      }),
      { numRuns: 300 },
    );
  });

  it('HMAC-SHA-256 under any key of any parts is noble HMAC of their concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), partsArb, (key, parts) => {
        const want = hex(hmac(nobleSha256, key, concat(parts)));
        expect(hex(hmacSha256(key, ...parts))).toBe(want);
        expect(hex(nobleDigests.hmacSha256(key, ...parts))).toBe(want);
      }),
      { numRuns: 300 },
    );
  });

  it('results are plain Uint8Arrays of their own 32 bytes (no shared slab behind .buffer)', () => {
    for (const out of [sha256(new Uint8Array(5)), sha256(new Uint8Array(5), new Uint8Array(7)), sha256(new Uint8Array(5000), new Uint8Array(7)), hmacSha256(new Uint8Array(3), new Uint8Array(5))]) {
      expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
      expect(out.length).toBe(32);
      expect(out.buffer.byteLength).toBe(32);
    }
  });
});

describe('Ed25519 signing', () => {
  it('RFC 8032 §7.1 test 1 and test 2', () => {
    const seed1 = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    expect(hex(ed25519Sign(new Uint8Array(0), new Uint8Array(seed1))))
      .toBe('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
    const seed2 = Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex');
    expect(hex(ed25519Sign(Uint8Array.of(0x72), new Uint8Array(seed2))))
      .toBe('92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00');
  });

  it('signs exactly as noble for any seed and message, and the signature verifies', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 600 }), (seed, message) => {
        const sig = ed25519Sign(message, seed);
        expect(hex(sig)).toBe(hex(ed25519SignNoble(message, seed)));
        expect(ed25519Verify(sig, message, ed25519.getPublicKey(seed))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('a seed array whose bytes change signs with the new bytes (the cached key is rebuilt)', () => {
    const seed = new Uint8Array(32).fill(1);
    const msg = new TextEncoder().encode('tree head');
    const first = ed25519Sign(msg, seed);
    seed.fill(2);
    const second = ed25519Sign(msg, seed);
    expect(hex(second)).toBe(hex(ed25519SignNoble(msg, new Uint8Array(32).fill(2))));
    expect(hex(second)).not.toBe(hex(first));
  });

  it('a malformed seed is refused as noble refuses it', () => {
    expect(() => ed25519Sign(new Uint8Array(1), new Uint8Array(31))).toThrow();
  });
});
