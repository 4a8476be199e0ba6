/**
 * Review 7 (random access and close): `close()` did not wipe the attachment key of a reader that
 * `openAttachment` was still opening. The reader derives its key, then reads and authenticates the
 * last segment (one `source.read`, e.g. an object-store Range GET); only after that is it
 * registered with the instance, so a `close()` during that read left its key in memory for as
 * long as the read took — for ever with a read that never settles (a hung connection, no
 * signal). SECURITY.md: "keys keywarden owns are wiped: ... on close (also the attachment keys of
 * open readers, encryptors and decryptors)"; the streams' decryptors and the push objects are
 * registered as soon as their key exists (review 6).
 *
 * Observed: with the last-segment read pending, `kw.close()` left the derived key non-zero; it
 * was wiped only when the read later resolved.
 *
 * Where: src/stream/attachments.ts Attachments.open (reader made, then `authenticateLength`
 * awaited) and src/keywarden.ts openAttachment (`#hold` applied to the result afterwards).
 *
 * Now: the reader is registered (held) as soon as it is made, before its first read, so close()
 * wipes its key at once; the open then fails with ERR_CLOSED when its read returns.
 */
import { describe, expect, it, vi } from 'vitest';

const derived = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('../src/stream/derive.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/stream/derive.js')>();
  return {
    ...real,
    deriveAttachmentKey: (...args: Parameters<typeof real.deriveAttachmentKey>) => {
      const k = real.deriveAttachmentKey(...args);
      derived.push(k);
      return k;
    },
  };
});

const { Keywarden, LocalMasterKey, MemoryKeyStore } = await import('../src/node.js');
type Source = import('../src/stream/reader.js').AttachmentSource;

const zero = (k: Uint8Array) => k.every((b) => b === 0);

describe('close() while openAttachment reads the last segment', () => {
  it('wipes the key of the reader being opened at once; the open fails with ERR_CLOSED', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const stored = await kw.encryptAttachment('conv', new Uint8Array(5000).fill(7), { aad: 'a1', segmentSize: 1024 });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let reads = 0;
    const source: Source = {
      size: stored.length,
      read: async (offset, length) => {
        if (reads++ === 1) await gate; // the last segment: the reader's key exists by now
        return stored.slice(offset, offset + length);
      },
    };
    derived.length = 0;
    const opening = kw.openAttachment('conv', source, { aad: 'a1' }).then(() => 'opened', (e: { code?: string }) => e.code);
    while (reads < 2) await new Promise((r) => setImmediate(r));
    expect(derived.length).toBe(1);
    const key = derived[0]!;
    expect(zero(key)).toBe(false);
    kw.close();
    expect(zero(key)).toBe(true); // at close, not when the read returns
    release();
    expect(await opening).toBe('ERR_CLOSED');
  });

  it('a reader opened normally is still held and wiped by close()', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const stored = await kw.encryptAttachment('conv', new Uint8Array(5000).fill(7), { aad: 'a1', segmentSize: 1024 });
    derived.length = 0;
    const reader = await kw.openAttachment('conv', stored, { aad: 'a1' });
    expect((await reader.decryptRange(4000, 10))[0]).toBe(7);
    expect(zero(derived[0]!)).toBe(false);
    kw.close();
    expect(zero(derived[0]!)).toBe(true);
    await expect(reader.decryptRange(0, 1)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('a reader whose open fails is closed, held or not', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const stored = Uint8Array.from(await kw.encryptAttachment('conv', new Uint8Array(5000).fill(7), { aad: 'a1', segmentSize: 1024 }));
    stored[stored.length - 1]! ^= 1;
    derived.length = 0;
    await expect(kw.openAttachment('conv', stored, { aad: 'a1' })).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
    expect(derived.length).toBe(1);
    expect(zero(derived[0]!)).toBe(true);
    kw.close();
  });
});
