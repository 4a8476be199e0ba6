/**
 * The attachment API on Keywarden (issue #16): keys and budgets (one message of the version's
 * count per attachment, whatever its segments; rotation and limits as for messages), binding to
 * conversation, aad and key version, input checks that name the parameter, closing, aborting,
 * key wiping, the bounds of docs/FORMAT.md §9.5, and that message and attachment formats are
 * never taken for each other.
 */
import { describe, expect, it } from 'vitest';
import { nodeSegments } from '../src/stream/segment-node.js';
import { Attachments, checkCall } from '../src/stream/attachments.js';
import { AttachmentDecryptor, AttachmentEncryptor } from '../src/stream/sealer.js';
import { encodeAttachmentHeader, inspectAttachment } from '../src/stream/format.js';
import { SUITES } from '../src/format/suites.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { bytesOf, concat, webStreamOf } from './support/attachments.js';
import { errorCode, wrapStore } from './support/fixtures.js';

const CONV = 'dm:alice:bob';
function instance(extra: Record<string, unknown> = {}) {
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, ...extra });
  return { kw, keyStore };
}

describe('keys and budgets', () => {
  it('an attachment charges its key version one message, however many segments it has', async () => {
    const { kw, keyStore } = instance({ reservationSize: 1 });
    for (let i = 1; i <= 5; i++) {
      await kw.encryptAttachment(CONV, bytesOf(40 * 256 + 1, i), { segmentSize: 256 }); // 41 segments
      expect((await keyStore.getLatest(CONV))!.sealedReserved).toBe(i);
    }
    await kw.encrypt(CONV, new Uint8Array(3)); // messages share the same budget
    expect((await keyStore.getLatest(CONV))!.sealedReserved).toBe(6);
  });

  it('the per-version bound counts attachments: refused without autoRotate, rotated with it; old attachments still open', async () => {
    const capped = instance({ maxMessagesPerKey: 3, reservationSize: 1, autoRotate: false });
    for (let i = 0; i < 3; i++) await capped.kw.encryptAttachment(CONV, new Uint8Array(10));
    expect(await errorCode(capped.kw.encryptAttachment(CONV, new Uint8Array(10)))).toBe('ERR_KEY_LIMIT_REACHED');

    const rotating = instance({ maxMessagesPerKey: 3, reservationSize: 1 });
    const sealed = [];
    for (let i = 0; i < 4; i++) sealed.push(await rotating.kw.encryptAttachment(CONV, bytesOf(600, i), { segmentSize: 256, aad: `a${i}` }));
    expect(sealed.map((s) => inspectAttachment(s).keyVersion)).toEqual([1, 1, 1, 2]);
    for (let i = 0; i < 4; i++) expect(await rotating.kw.decryptAttachment(CONV, sealed[i]!, { aad: `a${i}` })).toEqual(bytesOf(600, i));
  });

  it('binds the conversation, the aad and the key version; rotation keeps old attachments readable', async () => {
    const { kw } = instance();
    const pt = bytesOf(3000, 1);
    const a = await kw.encryptAttachment(CONV, pt, { aad: 'att-1', segmentSize: 1024 });
    expect(await errorCode(kw.decryptAttachment('dm:alice:eve', a, { aad: 'att-1' }))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(kw.decryptAttachment(CONV, a, { aad: 'att-2' }))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(kw.decryptAttachment(CONV, a))).toBe('ERR_DECRYPT_FAILED');
    expect(await kw.decryptAttachment(CONV, a, { aad: new TextEncoder().encode('att-1') })).toEqual(pt); // string aad = its UTF-8 bytes
    await kw.rotate(CONV);
    const b = await kw.encryptAttachment(CONV, pt, { aad: 'att-1' });
    expect([inspectAttachment(a).keyVersion, inspectAttachment(b).keyVersion]).toEqual([1, 2]);
    expect(await kw.decryptAttachment(CONV, a, { aad: 'att-1' })).toEqual(pt);
    // Relabelling version 1's attachment as version 2 (a key that exists) fails too.
    const relabelled = Uint8Array.from(a);
    relabelled[5] = 2;
    expect(await errorCode(kw.decryptAttachment(CONV, relabelled, { aad: 'att-1' }))).toBe('ERR_DECRYPT_FAILED');
  });

  it('a key version the store no longer has (shredded, retired) opens nothing, through every API', async () => {
    const { kw, keyStore } = instance();
    const a = await kw.encryptAttachment(CONV, bytesOf(2000, 2), { segmentSize: 256 });
    const gone = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: wrapStore(keyStore, { getVersion: async () => undefined }) });
    expect(await errorCode(gone.decryptAttachment(CONV, a))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(gone.openAttachment(CONV, a))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(gone.createAttachmentDecryptor(CONV, a.subarray(0, 46)))).toBe('ERR_DECRYPT_FAILED');
    const web = webStreamOf(a).pipeThrough(gone.decryptAttachmentStream(CONV)).pipeTo(new WritableStream());
    expect(await errorCode(web)).toBe('ERR_DECRYPT_FAILED');
  });

  it('records the sealing time from the instance clock, to the second', async () => {
    const { kw } = instance({ now: () => new Date('2026-11-29T12:34:56.789Z') });
    const a = await kw.encryptAttachment(CONV, new Uint8Array(1));
    expect(inspectAttachment(a).sealedAt).toBe('2026-11-29T12:34:56.000Z');
    const reader = await kw.openAttachment(CONV, a);
    expect(reader.sealedAt.toISOString()).toBe('2026-11-29T12:34:56.000Z');
    expect(reader).toMatchObject({ keyVersion: 1, suite: 'AES-256-GCM', segmentSize: 65536, size: 1, segments: 1 });
  });

  it('an XChaCha20-Poly1305 conversation seals ChaCha20-Poly1305 segments; the suites do not mix', async () => {
    const { kw, keyStore } = instance({ suite: 'XChaCha20-Poly1305' });
    const a = await kw.encryptAttachment(CONV, bytesOf(1000, 3), { segmentSize: 256 });
    expect(inspectAttachment(a).suite).toBe('XChaCha20-Poly1305');
    expect(await kw.decryptAttachment(CONV, a)).toEqual(bytesOf(1000, 3));
    const relabelled = Uint8Array.from(a);
    relabelled[1] = 1; // claims AES-256-GCM under a ChaCha key
    expect(await errorCode(kw.decryptAttachment(CONV, relabelled))).toBe('ERR_DECRYPT_FAILED');
    expect(keyStore).toBeDefined();
  });
});

describe('formats are never taken for each other', () => {
  it('messages refuse attachments and attachments refuse messages', async () => {
    const { kw } = instance();
    const att = await kw.encryptAttachment(CONV, bytesOf(100, 1));
    const msg = await kw.encrypt(CONV, bytesOf(100, 1));
    expect(await errorCode(kw.decrypt(CONV, att))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(kw.decryptAttachment(CONV, msg))).toBe('ERR_DECRYPT_FAILED');
    expect(() => inspectCiphertext(att)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    expect(() => inspectAttachment(msg)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    expect(() => inspectAttachment(att, 61)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
  });
});

describe('input checks name the parameter', () => {
  const { kw } = instance();
  const cases: [string, () => unknown, string][] = [
    ['conversationId', () => kw.encryptAttachment('', new Uint8Array(1)), 'conversationId'],
    ['conversationId type', () => kw.decryptAttachment(42 as never, new Uint8Array(100)), 'conversationId'],
    ['segmentSize too small', () => kw.encryptAttachment(CONV, new Uint8Array(1), { segmentSize: 255 }), 'options.segmentSize'],
    ['segmentSize too large', () => kw.encryptAttachment(CONV, new Uint8Array(1), { segmentSize: 2 ** 24 + 1 }), 'options.segmentSize'],
    ['segmentSize not an integer', () => kw.encryptAttachmentStream(CONV, { segmentSize: 1000.5 }), 'options.segmentSize'],
    ['segmentSize on decrypt', () => kw.decryptAttachment(CONV, new Uint8Array(100), { segmentSize: 1024 } as never), 'options.segmentSize'],
    ['aad type', () => kw.encryptAttachment(CONV, new Uint8Array(1), { aad: 5 as never }), 'options.aad'],
    ['aad lone surrogate', () => kw.decryptAttachmentStream(CONV, { aad: 'x\uD800' }), 'options.aad'],
    ['signal', () => kw.openAttachment(CONV, new Uint8Array(100), { signal: {} as never }), 'options.signal'],
    ['unknown option', () => kw.createAttachmentEncryptor(CONV, { level: 9 } as never), 'options.level'],
    ['plaintext', () => kw.encryptAttachment(CONV, 'text' as never), 'plaintext'],
    ['ciphertext', () => kw.decryptAttachment(CONV, [1, 2, 3] as never), 'ciphertext'],
    ['header', () => kw.createAttachmentDecryptor(CONV, null as never), 'header'],
    ['source', () => kw.openAttachment(CONV, null as never), 'source'],
    ['source.size', () => kw.openAttachment(CONV, { size: -1, read: async () => new Uint8Array(0) }), 'source.size'],
    ['source.read', () => kw.openAttachment(CONV, { size: 100 } as never), 'source.read'],
  ];
  for (const [name, call, param] of cases) {
    it(name, async () => {
      let err: unknown;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param });
    });
  }

  it('ranges: offset and length inside the plaintext, at most 64 MiB', async () => {
    const reader = await kw.openAttachment(CONV, await kw.encryptAttachment(CONV, bytesOf(1000, 1)));
    await expect(reader.decryptRange(-1, 1)).rejects.toMatchObject({ param: 'offset' });
    await expect(reader.decryptRange(1001, 0)).rejects.toMatchObject({ param: 'offset' });
    await expect(reader.decryptRange(10, 991)).rejects.toMatchObject({ param: 'length' });
    await expect(reader.decryptRange(0, 1, { signal: 1 } as never)).rejects.toMatchObject({ param: 'options.signal' });
    expect(await reader.decryptRange(1000, 0)).toEqual(new Uint8Array(0));
    expect(await reader.decryptRange(990, 10)).toEqual(bytesOf(1000, 1).subarray(990));
  });

  it('a stream chunk that is not bytes errors the stream with ERR_INVALID_INPUT', async () => {
    const writer = kw.encryptAttachmentStream(CONV);
    const sink = writer.readable.pipeTo(new WritableStream());
    const w = writer.writable.getWriter();
    const wrote = w.write('text' as never);
    expect(await errorCode(wrote)).toBe('ERR_INVALID_INPUT');
    expect(await errorCode(sink)).toBe('ERR_INVALID_INPUT');
  });
});

describe('closing, aborting, failures to get the key', () => {
  it('after close(): calls fail with ERR_CLOSED, and open readers stop', async () => {
    const { kw } = instance();
    const a = await kw.encryptAttachment(CONV, bytesOf(3000, 1), { segmentSize: 256 });
    const reader = await kw.openAttachment(CONV, a);
    kw.close();
    expect(await errorCode(kw.encryptAttachment(CONV, new Uint8Array(1)))).toBe('ERR_CLOSED');
    expect(await errorCode(kw.decryptAttachment(CONV, a))).toBe('ERR_CLOSED');
    expect(() => kw.encryptAttachmentStream(CONV)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(await errorCode(reader.decryptRange(0, 10))).toBe('ERR_CLOSED');
  });

  it('reader.close() wipes its key: later reads fail with ERR_CLOSED', async () => {
    const { kw } = instance();
    const reader = await kw.openAttachment(CONV, await kw.encryptAttachment(CONV, bytesOf(100, 1)));
    reader.close();
    reader.close();
    expect(await errorCode(reader.decryptRange(0, 1))).toBe('ERR_CLOSED');
  });

  it('an aborted signal gives up with ERR_ABORTED', async () => {
    const { kw } = instance();
    const signal = AbortSignal.abort();
    expect(await errorCode(kw.encryptAttachment(CONV, new Uint8Array(1), { signal }))).toBe('ERR_ABORTED');
    expect(() => kw.decryptAttachmentStream(CONV, { signal })).toThrow(expect.objectContaining({ code: 'ERR_ABORTED' }));
    // Aborting while the key is loading (a slow store): the call gives up, nothing is sealed.
    const slow = instance();
    const kw2 = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: wrapStore(slow.keyStore, { getLatest: () => new Promise(() => undefined) }) });
    const ac = new AbortController();
    const p = kw2.encryptAttachment(CONV, new Uint8Array(1), { signal: ac.signal });
    ac.abort();
    expect(await errorCode(p)).toBe('ERR_ABORTED');
  });

  it('a key store outage fails the stream with the store error', async () => {
    const { keyStore } = instance();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: wrapStore(keyStore, { getLatest: async () => Promise.reject(new Error('down')) }) });
    const p = webStreamOf(bytesOf(100, 1)).pipeThrough(kw.encryptAttachmentStream(CONV)).pipeTo(new WritableStream());
    expect(await errorCode(p)).toBe('ERR_STORE_FAILED');
  });
});

describe('keys are wiped', () => {
  const suite = SUITES[1];
  const header = encodeAttachmentHeader(1, 1, 0, 256, new Uint8Array(32));

  it('the encryptor wipes its key at final() and at destroy(); later calls fail', () => {
    const key = new Uint8Array(32).fill(7);
    const enc = new AttachmentEncryptor({ aead: nodeSegments, suite, key, segmentSize: 256 }, header);
    enc.update(new Uint8Array(1000), () => undefined);
    enc.final(() => undefined);
    expect(key.every((b) => b === 0)).toBe(true);
    expect(() => enc.update(new Uint8Array(1), () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    const key2 = new Uint8Array(32).fill(7);
    new AttachmentEncryptor({ aead: nodeSegments, suite, key: key2, segmentSize: 256 }, header).destroy();
    expect(key2.every((b) => b === 0)).toBe(true);
  });

  it('the decryptor wipes its key when a segment fails, and stays failed', () => {
    const key = new Uint8Array(32).fill(7);
    const dec = new AttachmentDecryptor({ aead: nodeSegments, suite, key, segmentSize: 256 });
    expect(() => dec.update(new Uint8Array(600), () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_DECRYPT_FAILED' }));
    expect(key.every((b) => b === 0)).toBe(true);
    expect(() => dec.final(() => undefined)).toThrow(expect.objectContaining({ code: 'ERR_DECRYPT_FAILED' }));
  });

  it('the conversation key copies handed to attachments are wiped once the attachment key is derived', async () => {
    const handed: Uint8Array[] = [];
    const keys = {
      closed: false,
      forSealing: async () => {
        const key = new Uint8Array(32).fill(9);
        handed.push(key);
        return { key, version: 1, suite, sealedAt: 0 };
      },
      forOpening: async () => {
        const key = new Uint8Array(32).fill(9);
        handed.push(key);
        return { key, suite };
      },
      readable: async () => undefined,
    };
    const att = new Attachments(keys, nodeSegments);
    const c = checkCall(CONV, undefined, true);
    const sealed = await att.encrypt(CONV, bytesOf(700, 1), c);
    expect(Buffer.from(await att.decrypt(CONV, sealed, c)).equals(Buffer.from(bytesOf(700, 1)))).toBe(true);
    (await att.open(CONV, sealed, c)).close();
    expect(handed.length).toBe(3);
    for (const k of handed) expect(k.every((b) => b === 0)).toBe(true);
  });
});

describe('bounds (docs/FORMAT.md §9.5)', () => {
  const suite = SUITES[1];
  const header = encodeAttachmentHeader(1, 1, 0, 256, new Uint8Array(32));

  it('an encryptor refuses to go past the byte limit, and a decryptor to open past it', () => {
    const enc = new AttachmentEncryptor({ aead: nodeSegments, suite, key: new Uint8Array(32), segmentSize: 256, maxBytes: 1000 }, header);
    const out: Uint8Array[] = [];
    enc.update(new Uint8Array(1000), (c) => out.push(c));
    expect(() => enc.update(new Uint8Array(1), () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'plaintext' }));
    // A 1000-byte attachment opens under a 1000-byte limit and not under a 999-byte one.
    const full = new AttachmentEncryptor({ aead: nodeSegments, suite, key: new Uint8Array(32), segmentSize: 256 }, header);
    const ct: Uint8Array[] = [];
    full.update(new Uint8Array(1000), (c) => ct.push(c));
    full.final((c) => ct.push(c));
    const body = concat(ct).subarray(46);
    for (const [max, ok] of [[1000, true], [999, false]] as const) {
      const dec = new AttachmentDecryptor({ aead: nodeSegments, suite, key: new Uint8Array(32), segmentSize: 256, maxBytes: max });
      const run = () => {
        dec.update(body, () => undefined);
        dec.final(() => undefined);
      };
      if (ok) expect(run).not.toThrow();
      else expect(run).toThrow(expect.objectContaining({ code: 'ERR_DECRYPT_FAILED' }));
    }
  });

  it('a source whose size implies more than 2^40 bytes is refused before any segment is read', async () => {
    const { kw } = instance();
    const a = await kw.encryptAttachment(CONV, new Uint8Array(10));
    const reads: number[] = [];
    const huge = { size: 46 + (2 ** 40 / 65536 + 1) * (65536 + 16), read: async (o: number, n: number) => (reads.push(o), a.subarray(o, o + n)) };
    expect(await errorCode(kw.openAttachment(CONV, huge))).toBe('ERR_DECRYPT_FAILED');
    expect(reads).toEqual([0]);
    // A size that is no attachment's (a 1..15-byte tail) is refused the same way.
    expect(await errorCode(kw.openAttachment(CONV, { size: 46 + 65552 + 15, read: async (o: number, n: number) => a.subarray(o, o + n) }))).toBe('ERR_DECRYPT_FAILED');
  });

  it('a source that returns the wrong number of bytes fails like a bad ciphertext; its own errors pass through', async () => {
    const { kw } = instance();
    const a = await kw.encryptAttachment(CONV, bytesOf(5000, 1), { segmentSize: 256 });
    expect(await errorCode(kw.openAttachment(CONV, { size: a.length, read: async (o: number, n: number) => a.subarray(o, o + n - 1) }))).toBe('ERR_DECRYPT_FAILED');
    const mine = new Error('S3 said no');
    await expect(kw.openAttachment(CONV, { size: a.length, read: async () => Promise.reject(mine) })).rejects.toBe(mine);
  });
});
