/**
 * docs/KEYS.md §3: "An instance that misses the notification ... drops them when its cache entries
 * reach cache.maxAgeMs: max age is the bound on how long a shredded key can still be used anywhere."
 * §5: "after a rotation or a shred, another process may use the old key for at most cache.maxAgeMs
 * (plus its clock's skew)". Retention's margin (maxAgeMs + 60 s) relies on it.
 *
 * The cache stamps loadedAt when the unwrap FINISHES, not when the store was read. A load that read
 * the record before another process shredded/rotated it, and whose KMS unwrap took a while
 * (timeouts.kmsMs allows up to an hour), keeps the stale key for maxAgeMs AFTER the unwrap.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';

const enc = (s: string) => new TextEncoder().encode(s);
const MAX_AGE = 300_000;

function gated(real: LocalMasterKey) {
  let release: () => void = () => {};
  let entered: () => void = () => {};
  const waiting = new Promise<void>((r) => (entered = r));
  let gate: Promise<void> | undefined = new Promise<void>((r) => (release = r));
  const kms: MasterKeyProvider = {
    keyId: real.keyId,
    generateDataKey: (c, o) => real.generateDataKey(c, o),
    async unwrapDataKey(w, c, id, o) {
      if (gate) {
        entered();
        await gate;
      }
      return real.unwrapDataKey(w, c, id, o);
    },
  };
  return { kms, waiting, open: () => { gate = undefined; release(); } };
}

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return 'ok'; } catch (e) { return isKeywardenError(e) ? e.code : String(e); }
}

describe('cache max age is measured from the end of the unwrap, not from the store read', () => {
  it('a shredded key stays usable on a non-watching instance for longer than maxAgeMs after the shred', async () => {
    const keyStore = new MemoryKeyStore();
    const real = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey: real, keyStore });
    const ct = await a.encrypt('conv', enc('secret'));

    let t = 1_000_000_000_000;
    const g = gated(real);
    const b = new Keywarden({ masterKey: g.kms, keyStore, cache: new KeyCache({ maxAgeMs: MAX_AGE }, () => t), now: () => new Date(t), timeouts: { kmsMs: 3_600_000 } });
    const first = code(b.decrypt('conv', ct));
    await g.waiting; // b read the (active) record; its KMS unwrap is slow
    await a.shred('conv'); // shred committed at time t0
    const t0 = t;
    t += 120_000; // the unwrap takes 2 minutes (well within timeouts.kmsMs)
    g.open();
    expect(['ok', 'ERR_KEY_SHREDDED']).toContain(await first);

    // maxAgeMs + 1 minute after the shred committed: per KEYS.md §3 nobody may open it any more.
    t = t0 + MAX_AGE + 60_000;
    expect(await code(b.decrypt('conv', ct))).toBe('ERR_KEY_SHREDDED');
  });

  it('XChaCha20 (uncounted): an instance seals under a superseded version for longer than maxAgeMs after the rotation', async () => {
    const keyStore = new MemoryKeyStore();
    const real = new LocalMasterKey(LocalMasterKey.generateKey());
    const suite = 'XChaCha20-Poly1305' as const;
    let t = 1_000_000_000_000;
    const a = new Keywarden({ masterKey: real, keyStore, suite, now: () => new Date(t) });
    await a.encrypt('conv', enc('v1'));

    const g = gated(real);
    const b = new Keywarden({ masterKey: g.kms, keyStore, suite, cache: new KeyCache({ maxAgeMs: MAX_AGE }, () => t), now: () => new Date(t), timeouts: { kmsMs: 3_600_000 } });
    const first = b.encrypt('conv', enc('racing'));
    await g.waiting; // b read version 1 as active
    const rotated = await a.rotate('conv'); // version 2, version 1 superseded at t0
    expect(rotated.version).toBe(2);
    const t0 = t;
    t += 120_000;
    g.open();
    await first;

    t = t0 + MAX_AGE + 60_000;
    const late = await b.encrypt('conv', enc('late'));
    // Header byte 2..5: key version. Sealed maxAgeMs + 60 s after version 1 was superseded.
    const version = new DataView(late.buffer, late.byteOffset).getUint32(2);
    expect(version).toBe(2);
  });

  it('retention then erases a message sealed AFTER its cut-off (KEYS.md §7: "No message younger than the cut-off is ever erased")', async () => {
    const keyStore = new MemoryKeyStore();
    const real = new LocalMasterKey(LocalMasterKey.generateKey());
    const suite = 'XChaCha20-Poly1305' as const;
    let t = 1_000_000_000_000;
    const clock = () => new Date(t);
    const a = new Keywarden({ masterKey: real, keyStore, suite, now: clock, cache: new KeyCache({ maxAgeMs: MAX_AGE }, () => t) });
    await a.encrypt('conv', enc('v1'));

    const g = gated(real);
    const b = new Keywarden({ masterKey: g.kms, keyStore, suite, cache: new KeyCache({ maxAgeMs: MAX_AGE }, () => t), now: clock, timeouts: { kmsMs: 3_600_000 } });
    const first = b.encrypt('conv', enc('racing'));
    await g.waiting;
    await a.rotate('conv'); // version 1 superseded at t0
    const t0 = t;
    t += 120_000;
    g.open();
    await first;

    t = t0 + MAX_AGE + 100_000;
    const young = await b.encrypt('conv', enc('sealed after the cut-off'));
    const sealedAt = t;
    t = t0 + MAX_AGE + 200_000;
    const cutoff = new Date(t0 + MAX_AGE + 61_000); // before the message was sealed
    expect(cutoff.getTime()).toBeLessThan(sealedAt);
    await a.retain({ before: cutoff });
    // The message is younger than the cut-off: it must still open.
    expect(await code(a.decrypt('conv', young))).toBe('ok');
  });
});
