/**
 * Review 7 (mutation review). Guarantee (`RewrapOptions.maxAttempts`, docs/KEYS.md §6: "Attempts
 * per key when KMS throttles or is unavailable, with capped exponential backoff and jitter").
 *
 * Survived: in src/keys/rewrap.ts `withRetry`, the bound made one too large (`attempt >=
 * o.maxAttempts` → `attempt > o.maxAttempts`): every key got one KMS call more than configured
 * (`maxAttempts: 1`, documented as "no retry", retried once), so an operator capping the load on a
 * throttling KMS got more calls than asked for. The named re-wrap tests still passed: the
 * throttling test only checks that a run eventually succeeds, and `maxAttempts: 1` is used only
 * where the first call fails for good.
 *
 * Now asserted: with a source whose unwrap always answers ERR_KMS_UNAVAILABLE (retryable), a
 * rewrap with `maxAttempts` 1, 2 and 3 makes exactly that many unwrap calls for its one key, then
 * rejects with ERR_KMS_UNAVAILABLE; nothing is moved.
 */
import { describe, expect, it } from 'vitest';
import { KmsError } from '../src/errors.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

describe('rewrap({ maxAttempts })', () => {
  it('makes exactly maxAttempts KMS calls for a key KMS keeps throttling', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:old' });
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:new' });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: oldKey, keyStore });
    await before.encrypt('c', new Uint8Array([1]));
    before.close();
    for (const maxAttempts of [1, 2, 3]) {
      let calls = 0;
      const source: MasterKeyProvider = {
        keyId: newKey.keyId,
        handlesKeyId: (id) => id === oldKey.keyId || id === newKey.keyId,
        generateDataKey: (ctx, o) => newKey.generateDataKey(ctx, o),
        async unwrapDataKey() {
          calls++;
          throw new KmsError('ERR_KMS_UNAVAILABLE', 'throttled');
        },
        wrapDataKey: (k, ctx, o) => newKey.wrapDataKey(k, ctx, o),
      };
      const kw = new Keywarden({ masterKey: source, keyStore });
      await expect(kw.rewrap({ maxAttempts })).rejects.toMatchObject({ code: 'ERR_KMS_UNAVAILABLE' });
      expect(calls, `maxAttempts ${maxAttempts}`).toBe(maxAttempts);
      expect((await keyStore.getLatest('c'))!.masterKeyId).toBe('local:old');
      kw.close();
    }
  });
});
