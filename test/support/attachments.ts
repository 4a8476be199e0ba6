/**
 * Attachment test helpers: instances whose key store answers with a fixed data key (for
 * vectors), random chunkings of byte streams, and one function per API that runs bytes through
 * it, so that every property is checked against every way in (core, Web Streams, Node streams,
 * in memory, ranges).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { nodeAead } from '../../src/aead/node.js';
import { Keywarden, MemoryKeyStore, nobleAead, type KeyRecord, type MasterKeyProvider } from '../../src/node.js';
import type { AeadImpl } from '../../src/aead/types.js';
import { createDecryptStream, createEncryptStream } from '../../src/stream/node.js';
import { wrapStore } from './fixtures.js';

/** A Keywarden whose store answers any version of any conversation with `key` ("wrapped" as itself). */
export function fixedKeyInstance(key: Uint8Array, suite: 'AES-256-GCM' | 'XChaCha20-Poly1305', aead: AeadImpl = nodeAead): Keywarden {
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
  return new Keywarden({ masterKey, keyStore: wrapStore(new MemoryKeyStore(), { getVersion: async (c, v) => record(c, v) }), aead });
}

/** Splits `b` at the given cut points (sorted, deduplicated, inside (0, length)). */
export function split(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].filter((c) => c > 0 && c < b.length).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, b.length]) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  return b.length === 0 ? [] : out;
}

/** Random cut points for a chunking: none (one chunk), a few, or many. */
export const cutsArb = fc.oneof(fc.constant([] as number[]), fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 64 }));

export function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Deterministic pseudo-random bytes (xorshift), fast for large sizes. */
export function bytesOf(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export type Api = 'core' | 'web' | 'node';
export const APIS: Api[] = ['core', 'web', 'node'];

/** Seals `chunks` into an attachment through `api`. */
export async function sealVia(api: Api, kw: Keywarden, conv: string, chunks: Uint8Array[], options: { aad?: Uint8Array | string; segmentSize?: number } = {}): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  if (api === 'core') {
    const enc = await kw.createAttachmentEncryptor(conv, options);
    for (const c of chunks) enc.update(c, (x) => out.push(x));
    enc.final((x) => out.push(x));
  } else if (api === 'web') {
    await streamOf(chunks).pipeThrough(kw.encryptAttachmentStream(conv, options)).pipeTo(collector(out));
  } else {
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.length))), createEncryptStream(kw, conv, options), nodeCollector(out));
  }
  return concat(out);
}

/**
 * Opens `chunks` through `api`. Resolves to the plaintext, or to `{ error, emitted }`: the error
 * code and every plaintext byte released before the failure.
 */
export async function openVia(api: Api, kw: Keywarden, conv: string, chunks: Uint8Array[], options: { aad?: Uint8Array | string } = {}): Promise<{ ok: true; plaintext: Uint8Array } | { ok: false; code: string; emitted: Uint8Array }> {
  const out: Uint8Array[] = [];
  try {
    if (api === 'core') {
      const all = concat(chunks);
      // The header goes to the factory; the rest in the given chunking (header bytes removed).
      const dec = await kw.createAttachmentDecryptor(conv, all.subarray(0, 46), options);
      let skip = 46;
      for (const c of chunks) {
        const part = c.subarray(Math.min(skip, c.length));
        skip -= c.length - part.length;
        dec.update(part, (x) => out.push(Uint8Array.from(x)));
      }
      dec.final((x) => out.push(Uint8Array.from(x)));
    } else if (api === 'web') {
      await streamOf(chunks).pipeThrough(kw.decryptAttachmentStream(conv, options)).pipeTo(collector(out));
    } else {
      await pipeline(Readable.from(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.length))), createDecryptStream(kw, conv, options), nodeCollector(out));
    }
    return { ok: true, plaintext: concat(out) };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? String(err), emitted: concat(out) };
  }
}

/** A Web ReadableStream of `bytes` in one chunk. */
export function webStreamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return streamOf(bytes.length === 0 ? [] : [bytes]);
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
  });
}

function collector(out: Uint8Array[]): WritableStream<Uint8Array> {
  return new WritableStream({ write: (c) => void out.push(Uint8Array.from(c)) });
}

function nodeCollector(out: Uint8Array[]): Writable {
  return new Writable({
    write(c: Buffer, _e, cb) {
      out.push(Uint8Array.from(c));
      cb();
    },
  });
}

export { nobleAead, nodeAead };
