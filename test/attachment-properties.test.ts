/**
 * Properties of attachments (issue #16, acceptance): round trips for sizes around every segment
 * edge and for any chunking of the input, through every API and both implementations; every
 * single-segment mutation, reorder, drop, duplicate, truncation and extension fails with
 * ERR_DECRYPT_FAILED — and no plaintext of a segment that did not authenticate is ever released;
 * random ranges equal the slice of the plaintext and read only the segments they need.
 * Segment sizes are small (256 B-1 KiB) so that "many segments" costs milliseconds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { suiteById } from '../src/format/suites.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { ATTACHMENT_HEADER_LENGTH, encodeAttachmentHeader } from '../src/stream/format.js';
import { nobleSegments } from '../src/stream/segment-aead.js';
import { nodeSegments } from '../src/stream/segment-node.js';
import { AttachmentEncryptor } from '../src/stream/sealer.js';
import { APIS, type Api, bytesOf, concat, cutsArb, nobleAead, nodeAead, openVia, sealVia, split } from './support/attachments.js';

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
const native = new Keywarden({ masterKey, keyStore, aead: nodeAead });
const portable = new Keywarden({ masterKey, keyStore, aead: nobleAead });
const CONV = 'dm:alice:bob';

const segArb = fc.constantFrom(256, 300, 1024);
/** Sizes at and around segment edges (0, 1, k·seg - 1, k·seg, k·seg + 1) or anywhere up to 12 segments. */
const sizeArb = (seg: number) =>
  fc.oneof(
    fc.constantFrom(0, 1, seg - 1, seg, seg + 1, 2 * seg - 1, 2 * seg, 2 * seg + 1, 7 * seg),
    fc.integer({ min: 0, max: 12 * seg }),
  );
const apiArb = fc.constantFrom<Api>(...APIS);
const aadArb = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 40 }));
const opts = (aad: string | Uint8Array | undefined) => (aad === undefined ? {} : { aad });

describe('attachment round trips', () => {
  it('any size and chunking, sealed and opened through any API, native or portable', async () => {
    await fc.assert(
      fc.asyncProperty(
        segArb.chain((seg) => fc.record({ seg: fc.constant(seg), size: sizeArb(seg), seed: fc.integer(), cutsIn: cutsArb, cutsOut: cutsArb, sealApi: apiArb, openApi: apiArb, aad: aadArb, sealer: fc.boolean(), opener: fc.boolean() })),
        async ({ seg, size, seed, cutsIn, cutsOut, sealApi, openApi, aad, sealer, opener }) => {
          const pt = bytesOf(size, seed);
          const ct = await sealVia(sealApi, sealer ? native : portable, CONV, split(pt, cutsIn), { ...opts(aad), segmentSize: seg });
          expect(ct.length).toBe(ATTACHMENT_HEADER_LENGTH + size + 16 * Math.max(1, Math.ceil(size / seg)));
          const r = await openVia(openApi, opener ? native : portable, CONV, split(ct, cutsOut), opts(aad));
          expect(r.ok).toBe(true);
          if (r.ok) expect(Buffer.from(r.plaintext).equals(Buffer.from(pt))).toBe(true);
          expect(Buffer.from(await native.decryptAttachment(CONV, ct, opts(aad))).equals(Buffer.from(pt))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('node:crypto and noble seal every segment to the same bytes (second implementation)', () => {
    fc.assert(
      fc.property(
        segArb.chain((seg) => fc.record({ seg: fc.constant(seg), size: sizeArb(seg), seed: fc.integer(), suite: fc.constantFrom(1, 2), key: fc.uint8Array({ minLength: 32, maxLength: 32 }), salt: fc.uint8Array({ minLength: 32, maxLength: 32 }), cuts: cutsArb })),
        ({ seg, size, seed, suite, key, salt, cuts }) => {
          const pt = bytesOf(size, seed);
          const header = encodeAttachmentHeader(suite, 1, 0, seg, salt);
          const run = (aead: typeof nodeSegments) => {
            const enc = new AttachmentEncryptor({ aead, suite: suiteById(suite)!, key: Uint8Array.from(key), segmentSize: seg }, header);
            const out: Uint8Array[] = [];
            for (const c of split(pt, cuts)) enc.update(c, (x) => out.push(x));
            enc.final((x) => out.push(x));
            return Buffer.from(concat(out));
          };
          expect(run(nodeSegments).equals(run(nobleSegments))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('each attachment gets a fresh salt, hence its own key: two sealings of the same bytes share no segment', async () => {
    const pt = bytesOf(1000, 1);
    const a = await native.encryptAttachment(CONV, pt, { segmentSize: 256 });
    const b = await native.encryptAttachment(CONV, pt, { segmentSize: 256 });
    expect(Buffer.from(a.subarray(14, 46)).equals(Buffer.from(b.subarray(14, 46)))).toBe(false);
    expect(Buffer.from(a.subarray(46)).equals(Buffer.from(b.subarray(46)))).toBe(false);
  });
});

/** Segments of a sealed attachment (ciphertext of each, tag included). */
function segmentsOf(ct: Uint8Array, seg: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = ATTACHMENT_HEADER_LENGTH; at < ct.length; at += seg + 16) out.push(ct.subarray(at, Math.min(ct.length, at + seg + 16)));
  return out;
}

type Mutation =
  | { kind: 'flip'; segment: number; byte: number; bit: number }
  | { kind: 'flipHeader'; byte: number; bit: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'drop'; segment: number }
  | { kind: 'duplicate'; segment: number; to: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'appendSegment'; segment: number };

/** Applies a mutation; returns the new bytes and the index of the first segment it touched. */
function mutate(ct: Uint8Array, seg: number, m: Mutation): { bytes: Uint8Array; firstBad: number } {
  const header = ct.subarray(0, ATTACHMENT_HEADER_LENGTH);
  const segs = segmentsOf(ct, seg);
  const n = segs.length;
  const build = (list: Uint8Array[]) => concat([header, ...list]);
  switch (m.kind) {
    case 'flip': {
      const i = m.segment % n;
      const b = Uint8Array.from(ct);
      b[ATTACHMENT_HEADER_LENGTH + i * (seg + 16) + (m.byte % segs[i]!.length)]! ^= 1 << m.bit;
      return { bytes: b, firstBad: i };
    }
    case 'flipHeader': {
      const b = Uint8Array.from(ct);
      b[m.byte % ATTACHMENT_HEADER_LENGTH]! ^= 1 << m.bit;
      return { bytes: b, firstBad: 0 };
    }
    case 'swap': {
      const a = m.a % n;
      let c = m.b % n;
      if (a === c) c = (c + 1) % n;
      if (a === c) return { bytes: build([...segs, segs[0]!]), firstBad: n }; // one segment: swap is impossible, append instead
      const list = [...segs];
      [list[a], list[c]] = [list[c]!, list[a]!];
      return { bytes: build(list), firstBad: Math.min(a, c) };
    }
    case 'drop': {
      const i = m.segment % n;
      return { bytes: build(segs.filter((_, j) => j !== i)), firstBad: i };
    }
    case 'duplicate': {
      const i = m.segment % n;
      const to = m.to % (n + 1);
      const list = [...segs];
      list.splice(to, 0, segs[i]!);
      // Inserting segment i right at its own place leaves that position intact: the copy after it is the first wrong one.
      return { bytes: build(list), firstBad: to === n ? n - 1 : i === to && to < n - 1 ? to + 1 : to };
    }
    case 'truncate': {
      const keep = m.keep % ct.length;
      return { bytes: ct.subarray(0, keep), firstBad: Math.max(0, Math.floor((keep - ATTACHMENT_HEADER_LENGTH) / (seg + 16))) };
    }
    case 'extend':
      return { bytes: concat([ct, m.extra]), firstBad: n - 1 };
    case 'appendSegment':
      return { bytes: build([...segs, segs[m.segment % n]!]), firstBad: n - 1 };
  }
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), segment: fc.nat(), byte: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('flipHeader' as const), byte: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), segment: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), segment: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 400 }) }),
  fc.record({ kind: fc.constant('appendSegment' as const), segment: fc.nat() }),
);

/**
 * What a failed open may have released: authentic plaintext from the start, nothing of the first
 * bad segment or after. The core API releases whole segments; through a stream, the sink may see
 * only part of the last authentic segment before the error reaches it.
 */
function expectSafePrefix(api: Api, emitted: Uint8Array, pt: Uint8Array, seg: number, firstBad: number): void {
  if (api === 'core') expect(emitted.length % seg).toBe(0);
  expect(emitted.length).toBeLessThanOrEqual(firstBad * seg);
  expect(Buffer.from(emitted).equals(Buffer.from(pt.subarray(0, emitted.length)))).toBe(true);
}

describe('tampering', () => {
  it('every single-segment mutation, reorder, drop, duplicate, truncation and extension fails, releasing no unauthenticated plaintext', async () => {
    await fc.assert(
      fc.asyncProperty(
        segArb.chain((seg) => fc.record({ seg: fc.constant(seg), size: sizeArb(seg), seed: fc.integer(), m: mutationArb, api: apiArb, cuts: cutsArb, impl: fc.boolean() })),
        async ({ seg, size, seed, m, api, cuts, impl }) => {
          const pt = bytesOf(size, seed);
          const ct = await native.encryptAttachment(CONV, pt, { segmentSize: seg, aad: 'att-1' });
          const { bytes, firstBad } = mutate(ct, seg, m);
          fc.pre(!Buffer.from(bytes).equals(Buffer.from(ct))); // e.g. a swap of identical segments
          const kw = impl ? native : portable;
          const r = await openVia(api, kw, CONV, split(bytes, cuts), { aad: 'att-1' });
          expect(r.ok ? 'opened' : r.code).toBe('ERR_DECRYPT_FAILED');
          if (!r.ok) expectSafePrefix(api, r.emitted, pt, seg, firstBad);
          await expect(kw.decryptAttachment(CONV, bytes, { aad: 'att-1' })).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
          const whole = kw.openAttachment(CONV, bytes, { aad: 'att-1' }).then((rd) => rd.decryptRange(0, rd.size));
          await expect(whole).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('exhaustively: a flipped bit in any byte, and a cut at any length, of a 4-segment attachment fail', async () => {
    const seg = 256;
    const pt = bytesOf(3 * seg + 100, 7);
    const ct = await native.encryptAttachment(CONV, pt, { segmentSize: seg });
    const header = ct.subarray(0, ATTACHMENT_HEADER_LENGTH);
    const dec = () => native.createAttachmentDecryptor(CONV, header);
    let failures = 0;
    const tryOpen = async (bytes: Uint8Array, changedHeader: boolean): Promise<void> => {
      const emitted: Uint8Array[] = [];
      try {
        const d = changedHeader ? await native.createAttachmentDecryptor(CONV, bytes.subarray(0, ATTACHMENT_HEADER_LENGTH)) : await dec();
        d.update(bytes.subarray(ATTACHMENT_HEADER_LENGTH), (p) => emitted.push(p));
        d.final((p) => emitted.push(p));
      } catch (e) {
        expect((e as { code: string }).code).toBe('ERR_DECRYPT_FAILED');
        failures++;
        expect(Buffer.from(concat(emitted)).equals(Buffer.from(pt.subarray(0, concat(emitted).length)))).toBe(true);
      }
    };
    for (let i = 0; i < ct.length; i++) {
      const b = Uint8Array.from(ct);
      b[i]! ^= 1 << (i % 8);
      await tryOpen(b, i < ATTACHMENT_HEADER_LENGTH);
    }
    for (let keep = ATTACHMENT_HEADER_LENGTH; keep < ct.length; keep++) await tryOpen(ct.subarray(0, keep), false);
    expect(failures).toBe(ct.length + ct.length - ATTACHMENT_HEADER_LENGTH);
  });
});

describe('random access', () => {
  it('random ranges equal the slice, and read only the segments they need', async () => {
    await fc.assert(
      fc.asyncProperty(
        segArb.chain((seg) => fc.record({ seg: fc.constant(seg), size: sizeArb(seg), seed: fc.integer(), ranges: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 8 }), impl: fc.boolean() })),
        async ({ seg, size, seed, ranges, impl }) => {
          const pt = bytesOf(size, seed);
          const ct = await native.encryptAttachment(CONV, pt, { segmentSize: seg, aad: 'att-2' });
          const reads: [number, number][] = [];
          const source = { size: ct.length, read: async (o: number, n: number) => (reads.push([o, n]), ct.slice(o, o + n)) };
          const reader = await (impl ? native : portable).openAttachment(CONV, source, { aad: 'att-2' });
          expect(reader.size).toBe(size);
          // Opening read the header and the last segment, nothing else.
          const lastStart = ATTACHMENT_HEADER_LENGTH + (reader.segments - 1) * (seg + 16);
          expect(reads).toEqual([[0, ATTACHMENT_HEADER_LENGTH], [lastStart, ct.length - lastStart]]);
          for (const [a, b] of ranges) {
            const offset = a % (size + 1);
            const length = b % (size - offset + 1);
            reads.length = 0;
            const got = await reader.decryptRange(offset, length);
            expect(Buffer.from(got).equals(Buffer.from(pt.subarray(offset, offset + length)))).toBe(true);
            if (length === 0) expect(reads).toEqual([]);
            else {
              const first = Math.floor(offset / seg);
              const last = Math.floor((offset + length - 1) / seg);
              const start = ATTACHMENT_HEADER_LENGTH + first * (seg + 16);
              expect(reads).toEqual([[start, Math.min(ct.length, ATTACHMENT_HEADER_LENGTH + (last + 1) * (seg + 16)) - start]]);
            }
          }
          reader.close();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a tampered segment fails exactly the ranges that include it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 9 }), fc.nat(), fc.nat(), fc.nat(), async (segments, bad, a, b) => {
        const seg = 256;
        const pt = bytesOf(segments * seg - 10, segments);
        const ct = Uint8Array.from(await native.encryptAttachment(CONV, pt, { segmentSize: seg }));
        const badSeg = bad % (segments - 1); // not the last: opening must still succeed
        ct[ATTACHMENT_HEADER_LENGTH + badSeg * (seg + 16) + 3]! ^= 0x80;
        const reader = await native.openAttachment(CONV, ct);
        const offset = a % pt.length;
        const length = 1 + (b % (pt.length - offset));
        const touches = Math.floor(offset / seg) <= badSeg && badSeg <= Math.floor((offset + length - 1) / seg);
        const r = await reader.decryptRange(offset, length).then((x) => Buffer.from(x).equals(Buffer.from(pt.subarray(offset, offset + length))), (e: { code: string }) => e.code);
        expect(r).toBe(touches ? 'ERR_DECRYPT_FAILED' : true);
      }),
      { numRuns: 100 },
    );
  });
});
