/**
 * Outside review 7 (format): an aad over a resizable buffer escaped the 64 KiB limit, and
 * `decrypt` / `decryptMany` with a raw RangeError.
 *
 * `validAad` (src/format/items.ts) checks a byte aad against MAX_AAD_BYTES and, for what is
 * opened, keeps the caller's Uint8Array as given (`plainBytes`). A Uint8Array made over a
 * resizable ArrayBuffer (or a growable SharedArrayBuffer) without a length tracks the buffer: when
 * the caller grew it while the key loaded (a store read, a KMS call), the associated-data builder
 * (src/format/wire.ts `AadBuffer.finish`, a buffer sized for 64 KiB of aad) was handed more than
 * the limit it had checked, and `decrypt` and `decryptMany` rejected with
 * `RangeError: offset is out of bounds` — no KeywardenError, no code (fuzz-ciphertext.test.ts:
 * "nothing but a KeywardenError ever escapes"). Grown by less, or shrunk, the aad opened was
 * another than the one checked.
 *
 * Where: src/format/items.ts, `validAad`.
 *
 * Now: a byte aad whose buffer can change size is copied when it is checked, as break-glass copies
 * its page: what is opened is the aad the call was given, whatever the caller does to its buffer
 * meanwhile. The message opens; nothing but a KeywardenError can escape.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import { nobleAead } from '../src/aead/noble.js';
import { MAX_AAD_BYTES } from '../src/util/validate.js';

const masterKey = new LocalMasterKey(new Uint8Array(32).fill(4));
const CONV = 'dm:alice:bob';
const AAD = [1, 2, 3, 4, 5, 6, 7, 8];

// ES2024 buffers (the library's TypeScript lib predates them).
const ResizableArrayBuffer = ArrayBuffer as unknown as new (length: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (length: number, o: { maxByteLength: number }) => SharedArrayBuffer & { grow(n: number): void };

/** A length-tracking view over a buffer that can change size, holding AAD. */
function resizableAad(kind: 'resizable' | 'growable'): { aad: Uint8Array; resize: (n: number) => void } {
  if (kind === 'resizable') {
    const b = new ResizableArrayBuffer(8, { maxByteLength: 1 << 20 });
    const aad = new Uint8Array(b);
    aad.set(AAD);
    return { aad, resize: (n) => b.resize(n) };
  }
  const b = new GrowableSharedArrayBuffer(8, { maxByteLength: 1 << 20 });
  const aad = new Uint8Array(b);
  aad.set(AAD);
  return { aad, resize: (n) => b.grow(Math.max(n, b.byteLength)) };
}

describe('an aad over a buffer that changes size while the key loads', () => {
  for (const aead of [undefined, nobleAead]) {
    for (const kind of ['resizable', 'growable'] as const) {
      for (const size of [0, 4, 100, MAX_AAD_BYTES + 300, 200_000]) {
        if (kind === 'growable' && size < 8) continue; // a SharedArrayBuffer only grows
        it(`${aead?.name ?? 'node'}, ${kind}, to ${size} bytes: decrypt and decryptMany open with the aad they were given`, async () => {
          const keyStore = new MemoryKeyStore();
          const sealer = new Keywarden({ masterKey, keyStore, ...(aead ? { aead } : {}) });
          const ct = await sealer.encrypt(CONV, new Uint8Array([42]), { aad: new Uint8Array(AAD) });
          for (const call of ['decrypt', 'decryptMany'] as const) {
            // A fresh instance: the key is not cached, so the call waits for it.
            const kw = new Keywarden({ masterKey, keyStore, ...(aead ? { aead } : {}) });
            const { aad, resize } = resizableAad(kind);
            const p = call === 'decrypt' ? kw.decrypt(CONV, ct, { aad }) : kw.decryptMany(CONV, [{ ciphertext: ct, aad }]).then((r) => (r[0]!.ok ? r[0]!.plaintext : Promise.reject(r[0]!.error)));
            resize(size);
            let outcome: unknown;
            try {
              outcome = Array.from(await p);
            } catch (e) {
              outcome = isKeywardenError(e) ? (e as { code: string }).code : `escaped: ${String(e)}`;
            }
            expect(outcome, call).toEqual([42]);
            await kw.close();
          }
          await sealer.close();
        });
      }
    }
  }
});
