/**
 * Review 6, mutation round 2 — guarantee (SECURITY.md): "options from own properties only"
 * (threat model: "a caller with a polluted `Object.prototype` — inject options — options are read
 * from own properties only").
 *
 * Surviving mutation: in src/keywarden.ts `messageAad`, `Object.hasOwn(options, 'aad') ?
 * options.aad : undefined` replaced by `options.aad`. The named tests (validation,
 * review-fixes) pollute `Object.prototype.aead`, `.ledger` and `.now`, never `.aad`, so an
 * inherited aad was silently bound into every message sealed with options that carry no own
 * `aad` (`{}` or `{ signal }`), and required on every open with such options.
 *
 * Now, for all polluting aad values (strings and bytes) and option objects without an own aad:
 * a message sealed under the polluted prototype opens afterwards, unpolluted, with no aad at all
 * (encrypt/decrypt and encryptString/decryptString), and a message sealed with no aad opens
 * under the polluted prototype with those same options.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

/** Sets `Object.prototype[name]` for the duration of `fn` (prototype pollution by an attacker). */
async function withPolluted<T>(name: string, value: unknown, fn: () => Promise<T>): Promise<T> {
  Object.defineProperty(Object.prototype, name, { value, configurable: true, writable: true, enumerable: false });
  try {
    return await fn();
  } finally {
    delete (Object.prototype as Record<string, unknown>)[name];
  }
}

const pollutedArb = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.uint8Array({ minLength: 1, maxLength: 20 }));
const optionsArb = fc.constantFrom<() => object>(() => ({}), () => ({ signal: new AbortController().signal }));

describe('a polluted Object.prototype.aad', () => {
  it('is never bound into a message nor required to open one', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const plain = await kw.encrypt('conv', new Uint8Array([4, 2]));
    const plainText = await kw.encryptString('conv', 'hello');
    await fc.assert(
      fc.asyncProperty(pollutedArb, optionsArb, fc.uint8Array({ maxLength: 64 }), async (polluted, options, pt) => {
        const [ct, st, opened, openedText] = await withPolluted('aad', polluted, async () => [
          await kw.encrypt('conv', pt, options()),
          await kw.encryptString('conv', 'sealed while polluted', options()),
          await kw.decrypt('conv', plain, options()),
          await kw.decryptString('conv', plainText, options()),
        ] as const);
        expect(Array.from(opened as Uint8Array)).toEqual([4, 2]);
        expect(openedText).toBe('hello');
        expect(Array.from(await kw.decrypt('conv', ct as Uint8Array))).toEqual(Array.from(pt));
        expect(await kw.decryptString('conv', st as Uint8Array)).toBe('sealed while polluted');
      }),
      { numRuns: 40 },
    );
    kw.close();
  });
});
