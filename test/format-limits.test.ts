/**
 * Limits and parsing of wire formats v1 and v2 at their boundaries (found by mutation testing, issue #11):
 * the caller aad limit (bytes and strings, measured in UTF-8), the page of items of decryptMany,
 * the header parser (version, suite, key version, length), the associated-data builder and
 * inspectCiphertext.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { nobleAead } from '../src/aead/noble.js';
import { SUITES, SuiteId, suiteById } from '../src/format/suites.js';
import {
  AadBuilder, FORMAT_V1, FORMAT_V2, HEADER_LENGTH, HEADER_LENGTH_V2, MAX_KEY_VERSION, MAX_SEALED_AT, aadPrefix, aadPrefixV2, headerVersion, parseHeader, writeHeader, writeHeaderV2,
} from '../src/format/wire.js';
import { MAX_AAD_BYTES } from '../src/util/validate.js';

const instance = () => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const pt = new Uint8Array([1, 2, 3]);
const bytes = (b: Uint8Array) => new Uint8Array(b);
/** Hex, for comparing large buffers quickly (toEqual walks them element by element). */
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

async function refusal(p: Promise<unknown>): Promise<{ code: string; param?: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return { code: (e as InvalidInputError).code, param: (e as InvalidInputError).param };
  }
  throw new Error('expected a refusal');
}

describe('caller aad limit (MAX_AAD_BYTES UTF-8 bytes)', () => {
  const kw = instance();

  it('bytes: exactly the limit seals and opens; one more byte is refused naming options.aad', async () => {
    const aad = new Uint8Array(MAX_AAD_BYTES).fill(7);
    const ct = await kw.encrypt('c', pt, { aad });
    expect(bytes(await kw.decrypt('c', ct, { aad }))).toEqual(pt);
    expect(await refusal(kw.encrypt('c', pt, { aad: new Uint8Array(MAX_AAD_BYTES + 1) }))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'options.aad' });
    expect(await refusal(kw.decrypt('c', ct, { aad: new Uint8Array(MAX_AAD_BYTES + 1) }))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'options.aad' });
  });

  it('strings are measured in UTF-8 bytes, not code units: at the limit they seal, one byte over is refused', async () => {
    // [string at the limit, string one byte over] for 1-, 2- and 3-byte characters.
    const cases: [string, string][] = [
      ['a'.repeat(MAX_AAD_BYTES), 'a'.repeat(MAX_AAD_BYTES + 1)],
      ['é'.repeat(MAX_AAD_BYTES / 2), `${'é'.repeat(MAX_AAD_BYTES / 2)}a`],
      [`${'€'.repeat(Math.floor(MAX_AAD_BYTES / 3))}a`, `${'€'.repeat(Math.floor(MAX_AAD_BYTES / 3))}é`],
      ['€'.repeat(Math.floor(MAX_AAD_BYTES / 3)), '€'.repeat(Math.floor(MAX_AAD_BYTES / 3) + 1)],
    ];
    for (const [atLimit, over] of cases) {
      const atBytes = Buffer.byteLength(atLimit, 'utf8');
      expect(atBytes).toBeLessThanOrEqual(MAX_AAD_BYTES);
      expect(Buffer.byteLength(over, 'utf8')).toBeGreaterThan(MAX_AAD_BYTES);
      const ct = await kw.encrypt('c', pt, { aad: atLimit });
      expect(bytes(await kw.decrypt('c', ct, { aad: new TextEncoder().encode(atLimit) }))).toEqual(pt);
      expect(await refusal(kw.encrypt('c', pt, { aad: over }))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'options.aad' });
      expect(await refusal(kw.decryptMany('c', [ct, { ciphertext: ct, aad: over }]))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'items[1].aad' });
    }
  });
});

describe('decryptMany items', () => {
  const kw = instance();

  it('refuses anything but an array, naming items', async () => {
    for (const items of [undefined, null, 'abc', { length: 1, 0: pt }, pt, 5]) {
      expect(await refusal(kw.decryptMany('c', items as never))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'items' });
    }
  });

  it('names the unknown key of an item, also next to a valid aad', async () => {
    const ct = await kw.encrypt('c', pt, { aad: 'x' });
    expect(await refusal(kw.decryptMany('c', [{ ciphertext: ct, aad: 'x', extra: 1 }] as never))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'items[0].extra' });
    expect(await refusal(kw.decryptMany('c', [ct, { aad: 'x', ciphertext: ct, extra: 1 }] as never))).toEqual({ code: 'ERR_INVALID_INPUT', param: 'items[1].extra' });
    const results = await kw.decryptMany('c', [{ ciphertext: ct, aad: 'x' }, { aad: 'x', ciphertext: ct }, { ciphertext: ct }]);
    expect(results.map((r) => r.ok)).toEqual([true, true, false]);
  });
});

describe('header parsing', () => {
  const header = (suiteId: number, keyVersion: number, total: number) => {
    const b = new Uint8Array(total);
    writeHeader(b, suiteId, keyVersion);
    return b;
  };
  const headerV2 = (suiteId: number, keyVersion: number, sealedAt: number, total: number) => {
    const b = new Uint8Array(total);
    writeHeaderV2(b, suiteId, keyVersion, sealedAt);
    return b;
  };
  const VERSIONS = [1, 2, 0xff, 0x100, 0x1_0000, 0x100_0000, 0x7fff_ffff, 0x8000_0000, MAX_KEY_VERSION];
  const TIMES = [0, 1, 0xff, 0x100, 0x1_0000, 0x100_0000, 0x7fff_ffff, 0x8000_0000, MAX_SEALED_AT];

  it('writeHeader writes the version, the suite and the key version big-endian', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2), fc.integer({ min: 1, max: MAX_KEY_VERSION }), (suiteId, v) => {
        const b = header(suiteId, v, HEADER_LENGTH);
        expect([...b]).toEqual([FORMAT_V1, suiteId, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
        expect(new DataView(b.buffer).getUint32(2)).toBe(v);
      }),
      { verbose: true },
    );
  });

  it('writeHeaderV2 writes the version, the suite, the key version and the sealing time big-endian (FORMAT.md §2)', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2), fc.integer({ min: 1, max: MAX_KEY_VERSION }), fc.integer({ min: 0, max: MAX_SEALED_AT }), (suiteId, v, t) => {
        const b = headerV2(suiteId, v, t, HEADER_LENGTH_V2);
        const dv = new DataView(b.buffer);
        expect([b[0], b[1]]).toEqual([FORMAT_V2, suiteId]);
        expect([dv.getUint32(2), dv.getUint32(6)]).toEqual([v, t]);
      }),
      { verbose: true },
    );
  });

  it('parseHeader accepts exactly the shortest message of each suite (header, nonce, tag) and reads every key version', () => {
    for (const suite of Object.values(SUITES)) {
      const min = HEADER_LENGTH + suite.nonceLength + suite.tagLength;
      for (const v of VERSIONS) {
        const h = parseHeader(header(suite.id, v, min));
        expect(h).toStrictEqual({ formatVersion: 1, suite, keyVersion: v, sealedAt: undefined, headerLength: HEADER_LENGTH, bodyOffset: HEADER_LENGTH + suite.nonceLength });
        expect(inspectCiphertext(header(suite.id, v, min + 5))).toStrictEqual({ formatVersion: 1, suite: suite.name, keyVersion: v, overhead: min });
      }
      expect(parseHeader(header(suite.id, 1, min - 1))).toBeUndefined();
      expect(() => inspectCiphertext(header(suite.id, 1, min - 1))).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
  });

  it('v2: parseHeader accepts exactly the shortest message of each suite and reads every key version and sealing time', () => {
    for (const suite of Object.values(SUITES)) {
      const min = HEADER_LENGTH_V2 + suite.nonceLength + suite.tagLength;
      for (const v of VERSIONS) {
        for (const t of TIMES) {
          const h = parseHeader(headerV2(suite.id, v, t, min));
          expect(h).toStrictEqual({ formatVersion: 2, suite, keyVersion: v, sealedAt: t, headerLength: HEADER_LENGTH_V2, bodyOffset: HEADER_LENGTH_V2 + suite.nonceLength });
          expect(inspectCiphertext(headerV2(suite.id, v, t, min + 5))).toStrictEqual({
            formatVersion: 2, suite: suite.name, keyVersion: v, sealedAt: new Date(t * 1000).toISOString(), overhead: min,
          });
        }
      }
      expect(parseHeader(headerV2(suite.id, 1, 5, min - 1))).toBeUndefined();
      expect(() => inspectCiphertext(headerV2(suite.id, 1, 5, min - 1))).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
    expect(inspectCiphertext(headerV2(1, 1, MAX_SEALED_AT, 100)).sealedAt).toBe('2106-02-07T06:28:15.000Z');
  });

  it('headerVersion agrees with parseHeader on any bytes (0 exactly where parseHeader refuses)', () => {
    const near = fc.tuple(fc.constantFrom(0, 1, 2, 3), fc.constantFrom(0, 1, 2, 3, 99), fc.uint8Array({ maxLength: 60 })).map(([f, s, rest]) => new Uint8Array([f, s, ...rest]));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), near), (b) => {
        expect(headerVersion(b)).toBe(parseHeader(b)?.keyVersion ?? 0);
      }),
      { verbose: true, numRuns: 2000 },
    );
  });

  it('parseHeader refuses key version 0, an unknown suite, another format version and anything shorter than a header', () => {
    const long = 100;
    expect(parseHeader(header(1, 0, long))).toBeUndefined();
    expect(parseHeader(headerV2(1, 0, 7, long))).toBeUndefined();
    for (const suiteId of [0, 3, 0xff]) {
      expect(parseHeader(header(suiteId, 1, long))).toBeUndefined();
      expect(parseHeader(headerV2(suiteId, 1, 7, long))).toBeUndefined();
    }
    for (const version of [0, 3, 0xff]) {
      const b = header(1, 1, long);
      b[0] = version;
      expect(parseHeader(b)).toBeUndefined();
      expect(() => inspectCiphertext(b)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
    for (let n = 0; n < HEADER_LENGTH; n++) {
      expect(parseHeader(header(1, 1, long).subarray(0, n))).toBeUndefined();
      expect(() => inspectCiphertext(header(1, 1, long).subarray(0, n))).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
    for (let n = 0; n < HEADER_LENGTH_V2; n++) {
      expect(parseHeader(headerV2(1, 1, 7, long).subarray(0, n))).toBeUndefined();
      expect(() => inspectCiphertext(headerV2(1, 1, 7, long).subarray(0, n))).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
    expect(() => inspectCiphertext('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    // Only a Uint8Array (or a Buffer) is a ciphertext, not an array-like with the same bytes.
    const valid = header(1, 7, long);
    expect(inspectCiphertext(Buffer.from(valid)).keyVersion).toBe(7);
    for (const like of [Array.from(valid), new Uint16Array(valid), { ...valid, length: valid.length }]) {
      expect(() => inspectCiphertext(like as never)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
    }
  });
});

describe('associated data', () => {
  /** docs/FORMAT.md §4, written out independently. */
  const reference = (suiteId: number, v: number, id: string, aad: Uint8Array | string) => {
    const idBytes = Buffer.from(id, 'utf8');
    const aadBytes = typeof aad === 'string' ? Buffer.from(aad, 'utf8') : Buffer.from(aad);
    const out = Buffer.alloc(8);
    out[0] = 1;
    out[1] = suiteId;
    out.writeUInt32BE(v, 2);
    out.writeUInt16BE(idBytes.length, 6);
    return new Uint8Array(Buffer.concat([out, idBytes, aadBytes]));
  };
  const idArb = fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '\u0000'), minLength: 1, maxLength: 64 }).filter((s) => Buffer.byteLength(s) <= 256);
  const aadArb = fc.oneof(
    fc.uint8Array({ maxLength: 700 }),
    fc.string({ unit: fc.constantFrom('x', 'é', '€'), maxLength: 300 }),
    // ASCII message ids around the 64-character JS copy path, and ASCII with a late non-ASCII unit.
    fc.string({ unit: fc.constantFrom('m', 's', 'g', ':', '0', '\u007f', '\u0000'), maxLength: 80 }),
    fc.tuple(fc.string({ unit: fc.constantFrom('a', '1'), minLength: 1, maxLength: 70 }), fc.constantFrom('\u0080', 'é', '😀')).map(([a, b]) => a + b),
  );

  it('AadBuilder and aadPrefix build version | suite | key version | len(id) | id | aad, for any sequence of calls', () => {
    const builder = new AadBuilder(MAX_AAD_BYTES);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(1, 2), fc.integer({ min: 1, max: MAX_KEY_VERSION }), idArb, aadArb), { minLength: 1, maxLength: 8 }), (calls) => {
        for (const [suiteId, v, id, aad] of calls) {
          const want = reference(suiteId, v, id, aad);
          expect(hex(builder.build(suiteId, v, id, aad))).toBe(hex(want));
          const prefix = aadPrefix(suiteId, v, new TextEncoder().encode(id));
          expect(hex(prefix)).toBe(hex(want.subarray(0, prefix.length)));
        }
      }),
      { verbose: true },
    );
  });

  /** The same for v2: the header carries the sealing time (FORMAT.md §2, §4). */
  const referenceV2 = (suiteId: number, v: number, t: number, id: string, aad: Uint8Array | string) => {
    const v1 = reference(suiteId, v, id, aad);
    const out = Buffer.alloc(v1.length + 4);
    out[0] = 2;
    out[1] = suiteId;
    out.writeUInt32BE(v, 2);
    out.writeUInt32BE(t, 6);
    out.set(v1.subarray(6), 10);
    return new Uint8Array(out);
  };

  it('v2: buildV2, aadPrefixV2 and forHeader build version | suite | key version | sealed at | len(id) | id | aad, interleaved with v1', () => {
    const builder = new AadBuilder(MAX_AAD_BYTES);
    const timeArb = fc.integer({ min: 0, max: MAX_SEALED_AT });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.constantFrom(1, 2), fc.integer({ min: 1, max: MAX_KEY_VERSION }), timeArb, idArb, aadArb), { minLength: 1, maxLength: 8 }), (calls) => {
        for (const [v2, suiteId, v, t, id, aad] of calls) {
          const suite = suiteById(suiteId)!;
          if (v2) {
            const want = referenceV2(suiteId, v, t, id, aad);
            expect(hex(builder.buildV2(suiteId, v, t, id, aad))).toBe(hex(want));
            const h = { formatVersion: 2, suite, keyVersion: v, sealedAt: t, headerLength: HEADER_LENGTH_V2, bodyOffset: 0 };
            expect(hex(builder.forHeader(h, id, aad))).toBe(hex(want));
            const prefix = aadPrefixV2(suiteId, v, t, new TextEncoder().encode(id));
            expect(hex(prefix)).toBe(hex(want.subarray(0, prefix.length)));
            expect(prefix.length).toBe(HEADER_LENGTH_V2 + 2 + Buffer.byteLength(id));
          } else {
            const want = reference(suiteId, v, id, aad);
            const h = { formatVersion: 1, suite, keyVersion: v, sealedAt: undefined, headerLength: HEADER_LENGTH, bodyOffset: 0 };
            expect(hex(builder.forHeader(h, id, aad))).toBe(hex(want));
          }
        }
      }),
      { verbose: true },
    );
  });

  it('a builder sized for a small aad still takes ids of up to 256 UTF-8 bytes', () => {
    for (const maxAad of [0, 16]) {
      const builder = new AadBuilder(maxAad);
      fc.assert(
        fc.property(fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀'), minLength: 1, maxLength: 256 }).filter((s) => Buffer.byteLength(s) <= 256), fc.uint8Array({ maxLength: maxAad }), (id, aad) => {
          expect(hex(builder.build(1, 9, id, aad))).toBe(hex(reference(1, 9, id, aad)));
        }),
        { verbose: true, numRuns: 50, examples: [['€'.repeat(85) + 'a', new Uint8Array(maxAad).fill(1)]] },
      );
    }
  });

  it('an id of 256 UTF-8 bytes and an aad of the whole limit fit', () => {
    const builder = new AadBuilder(MAX_AAD_BYTES);
    const id = '€'.repeat(85) + 'a';
    const aad = 'é'.repeat(MAX_AAD_BYTES / 2);
    expect(hex(builder.build(2, MAX_KEY_VERSION, id, aad))).toBe(hex(reference(2, MAX_KEY_VERSION, id, aad)));
    const aadBytes = new Uint8Array(MAX_AAD_BYTES).fill(0xaa);
    expect(hex(builder.build(1, 7, id, aadBytes))).toBe(hex(reference(1, 7, id, aadBytes)));
  });

  it('a sealed message opens only with the associated data its header names (both implementations agree)', () => {
    const key = new Uint8Array(32).fill(3);
    const builder = new AadBuilder(64);
    const nonce = new Uint8Array(24).fill(9);
    const ad = builder.build(SuiteId.XCHACHA20_POLY1305, 5, 'id', 'm').slice();
    const sealed = nobleAead.seal(SuiteId.XCHACHA20_POLY1305, key, nonce, pt, ad);
    expect(nobleAead.open(SuiteId.XCHACHA20_POLY1305, key, nonce, sealed, reference(2, 5, 'id', 'm'))).toEqual(pt);
    expect(nobleAead.open(SuiteId.XCHACHA20_POLY1305, key, nonce, sealed, reference(2, 6, 'id', 'm'))).toBeNull();
  });
});
