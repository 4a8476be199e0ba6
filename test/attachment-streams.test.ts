/**
 * Streams and files (issue #16, point 2): Node Transforms and Web TransformStreams keep memory
 * bounded whatever the attachment's length — at most about a megabyte is ever inside an
 * encrypt → decrypt pipeline with a slow consumer (a count of bytes, not a timing) — and file
 * helpers write the destination all-or-nothing. The 1 GiB run is test/ci/attachments-1gib.test.ts
 * and the benchmark.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, nobleAead } from '../src/node.js';
import { createDecryptStream, createEncryptStream, decryptFile, encryptFile, fileSource } from '../src/stream/node.js';
import { bytesOf, webStreamOf } from './support/attachments.js';
import { errorCode } from './support/fixtures.js';
import { streamThrough } from './support/stream-bound.js';

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
const kw = new Keywarden({ masterKey, keyStore });
const CONV = 'dm:alice:bob';
const MiB = 1 << 20;

describe('bounded memory with backpressure', () => {
  for (const api of ['node', 'web'] as const) {
    it(`${api}: 24 MiB through encrypt → decrypt to a slow consumer; never more than 1 MiB in flight`, async () => {
      const r = await streamThrough(kw, api, 24 * MiB);
      expect(r.intact).toBe(true);
      expect(r.bytes).toBe(24 * MiB);
      expect(r.maxInFlight).toBeLessThanOrEqual(MiB);
    });
  }

  it('a 16 MiB input chunk is sealed from views of it (one chunk, many segments) and round-trips', async () => {
    const big = bytesOf(16 * MiB + 5, 3);
    const out: Buffer[] = [];
    await pipeline(Readable.from([Buffer.from(big.buffer)]), createEncryptStream(kw, CONV), createDecryptStream(kw, CONV), new Writable({ write(c, _e, cb) { out.push(c); cb(); } }));
    expect(Buffer.concat(out).equals(Buffer.from(big.buffer))).toBe(true);
  });

  it('the portable build streams too (Web Streams over noble)', async () => {
    const portable = new Keywarden({ masterKey, keyStore, aead: nobleAead });
    const r = await streamThrough(portable, 'web', 2 * MiB, 10_000, false);
    expect(r).toMatchObject({ intact: true, bytes: 2 * MiB });
    portable.close();
  });
});

describe('mid-stream failure', () => {
  it('the pipeline rejects with ERR_DECRYPT_FAILED; the sink got only the authentic segments before the bad one', async () => {
    const pt = bytesOf(10 * 65536, 5);
    const ct = Uint8Array.from(await kw.encryptAttachment(CONV, pt));
    ct[46 + 6 * (65536 + 16) + 100]! ^= 1; // segment 6
    for (const factory of ['node', 'web'] as const) {
      const got: Uint8Array[] = [];
      const run =
        factory === 'node'
          ? pipeline(Readable.from([Buffer.from(ct)]), createDecryptStream(kw, CONV), new Writable({ write(c, _e, cb) { got.push(Uint8Array.from(c)); cb(); } }))
          : webStreamOf(ct).pipeThrough(kw.decryptAttachmentStream(CONV)).pipeTo(new WritableStream({ write: (c) => void got.push(Uint8Array.from(c)) }));
      expect(await errorCode(run)).toBe('ERR_DECRYPT_FAILED');
      const n = got.reduce((s, c) => s + c.length, 0);
      expect(n).toBeLessThanOrEqual(6 * 65536);
      expect(Buffer.concat(got).equals(Buffer.from(pt.subarray(0, n)))).toBe(true);
    }
  });

  it('an input that ends inside the header, or is empty, fails', async () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array(45)]) {
      expect(await errorCode(pipeline(Readable.from([Buffer.from(bytes)]), createDecryptStream(kw, CONV), new Writable({ write(_c, _e, cb) { cb(); } })))).toBe('ERR_DECRYPT_FAILED');
      expect(await errorCode(webStreamOf(bytes).pipeThrough(kw.decryptAttachmentStream(CONV)).pipeTo(new WritableStream()))).toBe('ERR_DECRYPT_FAILED');
    }
  });

  it('bad arguments throw when the Node stream is made, not later in the pipeline', () => {
    expect(() => createEncryptStream(kw, CONV, { segmentSize: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'options.segmentSize' }));
    expect(() => createDecryptStream(kw, '', {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'conversationId' }));
  });
});

describe('files', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'kw-att-'));
    dirs.push(d);
    return d;
  };

  it('encryptFile / decryptFile round-trip; fileSource gives random access', async () => {
    const dir = await tempDir();
    const pt = bytesOf(3 * MiB + 12345, 9);
    await writeFile(join(dir, 'in.bin'), pt);
    const sealed = await encryptFile(kw, CONV, join(dir, 'in.bin'), join(dir, 'att.kw'), { aad: 'att-9', segmentSize: 100_000 });
    expect(sealed.bytesRead).toBe(pt.length);
    const stored = await readFile(join(dir, 'att.kw'));
    expect(sealed.bytesWritten).toBe(stored.length);
    expect(Buffer.from(await kw.decryptAttachment(CONV, stored, { aad: 'att-9' })).equals(Buffer.from(pt))).toBe(true);
    const opened = await decryptFile(kw, CONV, join(dir, 'att.kw'), join(dir, 'out.bin'), { aad: 'att-9' });
    expect(opened).toEqual({ bytesRead: stored.length, bytesWritten: pt.length });
    expect((await readFile(join(dir, 'out.bin'))).equals(Buffer.from(pt))).toBe(true);
    const src = await fileSource(join(dir, 'att.kw'));
    const reader = await kw.openAttachment(CONV, src, { aad: 'att-9' });
    expect(Buffer.from(await reader.decryptRange(2 * MiB - 7, 300_000)).equals(Buffer.from(pt.subarray(2 * MiB - 7, 2 * MiB - 7 + 300_000)))).toBe(true);
    reader.close();
    await src.close();
    expect((await readdir(dir)).sort()).toEqual(['att.kw', 'in.bin', 'out.bin']); // no temporary files left
  });

  it('a tampered file writes nothing: the destination is left as it was, no temporary file remains', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'in.bin'), bytesOf(500_000, 1));
    await encryptFile(kw, CONV, join(dir, 'in.bin'), join(dir, 'att.kw'));
    const stored = await readFile(join(dir, 'att.kw'));
    stored[stored.length - 1]! ^= 1;
    await writeFile(join(dir, 'bad.kw'), stored);
    await writeFile(join(dir, 'out.bin'), 'previous');
    expect(await errorCode(decryptFile(kw, CONV, join(dir, 'bad.kw'), join(dir, 'out.bin')))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(decryptFile(kw, CONV, join(dir, 'bad.kw'), join(dir, 'new.bin')))).toBe('ERR_DECRYPT_FAILED');
    expect(await readFile(join(dir, 'out.bin'), 'utf8')).toBe('previous');
    expect((await readdir(dir)).sort()).toEqual(['att.kw', 'bad.kw', 'in.bin', 'out.bin']);
  });

  it('an empty file round-trips; a missing source is node\'s own ENOENT', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'empty'), new Uint8Array(0));
    await encryptFile(kw, CONV, join(dir, 'empty'), join(dir, 'empty.kw'));
    expect((await readFile(join(dir, 'empty.kw'))).length).toBe(62);
    await decryptFile(kw, CONV, join(dir, 'empty.kw'), join(dir, 'empty.out'));
    expect((await readFile(join(dir, 'empty.out'))).length).toBe(0);
    expect(await errorCode(encryptFile(kw, CONV, join(dir, 'missing'), join(dir, 'x.kw')))).toBe('ENOENT');
    expect(await errorCode(encryptFile(kw, CONV, '', join(dir, 'x.kw')))).toBe('ERR_INVALID_INPUT');
  });
});
