/**
 * Review 2026-12-02 (second; suggested by the hot-path review, reproduced here): `decrypt` took a
 * ciphertext of any length.
 *
 * Was: `encrypt` refuses plaintexts over 64 MiB (MAX_PLAINTEXT_BYTES, docs/FORMAT.md "Sizes"), so
 * no genuine message is longer than 64 MiB plus its overhead; yet a hostile or corrupted stored
 * row of any size with a valid-looking header made `decrypt` load the key (a store read and a KMS
 * call) and run the whole body through the cipher, allocating as much again, before the tag
 * failed.
 *
 * Now: a ciphertext longer than the largest message `encrypt` can produce is malformed:
 * `ERR_DECRYPT_FAILED` (the one decryption error) before any key is loaded; `inspectCiphertext`
 * refuses it too. The longest genuine message still opens.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, MAX_PLAINTEXT_BYTES, inspectCiphertext } from '../src/node.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';

describe('ciphertexts longer than any message encrypt can produce', () => {
  it('are refused ERR_DECRYPT_FAILED before any key is loaded; the longest genuine message opens', async () => {
    const inner = new LocalMasterKey(new Uint8Array(32).fill(4));
    let unwraps = 0;
    const masterKey: MasterKeyProvider = {
      keyId: inner.keyId,
      generateDataKey: (ctx) => inner.generateDataKey(ctx),
      unwrapDataKey: (w, ctx, id) => {
        unwraps++;
        return inner.unwrapDataKey(w, ctx, id);
      },
    };
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey, keyStore });
    const longest = await kw.encrypt('c', new Uint8Array(MAX_PLAINTEXT_BYTES));
    kw.close();

    const cold = new Keywarden({ masterKey, keyStore }); // nothing cached
    const tooLong = new Uint8Array(longest.length + 1);
    tooLong.set(longest);
    const err = await cold.decrypt('c', tooLong).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
    expect(unwraps).toBe(0); // refused on its length, before the key
    expect(() => inspectCiphertext(tooLong)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_/) }));
    const many = await cold.decryptMany('c', [tooLong]);
    expect(many[0]).toMatchObject({ ok: false, error: { code: 'ERR_DECRYPT_FAILED' } });
    expect(unwraps).toBe(0);

    expect((await cold.decrypt('c', longest)).length).toBe(MAX_PLAINTEXT_BYTES);
    expect(inspectCiphertext(longest).keyVersion).toBe(1);
    cold.close();
  });
});
