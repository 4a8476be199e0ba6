/**
 * Outside review 7 (format): a plain Uint8Array with an own `length` property passed the aad
 * limit at decrypt, had its aad dropped from the associated data, or escaped as a raw RangeError.
 *
 * `plainBytes` (src/util/validate.ts), which `decrypt`, `decryptMany` and `validAad`
 * (src/format/items.ts) use for what is opened, kept a Uint8Array or Buffer as given when its
 * prototype was the plain one — but an instance can carry its own `length` (or `buffer`,
 * `byteOffset`, `subarray`) that shadows the engine's accessor. SECURITY.md: "a caller's subclass,
 * Proxy or look-alike view cannot … pass a size limit" (test/review6-mut3-typed-array-views.test.ts
 * tried a subclass only). Observed, on both implementations:
 * - a 100,000-byte aad saying `length: 0` passed the 64 KiB check and was left out of the
 *   associated data: a message sealed with no aad opened under it (the aad was not bound);
 * - saying `length: 8`, `decrypt` and `decryptMany` rejected with `RangeError: offset is out of
 *   bounds` (no KeywardenError);
 * - a ciphertext with 10 trailing bytes saying its genuine length opened on node and failed on
 *   noble (the two did not agree).
 *
 * Where: src/util/validate.ts, `plainBytes`.
 *
 * Now: a view with an own `length`, `byteLength`, `byteOffset`, `buffer` or `subarray` is read as
 * a fresh view over its internal slots, as a subclass is: an oversize aad is ERR_INVALID_INPUT
 * naming it, and the bytes used are the bytes the view holds.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError, nobleAead } from '../src/node.js';

const masterKey = new LocalMasterKey(new Uint8Array(32).fill(4));
const lying = (bytes: Uint8Array, length: number) => Object.defineProperty(bytes, 'length', { value: length });

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    const v = await p;
    return Array.isArray(v) ? v.map((r: { ok: boolean; error?: { code: string; param?: string } }) => (r.ok ? 'opened' : r.error!.code)) : 'opened';
  } catch (e) {
    return isKeywardenError(e) ? `${(e as { code: string }).code} ${(e as { param?: string }).param ?? ''}`.trim() : `escaped: ${String(e)}`;
  }
}

describe('views with an own length (plain prototype) at decrypt', () => {
  for (const aead of [undefined, nobleAead]) {
    it(`${aead?.name ?? 'node'}: an oversize aad is refused naming it, whatever length it claims`, async () => {
      const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), ...(aead ? { aead } : {}) });
      const ct = await kw.encrypt('c', new Uint8Array([1, 2, 3]));
      for (const claim of [0, 8]) {
        expect(await outcome(kw.decrypt('c', ct, { aad: lying(new Uint8Array(100_000), claim) }))).toBe('ERR_INVALID_INPUT options.aad');
        expect(await outcome(kw.decryptMany('c', [{ ciphertext: ct, aad: lying(new Uint8Array(100_000), claim) }]))).toBe('ERR_INVALID_INPUT items[0].aad');
      }
      // Within the limit: the aad is its bytes, so one that claims to be empty does not open a message sealed without aad.
      expect(await outcome(kw.decrypt('c', ct, { aad: lying(new Uint8Array(16), 0) }))).toBe('ERR_DECRYPT_FAILED');
      await kw.close();
    });

    it(`${aead?.name ?? 'node'}: a ciphertext is the bytes the view holds, whatever length it claims`, async () => {
      const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), ...(aead ? { aead } : {}) });
      const ct = await kw.encrypt('c', new Uint8Array([1, 2, 3]));
      const longer = new Uint8Array(ct.length + 10);
      longer.set(ct);
      expect(await outcome(kw.decrypt('c', lying(longer, ct.length)))).toBe('ERR_DECRYPT_FAILED');
      expect(await outcome(kw.decryptMany('c', [lying(longer.slice(), ct.length)]))).toEqual(['ERR_DECRYPT_FAILED']);
      expect(await outcome(kw.decrypt('c', lying(ct.slice(), ct.length + 10)))).toBe('opened');
      await kw.close();
    });
  }
});
