/**
 * Review 2026-12-02 (second, first hour): cache option errors named a parameter nobody passed.
 *
 * Was: `new Keywarden({ cache: { maxEntries: -1 } })` and `new KeyCache({ maxEntries: 0 })` both
 * reported `cache.maxEntries` (and `cache.maxAgeMs`, `cache.<unknown>`), while every other option
 * error names the parameter as the caller passed it (README: "`err.param` names it").
 *
 * Now: through Keywarden it is `options.cache.maxEntries`; on KeyCache's own constructor it is
 * `options.maxEntries` — for every bad value, unknown keys included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const bad = fc.oneof(fc.constant(-1), fc.constant(0.5), fc.constant(Number.NaN), fc.constant('10'), fc.constant(null), fc.constant(2 ** 60));

describe('cache option errors name the parameter as passed', () => {
  it('for any bad maxEntries or maxAgeMs', () => {
    fc.assert(fc.property(fc.constantFrom('maxEntries', 'maxAgeMs'), bad, (name, value) => {
      if (name === 'maxAgeMs' && value === 0) return;
      const viaKw = (() => {
        try {
          new Keywarden({ masterKey: new LocalMasterKey(new Uint8Array(32).fill(1)), keyStore: new MemoryKeyStore(), cache: { [name]: value } });
        } catch (e) {
          return e as { code?: string; param?: string };
        }
        return undefined;
      })();
      expect(viaKw).toMatchObject({ code: 'ERR_INVALID_INPUT', param: `options.cache.${name}` });
      expect(() => new KeyCache({ [name]: value })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: `options.${name}` }));
    }));
  });

  it('an unknown cache option', () => {
    expect(() => new Keywarden({ masterKey: new LocalMasterKey(new Uint8Array(32).fill(1)), keyStore: new MemoryKeyStore(), cache: { maxEntires: 5 } as never }))
      .toThrow(expect.objectContaining({ param: 'options.cache.maxEntires' }));
    expect(() => new KeyCache({ maxEntires: 5 } as never)).toThrow(expect.objectContaining({ param: 'options.maxEntires' }));
  });
});
