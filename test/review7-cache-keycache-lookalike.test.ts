/**
 * Review 7 (cache): `options.cache` that passes `instanceof KeyCache` without being one — a Proxy
 * of a real KeyCache (wrapped for instrumentation, say) or an object made from
 * `KeyCache.prototype` — escaped the Keywarden constructor as a raw
 * `TypeError: Cannot read private member #parts from an object whose class did not declare it`,
 * with no ERR_ code and no parameter named (observed). README: every input error is
 * ERR_INVALID_INPUT and `err.param` names it; review 4 made a KeyCache of another copy of
 * keywarden such an error (test/review4-core-cache-other-copy.test.ts).
 *
 * Where: src/keywarden.ts, the Keywarden constructor (`o.cache instanceof KeyCache`).
 *
 * Now: ERR_INVALID_INPUT naming `options.cache`, before any partition is made; a real KeyCache
 * and plain options work as before.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());

function attempt(cache: unknown): unknown {
  try {
    new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), cache: cache as KeyCache }).close();
    return 'ok';
  } catch (e) {
    return isKeywardenError(e) ? { code: e.code, param: (e as { param?: string }).param } : String(e);
  }
}

describe('options.cache that only claims to be a KeyCache (review 7, cache)', () => {
  it('a Proxy of a KeyCache is refused with ERR_INVALID_INPUT naming options.cache', () => {
    expect(attempt(new Proxy(new KeyCache(), {}))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'options.cache' });
  });

  it('an object made from KeyCache.prototype is refused the same way', () => {
    expect(attempt(Object.create(KeyCache.prototype))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'options.cache' });
  });

  it('a real KeyCache and plain options still work', async () => {
    const cache = new KeyCache({ maxEntries: 10 });
    expect(attempt(cache)).toBe('ok');
    expect(attempt({ maxEntries: 10 })).toBe('ok');
    const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), cache });
    const ct = await kw.encrypt('conv', new Uint8Array([1, 2, 3]));
    expect([...(await kw.decrypt('conv', ct))]).toEqual([1, 2, 3]);
    expect(cache.stats().size).toBe(1);
    kw.close();
  });
});
