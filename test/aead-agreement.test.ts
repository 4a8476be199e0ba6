/**
 * Property tests: the native (node:crypto) and portable (@noble/ciphers) AEADs agree byte for
 * byte, interoperate, reject every tampering, and never mutate their inputs.
 *
 * fast-check reports the seed and the shrunk counterexample on failure; errors are not caught
 * here so that report reaches the test output. Re-run a failure with
 * `fc.assert(prop, { seed, path })` from the printed values.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import type { AeadImpl } from '../src/aead/types.js';
import { SUITES, SuiteId } from '../src/format/suites.js';

const IMPLS: readonly AeadImpl[] = [nobleAead, nodeAead];
const ALL_SUITES = [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305] as const;
const TAG = 16;
const MIB = 1 << 20;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);

/** Deterministic bytes from a seed (xorshift32), so large inputs stay reproducible from fast-check's seed. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Case {
  suite: SuiteId;
  key: Uint8Array;
  nonce: Uint8Array;
  plaintext: Uint8Array;
  aad: Uint8Array;
  prefix: Uint8Array;
}

function caseArb(suite: SuiteId, plaintext: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Case> {
  const n = SUITES[suite].nonceLength;
  return fc.record({
    suite: fc.constant(suite),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    nonce: fc.uint8Array({ minLength: n, maxLength: n }),
    plaintext,
    aad: fc.uint8Array({ minLength: 0, maxLength: 256 }),
    prefix: fc.uint8Array({ minLength: 0, maxLength: 8 }),
  });
}

const smallPlaintext = fc.uint8Array({ minLength: 0, maxLength: 4096 });
/**
 * Large plaintexts are drawn as (length, seed) and expanded inside the property, so a failure
 * report prints two numbers instead of a megabyte of bytes.
 */
const largePlaintextSpec = fc.record({
  length: fc.oneof(fc.constant(MIB), fc.integer({ min: 4097, max: MIB })),
  seed: fc.integer(),
});

/** Names of the buffers in `inputs` whose bytes differ from the snapshot `before` (same order). */
function changedInputs(inputs: Record<string, Uint8Array>, before: Uint8Array[]): string[] {
  return Object.entries(inputs)
    .filter(([, now], i) => Buffer.compare(now, before[i]) !== 0)
    .map(([name]) => name);
}

/** `open` by `impl`, asserting that none of its inputs changed. */
function openChecked(
  impl: AeadImpl,
  suite: SuiteId,
  key: Uint8Array,
  nonce: Uint8Array,
  body: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  const inputs = { key, nonce, ciphertextAndTag: body, aad };
  const before = Object.values(inputs).map(copy);
  const out = impl.open(suite, key, nonce, body, aad);
  expect(changedInputs(inputs, before), `${impl.name}.open mutated its inputs`).toEqual([]);
  return out;
}

function sealChecked(impl: AeadImpl, c: Case): Uint8Array {
  const inputs = { key: c.key, nonce: c.nonce, plaintext: c.plaintext, aad: c.aad, prefix: c.prefix };
  const before = Object.values(inputs).map(copy);
  const out = impl.seal(c.suite, c.key, c.nonce, c.plaintext, c.aad, c.prefix);
  expect(changedInputs(inputs, before), `${impl.name}.seal mutated its inputs`).toEqual([]);
  return out;
}

/** Both implementations reject `body`. */
function expectBothReject(c: Case, body: Uint8Array, aad: Uint8Array, what: string): void {
  for (const impl of IMPLS) {
    const out = openChecked(impl, c.suite, c.key, c.nonce, body, aad);
    // Describe rather than print a released plaintext: it may be a megabyte.
    expect(out === null ? null : `${out.length}-byte plaintext`, `${impl.name} accepted: ${what}`).toBeNull();
  }
}

/** Seals with both, checks agreement and cross-opening; returns ct||tag (no prefix). */
function sealBothAndCrossOpen(c: Case): Uint8Array {
  const byNode = sealChecked(nodeAead, c);
  const byNoble = sealChecked(nobleAead, c);
  expect(byNode.length).toBe(c.prefix.length + c.plaintext.length + TAG);
  // hex comparison: Buffer vs Uint8Array, and a readable diff
  expect(hex(byNode)).toBe(hex(byNoble));
  expect(hex(byNode.subarray(0, c.prefix.length))).toBe(hex(c.prefix));

  const body = copy(byNode.subarray(c.prefix.length));
  for (const opener of IMPLS) {
    const pt = openChecked(opener, c.suite, c.key, c.nonce, body, c.aad);
    expect(pt, `${opener.name} failed to open`).not.toBeNull();
    expect(pt!.length).toBe(c.plaintext.length);
    expect(Buffer.compare(pt!, c.plaintext), `${opener.name} opened to the wrong plaintext`).toBe(0);
  }
  return body;
}

interface Tamper {
  bitPos: number;
  truncateTo: number;
  appended: number;
  aadFlipPos: number;
  aadExtra: number;
}

/** Tampering arbitrary: drawn alongside a case, applied to its ct||tag. */
const tamperArb: fc.Arbitrary<Tamper> = fc.record({
  bitPos: fc.nat(),
  truncateTo: fc.nat(),
  appended: fc.integer({ min: 0, max: 255 }),
  aadFlipPos: fc.nat(),
  aadExtra: fc.integer({ min: 0, max: 255 }),
});

function checkTampering(c: Case, body: Uint8Array, t: Tamper): void {
  const bits = body.length * 8;
  const bit = t.bitPos % bits;
  const flipped = copy(body);
  flipped[bit >>> 3] ^= 1 << (bit & 7);
  expectBothReject(c, flipped, c.aad, `bit ${bit} flipped`);

  const truncated = body.slice(0, t.truncateTo % body.length);
  expectBothReject(c, truncated, c.aad, `truncated to ${truncated.length}`);

  const extended = new Uint8Array(body.length + 1);
  extended.set(body);
  extended[body.length] = t.appended;
  expectBothReject(c, extended, c.aad, 'byte appended');

  // wrong aad: one flipped bit when there is aad, and one extra byte appended in any case
  if (c.aad.length > 0) {
    const a = copy(c.aad);
    const i = t.aadFlipPos % (a.length * 8);
    a[i >>> 3] ^= 1 << (i & 7);
    expectBothReject(c, body, a, 'aad bit flipped');
    expectBothReject(c, body, c.aad.subarray(0, c.aad.length - 1), 'aad truncated');
  }
  const longerAad = new Uint8Array(c.aad.length + 1);
  longerAad.set(c.aad);
  longerAad[c.aad.length] = t.aadExtra;
  expectBothReject(c, body, longerAad, 'aad extended');
}

describe.each(ALL_SUITES.map((s) => [SUITES[s].name, s] as const))('%s: node and noble agree', (_name, suite) => {
  it('seal is byte-identical, each opens the other, and every tampering is rejected (0..4096 bytes)', () => {
    fc.assert(
      fc.property(caseArb(suite, smallPlaintext), tamperArb, (c, t) => {
        const body = sealBothAndCrossOpen(c);
        checkTampering(c, body, t);
      }),
      { numRuns: 200 },
    );
  });

  it('large messages up to 1 MiB', () => {
    fc.assert(
      fc.property(caseArb(suite, fc.constant(new Uint8Array(0))), largePlaintextSpec, tamperArb, (small, spec, t) => {
        const c: Case = { ...small, plaintext: pseudoRandomBytes(spec.length, spec.seed) };
        const body = sealBothAndCrossOpen(c);
        checkTampering(c, body, t);
      }),
      { numRuns: 4 },
    );
  });

  it('every single-bit flip and every truncation of short messages is rejected', () => {
    // Exhaustive over all positions, for sizes around the 16-byte block/tag boundaries.
    fc.assert(
      fc.property(
        caseArb(suite, fc.constantFrom(0, 1, 15, 16, 17, 31, 33).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))),
        (c) => {
          const body = sealBothAndCrossOpen(c);
          for (let bit = 0; bit < body.length * 8; bit++) {
            const flipped = copy(body);
            flipped[bit >>> 3] ^= 1 << (bit & 7);
            expectBothReject(c, flipped, c.aad, `bit ${bit} flipped`);
          }
          for (let len = 0; len < body.length; len++) {
            expectBothReject(c, body.subarray(0, len), c.aad, `truncated to ${len}`);
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('a different key or nonce does not open', () => {
    fc.assert(
      fc.property(caseArb(suite, fc.uint8Array({ maxLength: 64 })), fc.nat(), fc.nat(), (c, kb, nb) => {
        const body = sealBothAndCrossOpen(c);
        const key2 = copy(c.key);
        key2[(kb >>> 3) % 32] ^= 1 << (kb & 7);
        const nonce2 = copy(c.nonce);
        nonce2[(nb >>> 3) % nonce2.length] ^= 1 << (nb & 7);
        expectBothReject({ ...c, key: key2 }, body, c.aad, 'different key');
        expectBothReject({ ...c, nonce: nonce2 }, body, c.aad, 'different nonce');
      }),
      { numRuns: 100 },
    );
  });
});

describe('XChaCha20-Poly1305 construction', () => {
  it("nobleAead's HChaCha20 + ChaCha20-Poly1305 equals @noble/ciphers xchacha20poly1305", () => {
    fc.assert(
      fc.property(caseArb(SuiteId.XCHACHA20_POLY1305, smallPlaintext), (c) => {
        const reference = xchacha20poly1305(c.key, c.nonce, c.aad).encrypt(c.plaintext);
        const ours = nobleAead.seal(c.suite, c.key, c.nonce, c.plaintext, c.aad);
        expect(hex(ours)).toBe(hex(reference));
        expect(hex(nodeAead.seal(c.suite, c.key, c.nonce, c.plaintext, c.aad))).toBe(hex(reference));
        const opened = nobleAead.open(c.suite, c.key, c.nonce, reference, c.aad);
        expect(opened && hex(opened)).toBe(hex(c.plaintext));
      }),
      { numRuns: 200 },
    );
  });

  it('a nonce differing only in the HChaCha20 part (bytes 0..15) or the inner part (16..23) does not open', () => {
    fc.assert(
      fc.property(caseArb(SuiteId.XCHACHA20_POLY1305, fc.uint8Array({ maxLength: 64 })), fc.nat(), (c, b) => {
        const body = sealBothAndCrossOpen(c);
        for (const byte of [b % 16, 16 + (b % 8)]) {
          const n2 = copy(c.nonce);
          n2[byte] ^= 1 << (b & 7);
          expectBothReject({ ...c, nonce: n2 }, body, c.aad, `nonce byte ${byte} changed`);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('edge cases', () => {
  it('inputs shorter than a tag are rejected, not thrown', () => {
    for (const suite of ALL_SUITES) {
      const key = new Uint8Array(32);
      const nonce = new Uint8Array(SUITES[suite].nonceLength);
      for (let len = 0; len < TAG; len++) {
        for (const impl of IMPLS) {
          expect(openChecked(impl, suite, key, nonce, new Uint8Array(len).fill(0xa5), new Uint8Array(0))).toBeNull();
        }
      }
    }
  });

  it('an empty prefix and an omitted prefix give the same bytes', () => {
    for (const suite of ALL_SUITES) {
      const key = pseudoRandomBytes(32, 1);
      const nonce = pseudoRandomBytes(SUITES[suite].nonceLength, 2);
      const pt = pseudoRandomBytes(100, 3);
      const aad = pseudoRandomBytes(7, 4);
      for (const impl of IMPLS) {
        expect(hex(impl.seal(suite, key, nonce, pt, aad, new Uint8Array(0)))).toBe(hex(impl.seal(suite, key, nonce, pt, aad)));
      }
    }
  });

  it('open accepts subarray views (non-zero byteOffset) without reading outside them', () => {
    for (const suite of ALL_SUITES) {
      const key = pseudoRandomBytes(32, 5);
      const nonce = pseudoRandomBytes(SUITES[suite].nonceLength, 6);
      const pt = pseudoRandomBytes(50, 7);
      const aad = pseudoRandomBytes(9, 8);
      const sealed = nodeAead.seal(suite, key, nonce, pt, aad, pseudoRandomBytes(5, 9));
      // The ct||tag as a view into the prefixed buffer, with junk after it in the same ArrayBuffer.
      const backing = new Uint8Array(sealed.length + 7).fill(0xee);
      backing.set(sealed);
      const view = backing.subarray(5, sealed.length);
      for (const impl of IMPLS) {
        const out = openChecked(impl, suite, key, nonce, view, aad);
        expect(out && hex(out)).toBe(hex(pt));
      }
    }
  });
});
