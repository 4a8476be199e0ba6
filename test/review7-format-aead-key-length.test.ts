/**
 * Outside review 7 (format): the exported AEADs took a key of any length. `nobleAead` given a
 * 16-byte key for suite 0x01 (AES-256-GCM) sealed and opened with AES-128-GCM — a ciphertext that
 * says AES-256 under a 128-bit key — and `nodeAead` threw a raw `RangeError` ("Invalid key
 * length"). Keywarden itself always passes 32 bytes; a caller plugging the exported `AeadImpl`s
 * in (`keywarden` exports both) did not get the validation every other public entry has.
 *
 * Where: src/aead/noble.ts and src/aead/node.ts, `seal` and `open`.
 *
 * Now: `seal` refuses any key that is not 32 bytes with `ERR_INVALID_INPUT` naming `key`
 * ("expected Uint8Array of 32 bytes, got 16") on both implementations and suites, before any
 * cipher runs; `open` gives null for it, as it does for any failure (it never throws:
 * test/aead-wipe.test.ts) — also for a message noble once sealed under AES-128.
 */
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import { SUITES, SuiteId } from '../src/format/suites.js';

const outcome = (f: () => unknown) => {
  try {
    const r = f();
    return { ok: r !== null };
  } catch (e) {
    return { code: (e as { code?: string }).code, param: (e as { param?: string }).param, message: (e as Error).message };
  }
};

describe('the AEADs take 32-byte keys only', () => {
  for (const impl of [nobleAead, nodeAead]) {
    for (const suite of [SuiteId.AES_256_GCM, SuiteId.XCHACHA20_POLY1305]) {
      it(`${impl.name}, suite ${suite}: 16-, 24- and 33-byte keys refused by seal, null from open; 32 bytes round-trip`, () => {
        const nonce = new Uint8Array(SUITES[suite].nonceLength).fill(1);
        const aad = new Uint8Array(0);
        const pt = new TextEncoder().encode('hello');
        const good = new Uint8Array(32).fill(2);
        const sealed = impl.seal(suite, good, nonce, pt, aad);
        expect(Buffer.from(impl.open(suite, good, nonce, sealed, aad)!).equals(Buffer.from(pt))).toBe(true);
        for (const n of [16, 24, 33]) {
          const key = new Uint8Array(n).fill(2);
          expect(outcome(() => impl.seal(suite, key, nonce, pt, aad))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'key', message: `key: expected Uint8Array of 32 bytes, got ${n}` });
          expect(outcome(() => impl.open(suite, key, nonce, sealed, aad))).toEqual({ ok: false });
        }
      });
    }
  }

  it('a message sealed under AES-128-GCM (what noble made of a 16-byte key) does not open with that key', async () => {
    const { gcm } = await import('@noble/ciphers/aes.js');
    const key = new Uint8Array(16).fill(3);
    const nonce = new Uint8Array(12).fill(4);
    const sealed = gcm(key, nonce, new Uint8Array(0)).encrypt(new TextEncoder().encode('aes-128'));
    for (const impl of [nobleAead, nodeAead]) expect(impl.open(SuiteId.AES_256_GCM, key, nonce, sealed, new Uint8Array(0))).toBeNull();
  });
});
