/**
 * Fuzzing the entry points that take ciphertexts (issue #11): `decrypt`, `decryptString`,
 * `decryptMany` and `inspectCiphertext`. Mutants start from genuine ciphertexts of both suites,
 * several key versions and several conversations, so that most of them carry a well-formed
 * header and reach the AEAD. Properties:
 *  - a mutated ciphertext never opens: every failure is the one ERR_DECRYPT_FAILED (no oracle),
 *    and nothing but a KeywardenError ever escapes, whatever the caller passes;
 *  - a genuine ciphertext opens only under its own conversation id and aad;
 *  - inspectCiphertext reads exactly the header or throws ERR_UNSUPPORTED_FORMAT, and whatever it
 *    refuses, decrypt refuses too.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext, nobleAead } from '../src/node.js';
import { EDGE_STRINGS, attempt, attemptAsync, mutatedBytes, notBytes, params } from './support/fuzz.js';

interface Sample {
  kw: Keywarden;
  conv: string;
  aad: Uint8Array | string | undefined;
  ct: Uint8Array;
  pt: Uint8Array;
}

const enc = new TextEncoder();
const aadBytes = (a: Uint8Array | string | undefined) => (typeof a === 'string' ? enc.encode(a) : a ?? new Uint8Array(0));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const opts = (aad: Uint8Array | string | undefined) => (aad === undefined ? undefined : { aad });

const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
const keyStore = new MemoryKeyStore();
// Two suites over one store: each conversation's keys carry their suite, so both instances open
// every sample; the portable (noble) AEAD on one of them, native on the other.
const aes = new Keywarden({ masterKey, keyStore, suite: 'AES-256-GCM' });
const xchacha = new Keywarden({ masterKey, keyStore, suite: 'XChaCha20-Poly1305', aead: nobleAead });
const samples: Sample[] = [];

beforeAll(async () => {
  const aads: (Uint8Array | string | undefined)[] = [undefined, 'msg-1', enc.encode('msg-2'), '', 'é😀'];
  for (const [kw, prefix] of [[aes, 'a'], [xchacha, 'x']] as const) {
    for (const conv of [`${prefix}:dm:alice:bob`, `${prefix}:dm:😀`]) {
      for (let version = 1; version <= 2; version++) {
        if (version > 1) await kw.rotate(conv);
        for (const [i, aad] of aads.entries()) {
          const pt = enc.encode(`${conv} v${version} message ${i} `.repeat(i));
          samples.push({ kw, conv, aad, pt, ct: await kw.encrypt(conv, pt, opts(aad)) });
        }
      }
    }
  }
});

// The harness itself must not damage its samples (a Buffer#slice is a view): they still open.
afterAll(async () => {
  for (const s of samples) expect(same(await s.kw.decrypt(s.conv, s.ct, opts(s.aad)), s.pt)).toBe(true);
});

/** A known sample that `ct` is byte for byte (a mutation may land back on one). */
const sampleOf = (ct: Uint8Array) => samples.find((s) => same(s.ct, ct));

const sampleArb = fc.nat().map((i) => samples[i % samples.length]!);
const mutantArb = fc.constant(null).chain(() => mutatedBytes(samples.map((s) => s.ct)));

describe('fuzz: decrypt of mutated ciphertexts', () => {
  it('never opens a mutant; every failure is ERR_DECRYPT_FAILED (decrypt, decryptString, decryptMany)', async () => {
    await fc.assert(
      fc.asyncProperty(mutantArb, sampleArb, fc.boolean(), async (ct, ctx, portable) => {
        const original = sampleOf(ct);
        const kw = portable ? xchacha : aes; // either instance opens every suite
        const r = await attemptAsync(() => kw.decrypt(ctx.conv, ct, opts(ctx.aad)));
        if (original !== undefined && original.conv === ctx.conv && same(aadBytes(original.aad), aadBytes(ctx.aad))) {
          // The mutations landed back on a genuine ciphertext in its own context: it opens, to its own plaintext.
          expect(r.ok && same(r.value, original.pt)).toBe(true);
          return;
        }
        expect(r.ok ? 'opened' : r.error.code).toBe('ERR_DECRYPT_FAILED');
        const s = await attemptAsync(() => kw.decryptString(ctx.conv, ct, opts(ctx.aad)));
        expect(s.ok ? 'opened' : s.error.code).toBe('ERR_DECRYPT_FAILED');
        const page = await kw.decryptMany(ctx.conv, [{ ciphertext: ct, ...(ctx.aad === undefined ? {} : { aad: ctx.aad }) }, ctx.ct]);
        expect(page.map((p) => (p.ok ? 'ok' : p.error.code))).toEqual(['ERR_DECRYPT_FAILED', ctx.aad === undefined || aadBytes(ctx.aad).length === 0 ? 'ok' : 'ERR_DECRYPT_FAILED']);
      }),
      params(200),
    );
  });

  it('a header grafted onto another body (suite, key version, nonce from one sample, the rest from another) never opens', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, sampleArb, fc.integer({ min: 1, max: 30 }), async (a, b, cut) => {
        fc.pre(a !== b);
        const ct = Buffer.concat([a.ct.subarray(0, cut), b.ct.subarray(Math.min(cut, b.ct.length))]);
        fc.pre(sampleOf(ct) === undefined);
        for (const ctx of [a, b]) {
          const r = await attemptAsync(() => aes.decrypt(ctx.conv, ct, opts(ctx.aad)));
          expect(r.ok ? 'opened' : r.error.code).toBe('ERR_DECRYPT_FAILED');
        }
      }),
      params(100),
    );
  });

  it('random bytes behind a well-formed header (any suite byte, any key version) never open', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.integer({ min: 0, max: 255 }), fc.nat(), fc.uint8Array({ maxLength: 120 }), async (ctx, suite, version, body) => {
        const header = Uint8Array.of(1, suite, version >>> 24, (version >>> 16) & 255, (version >>> 8) & 255, version & 255);
        const ct = Buffer.concat([header, body]);
        const r = await attemptAsync(() => aes.decrypt(ctx.conv, ct, opts(ctx.aad)));
        expect(r.ok ? 'opened' : r.error.code).toBe('ERR_DECRYPT_FAILED');
      }),
      params(200),
    );
  });
});

describe('fuzz: a genuine ciphertext in another context', () => {
  const convArb = fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.string({ maxLength: 12 }), fc.constant('x'.repeat(257)), fc.constant('é'.repeat(129)));
  const aadArb = fc.oneof(fc.constant(undefined), fc.constantFrom(...EDGE_STRINGS), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), fc.constant(new Uint8Array(64 * 1024 + 1)));

  it('opens only under its own conversation id and aad bytes; bad ids and aads are ERR_INVALID_INPUT, the rest ERR_DECRYPT_FAILED', async () => {
    await fc.assert(
      fc.asyncProperty(sampleArb, fc.option(convArb, { nil: undefined }), fc.option(aadArb, { nil: undefined }), async (s, conv0, aad0) => {
        const conv = conv0 ?? s.conv;
        const aad = aad0 ?? s.aad;
        const r = await attemptAsync(() => aes.decrypt(conv, s.ct, opts(aad)));
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
});

describe('fuzz: whatever a caller passes', () => {
  const optionsArb = fc.oneof(
    fc.constant(undefined),
    fc.anything({ maxDepth: 2 }),
    notBytes.map((aad) => ({ aad })),
    fc.constantFrom<unknown>({ signal: 'yes' }, { signal: null }, { aad: 'x', extra: 1 }, JSON.parse('{"__proto__":{"aad":"x"}}'), [], null, 0, 'aad'),
  );

  it('decrypt and decryptString throw only KeywardenErrors, never open anything', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant('a:dm:alice:bob'), fc.anything({ maxDepth: 1 })), fc.oneof(notBytes, mutantArb), optionsArb, async (conv, ct, options) => {
        const call = () => aes.decrypt(conv as string, ct as Uint8Array, options as never);
        const r = await attemptAsync(call);
        if (r.ok) expect(sampleOf(ct as Uint8Array)).toBeDefined();
        const s = await attemptAsync(() => aes.decryptString(conv as string, ct as Uint8Array, options as never));
        expect(s.ok).toBe(r.ok);
      }),
      params(200),
    );
  });

  it('decryptMany throws only KeywardenErrors for bad pages, and reports each bad item as ERR_DECRYPT_FAILED', async () => {
    const itemArb = fc.oneof(
      mutantArb,
      notBytes,
      fc.record({ ciphertext: fc.oneof(mutantArb, notBytes), aad: fc.oneof(notBytes, fc.string({ maxLength: 4 })) }, { requiredKeys: ['ciphertext'] }),
      fc.constant(JSON.parse('{"ciphertext":{},"__proto__":{"aad":"x"}}')),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(itemArb, { maxLength: 4 }), notBytes), optionsArb, async (items, options) => {
        const r = await attemptAsync(() => aes.decryptMany('a:dm:alice:bob', items as never, options as never));
        if (!r.ok) return;
        for (const [i, res] of r.value.entries()) {
          const item = (items as unknown[])[i];
          const ct = item instanceof Uint8Array ? item : (item as { ciphertext: Uint8Array }).ciphertext;
          if (res.ok) expect(sampleOf(ct)).toBeDefined();
          else expect(res.error.code).toBe('ERR_DECRYPT_FAILED');
        }
      }),
      params(200),
    );
  });
});

describe('fuzz: inspectCiphertext', () => {
  it('reads exactly the header of whatever it accepts, refuses the rest with ERR_UNSUPPORTED_FORMAT, and what it refuses decrypt refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutantArb, notBytes, fc.uint8Array({ maxLength: 64 })), async (ct) => {
        const r = attempt(() => inspectCiphertext(ct as Uint8Array));
        if (r.ok) {
          const b = ct as Uint8Array;
          const nonce = r.value.suite === 'AES-256-GCM' ? 12 : 24;
          expect([1, 2]).toContain(b[0]); // format v1 (read only) or v2 (docs/FORMAT.md §3)
          const header = b[0] === 2 ? 10 : 6;
          expect(r.value.formatVersion).toBe(b[0]);
          expect(r.value.suite).toBe(b[1] === 1 ? 'AES-256-GCM' : 'XChaCha20-Poly1305');
          expect(r.value.keyVersion).toBe(Buffer.from(b.subarray(2, 6)).readUInt32BE(0));
          expect(r.value.keyVersion).toBeGreaterThan(0);
          if (b[0] === 2) expect(Date.parse(r.value.sealedAt!) / 1000).toBe(Buffer.from(b.subarray(6, 10)).readUInt32BE(0));
          else expect(r.value.sealedAt).toBeUndefined();
          expect(r.value.overhead).toBe(header + nonce + 16);
          expect(b.length).toBeGreaterThanOrEqual(r.value.overhead);
          return;
        }
        expect(r.error.code).toBe('ERR_UNSUPPORTED_FORMAT');
        const d = await attemptAsync(() => aes.decrypt('a:dm:alice:bob', ct as Uint8Array));
        expect(d.ok).toBe(false);
      }),
      params(250),
    );
  });
});
