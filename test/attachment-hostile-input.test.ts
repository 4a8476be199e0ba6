/**
 * Attachment entries under hostile or careless input (found by an outside review, 2026-11-30):
 * - a stream that declares a large segment (unauthenticated until its tag) and then trickles its
 *   body one byte per chunk made the decryptor keep ~110 bytes of heap per byte received (each
 *   chunk held as its own view until the segment was complete): +110 MiB for a 1 MiB segment;
 * - the push encryptor and decryptor took any `chunk`: a string was sealed as UTF-8 bytes but
 *   counted as UTF-16 units (an attachment that never opens), null threw a raw TypeError;
 * - `encryptString` sealed a lone surrogate as U+FFFD (the text does not round-trip), where the
 *   same string as an id or aad is refused;
 * - `inspectAttachment` coerced `totalSize` ('1110', [1110]) and threw a raw TypeError on a BigInt.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkQueue } from '../src/stream/chunks.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectAttachment } from '../src/node.js';
import { outcomeOf } from './support/fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const held = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};


describe('attachment decryptor memory under a trickled stream', () => {
  it('holds about the bytes received, not a view object per chunk', async () => {
    const S = 1 << 20;
    const real = await kw.encryptAttachment('c', new Uint8Array(10), { aad: 'a' });
    const header = Uint8Array.from(real.subarray(0, 46));
    new DataView(header.buffer).setUint32(10, S); // a declared 1 MiB segment (docs/FORMAT.md §9.2)
    const dec = await kw.createAttachmentDecryptor('c', header, { aad: 'a' });
    const body = new Uint8Array(S);
    const before = held();
    for (let i = 0; i < S; i++) dec.update(body.subarray(i, i + 1), () => {});
    const grew = held() - before;
    // 1 MiB received: a copy of it is what must be held (before the fix: ~110 MiB).
    expect(grew, `held ${(grew / 2 ** 20).toFixed(1)} MiB for 1 MiB received`).toBeLessThan(8 * 2 ** 20);
    // The segment is then refused, as before.
    expect(await outcomeOf(() => dec.update(body.subarray(0, 17), () => {}))).toBe('ERR_DECRYPT_FAILED');
  });

  it('still opens what it is fed in chunks of every size, split anywhere', async () => {
    const pt = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
    const ct = await kw.encryptAttachment('c', pt, { aad: 'a', segmentSize: 16 * 1024 });
    for (const sizes of [[1], [3, 1, 4096, 1], [4095, 4097], [100_000], [17, 5000, 2, 9000]]) {
      const dec = await kw.createAttachmentDecryptor('c', ct.subarray(0, 46), { aad: 'a' });
      const out: Uint8Array[] = [];
      let at = 46;
      for (let k = 0; at < ct.length; k++) {
        const n = sizes[k % sizes.length]!;
        dec.update(ct.subarray(at, at + n), (p) => out.push(Uint8Array.from(p)));
        at += n;
      }
      dec.final((p) => out.push(Uint8Array.from(p)));
      expect(Buffer.concat(out).equals(pt), `chunk sizes ${sizes.join(',')}`).toBe(true);
    }
  });
});

/** Pushes of small (copied) and large (kept) chunks, and takes; 'max': the default size stops at ~10 operations. */
const queueOps = fc.array(fc.oneof(
  fc.record({ push: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 3000, max: 9000 })) }),
  fc.record({ take: fc.integer({ min: 0, max: 20_000 }) }),
), { maxLength: 200, size: 'max' });

describe('ChunkQueue with coalescing', () => {
  it('gives the bytes pushed, in order, and views taken earlier never change', () => {
    fc.assert(
      fc.property(
        queueOps,
        (ops) => {
          const q = new ChunkQueue({ coalesce: true });
          const pushed: number[] = [];
          const taken: { view: Uint8Array; want: number[] }[] = [];
          let next = 0;
          let read = 0;
          for (const op of ops) {
            if ('push' in op) {
              const chunk = Uint8Array.from({ length: op.push }, () => next++ & 0xff);
              pushed.push(...chunk);
              q.push(chunk);
              chunk.fill(0xee); // a copied chunk does not see this; a kept one does (>= 4 KiB): it is the caller's
              if (op.push >= 4096) pushed.splice(pushed.length - op.push, op.push, ...chunk);
            } else {
              const n = Math.min(op.take, q.length);
              const views = q.take(n, []);
              const want = pushed.slice(read, read + n);
              read += n;
              for (const v of views) taken.push({ view: v, want: want.splice(0, v.length) });
            }
            expect(q.length).toBe(pushed.length - read);
          }
          for (const t of taken) expect(Array.from(t.view)).toEqual(t.want);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('ChunkQueue.own: the caller may reuse its buffers once own() ran', () => {
  for (const coalesce of [false, true]) {
    it(`every byte taken is the byte pushed, though each chunk is overwritten after own() (coalesce ${coalesce})`, () => {
      fc.assert(
        fc.property(
          queueOps,
          (ops) => {
            const q = new ChunkQueue({ coalesce });
            const pushed: number[] = [];
            let next = 0;
            let read = 0;
            for (const op of ops) {
              if ('push' in op) {
                const chunk = Uint8Array.from({ length: op.push }, () => next++ & 0xff);
                pushed.push(...chunk);
                q.push(chunk);
                q.own();
                chunk.fill(0xee); // the writer reuses its buffer (the stream wrappers call own() first)
              } else {
                const n = Math.min(op.take, q.length);
                const got = q.take(n, []).flatMap((v) => Array.from(v));
                expect(got).toEqual(pushed.slice(read, read + n));
                read += n;
              }
              expect(q.length).toBe(pushed.length - read);
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('ChunkQueue with coalescing, long runs', () => {
  it('keeps its views right across compaction and buffer rollover', () => {
    // Kept chunks (>= 4 KiB) and copied ones (1 byte) alternate: the queue compacts its list
    // (more than 64 taken) and fills several 64 KiB buffers along the way.
    const q = new ChunkQueue({ coalesce: true });
    const want: number[] = [];
    const got: number[] = [];
    let next = 0;
    for (let i = 0; i < 400; i++) {
      const n = i % 2 === 0 ? 4096 + (i % 7) : 1 + (i % 3);
      const chunk = Uint8Array.from({ length: n }, () => next++ & 0xff);
      want.push(...chunk);
      q.push(chunk);
      if (i % 3 === 2) for (const v of q.take(Math.min(q.length, 5000 + i), [])) got.push(...v);
    }
    for (const v of q.take(q.length, [])) got.push(...v);
    expect(got.length).toBe(want.length);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
  });
});

describe('push encryptor and decryptor chunks', () => {
  it('refuse what is not bytes with ERR_INVALID_INPUT chunk, and keep working', async () => {
    const real = await kw.encryptAttachment('c', new TextEncoder().encode('hello'), { aad: 'a' });
    for (const bad of ['é'.repeat(200), 'é'.repeat(300), null, 12345, [1, 2, 3], new DataView(new ArrayBuffer(4))]) {
      const enc = await kw.createAttachmentEncryptor('c', { aad: 'a' });
      const parts: Uint8Array[] = [];
      expect(await outcomeOf(() => enc.update(bad as unknown as Uint8Array, (p) => parts.push(p)))).toBe('ERR_INVALID_INPUT chunk');
      enc.update(new TextEncoder().encode('after'), (p) => parts.push(p));
      enc.final((p) => parts.push(p));
      expect(new TextDecoder().decode(await kw.decryptAttachment('c', Buffer.concat(parts), { aad: 'a' }))).toBe('after');

      const dec = await kw.createAttachmentDecryptor('c', real.subarray(0, 46), { aad: 'a' });
      const out: Uint8Array[] = [];
      expect(await outcomeOf(() => dec.update(bad as unknown as Uint8Array, (p) => out.push(p)))).toBe('ERR_INVALID_INPUT chunk');
      dec.update(real.subarray(46), (p) => out.push(p));
      dec.final((p) => out.push(p));
      expect(new TextDecoder().decode(Buffer.concat(out))).toBe('hello');
    }
  });
});

describe('text and sizes', () => {
  it('encryptString refuses a lone surrogate, like an id or an aad', async () => {
    for (const text of ['pay \uD800 now', '\uDC00', 'a\uDBFF']) {
      expect(await outcomeOf(() => kw.encryptString('c', text))).toBe('ERR_INVALID_INPUT text');
    }
    const ct = await kw.encryptString('c', 'pay \uD83D\uDE00 now'); // a pair is fine
    expect(await kw.decryptString('c', ct)).toBe('pay \uD83D\uDE00 now');
  });

  it('inspectAttachment takes totalSize as a number only', async () => {
    const ct = await kw.encryptAttachment('c', new Uint8Array(1000));
    expect(inspectAttachment(ct.subarray(0, 46), ct.length).plaintextLength).toBe(1000);
    for (const bad of [String(ct.length), [ct.length], { valueOf: () => ct.length }, BigInt(ct.length), -1, 1.5, Number.NaN]) {
      expect(await outcomeOf(() => inspectAttachment(ct.subarray(0, 46), bad as unknown as number))).toBe('ERR_INVALID_INPUT totalSize');
    }
  });
});
