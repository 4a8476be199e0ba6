/**
 * Outside review 4 (core), 2026-12-02: `decryptString` lost a leading U+FEFF.
 *
 * What was wrong: `fromUtf8` (src/util/bytes.ts), which `decryptString` decodes with, was a
 * `TextDecoder` with the default `ignoreBOM: false`, so the decoder consumed a leading byte-order
 * mark: `encryptString(id, '\uFEFFhello')` came back from `decryptString` as `'hello'`. The
 * plaintext authenticated and was intact; the string the caller got was not the one sealed
 * (an edited message, a signature over the text, a length check — all see other text). The same
 * helper let the note/checkpoint parsers read a BOM-prefixed body as if it had none.
 *
 * Now: `fromUtf8` decodes every byte (`ignoreBOM: true`), so `decryptString` returns exactly the
 * string `encryptString` sealed, for every well-formed string, whatever it starts with.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { fromUtf8, utf8 } from '../src/util/bytes.js';

const make = () => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });

describe('decryptString returns the string encryptString sealed (review 4, core)', () => {
  it('keeps a leading U+FEFF', async () => {
    const kw = make();
    const text = '\uFEFFhello';
    const body = await kw.encryptString('dm:alice:bob', text, { aad: 'msg-1' });
    const back = await kw.decryptString('dm:alice:bob', body, { aad: 'msg-1' });
    expect(back).toBe(text);
    expect(back.length).toBe(6);
  });

  it('round-trips every well-formed string, including those starting with one or more BOMs', async () => {
    const kw = make();
    const prefix = fc.constantFrom('', '\uFEFF', '\uFEFF\uFEFF', '\uFEFFa\uFEFF');
    const body = fc.string({ unit: 'grapheme', maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(prefix, body, async (p, s) => {
        const text = p + s;
        const sealed = await kw.encryptString('c', text);
        expect(await kw.decryptString('c', sealed)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('fromUtf8 is the inverse of utf8 (no byte is dropped)', () => {
    fc.assert(
      fc.property(fc.constantFrom('', '\uFEFF'), fc.string({ unit: 'grapheme', maxLength: 40 }), (p, s) => {
        const bytes = utf8(p + s);
        expect(fromUtf8(bytes)).toBe(p + s);
        expect(utf8(fromUtf8(bytes))).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });
});
