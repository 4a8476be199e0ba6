/**
 * Wire format v1 against the published vectors (test/vectors/format-v1.json): the associated
 * data is built as docs/FORMAT.md says, both AEAD implementations produce exactly the vector
 * bytes, WebCrypto (a third, independent AES-GCM) agrees, and Keywarden opens every valid
 * vector and refuses every invalid one.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import { AadBuilder, aadPrefix } from '../src/format/wire.js';
import { Keywarden, MemoryKeyStore, inspectCiphertext, type KeyRecord, type MasterKeyProvider } from '../src/node.js';
import { fromHex, toHex } from '../src/util/bytes.js';
import { errorCode, wrapStore } from './support/fixtures.js';

interface Vector { name: string; suite: 'AES-256-GCM' | 'XChaCha20-Poly1305'; suiteId: 1 | 2; key: string; conversationId: string; conversationIdHex: string; keyVersion: number; nonce: string; aad: string; plaintext: string; associatedData: string; ciphertext: string }
const file = JSON.parse(readFileSync(new URL('./vectors/format-v1.json', import.meta.url), 'utf8')) as { valid: Vector[]; invalid: { name: string; base: number; conversationId: string; aad: string; ciphertext: string }[] };

/** A Keywarden whose store answers any version of any conversation with `key`, "wrapped" as itself. */
function fixedKeyInstance(key: Uint8Array, suite: Vector['suite']) {
  const masterKey: MasterKeyProvider = {
    keyId: 'vectors',
    generateDataKey: async () => {
      throw new Error('not used');
    },
    unwrapDataKey: async (wrapped) => Uint8Array.from(wrapped),
  };
  const record = (conversationId: string, version: number): KeyRecord => ({
    conversationId, version, masterKeyId: 'vectors', wrappedKey: key, suite, state: 'active',
    createdAt: new Date(0), activatedAt: new Date(0), supersededAt: null, sealedReserved: 0,
  });
  const keyStore = wrapStore(new MemoryKeyStore(), { getVersion: async (c, v) => record(c, v) });
  return new Keywarden({ masterKey, keyStore });
}

describe('format v1 vectors', () => {
  it('has vectors for both suites', () => {
    expect(file.valid.filter((v) => v.suiteId === 1).length).toBeGreaterThanOrEqual(4);
    expect(file.valid.filter((v) => v.suiteId === 2).length).toBeGreaterThanOrEqual(3);
    expect(file.invalid.length).toBeGreaterThanOrEqual(12);
  });

  for (const v of file.valid) {
    it(`valid: ${v.name}`, async () => {
      const key = fromHex(v.key);
      const nonce = fromHex(v.nonce);
      const ct = fromHex(v.ciphertext);
      const pt = fromHex(v.plaintext);
      expect(toHex(new TextEncoder().encode(v.conversationId))).toBe(v.conversationIdHex);
      const aad = new Uint8Array([...aadPrefix(v.suiteId, v.keyVersion, fromHex(v.conversationIdHex)), ...fromHex(v.aad)]);
      expect(toHex(aad)).toBe(v.associatedData);
      // The hot path's builder gives the same bytes, for bytes and for string aad.
      const builder = new AadBuilder(1024);
      expect(toHex(builder.build(v.suiteId, v.keyVersion, v.conversationId, fromHex(v.aad)))).toBe(v.associatedData);
      const aadText = new TextDecoder('utf-8', { fatal: false }).decode(fromHex(v.aad));
      if (toHex(new TextEncoder().encode(aadText)) === v.aad) expect(toHex(builder.build(v.suiteId, v.keyVersion, v.conversationId, aadText))).toBe(v.associatedData);
      expect(inspectCiphertext(ct)).toEqual({ formatVersion: 1, suite: v.suite, keyVersion: v.keyVersion, overhead: v.suiteId === 1 ? 34 : 46 });
      const prefix = ct.subarray(0, 6 + nonce.length);
      for (const impl of [nodeAead, nobleAead]) {
        expect(toHex(impl.seal(v.suiteId, key, nonce, pt, aad, prefix))).toBe(v.ciphertext);
        expect(toHex(impl.open(v.suiteId, key, nonce, ct.subarray(prefix.length), aad)!)).toBe(v.plaintext);
      }
      if (v.suiteId === 1) {
        const k = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
        const sealed = new Uint8Array(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, k, pt));
        expect(toHex(sealed)).toBe(v.ciphertext.slice(2 * prefix.length));
      }
      const kw = fixedKeyInstance(key, v.suite);
      const opened = await kw.decrypt(v.conversationId, ct, { aad: fromHex(v.aad) });
      expect(toHex(opened)).toBe(v.plaintext);
    });
  }

  for (const bad of file.invalid) {
    it(`invalid: ${bad.name}`, async () => {
      const base = file.valid[bad.base]!;
      const kw = fixedKeyInstance(fromHex(base.key), base.suite);
      expect(await errorCode(kw.decrypt(bad.conversationId, fromHex(bad.ciphertext), { aad: fromHex(bad.aad) }))).toBe('ERR_DECRYPT_FAILED');
    });
  }
});
