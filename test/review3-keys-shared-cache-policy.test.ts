/**
 * Outside review 2026-12-02 (keys): two Keywarden instances that share a KeyCache (the documented
 * way to share one cache in a process) over the same key store and master key share one cache
 * partition, and with it the *seal budget and rotation deadline* computed by whichever instance
 * loaded the key. An instance configured with a lower message budget (`maxMessagesPerKey` /
 * `rotation.maxMessages`) or a rotation age (`rotation.maxAgeMs`) then seals far past them.
 *
 * Where: src/keywarden.ts:264 — the partition id is `${store}:${masterKey}` only; the hot path
 * (src/keywarden.ts:330-333) trusts `k.remaining` and `k.rotateAt` of the shared CachedKey, which
 * src/keys/lifecycle.ts (#initialGrant/#block, #rotateAt) filled in from the *loading* instance's
 * policy. With instance A on the defaults (block of 1,024 seals, no age limit) and B with
 * `maxMessagesPerKey: 4` and `rotation: { maxAgeMs: 60_000 }`, B seals 20 messages under one
 * version (the store records 1,024 reserved against B's limit of 4), and keeps sealing under a
 * version 10 minutes past its 1-minute rotation age. The options' docs promise "Lower the
 * number of messages one key version may seal" and "rotate a conversation's key version once it
 * is maxAgeMs old"; docs/KEYS.md §7 relies on the latter for retention of idle versions.
 *
 * Correct: an instance never seals beyond its own limits — e.g. include the rotation policy,
 * limit and reservation size in the partition id, or check `remaining`/`rotateAt` against the
 * instance's own policy on the hot path (or refuse to share a partition across differing
 * policies at construction, ERR_INVALID_INPUT).
 *
 * Now: the cache partition id includes the rotation policy, limit, reservation size and autoRotate.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('a KeyCache shared by instances with different policies', () => {
  it('an instance with maxMessagesPerKey: 4 never seals more than 4 messages under one version', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const cache = new KeyCache();
    const a = new Keywarden({ masterKey, keyStore, cache });
    const b = new Keywarden({ masterKey, keyStore, cache, maxMessagesPerKey: 4 });
    await a.encrypt('conv', enc('from a'));
    const versions = new Map<number, number>();
    for (let i = 0; i < 20; i++) {
      const ct = await b.encrypt('conv', enc(`from b ${i}`));
      const v = new DataView(ct.buffer, ct.byteOffset).getUint32(2); // key version, docs/FORMAT.md §3
      versions.set(v, (versions.get(v) ?? 0) + 1);
    }
    // B's own limit: at most 4 messages per version (A's one message counts against it too).
    expect(Math.max(...versions.values())).toBeLessThanOrEqual(4);
    a.close();
    b.close();
  });

  it('an instance with rotation.maxAgeMs rotates a version past that age even when another instance loaded it', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    let t = Date.parse('2026-12-02T00:00:00Z');
    const now = () => new Date(t);
    const cache = new KeyCache({ maxAgeMs: 60 * 60_000 }, () => t);
    const a = new Keywarden({ masterKey, keyStore, cache, now });
    const b = new Keywarden({ masterKey, keyStore, cache, now, rotation: { maxAgeMs: 60_000 } });
    await a.encrypt('conv', enc('from a'));
    t += 10 * 60_000; // ten times B's rotation age
    const ct = await b.encrypt('conv', enc('from b'));
    const version = new DataView(ct.buffer, ct.byteOffset).getUint32(2);
    expect(version).toBe(2);
    a.close();
    b.close();
  });
});
