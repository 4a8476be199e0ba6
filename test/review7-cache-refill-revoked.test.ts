/**
 * Review 7 (cache): an encrypt that was waiting for a seal reservation when a whole-conversation
 * shred completed on this instance sealed its message under the shredded version anyway — after
 * `shred()` had resolved and after a later `encrypt` had been refused with ERR_KEY_SHREDDED — and
 * returned it as success. Nobody can ever open that message (observed: the ciphertext names
 * version 1; `decrypt` of it fails ERR_KEY_SHREDDED), so the caller stores a message that is lost.
 * It happened whenever a `decryptMany` page held the active key pinned at the moment of the shred:
 * `forget` then only revokes the key (remaining 0, bytes kept for the page), and the reservation's
 * answer put the grant back on the revoked key, which the seal loop then used. Without a page the
 * key is wiped (slot -1) and the same encrypt is refused. CachedKey.revoked's TSDoc: "nothing
 * opens or seals with it any more"; docs/KEYS.md §3: encrypt is refused after a shred.
 *
 * Where: src/keys/lifecycle.ts `KeyLifecycle.#refill` (`k.remaining += granted` for any key with
 * a slot) and `activeForSeal` (took the caller's `last` key whatever its revocation).
 *
 * Now: a revoked key gets no grant and is never taken as the key to seal with: the encrypt reads
 * the store again and is refused with ERR_KEY_SHREDDED.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);
const code = (e: unknown) => (isKeywardenError(e) ? e.code : String(e));

/** A memory key store whose reads of one version and whose reservations wait at gates the test opens. */
class GatedStore extends MemoryKeyStore {
  readVersionGate: { version: number; open: Promise<void>; entered: () => void } | undefined;
  reserveGate: { open: Promise<void>; entered: () => void } | undefined;
  override async getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    const g = this.readVersionGate;
    if (g !== undefined && g.version === version) {
      g.entered();
      await g.open;
    }
    return super.getVersion(conversationId, version);
  }
  override async reserveMessages(conversationId: string, version: number, count: number, limit: number): Promise<number> {
    const granted = await super.reserveMessages(conversationId, version, count, limit); // reaches the store before the shred
    const g = this.reserveGate;
    if (g !== undefined) {
      this.reserveGate = undefined;
      g.entered();
      await g.open;
    }
    return granted;
  }
}

function gate(): { open: Promise<void>; release: () => void; entered: Promise<void>; enter: () => void } {
  let release!: () => void;
  let enter!: () => void;
  const open = new Promise<void>((r) => (release = r));
  const entered = new Promise<void>((r) => (enter = r));
  return { open, release, entered, enter };
}

describe('encrypt refilling a key that a shred revoked while a page held it', () => {
  it('does not seal under the shredded version after shred() resolved', async () => {
    const keyStore = new GatedStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    // One seal per reservation: the second encrypt must ask the store for more.
    const kw = new Keywarden({ masterKey, keyStore, reservationSize: 1 });
    const m1 = await kw.encrypt('conv', enc('one'), { aad: 'm1' }); // v1 active, its one seal spent

    // A page pins v1 (cached) and waits on the store for a version 2 its forged item names.
    const forged = Uint8Array.from(m1); // a copy (a Buffer's slice shares memory)
    forged[5] = 2; // header key version (big-endian u32 at bytes 2..5) -> 2
    const rg = gate();
    keyStore.readVersionGate = { version: 2, open: rg.open, entered: rg.enter };
    const page = kw.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: forged, aad: 'm1' }]);
    await rg.entered;

    // A seal needs a reservation: granted by the store, the answer held back.
    const sg = gate();
    keyStore.reserveGate = { open: sg.open, entered: sg.enter };
    const sealed = kw.encrypt('conv', enc('two'), { aad: 'm2' }).then((ct) => ct, (e: unknown) => e);
    await sg.entered;

    const report = await kw.shred('conv'); // the whole conversation: committed, applied here, reported done
    expect(report.shredded).toEqual([1]);
    expect(await kw.encrypt('conv', enc('three')).then(() => 'sealed', code)).toBe('ERR_KEY_SHREDDED');

    sg.release();
    const out = await sealed;
    // The encrypt answered after the shred: it must be refused, not hand back a message that
    // nobody can ever open (it would be sealed under the shredded version 1).
    if (out instanceof Uint8Array) {
      const opened = await kw.decrypt('conv', out, { aad: 'm2' }).then(() => 'opened', code);
      expect({ sealedUnder: out[5], opened }).toEqual({ sealedUnder: 'none', opened: 'none' });
    }
    expect(code(out)).toBe('ERR_KEY_SHREDDED');

    rg.release();
    const results = await page;
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ERR_KEY_SHREDDED', 'ERR_DECRYPT_FAILED']); // v2 never existed
    kw.close();
  });
});
