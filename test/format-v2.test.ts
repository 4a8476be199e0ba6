/**
 * Format v2 in use (issue #12): Keywarden seals v2 with the sealing time of its clock in the
 * authenticated header, and keeps opening v1 messages written before the change — alone and mixed
 * with v2 in one decryptMany page.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { sealV1 } from './support/format-v1.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('format v2', () => {
  it('seals v2 with the clock time (whole seconds) and 38 bytes of overhead', async () => {
    let t = Date.parse('2026-11-29T12:34:56.789Z');
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), now: () => new Date(t) });
    const ct = await kw.encrypt('c', enc.encode('hello'));
    expect(ct.length).toBe(5 + 38);
    expect(inspectCiphertext(ct)).toEqual({ formatVersion: 2, suite: 'AES-256-GCM', keyVersion: 1, sealedAt: '2026-11-29T12:34:56.000Z', overhead: 38 });
    t += 1000;
    expect(inspectCiphertext(await kw.encrypt('c', enc.encode('x'))).sealedAt).toBe('2026-11-29T12:34:57.000Z');
    expect(dec.decode(await kw.decrypt('c', ct))).toBe('hello');
  });

  it('without a clock option, seals the current time', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const before = Math.floor(Date.now() / 1000) * 1000;
    const at = Date.parse(inspectCiphertext(await kw.encrypt('c', enc.encode('now'))).sealedAt!);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it('refuses to seal when the clock is outside what v2 can carry (1970..2106), naming the option', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), now: () => new Date(Date.UTC(2107, 0, 1)) });
    await expect(kw.encrypt('c', enc.encode('x'))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringContaining('options.now') });
  });

  it('opens v1 messages written before the change, alone and mixed with v2 in one page', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey, keyStore });
    const v2a = await kw.encrypt('c', enc.encode('v2 one'), { aad: 'm1' });
    const v1a = await sealV1(keyStore, masterKey, 'c', 1, enc.encode('v1 one'), enc.encode('m2'));
    await kw.rotate('c');
    const v1b = await sealV1(keyStore, masterKey, 'c', 2, enc.encode('v1 two'));
    const v2b = await kw.encrypt('c', enc.encode('v2 two'));
    expect(inspectCiphertext(v1a)).toEqual({ formatVersion: 1, suite: 'AES-256-GCM', keyVersion: 1, overhead: 34 });
    expect(dec.decode(await kw.decrypt('c', v1a, { aad: 'm2' }))).toBe('v1 one');
    const fresh = new Keywarden({ masterKey, keyStore }); // cold cache: loads versions for v1 headers too
    const page = await fresh.decryptMany('c', [{ ciphertext: v2a, aad: 'm1' }, { ciphertext: v1a, aad: 'm2' }, v1b, v2b, { ciphertext: v1a, aad: 'wrong' }]);
    expect(page.map((r) => (r.ok ? dec.decode(r.plaintext) : r.error.code))).toEqual(['v2 one', 'v1 one', 'v1 two', 'v2 two', 'ERR_DECRYPT_FAILED']);
  });
});
