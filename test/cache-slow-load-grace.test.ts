/**
* Outside review, 2026-12-01 (second read): a key whose load (store read + unwrap) took longer than
 * maxAgeMs is now cached already expired (loadedAt = the read's start). Concurrent lookups of the
 * same version drop and wipe it, and a seal that was holding it loops: load, wiped, load...
 */
import { describe, expect, it } from 'vitest';
import { Keywarden } from '../src/node.js';
import { KeyCache } from '../src/cache/key-cache.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { MemoryKeyStore } from '../src/store/memory.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';

describe('attack-review: key cache stamping with a slow unwrap', () => {
  it('an encrypt racing decrypts of the same conversation completes when the unwrap outlasts maxAgeMs', async () => {
    const local = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const a = new Keywarden({ masterKey: local, keyStore });
    const conv = 'conv-slow-unwrap';
    const ct = await a.encrypt(conv, new TextEncoder().encode('hello'));
    a.close();

    let clock = 1_800_000_000_000;
    let unwraps = 0;
    // A KMS under throttling: every unwrap takes 61 s (maxAgeMs is 60 s; the KMS deadline allows it).
    const slow: MasterKeyProvider = {
      keyId: local.keyId,
      generateDataKey: (c, o) => local.generateDataKey(c, o),
      unwrapDataKey: async (w, c, id, o) => {
        unwraps++;
        await new Promise((r) => setTimeout(r, 1));
        clock += 61_000;
        return local.unwrapDataKey(w, c, id, o);
      },
      handlesKeyId: (id) => id === local.keyId,
    };
    const cache = new KeyCache({ maxAgeMs: 60_000 }, () => clock);
    // The store answers a reservation in 5 ms (a network round trip).
    const slowStore = new Proxy(keyStore, {
      get(t, prop) {
        if (prop === 'reserveMessages') {
          return async (...args: Parameters<MemoryKeyStore['reserveMessages']>) => {
            await new Promise((r) => setTimeout(r, 5));
            return t.reserveMessages(...args);
          };
        }
        const v = Reflect.get(t, prop, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const b = new Keywarden({ masterKey: slow, keyStore: slowStore, cache, timeouts: { kmsMs: 300_000 } });
    let done = false;
    const readers = (async () => {
      // Other requests reading the conversation meanwhile (each decrypt: at most one unwrap).
      for (let i = 0; !done && unwraps < 60 && i < 2000; i++) {
        await b.decrypt(conv, ct);
        await new Promise((r) => setImmediate(r)); // let timers run
      }
    })();
    let sealed = false;
    const enc = b.encrypt(conv, new TextEncoder().encode('new message')).then(() => { sealed = true; });
    // Every decrypt finishes; the encrypt should too, after a bounded number of unwraps.
    await Promise.race([enc, readers]);
    const sealedWhileReadersRan = sealed;
    const unwrapsWhenSealed = unwraps;
    done = true;
    await readers;
    const unwrapsAtEnd = unwraps;
    await Promise.race([enc, new Promise((r) => setTimeout(r, 2000))]);
    b.close();
    expect(sealed).toBe(true); // once the decrypts stop, it does
    expect(sealedWhileReadersRan, `encrypt starved while decrypts ran: still pending after ${unwrapsAtEnd} KMS unwraps`).toBe(true);
    expect(unwrapsWhenSealed).toBeLessThan(10);
  });
});
