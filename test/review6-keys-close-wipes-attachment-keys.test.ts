/**
 * Review 6 (keys): `close()` left the attachment keys of open readers, encryptors and decryptors
 * in memory. SECURITY.md: "keys keywarden owns are wiped: after use, on eviction, on close";
 * README: `close()` "wipes cached keys". A reader from `openAttachment` (and an encryptor or
 * decryptor from `createAttachmentEncryptor` / `createAttachmentDecryptor`) owns a key derived
 * from the conversation key; after `kw.close()` it refused further use (ERR_CLOSED, reader) but
 * kept the key bytes until the caller happened to call it again or close it — for ever, in a
 * reader the caller forgot (the garbage collector frees, never zeroes). A heap snapshot or core
 * dump taken after a service "closed" its keywarden held them.
 *
 * Where: src/keywarden.ts `close()` wiped the cache partition only; the objects the attachment
 * calls hand out were not known to the instance.
 *
 * Now: the instance holds weak references to the readers, encryptors and decryptors it handed
 * out, and `close()` wipes their keys (reader.close(), destroy()); one handed out after close began
 * is wiped at once and the call fails with ERR_CLOSED. The Web and Node streams and the file
 * helpers get theirs through the same calls, so theirs are wiped too.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import { nodeAead } from '../src/aead/node.js';
import type { AeadImpl } from '../src/aead/types.js';
import type { SegmentAead } from '../src/stream/segment-aead.js';

/** The node AEAD, remembering every attachment key its segment functions were given. */
function capturing(): { aead: AeadImpl; keys: Uint8Array[] } {
  const keys: Uint8Array[] = [];
  const inner = nodeAead.segments!;
  const segments: SegmentAead = {
    name: inner.name,
    seal: (suite, key, nonce, pieces, emit) => {
      if (!keys.includes(key)) keys.push(key);
      inner.seal(suite, key, nonce, pieces, emit);
    },
    open: (suite, key, nonce, pieces, tag) => {
      if (!keys.includes(key)) keys.push(key);
      return inner.open(suite, key, nonce, pieces, tag);
    },
  };
  return { aead: { ...nodeAead, segments }, keys };
}

const zero = (k: Uint8Array) => k.every((b) => b === 0);

describe('close() and attachment keys held by open objects', () => {
  it('wipes the key of an open reader, encryptor and decryptor', async () => {
    const { aead, keys } = capturing();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), aead });
    const stored = await kw.encryptAttachment('conv', new Uint8Array(200_000).fill(7), { aad: 'a1' });
    keys.length = 0; // the whole-attachment call wiped its own key

    const reader = await kw.openAttachment('conv', stored, { aad: 'a1' }); // opens the last segment
    expect((await reader.decryptRange(0, 10))[0]).toBe(7);
    const readerKeys = keys.splice(0);
    expect(readerKeys.length).toBeGreaterThan(0);

    const enc = await kw.createAttachmentEncryptor('conv', { aad: 'a2' });
    enc.update(new Uint8Array(70_000), () => {}); // one full segment sealed: its key seen
    const encKeys = keys.splice(0);
    expect(encKeys.length).toBeGreaterThan(0);

    const dec = await kw.createAttachmentDecryptor('conv', stored.subarray(0, 46), { aad: 'a1' });
    dec.update(stored.subarray(46, 46 + 65_536 + 16 + 1), () => {}); // one segment opened
    const decKeys = keys.splice(0);
    expect(decKeys.length).toBeGreaterThan(0);

    for (const k of [...readerKeys, ...encKeys, ...decKeys]) expect(zero(k)).toBe(false);
    kw.close();
    for (const k of readerKeys) expect(zero(k)).toBe(true);
    for (const k of encKeys) expect(zero(k)).toBe(true);
    for (const k of decKeys) expect(zero(k)).toBe(true);

    const code = await reader.decryptRange(0, 10).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    expect(code).toBe('ERR_CLOSED');
  });

  it('wipes the key of a Web decrypt stream left open', async () => {
    const { aead, keys } = capturing();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), aead });
    const stored = await kw.encryptAttachment('conv', new Uint8Array(200_000).fill(7), { aad: 'a1' });
    keys.length = 0;
    const ts = kw.decryptAttachmentStream('conv', { aad: 'a1' });
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    void writer.write(stored.subarray(0, 46 + 65_536 + 16 + 1)).catch(() => {});
    expect((await reader.read()).value?.[0]).toBe(7); // one segment out: its key seen
    const streamKeys = keys.splice(0);
    expect(streamKeys.length).toBeGreaterThan(0);
    expect(zero(streamKeys[0]!)).toBe(false);
    kw.close();
    for (const k of streamKeys) expect(zero(k)).toBe(true);
    void writer.abort().catch(() => {});
  });
});
