/**
 * Streams an attachment generated on the fly through encrypt → decrypt and measures how much of
 * it is ever inside the pipeline: bytes the source produced minus bytes the sink received, at
 * every sink write — a count, not a timing, so memory boundedness can be asserted exactly. The
 * sink checks every byte against the generator. Used by the fast suite (tens of MiB) and by
 * test/ci (1 GiB).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Keywarden } from '../../src/node.js';
import { createDecryptStream, createEncryptStream } from '../../src/stream/node.js';

/** Deterministic content: byte i of the stream is a function of i (checked by the sink without storing anything). */
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
})();

export interface BoundReport {
  bytes: number;
  /** Most bytes ever produced but not yet received by the sink. */
  maxInFlight: number;
  /** Whether every byte the sink received was the byte produced at that position. */
  intact: boolean;
}

/**
 * Pipes `total` bytes through `createEncryptStream` and `createDecryptStream` (Node) or the Web
 * Streams pair, with a sink that yields to the event loop on every write (a slow consumer).
 */
export async function streamThrough(kw: Keywarden, api: 'node' | 'web', total: number, chunk = 64 * 1024, slowSink = true): Promise<BoundReport> {
  let produced = 0;
  let received = 0;
  let maxInFlight = 0;
  let intact = true;
  const next = (): Buffer | null => {
    if (produced >= total) return null;
    const n = Math.min(chunk, total - produced);
    const at = produced % PATTERN.length;
    // Views of the pattern (no allocation): the stream must not depend on chunks being fresh.
    const c = at + n <= PATTERN.length ? PATTERN.subarray(at, at + n) : Buffer.concat([PATTERN.subarray(at), PATTERN.subarray(0, n - (PATTERN.length - at))]);
    produced += n;
    return c;
  };
  const check = (c: Uint8Array) => {
    let at = received % PATTERN.length;
    for (let off = 0; off < c.length; ) {
      const n = Math.min(c.length - off, PATTERN.length - at);
      if (Buffer.compare(Buffer.from(c.buffer, c.byteOffset + off, n), PATTERN.subarray(at, at + n)) !== 0) intact = false;
      off += n;
      at = 0;
    }
    received += c.length;
    maxInFlight = Math.max(maxInFlight, produced - received);
  };
  const wait = () => (slowSink ? new Promise<void>((r) => setImmediate(r)) : Promise.resolve());
  if (api === 'node') {
    await pipeline(
      new Readable({ read() { this.push(next()); } }),
      createEncryptStream(kw, 'dm:bound'),
      createDecryptStream(kw, 'dm:bound'),
      new Writable({
        write(c: Buffer, _e, cb) {
          check(c);
          void wait().then(() => cb());
        },
      }),
    );
  } else {
    await new ReadableStream<Uint8Array>({
      pull(c) {
        const b = next();
        if (b === null) c.close();
        else c.enqueue(b);
      },
    })
      .pipeThrough(kw.encryptAttachmentStream('dm:bound'))
      .pipeThrough(kw.decryptAttachmentStream('dm:bound'))
      .pipeTo(new WritableStream({ write: (c) => (check(c), wait()) }));
  }
  return { bytes: received, maxInFlight, intact: intact && received === total };
}
