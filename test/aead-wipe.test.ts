/**
 * The AEAD wrappers leave no key material or unverified plaintext behind (found by mutation
 * testing, issue #11): the XChaCha20 subkey (bytes and the HChaCha20 words it came from) and the
 * key words are wiped after every seal and open, by both implementations, and node:crypto's
 * decrypted-but-unverified output is wiped when the tag does not verify. Also the `start`
 * offset of open and the slicing of large messages, at their boundaries.
 *
 * Wipes are observed by wrapping TypedArray.prototype.fill (and Buffer's) for the duration of one
 * call: each fill(0) is recorded with the contents it erased. The subkey is followed by identity:
 * the key arguments given to ChaCha20-Poly1305 (@noble/ciphers) and to node:crypto's ciphers
 * are recorded, and must be all zero once seal or open returns (the libraries wipe copies of
 * their own, so a wipe of the same contents elsewhere proves nothing).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hchacha20, nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import { SUITES, SuiteId } from '../src/format/suites.js';

const keyArgs = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('@noble/ciphers/chacha.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('@noble/ciphers/chacha.js')>();
  const chacha20poly1305 = ((key: Uint8Array, ...rest: [Uint8Array, Uint8Array?]) => (keyArgs.push(key), real.chacha20poly1305(key, ...rest))) as typeof real.chacha20poly1305;
  return { ...real, chacha20poly1305 };
});
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const record = <F extends (algorithm: string, key: Uint8Array, ...rest: never[]) => unknown>(f: F) => ((algorithm: string, key: Uint8Array, ...rest: never[]) => (keyArgs.push(key), f(algorithm, key, ...rest))) as unknown as F;
  return { ...real, default: real, createCipheriv: record(real.createCipheriv as never), createDecipheriv: record(real.createDecipheriv as never) };
});

const hex = (b: ArrayLike<number> & { buffer?: ArrayBufferLike }) => Buffer.from(Array.from(b)).toString('hex');
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 1) & 0xff);
const words = (b: Uint8Array) => Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(4 * i, true));

type Wipe = { type: string; before: number[] };
/** Runs fn, recording every fill(0) on a typed array with what it erased. */
function wipesDuring<T>(fn: () => T): { result: T; wipes: Wipe[] } {
  const wipes: Wipe[] = [];
  // TypedArray.prototype.fill, and Buffer's own override of it.
  const spies = [Object.getPrototypeOf(Uint8Array.prototype), Buffer.prototype].map((proto: { fill: (this: Uint8Array, v: number, ...rest: number[]) => unknown }) => {
    const original = proto.fill;
    return vi.spyOn(proto, 'fill').mockImplementation(function (this: Uint8Array, v: number, ...rest: number[]) {
      if (v === 0 && rest.length === 0) wipes.push({ type: this.constructor.name, before: Array.from(this) });
      return original.call(this, v, ...rest);
    });
  });
  try {
    return { result: fn(), wipes };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
const wiped = (wipes: Wipe[], type: string, content: ArrayLike<number>) => wipes.some((w) => (w.type === type || (type === 'Uint8Array' && w.type === 'Buffer')) && hex(w.before) === hex(content));

beforeEach(() => {
  keyArgs.length = 0;
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('XChaCha20-Poly1305 key material is wiped', () => {
  const key = bytes(32, 1);
  const nonce = bytes(24, 2);
  const pt = bytes(40, 3);
  const aad = bytes(5, 4);
  const sub = hchacha20(key, nonce.subarray(0, 16));

  it('hchacha20 wipes the key words and its output words', () => {
    const { result, wipes } = wipesDuring(() => hchacha20(key, nonce.subarray(0, 16)));
    expect(hex(result)).toBe(hex(sub));
    expect(wiped(wipes, 'Uint32Array', words(key))).toBe(true);
    expect(wiped(wipes, 'Uint32Array', words(sub))).toBe(true);
  });

  for (const impl of [nobleAead, nodeAead]) {
    it(`${impl.name}: seal and open wipe the subkey they derived (and a failed open too)`, () => {
      /** Runs fn; the subkey given to the cipher must have been the derived one, and be zero now. */
      const subkeyWiped = <T>(fn: () => T): T => {
        keyArgs.length = 0;
        const result = fn();
        expect(keyArgs).toHaveLength(1);
        expect(keyArgs[0]).not.toBe(key);
        expect(keyArgs[0]!.length).toBe(32);
        expect(hex(keyArgs[0]!)).toBe(hex(new Uint8Array(32)));
        return result;
      };
      const sealed = subkeyWiped(() => impl.seal(SuiteId.XCHACHA20_POLY1305, key, nonce, pt, aad));
      expect(hex(subkeyWiped(() => impl.open(SuiteId.XCHACHA20_POLY1305, key, nonce, sealed, aad))!)).toBe(hex(pt));
      const bad = Uint8Array.from(sealed);
      bad[bad.length - 1]! ^= 1;
      expect(subkeyWiped(() => impl.open(SuiteId.XCHACHA20_POLY1305, key, nonce, bad, aad))).toBeNull();
      // AES-256-GCM uses the caller's key, which is never wiped.
      keyArgs.length = 0;
      const gcm = impl.seal(SuiteId.AES_256_GCM, key, nonce.subarray(0, 12), pt, aad);
      expect(hex(impl.open(SuiteId.AES_256_GCM, key, nonce.subarray(0, 12), gcm, aad)!)).toBe(hex(pt));
      expect(hex(key)).toBe(hex(bytes(32, 1)));
    });
  }
});

describe('node:crypto: unverified plaintext is wiped when the tag does not verify', () => {
  for (const suite of [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305]) {
    it(`${SUITES[suite].name}`, () => {
      const key = bytes(32, 5);
      const nonce = bytes(SUITES[suite].nonceLength, 6);
      const pt = bytes(64, 7);
      const sealed = nodeAead.seal(suite, key, nonce, pt, new Uint8Array(0));
      const bad = Uint8Array.from(sealed);
      bad[bad.length - 1]! ^= 1;
      const { result, wipes } = wipesDuring(() => nodeAead.open(suite, key, nonce, bad, new Uint8Array(0)));
      expect(result).toBeNull();
      expect(wiped(wipes, 'Uint8Array', pt)).toBe(true);
    });
  }
});

describe('open: the start offset and the tag length', () => {
  for (const impl of [nobleAead, nodeAead]) {
    for (const suite of [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305]) {
      it(`${impl.name} ${SUITES[suite].name}: opens data.subarray(start) for a prefix of any length, including an empty plaintext`, () => {
        const key = bytes(32, 8);
        const nonce = bytes(SUITES[suite].nonceLength, 9);
        for (const ptLen of [0, 1, 17]) {
          const pt = bytes(ptLen, 10);
          for (const prefixLen of [0, 1, 6, 30]) {
            const prefix = bytes(prefixLen, 11);
            const sealed = impl.seal(suite, key, nonce, pt, bytes(3, 12), prefix);
            expect(sealed.length).toBe(prefixLen + ptLen + 16);
            expect(hex(sealed.subarray(0, prefixLen))).toBe(hex(prefix));
            for (const opener of [nobleAead, nodeAead]) {
              expect(hex(opener.open(suite, key, nonce, sealed, bytes(3, 12), prefixLen)!)).toBe(hex(pt));
              // One byte less than a tag after start: refused, not thrown.
              expect(opener.open(suite, key, nonce, sealed.subarray(0, prefixLen + 15), bytes(3, 12), prefixLen)).toBeNull();
              if (prefixLen > 0) expect(opener.open(suite, key, nonce, sealed, bytes(3, 12), prefixLen - 1)).toBeNull();
            }
          }
        }
      });
    }
  }
});

describe('node:crypto: large messages are sealed in 128 KiB slices', () => {
  it('every length around the slice boundaries seals to what noble seals, with and without a prefix', () => {
    const SLICE = 128 * 1024;
    const key = bytes(32, 13);
    for (const suite of [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305]) {
      const nonce = bytes(SUITES[suite].nonceLength, 14);
      for (const len of [SLICE, SLICE + 1, 2 * SLICE + 3]) {
        const pt = bytes(len, len);
        for (const prefix of [undefined, bytes(6, 15)]) {
          const a = nodeAead.seal(suite, key, nonce, pt, bytes(2, 16), prefix);
          const b = nobleAead.seal(suite, key, nonce, pt, bytes(2, 16), prefix);
          expect(a.length).toBe((prefix?.length ?? 0) + len + 16);
          expect(Buffer.compare(Buffer.from(a), Buffer.from(b)), `${SUITES[suite].name} ${len} prefix ${prefix?.length ?? 0}`).toBe(0);
        }
      }
    }
  });
});

describe('open refuses, never throws', () => {
  // Outside the contract (keys are 32 bytes), but a caller's bug must not turn into an exception
  // from one implementation and null from the other.
  it('a key of the wrong length gives null from both implementations', () => {
    for (const suite of [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305]) {
      const n = SUITES[suite].nonceLength;
      const sealed = nodeAead.seal(suite, bytes(32, 17), bytes(n, 18), bytes(20, 19), new Uint8Array(0));
      for (const impl of [nobleAead, nodeAead]) {
        for (const key of [bytes(16, 17), bytes(31, 17)]) {
          expect(impl.open(suite, key, bytes(n, 18), sealed, new Uint8Array(0)), `${impl.name} ${SUITES[suite].name} key ${key.length}`).toBeNull();
        }
      }
    }
  });
});
