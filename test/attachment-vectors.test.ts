/**
 * Attachment format 1 against its published vectors (test/vectors/attachment-v1.json, written by
 * an independent reading of docs/FORMAT.md §9 with noble primitives): the library's header, HKDF
 * info and attachment key match; node:crypto, noble and WebCrypto (a third AES-GCM and HKDF)
 * produce exactly each segment; the library's encryptor reproduces every ciphertext through both
 * segment implementations and any chunking; every API opens every valid vector and refuses every
 * invalid one with ERR_DECRYPT_FAILED.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveAttachmentKey, attachmentKeyInfo } from '../src/stream/derive.js';
import { encodeAttachmentHeader, inspectAttachment, parseAttachmentHeader } from '../src/stream/format.js';
import { nobleSegments, segmentNonce } from '../src/stream/segment-aead.js';
import { nodeSegments } from '../src/stream/segment-node.js';
import { AttachmentEncryptor } from '../src/stream/sealer.js';
import { suiteById } from '../src/format/suites.js';
import { fromHex, toHex } from '../src/util/bytes.js';
import { APIS, concat, fixedKeyInstance, nobleAead, openVia, split } from './support/attachments.js';

interface Vector {
  name: string; suite: 'AES-256-GCM' | 'XChaCha20-Poly1305'; suiteId: 1 | 2; dataKey: string; conversationId: string; conversationIdHex: string;
  keyVersion: number; sealedAt: number; segmentSize: number; salt: string; aad: string; header: string; info: string; attachmentKey: string;
  plaintext: string; segments: { index: number; last: boolean; nonce: string; ciphertext: string }[]; ciphertext: string;
}
const file = JSON.parse(readFileSync(new URL('./vectors/attachment-v1.json', import.meta.url), 'utf8')) as {
  valid: Vector[]; invalid: { name: string; base: number; conversationId: string; aad: string; ciphertext: string }[];
};

describe('attachment format 1 vectors', () => {
  it('cover both suites, the size edges and every kind of tampering', () => {
    expect(file.valid.filter((v) => v.suiteId === 1).length).toBeGreaterThanOrEqual(6);
    expect(file.valid.filter((v) => v.suiteId === 2).length).toBeGreaterThanOrEqual(2);
    const sizes = file.valid.map((v) => v.plaintext.length / 2 - v.segmentSize);
    for (const edge of [-1, 0, 1]) expect(sizes).toContain(edge);
    expect(file.invalid.length).toBeGreaterThanOrEqual(30);
  });

  for (const v of file.valid) {
    it(`valid: ${v.name}`, async () => {
      const dataKey = fromHex(v.dataKey);
      const header = fromHex(v.header);
      const conv = fromHex(v.conversationIdHex);
      expect(toHex(new TextEncoder().encode(v.conversationId))).toBe(v.conversationIdHex);
      // Header and key derivation (§9.1, §9.2).
      expect(toHex(encodeAttachmentHeader(v.suiteId, v.keyVersion, v.sealedAt, v.segmentSize, fromHex(v.salt)))).toBe(v.header);
      expect(parseAttachmentHeader(header)).toMatchObject({ keyVersion: v.keyVersion, sealedAt: v.sealedAt, segmentSize: v.segmentSize, suite: { id: v.suiteId } });
      expect(toHex(attachmentKeyInfo(header, conv, fromHex(v.aad)))).toBe(v.info);
      expect(toHex(deriveAttachmentKey(dataKey, header, conv, fromHex(v.aad)))).toBe(v.attachmentKey);
      const ikm = await webcrypto.subtle.importKey('raw', dataKey, 'HKDF', false, ['deriveBits']);
      const bits = await webcrypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: fromHex(v.salt), info: fromHex(v.info) }, ikm, 256);
      expect(toHex(new Uint8Array(bits))).toBe(v.attachmentKey);
      expect(inspectAttachment(header, v.ciphertext.length / 2)).toEqual({
        formatVersion: 1, suite: v.suite, keyVersion: v.keyVersion, sealedAt: new Date(v.sealedAt * 1000).toISOString(), segmentSize: v.segmentSize,
        plaintextLength: v.plaintext.length / 2,
      });

      // Each segment, three implementations (§9.3).
      const key = fromHex(v.attachmentKey);
      const pt = fromHex(v.plaintext);
      for (const s of v.segments) {
        expect(toHex(segmentNonce(s.index, s.last))).toBe(s.nonce);
        const piece = pt.subarray(s.index * v.segmentSize, (s.index + 1) * v.segmentSize);
        for (const impl of [nodeSegments, nobleSegments]) {
          const out: Uint8Array[] = [];
          impl.seal(v.suiteId, key, fromHex(s.nonce), piece.length ? [piece] : [], (c) => out.push(c));
          expect(toHex(concat(out)), impl.name).toBe(s.ciphertext);
          const ct = fromHex(s.ciphertext);
          expect(toHex(concat(impl.open(v.suiteId, key, fromHex(s.nonce), [ct.subarray(0, -16)], ct.subarray(-16))!))).toBe(toHex(piece));
        }
        if (v.suiteId === 1) {
          const k = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
          const sealed = new Uint8Array(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv: fromHex(s.nonce), tagLength: 128 }, k, piece));
          expect(toHex(sealed)).toBe(s.ciphertext);
        }
      }
      expect(v.header + v.segments.map((s) => s.ciphertext).join('')).toBe(v.ciphertext);

      // The library's encryptor, both implementations, several chunkings: exactly the vector.
      for (const aead of [nodeSegments, nobleSegments]) {
        for (const cuts of [[], [1], [v.segmentSize - 1, v.segmentSize, v.segmentSize + 1], Array.from({ length: 40 }, (_, i) => i * 37)]) {
          const enc = new AttachmentEncryptor({ aead, suite: suiteById(v.suiteId)!, key: Uint8Array.from(key), segmentSize: v.segmentSize }, header);
          const out: Uint8Array[] = [];
          for (const c of split(pt, cuts)) enc.update(c, (x) => out.push(x));
          enc.final((x) => out.push(x));
          expect(toHex(concat(out))).toBe(v.ciphertext);
        }
      }

      // Every API opens it, native and portable.
      const ct = fromHex(v.ciphertext);
      for (const impl of [undefined, nobleAead]) {
        const kw = fixedKeyInstance(dataKey, v.suite, impl);
        const opts = { aad: fromHex(v.aad) };
        expect(toHex(await kw.decryptAttachment(v.conversationId, ct, opts))).toBe(v.plaintext);
        for (const api of APIS) {
          const r = await openVia(api, kw, v.conversationId, split(ct, [45, 47, 300, 333]), opts);
          expect(r.ok && toHex(r.plaintext), api).toBe(v.plaintext);
        }
        const reader = await kw.openAttachment(v.conversationId, ct, opts);
        expect(reader.size).toBe(pt.length);
        expect(toHex(await reader.decryptRange(0, pt.length))).toBe(v.plaintext);
        reader.close();
        kw.close();
      }
    });
  }

  for (const bad of file.invalid) {
    it(`invalid: ${bad.name}`, async () => {
      const base = file.valid[bad.base]!;
      const kw = fixedKeyInstance(fromHex(base.dataKey), base.suite);
      const ct = fromHex(bad.ciphertext);
      const opts = { aad: fromHex(bad.aad) };
      const err = await kw.decryptAttachment(bad.conversationId, ct, opts).then(() => undefined, (e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_DECRYPT_FAILED', message: 'decryption failed' });
      expect(err?.cause).toBeUndefined(); // one error, nothing about which check failed
      for (const api of APIS) {
        const r = await openVia(api, kw, bad.conversationId, split(ct, [100, 400]), opts);
        expect(r.ok ? 'opened' : r.code, api).toBe('ERR_DECRYPT_FAILED');
      }
      // Random access authenticates the header and the length at open, each segment when read:
      // either opening fails, or reading the whole range does.
      const read = kw.openAttachment(bad.conversationId, ct, opts).then((r) => r.decryptRange(0, r.size));
      await expect(read).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
      kw.close();
    });
  }
});
