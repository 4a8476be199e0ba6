/**
 * Fuzzing the entry points that take attachments (issue #16; docs/FORMAT.md §9), as
 * test/fuzz-ciphertext.test.ts does for messages: `decryptAttachment`, `openAttachment` +
 * `decryptRange`, the push-based decryptor, the Web and Node decrypt streams, and
 * `inspectAttachment`. Mutants start from genuine attachments of both suites, two segment sizes,
 * several key versions, conversations and aads, so that most carry a well-formed header and reach
 * the segments. Properties:
 *  - a mutated attachment never opens, through any API: every failure is the one
 *    ERR_DECRYPT_FAILED, no plaintext of a failed segment is released, and nothing but a
 *    KeywardenError ever escapes, whatever the caller passes (bytes, sources, options);
 *  - forged headers (any suite byte, key version, sealing time, segment size — up to 4 GiB, which
 *    must never be allocated — and salt) over any body never open;
 *  - inspectAttachment reads exactly the header or throws ERR_UNSUPPORTED_FORMAT, and whatever it
 *    refuses, decryptAttachment refuses too;
 *  - time is linear in the input: in its length, and in its number of chunks (1-byte chunks).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKeywardenError } from '../src/errors.js';
import { suiteById } from '../src/format/suites.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectAttachment, nobleAead } from '../src/node.js';
import { ATTACHMENT_HEADER_LENGTH, encodeAttachmentHeader } from '../src/stream/format.js';
import { nodeSegments } from '../src/stream/segment-node.js';
import { AttachmentDecryptor, AttachmentEncryptor } from '../src/stream/sealer.js';
import { APIS, type Api, bytesOf, concat, cutsArb, openVia, split } from './support/attachments.js';
import { EDGE_STRINGS, attempt, attemptAsync, expectLinear, mutatedBytes, notBytes, params } from './support/fuzz.js';

interface Sample {
  conv: string;
  aad: Uint8Array | string | undefined;
  seg: number;
  ct: Uint8Array;
  pt: Uint8Array;
}

const enc = new TextEncoder();
const aadBytes = (a: Uint8Array | string | undefined) => (typeof a === 'string' ? enc.encode(a) : a ?? new Uint8Array(0));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const opts = (aad: Uint8Array | string | undefined) => (aad === undefined ? {} : { aad });

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
// Two suites over one store (each conversation's keys carry their suite, so both instances open
// every sample); the portable (noble) segments on one of them, native on the other.
const aes = new Keywarden({ masterKey, keyStore, suite: 'AES-256-GCM' });
const chacha = new Keywarden({ masterKey, keyStore, suite: 'XChaCha20-Poly1305', aead: nobleAead });
const samples: Sample[] = [];

beforeAll(async () => {
  const aads: (Uint8Array | string | undefined)[] = [undefined, 'att-1', enc.encode('att-2'), 'é😀'];
  for (const [kw, prefix] of [[aes, 'a'], [chacha, 'x']] as const) {
    for (const conv of [`${prefix}:dm:alice:bob`, `${prefix}:dm:😀`]) {
      for (let version = 1; version <= 2; version++) {
        if (version > 1) await kw.rotate(conv);
        for (const [i, aad] of aads.entries()) {
          const seg = i % 2 === 0 ? 256 : 300;
          // 0, 1, a segment and a bit, several segments: every shape of the last segment.
          const pt = bytesOf([0, 1, seg + 7, 3 * seg][i]!, i + version);
          samples.push({ conv, aad, seg, pt, ct: await kw.encryptAttachment(conv, pt, { ...opts(aad), segmentSize: seg }) });
        }
      }
    }
  }
});

// The harness must not damage its samples (views): they still open.
afterAll(async () => {
  for (const s of samples) expect(same(await aes.decryptAttachment(s.conv, s.ct, opts(s.aad)), s.pt)).toBe(true);
});

/** The known sample that `ct` is byte for byte, in the context `ctx` (a mutation may land back on one). */
const genuineIn = (ct: Uint8Array, ctx: Sample) => samples.find((s) => same(s.ct, ct) && s.conv === ctx.conv && same(aadBytes(s.aad), aadBytes(ctx.aad)));

const sampleArb = fc.nat().map((i) => samples[i % samples.length]!);
const mutantArb = fc.constant(null).chain(() => mutatedBytes(samples.map((s) => s.ct)));
const apiArb = fc.constantFrom<Api>(...APIS);

/** Opens `ct` through every whole-attachment way in; the outcomes, as codes or plaintexts. */
async function openEverywhere(kw: Keywarden, ctx: Sample, ct: Uint8Array, api: Api, cuts: number[]): Promise<{ codes: string[]; plain: Uint8Array[]; emitted: Uint8Array }> {
  const codes: string[] = [];
  const plain: Uint8Array[] = [];
  const mem = await attemptAsync(() => kw.decryptAttachment(ctx.conv, ct, opts(ctx.aad)));
  codes.push(mem.ok ? 'ok' : mem.error.code);
  if (mem.ok) plain.push(mem.value);
  const ranged = await attemptAsync(async () => {
    const r = await kw.openAttachment(ctx.conv, ct, opts(ctx.aad));
    try {
      return await r.decryptRange(0, r.size);
    } finally {
      r.close();
    }
  });
  codes.push(ranged.ok ? 'ok' : ranged.error.code);
  if (ranged.ok) plain.push(ranged.value);
  const streamed = await openVia(api, kw, ctx.conv, split(ct, cuts), opts(ctx.aad));
  if (!streamed.ok && !/^ERR_/.test(streamed.code)) throw new Error(`a non-KeywardenError escaped the ${api} stream: ${streamed.code}`);
  codes.push(streamed.ok ? 'ok' : streamed.code);
  if (streamed.ok) plain.push(streamed.plaintext);
  return { codes, plain, emitted: streamed.ok ? new Uint8Array(0) : streamed.emitted };
}

describe('fuzz: opening mutated attachments', () => {
  it('never opens a mutant through any API; every failure is ERR_DECRYPT_FAILED; nothing unauthenticated is released', async () => {
    await fc.assert(
      fc.asyncProperty(mutantArb, sampleArb, apiArb, cutsArb, fc.boolean(), async (ct, ctx, api, cuts, portable) => {
        const kw = portable ? chacha : aes; // either instance opens every suite
        const { codes, plain, emitted } = await openEverywhere(kw, ctx, ct, api, cuts);
        const original = genuineIn(ct, ctx);
        if (original !== undefined) {
          // The mutations landed back on a genuine attachment in its own context: it opens, to its own plaintext.
          expect(codes).toEqual(['ok', 'ok', 'ok']);
          for (const p of plain) expect(same(p, original.pt)).toBe(true);
          return;
        }
        expect(codes).toEqual(['ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED']);
        // What a failed stream released is authentic plaintext of some sample in this context (a
        // prefix of whole segments of it), never bytes of a segment that did not authenticate.
        if (emitted.length > 0) {
          const from = samples.filter((s) => s.conv === ctx.conv && same(aadBytes(s.aad), aadBytes(ctx.aad)));
          expect(from.some((s) => same(s.pt.subarray(0, emitted.length), emitted))).toBe(true);
        }
      }),
      params(150, { heavy: true }),
    );
  });

  it('a genuine attachment opens only under its own conversation id and aad; bad ids and aads are ERR_INVALID_INPUT, the rest ERR_DECRYPT_FAILED', async () => {
    const convArb = fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.string({ maxLength: 12 }), fc.constant('x'.repeat(257)), sampleArb.map((s) => s.conv));
    const aadArb = fc.oneof(fc.constant(undefined), fc.constantFrom(...EDGE_STRINGS), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), fc.constant(new Uint8Array(64 * 1024 + 1)), sampleArb.map((s) => s.aad));
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.option(convArb, { nil: undefined }), fc.option(aadArb, { nil: undefined }), async (s, conv0, aad0) => {
        const conv = conv0 ?? s.conv;
        const aad = aad0 ?? s.aad;
        const r = await attemptAsync(() => aes.decryptAttachment(conv, s.ct, opts(aad)));
        if (r.ok) {
          expect(conv).toBe(s.conv);
          expect(same(aadBytes(aad), aadBytes(s.aad))).toBe(true);
          expect(same(r.value, s.pt)).toBe(true);
        } else {
          expect(['ERR_DECRYPT_FAILED', 'ERR_INVALID_INPUT']).toContain(r.error.code);
        }
      }),
      params(200),
    );
  });

  it('a header grafted onto another attachment\'s segments never opens', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, sampleArb, fc.integer({ min: 1, max: ATTACHMENT_HEADER_LENGTH + 20 }), async (a, b, cut) => {
        const ct = concat([a.ct.subarray(0, cut), b.ct.subarray(Math.min(cut, b.ct.length))]);
        for (const ctx of [a, b]) {
          if (genuineIn(ct, ctx) !== undefined) continue;
          const { codes } = await openEverywhere(aes, ctx, ct, 'core', []);
          expect(codes).toEqual(['ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED']);
        }
      }),
      params(100),
    );
  });
});

describe('fuzz: forged headers', () => {
  const headerArb = fc.record({
    first: fc.oneof(fc.constant(0xa1), fc.integer({ min: 0, max: 255 })),
    suite: fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 0, max: 255 })),
    version: fc.oneof(fc.constantFrom(0, 1, 2, 3, 2 ** 32 - 1), fc.nat()),
    sealedAt: fc.nat(),
    segmentSize: fc.oneof(fc.constantFrom(0, 1, 255, 256, 300, 65_536, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    salt: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  });

  it('any header fields over any body (random, or a genuine attachment\'s segments) never open, and never allocate what the header claims', async () => {
    await fc.assert(
      fc.asyncProperty(headerArb, fc.oneof(fc.uint8Array({ maxLength: 700 }), sampleArb.map((s) => s.ct.subarray(ATTACHMENT_HEADER_LENGTH))), sampleArb, apiArb, async (h, body, ctx, api) => {
        const header = encodeAttachmentHeader(h.suite, h.version, h.sealedAt, h.segmentSize, h.salt);
        header[0] = h.first;
        header.set(h.salt, 14);
        const ct = concat([header, body]);
        fc.pre(genuineIn(ct, ctx) === undefined);
        const { codes } = await openEverywhere(aes, ctx, ct, api, [ATTACHMENT_HEADER_LENGTH, 100]);
        expect(codes).toEqual(['ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED']);
      }),
      params(200),
    );
  });
});

describe('fuzz: inspectAttachment', () => {
  it('reads exactly the header of whatever it accepts, refuses the rest with ERR_UNSUPPORTED_FORMAT (a totalSize that is no size: ERR_INVALID_INPUT), and what it refuses decryptAttachment refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutantArb, notBytes, fc.uint8Array({ maxLength: 64 })), fc.option(fc.oneof(fc.nat(), fc.constantFrom(-1, 0.5, NaN, 2 ** 60)), { nil: undefined }), async (ct, size) => {
        const total = size === undefined && ct instanceof Uint8Array ? ct.length : size;
        const r = attempt(() => inspectAttachment(ct as Uint8Array, total));
        if (r.ok) {
          const b = ct as Uint8Array;
          const v = Buffer.from(b.subarray(0, ATTACHMENT_HEADER_LENGTH));
          expect(b[0]).toBe(0xa1);
          expect(r.value.formatVersion).toBe(1);
          expect(r.value.suite).toBe(suiteById(b[1]!)!.name);
          expect(r.value.keyVersion).toBe(v.readUInt32BE(2));
          expect(r.value.keyVersion).toBeGreaterThan(0);
          expect(Date.parse(r.value.sealedAt) / 1000).toBe(v.readUInt32BE(6));
          expect(r.value.segmentSize).toBe(v.readUInt32BE(10));
          if (r.value.plaintextLength !== undefined) {
            const n = Math.max(1, Math.ceil(r.value.plaintextLength / r.value.segmentSize));
            expect(total).toBe(ATTACHMENT_HEADER_LENGTH + r.value.plaintextLength + 16 * n);
          }
          return;
        }
        // A totalSize that is no size at all is bad input, named (the header is looked at first);
        // anything else it cannot read, bytes or not, is ERR_UNSUPPORTED_FORMAT, as inspectCiphertext.
        const badTotal = total !== undefined && !(Number.isSafeInteger(total) && total >= 0);
        expect(r.error.code).toBe(badTotal && ct instanceof Uint8Array ? 'ERR_INVALID_INPUT' : 'ERR_UNSUPPORTED_FORMAT');
        if (ct instanceof Uint8Array && total === ct.length) {
          const d = await attemptAsync(() => aes.decryptAttachment('a:dm:alice:bob', ct));
          expect(d.ok).toBe(false);
        }
      }),
      params(250),
    );
  });
});

describe('fuzz: whatever a caller passes', () => {
  const optionsArb = fc.oneof(
    fc.constant(undefined),
    fc.anything({ maxDepth: 2 }),
    notBytes.map((aad) => ({ aad })),
    fc.constantFrom<unknown>({ signal: 'yes' }, { signal: null }, { aad: 'x', extra: 1 }, { segmentSize: 300 }, JSON.parse('{"__proto__":{"aad":"x"}}'), [], null, 0, 'aad'),
  );
  /** Sources that lie: sizes of any type, reads that return anything, throw, or never match. */
  const sourceArb = fc.oneof(
    notBytes,
    fc.record({ size: fc.oneof(fc.nat(), fc.constantFrom<unknown>(-1, 0.5, NaN, 2 ** 60, '100', null)), read: fc.constant<unknown>(undefined) }),
    fc.tuple(sampleArb, fc.oneof(notBytes, fc.uint8Array({ maxLength: 80 })), fc.integer({ min: -3, max: 3 })).map(([s, junk, delta]) => ({
      size: s.ct.length + delta,
      read: async (o: number, n: number) => (o === 0 ? s.ct.slice(0, n) : junk),
    })),
    sampleArb.map((s) => ({ size: s.ct.length, read: () => Promise.reject(Object.assign(new Error('backend down'), { code: 'ERR_BACKEND_DOWN' })) })),
  );

  it('decryptAttachment and openAttachment throw only KeywardenErrors, never open anything they should not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant('a:dm:alice:bob'), fc.anything({ maxDepth: 1 })), fc.oneof(notBytes, mutantArb), sourceArb, optionsArb, async (conv, ct, source, options) => {
        const r = await attemptAsync(() => aes.decryptAttachment(conv as string, ct as Uint8Array, options as never));
        if (r.ok) expect(samples.some((s) => same(s.ct, ct as Uint8Array))).toBe(true);
        let rejected: unknown;
        try {
          const reader = await aes.openAttachment(conv as string, source as never, options as never);
          reader.close();
        } catch (e) {
          rejected = e;
        }
        // The source's own rejection passes through unchanged (it is the caller's error); anything else is ours.
        if (rejected !== undefined && (rejected as { code?: string }).code !== 'ERR_BACKEND_DOWN') expect(isKeywardenError(rejected), String(rejected)).toBe(true);
      }),
      params(200),
    );
  });

  it('the Web stream takes only bytes: any other chunk errors it with a KeywardenError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(notBytes.filter((x) => x !== null && x !== undefined), fc.uint8Array({ maxLength: 60 })), { minLength: 1, maxLength: 4 }), async (chunks) => {
        const web = await new ReadableStream({
          start(c) {
            for (const x of chunks) c.enqueue(x);
            c.close();
          },
        }).pipeThrough(aes.decryptAttachmentStream('a:dm:alice:bob') as unknown as TransformStream).pipeTo(new WritableStream()).then(() => 'ok', (e: { code?: string }) => e.code);
        expect(web).toMatch(/^ERR_/);
        // (A Node Transform in byte mode refuses non-byte writes itself, before keywarden sees them.)
      }),
      params(100),
    );
  });
});

describe('fuzz: linear time', () => {
  const key = bytesOf(32, 77);
  const suite = suiteById(1)!;
  /** A genuine attachment of n bytes (256-byte segments) under `key`, and one whose last byte is flipped. */
  const make = (n: number) => {
    const header = encodeAttachmentHeader(1, 1, 0, 256, bytesOf(32, 5));
    const out: Uint8Array[] = [];
    const pt = bytesOf(n, 3);
    // The library's encryptor only makes the inputs (its output is checked against the vectors elsewhere).
    const sealer = new AttachmentEncryptor({ aead: nodeSegments, suite, key: Uint8Array.from(key), segmentSize: 256 }, header);
    sealer.update(pt, (c) => out.push(Uint8Array.from(c)));
    sealer.final((c) => out.push(Uint8Array.from(c)));
    const body = concat(out).subarray(ATTACHMENT_HEADER_LENGTH);
    const bad = Uint8Array.from(body);
    bad[bad.length - 1]! ^= 1;
    return { body, bad };
  };
  const open = (body: Uint8Array, chunk: number) => {
    const d = new AttachmentDecryptor({ aead: nodeSegments, suite, key: Uint8Array.from(key), segmentSize: 256 });
    let n = 0;
    return attempt(() => {
      for (let at = 0; at < body.length; at += chunk) d.update(body.subarray(at, at + chunk), (p) => void (n += p.length));
      d.final((p) => void (n += p.length));
      return n;
    });
  };

  it('opening takes time linear in the attachment\'s length, whole or in 1-byte chunks, valid or failing at its end', () => {
    // Measured over at least 10 ms a side: these calls are short, and the machine is shared.
    expectLinear('decryptor (one chunk)', make, (x) => open(x.body, x.body.length), 20_000, { minMs: 10 });
    expectLinear('decryptor (fails at the end)', make, (x) => open(x.bad, x.bad.length), 20_000, { minMs: 10 });
    // Tiny chunks: 1 byte each took ~12 µs a byte at 768 KB against ~1.5 µs at 1.5 KB (an update()
    // and a Buffer per chunk in OpenSSL) until segment-node.ts joined many small pieces.
    expectLinear('decryptor (1-byte chunks)', make, (x) => open(x.body, 1), 1_500, { minMs: 10 });
    expectLinear('decryptor (7-byte chunks, fails at the end)', make, (x) => open(x.bad, 7), 1_500, { minMs: 10 });
  });

});

