/**
 * A key load in flight across a rotation (outside review, 2026-12-01). A load that read version 1
 * while it was active and finishes after a rotation used to cache version 1 as the active
 * version again — taking the mark from version 2 — so the instance went on sealing new messages
 * under the superseded key until the cache entry expired: after its own `rotate()` resolved, and
 * after a `watchKeyChanges` notification. With AES-256-GCM the store's message reservation
 * refuses a superseded version; XChaCha20-Poly1305 keeps no count, so nothing else stopped it.
 */
import { describe, expect, it } from 'vitest';
import type { MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A master key whose next unwrap, once armed, waits until released. */
function gatedMasterKey() {
  const real = new LocalMasterKey(LocalMasterKey.generateKey());
  let gate: Promise<void> | undefined;
  let release = (): void => undefined;
  let entered = (): void => undefined;
  const key: MasterKeyProvider = {
    keyId: real.keyId,
    generateDataKey: (c) => real.generateDataKey(c),
    async unwrapDataKey(w, c, id, o) {
      const g = gate;
      gate = undefined;
      if (g !== undefined) {
        entered();
        await g;
      }
      return real.unwrapDataKey(w, c, id, o);
    },
  };
  const arm = (): Promise<void> => {
    gate = new Promise<void>((r) => (release = r));
    return new Promise<void>((r) => (entered = r));
  };
  return { real, key, arm, release: () => release() };
}

describe('a load that read the old active version does not make it active again', () => {
  for (const suite of ['XChaCha20-Poly1305', 'AES-256-GCM'] as const) {
    it(`${suite}: after rotate() resolves, every seal is under the new version, whatever load finishes later`, async () => {
      const store = new MemoryKeyStore();
      const g = gatedMasterKey();
      const ct1 = await new Keywarden({ masterKey: g.key, keyStore: store, suite }).encrypt('c', enc('old'));
      const kw = new Keywarden({ masterKey: g.key, keyStore: store, suite });
      const inGate = g.arm();
      const pending = kw.decrypt('c', ct1); // reads version 1 while it is active, then waits in KMS
      await inGate;
      expect((await kw.rotate('c')).version).toBe(2);
      const sealed = [inspectCiphertext(await kw.encrypt('c', enc('new-1'))).keyVersion];
      g.release();
      expect(new TextDecoder().decode(await pending)).toBe('old');
      for (let i = 0; i < 3; i++) sealed.push(inspectCiphertext(await kw.encrypt('c', enc(`new-${i + 2}`))).keyVersion);
      expect(sealed).toEqual([2, 2, 2, 2]);
    });
  }

  it('XChaCha20-Poly1305: an instance that heard the rotation (watchKeyChanges) seals under the new version after its slow load lands', async () => {
    const store = new MemoryKeyStore();
    const g = gatedMasterKey();
    const suite = 'XChaCha20-Poly1305' as const;
    const a = new Keywarden({ masterKey: g.real, keyStore: store, suite });
    const b = new Keywarden({ masterKey: g.key, keyStore: store, suite, watchKeyChanges: true });
    try {
      await b.ready();
      await a.encrypt('c', enc('first'));
      const inGate = g.arm();
      const pending = b.encrypt('c', enc('b-1')); // B's first seal loads version 1 (active) and waits
      await inGate;
      expect((await a.rotate('c')).version).toBe(2);
      await new Promise((r) => setTimeout(r, 50)); // B hears it
      g.release();
      await pending; // sealed while the rotation raced: version 1 is acceptable for this one
      const later: number[] = [];
      for (let i = 0; i < 3; i++) later.push(inspectCiphertext(await b.encrypt('c', enc(`b-${i + 2}`))).keyVersion);
      expect(later).toEqual([2, 2, 2]);
    } finally {
      b.close();
      a.close();
    }
  });
});
