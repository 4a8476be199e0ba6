/**
 * Review 7 (mutation review). Guarantee (SECURITY.md: "keys keywarden owns are wiped: after use,
 * …"; test/key-path.test.ts: every plaintext data key a provider hands over is wiped — "cached,
 * refused, lost race, failed insert, late answer").
 *
 * Survived: in src/keys/lifecycle.ts `#rotateFrom`, the wipe of the generated key when the
 * rotation's compare-and-set loses (`clean(gen.plaintextKey);` before `deactivate` in the `else`
 * branch) removed. A rotation by age on two instances at once then
 * left the loser's fresh data key in memory in clear, never used. test/key-path.test.ts still
 * passed: its "rotation loses" case reaches the loss through `rotate` on a stale read, which goes
 * through the first-use path (`#create`), never `#rotateFrom`'s lost compare-and-set.
 *
 * Now asserted: two instances seal in one conversation; once its version is due, the first
 * instance's seal rotates it and the second's rotation from the same version loses; every data key
 * the second instance's provider generated is all zeros, it seals under the winner's version, and
 * the store holds exactly two versions.
 */
import { describe, expect, it } from 'vitest';
import type { GeneratedDataKey, MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const text = new TextEncoder().encode('hello');

function recording(inner: LocalMasterKey) {
  const generated: Uint8Array[] = [];
  const masterKey: MasterKeyProvider = {
    keyId: inner.keyId,
    async generateDataKey(context): Promise<GeneratedDataKey> {
      const g = await inner.generateDataKey(context);
      generated.push(g.plaintextKey);
      return g;
    },
    unwrapDataKey: (w, context, id) => inner.unwrapDataKey(w, context, id),
  };
  return { masterKey, generated };
}

describe('a rotation that loses its compare-and-set to another instance', () => {
  it('by age: the loser wipes the key it generated and seals under the winner', async () => {
    const inner = new LocalMasterKey(LocalMasterKey.generateKey());
    const store = new MemoryKeyStore();
    let t = Date.parse('2026-03-01T00:00:00Z');
    const opts = { keyStore: store, now: () => new Date(t), rotation: { maxAgeMs: 60_000 } };
    const a = recording(inner);
    const b = recording(inner);
    const kwA = new Keywarden({ masterKey: a.masterKey, ...opts });
    const kwB = new Keywarden({ masterKey: b.masterKey, ...opts });
    await kwA.encrypt('c', text);
    expect(inspectCiphertext(await kwB.encrypt('c', text)).keyVersion).toBe(1); // B has version 1 cached, active
    t += 120_000; // version 1 is due
    expect(inspectCiphertext(await kwA.encrypt('c', text)).keyVersion).toBe(2); // A rotates
    expect(b.generated).toHaveLength(0);
    const ct = await kwB.encrypt('c', text); // B rotates from version 1 too, and loses
    expect(b.generated).toHaveLength(1);
    expect(isZero(b.generated[0]!)).toBe(true);
    expect(inspectCiphertext(ct).keyVersion).toBe(2);
    expect((await store.listVersions('c')).map((r) => r.version)).toEqual([1, 2]);
    for (const k of a.generated) expect(isZero(k)).toBe(true);
    kwA.close();
    kwB.close();
  });
});
