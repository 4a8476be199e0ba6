/**
 * Wire formats v1 and v2 against the published vectors (test/vectors/format-v{1,2}.json): the associated
 * data is built as docs/FORMAT.md says, both AEAD implementations produce exactly the vector
 * bytes, WebCrypto (a third, independent AES-GCM) agrees, and Keywarden opens every valid
 * vector and refuses every invalid one.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import { AadBuilder, aadPrefix, aadPrefixV2, parseHeader } from '../src/format/wire.js';
import { Keywarden, MemoryKeyStore, inspectCiphertext, type KeyRecord, type MasterKeyProvider } from '../src/node.js';
import { fromHex, toHex } from '../src/util/bytes.js';
import { errorCode, wrapStore } from './support/fixtures.js';

interface Vector { name: string; suite: 'AES-256-GCM' | 'XChaCha20-Poly1305'; suiteId: 1 | 2; key: string; conversationId: string; conversationIdHex: string; keyVersion: number; sealedAt?: number; nonce: string; aad: string; plaintext: string; associatedData: string; ciphertext: string }
type VectorFile = { valid: Vector[]; invalid: { name: string; base: number; conversationId: string; aad: string; ciphertext: string }[] };
const load = (name: string) => JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8')) as VectorFile;
const FORMATS = [
  { version: 1, file: load('format-v1.json'), headerLength: 6 },
  { version: 2, file: load('format-v2.json'), headerLength: 10 },
];

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

for (const { version, file, headerLength } of FORMATS) describe(`format v${version} vectors`, () => {
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
      const conv = fromHex(v.conversationIdHex);
      const prefixAd = version === 1 ? aadPrefix(v.suiteId, v.keyVersion, conv) : aadPrefixV2(v.suiteId, v.keyVersion, v.sealedAt!, conv);
      const aad = new Uint8Array([...prefixAd, ...fromHex(v.aad)]);
      expect(toHex(aad)).toBe(v.associatedData);
      // The hot path's builder gives the same bytes, for bytes and for string aad.
      const builder = new AadBuilder(1024);
      const h = parseHeader(ct)!;
      expect(h).toMatchObject({ formatVersion: version, keyVersion: v.keyVersion, sealedAt: v.sealedAt, headerLength });
      expect(toHex(builder.forHeader(h, v.conversationId, fromHex(v.aad)))).toBe(v.associatedData);
      const aadText = new TextDecoder('utf-8', { fatal: false }).decode(fromHex(v.aad));
      if (toHex(new TextEncoder().encode(aadText)) === v.aad) expect(toHex(builder.forHeader(h, v.conversationId, aadText))).toBe(v.associatedData);
      expect(inspectCiphertext(ct)).toEqual({
        formatVersion: version, suite: v.suite, keyVersion: v.keyVersion, overhead: headerLength + (v.suiteId === 1 ? 28 : 40),
        ...(version === 2 ? { sealedAt: new Date(v.sealedAt! * 1000).toISOString() } : {}),
      });
      // Format v2 keeps AES-256-GCM's overhead within 40 bytes (issue #12).
      if (v.suiteId === 1) expect(inspectCiphertext(ct).overhead).toBeLessThanOrEqual(40);
      const prefix = ct.subarray(0, headerLength + nonce.length);
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
