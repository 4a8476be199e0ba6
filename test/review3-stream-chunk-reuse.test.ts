/**
 * Review 3 (streams): the encrypting Node Transform and Web TransformStream keep references to
 * the writer's chunks after they have reported the chunk consumed, so a producer that reuses its
 * buffer (read into one buffer, yield/write it, refill it) gets an attachment that decrypts —
 * authentically — to different bytes than it wrote. Silent corruption, no error anywhere.
 *
 * Where: src/stream/sealer.ts:73-87 + chunks.ts:36-44 (the encryptor queues the caller's chunk by
 * reference until its segment is sealed, up to one segment later), exposed unchanged by
 * node-stream.ts:54-64 (`cb()` right after `update`) and web.ts:31-38 (the write promise resolves
 * right after `update`). Only the core `update` documents "do not change it"; the stream APIs
 * (README "Node Transforms for stream.pipeline") do not, and both stream contracts signal "done
 * with this chunk" when the callback / write promise settles (node:crypto's own cipher
 * Transforms copy or consume synchronously, so the same producer works with them).
 *
 * Correct behaviour: the stream wrappers must not retain a chunk after calling back — copy the
 * tail that stays queued (at most one segment) into a buffer of their own (and wipe it after
 * sealing) — or the docs must state the restriction for the stream APIs.
 *
 * Now: after each chunk the stream wrappers copy what the encryptor or decryptor still holds
 * into memory of its own (ChunkQueue.own: each byte copied at most once).
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { createEncryptStream } from '../src/stream/node.js';

const CONV = 'dm:alice:bob';
const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });

describe('stream encryptors and a producer that reuses its buffer', () => {
  it('Node Transform: the attachment opens to exactly the bytes written', async () => {
    // The writer refills its one buffer once each write's callback ran. (Readable.from over a
    // generator that reuses its buffer is not such a writer: the Readable itself queues the
    // same buffer several times before anyone reads it, so even a PassThrough gives it back wrong.)
    const written: Uint8Array[] = [];
    const out: Uint8Array[] = [];
    const enc = createEncryptStream(kw, CONV, { segmentSize: 256 });
    enc.on('data', (c: Uint8Array) => void out.push(c));
    const ended = new Promise((resolve, reject) => enc.on('end', resolve).on('error', reject));
    const buf = Buffer.alloc(1000);
    for (let i = 0; i < 4; i++) {
      buf.fill(i + 1);
      written.push(Uint8Array.from(buf));
      await new Promise<void>((resolve, reject) => enc.write(buf, (err) => (err ? reject(err) : resolve())));
    }
    enc.end();
    await ended;
    const opened = await kw.decryptAttachment(CONV, Buffer.concat(out));
    expect(Buffer.from(opened).equals(Buffer.concat(written))).toBe(true);
  });

  it('Web TransformStream: the attachment opens to exactly the bytes written', async () => {
    const ts = kw.encryptAttachmentStream(CONV, { segmentSize: 256 });
    const out: Uint8Array[] = [];
    const done = ts.readable.pipeTo(new WritableStream({ write: (c) => void out.push(c) }));
    const w = ts.writable.getWriter();
    const buf = new Uint8Array(1000);
    const written: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      buf.fill(i + 1);
      written.push(Uint8Array.from(buf));
      await w.write(buf); // resolved: the stream has taken the chunk
    }
    await w.close();
    await done;
    const opened = await kw.decryptAttachment(CONV, Buffer.concat(out));
    expect(Buffer.from(opened).equals(Buffer.concat(written))).toBe(true); // fails
  });

  it('Web decrypt stream: ciphertext written through one reused buffer (chunks of 4 KiB or more are not coalesced) opens', async () => {
    const plain = new Uint8Array(40_000).map((_, i) => (i * 7) & 255);
    const sealed = await kw.encryptAttachment(CONV, plain, { segmentSize: 4096 });
    const ts = kw.decryptAttachmentStream(CONV);
    const out: Uint8Array[] = [];
    const done = ts.readable.pipeTo(new WritableStream({ write: (c) => void out.push(c) }));
    const w = ts.writable.getWriter();
    const buf = new Uint8Array(5000);
    for (let at = 0; at < sealed.length; at += buf.length) {
      const n = Math.min(buf.length, sealed.length - at);
      buf.set(sealed.subarray(at, at + n));
      await w.write(n === buf.length ? buf : buf.subarray(0, n));
      buf.fill(0); // the writer reuses its buffer once the write is done
    }
    await w.close();
    await done;
    expect(Buffer.concat(out).equals(Buffer.from(plain))).toBe(true);
  });
});
