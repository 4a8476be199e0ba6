/**
 * Review 2026-12-02 (second; suspected by the hot-path review, reproduced here): a `KeyCache`
 * from another copy of keywarden (the ESM and the CommonJS build both loaded — the dual-package
 * hazard — or two installed versions) passed as `options.cache` was silently read as an options
 * object: its public `maxEntries` and `maxAgeMs` made a new private cache with the same bounds,
 * so the instances the caller meant to share one cache (one KMS call per key, one bound on
 * memory) each had their own, and nothing said so.
 *
 * Now: such an object is refused, `ERR_INVALID_INPUT` naming `options.cache`, saying why; a
 * KeyCache of this copy and plain options work as before.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const base = () => ({ masterKey: new LocalMasterKey(new Uint8Array(32).fill(1)), keyStore: new MemoryKeyStore() });

/** What a KeyCache of another copy looks like from here: same brand and public fields, another class. */
function otherCopyCache(): object {
  const mine = new KeyCache({ maxEntries: 50, maxAgeMs: 1000 });
  const brand = Object.getOwnPropertySymbols(Object.getPrototypeOf(mine)).concat(Object.getOwnPropertySymbols(mine));
  class KeyCache2 {
    readonly maxEntries = 50;
    readonly maxAgeMs = 1000;
  }
  for (const s of brand) Object.defineProperty(KeyCache2.prototype, s, { value: (mine as never)[s] });
  return new KeyCache2();
}

describe('options.cache from another copy of keywarden', () => {
  it('is refused naming options.cache, not silently made a private cache', () => {
    let err: unknown;
    try {
      new Keywarden({ ...base(), cache: otherCopyCache() as never });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.cache' });
    expect(String((err as Error).message)).toMatch(/another copy/);
  });

  it('a KeyCache of this copy is shared; plain options still make a private one', async () => {
    const shared = new KeyCache({ maxEntries: 10, maxAgeMs: 60_000 });
    const b = base();
    const a = new Keywarden({ ...b, cache: shared });
    const c = new Keywarden({ ...b, cache: shared });
    const ct = await a.encrypt('conv', new Uint8Array([1]));
    await c.decrypt('conv', ct);
    expect(shared.stats().size).toBeGreaterThan(0);
    expect(() => new Keywarden({ ...base(), cache: { maxEntries: 5, maxAgeMs: 100 } })).not.toThrow();
  });
});
