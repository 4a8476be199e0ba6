/**
 * Review 6, mutation round 2 — guarantee (SECURITY.md): "every error a public function throws is
 * a `KeywardenError` with a stable code (the caller's own I/O errors — a rejecting
 * `AttachmentSource.read`, a file system error in `keywarden/attachments` — pass through
 * unchanged)". A master key provider is not among those exceptions.
 *
 * Surviving mutation: in src/keys/key-path.ts `generateKey`, the catch that wraps a provider's
 * failure (`err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', …)`) replaced by
 * `throw err`: `encrypt` then rejects with whatever the provider threw (a TypeError, a string,
 * null). The named tests (errors-contract, fuzz-*) never make a master key provider fail; the
 * only check is in key-path.test.ts, which the table does not name, and for one Error only.
 *
 * Now, for all thrown values (Errors of any class, strings, numbers, null, undefined, plain
 * objects, a DOMException): encrypt of a new conversation, decrypt
 * and decryptMany of a cold conversation reject with a KeywardenError coded ERR_KMS_FAILED whose
 * `cause` is what the provider threw; nothing is stored by the failed encrypt.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';

const thrownArb = fc.oneof(
  fc.string().map((m) => new Error(m)),
  fc.string().map((m) => new TypeError(m)),
  fc.string().map((m) => new RangeError(m)),
  fc.constant(new DOMException('aborted by the provider', 'AbortError')),
  fc.string(),
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.record({ code: fc.constantFrom('ERR_KMS_FAILED', 'ThrottlingException', 'x'), message: fc.string() }),
);

const failing = (keyId: string, err: unknown): MasterKeyProvider => ({
  keyId,
  generateDataKey: async () => Promise.reject(err),
  unwrapDataKey: async () => Promise.reject(err),
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('a master key provider that throws anything', () => {
  it('every public call rejects with a coded KeywardenError (ERR_KMS_FAILED), cause kept, nothing stored', async () => {
    const good = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:coded' });
    const store = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: good, keyStore: store });
    const ct = await writer.encrypt('cold', new Uint8Array([9, 9]));
    writer.close();
    await fc.assert(
      fc.asyncProperty(thrownArb, async (thrown) => {
        const fresh = new MemoryKeyStore();
        const enc = new Keywarden({ masterKey: failing('local:coded', thrown), keyStore: fresh });
        const e1 = await rejection(enc.encrypt('new', new Uint8Array([1])));
        expect(isKeywardenError(e1, 'ERR_KMS_FAILED'), String(e1)).toBe(true);
        expect((e1 as { cause?: unknown }).cause).toBe(thrown);
        expect(await fresh.getLatest('new')).toBeUndefined();
        enc.close();

        const dec = new Keywarden({ masterKey: failing('local:coded', thrown), keyStore: store });
        const e2 = await rejection(dec.decrypt('cold', ct));
        expect(isKeywardenError(e2, 'ERR_KMS_FAILED'), String(e2)).toBe(true);
        expect((e2 as { cause?: unknown }).cause).toBe(thrown);
        const e3 = await rejection(dec.decryptMany('cold', [{ ciphertext: ct }]));
        expect(isKeywardenError(e3, 'ERR_KMS_FAILED'), String(e3)).toBe(true);
        dec.close();
      }),
      { numRuns: 60 },
    );
  });
});
