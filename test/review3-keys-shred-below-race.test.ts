/**
 * Outside review 2026-12-02 (keys): `shred(id, { below: N })` decides which versions to destroy
 * from a read taken *before* its transaction, so a version below N that another instance adds in
 * between survives a shred that commits after it exists.
 *
 * Where: src/keywarden.ts:557-559 — `listVersions` runs as its own store call, outside the shred's
 * transaction, and the list it returns becomes an explicit `versions` array for
 * `KeyLifecycle.shred` (src/keys/lifecycle.ts:158-172); the store then shreds exactly those. A
 * rotation (another instance's, or the age/count policy on any sealing instance) that commits
 * between the read and the shred adds version n+1 < N, which stays active and readable although
 * the shred committed after it. docs/KEYS.md §3: "`shred(id, { below: 5 })` destroys **every
 * existing version under 5**"; the JSDoc calls `below` "a minimum decryptable version".
 *
 * Correct: the versions under N are chosen inside the shred's store transaction (e.g. a store
 * `shred` target `{ below: N }`, or reading the versions through `tx` in `#audited` after taking
 * the conversation's row lock, as the whole-conversation shred does), so every version under N
 * that exists when the shred commits is destroyed.
 *
 * Now: shred({ below }) reads, shreds and reads again until no version under `below` is left.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A memory store that runs `hook` once, right after the next listVersions read returns. */
class HookedStore extends MemoryKeyStore {
  hook: (() => Promise<void>) | undefined;
  override async listVersions(conversationId: string): Promise<KeyRecord[]> {
    const rows = await super.listVersions(conversationId);
    const h = this.hook;
    this.hook = undefined;
    if (h) await h();
    return rows;
  }
}

describe('shred({ below }) against a rotation that commits meanwhile', () => {
  it('every version under N that exists when the shred commits is destroyed', async () => {
    const keyStore = new HookedStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const operator = new Keywarden({ masterKey, keyStore });
    const service = new Keywarden({ masterKey, keyStore });
    await service.encrypt('conv', enc('v1'));
    await service.rotate('conv'); // v2 active
    let sealed: Uint8Array | undefined;
    // Another instance rotates and seals right after the operator's shred read the versions.
    keyStore.hook = async () => {
      await service.rotate('conv'); // v3
      sealed = await service.encrypt('conv', enc('sealed under v3, before the shred'));
    };
    const report = await operator.shred('conv', { below: 10 });
    const states = (await operator.describeKeys('conv')).map((k) => `${k.version}:${k.state}`);
    // The shred committed after v3 existed: v3 < 10 must be shredded too.
    expect(states).toEqual(['1:shredded', '2:shredded', '3:shredded']);
    expect(report.shredded).toEqual([1, 2, 3]);
    const fresh = new Keywarden({ masterKey, keyStore });
    const code = await fresh.decrypt('conv', sealed!).then(() => 'opened', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    expect(code).toBe('ERR_KEY_SHREDDED');
    operator.close();
    service.close();
    fresh.close();
  });
});
