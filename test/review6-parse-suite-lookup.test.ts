/**
 * Outside review 6 (parsers): `suiteById` (src/format/suites.ts, exported from the root entry and
 * used by the message and attachment header parsers) was a plain property read `SUITES[id]`.
 *
 * - `suiteById('toString')`, `('constructor')`, `('__proto__')` returned Object.prototype's
 *   members as "suites" (no name, no nonce length), `suiteById('1')` the AES suite, and
 *   `suiteById(Object.create(null))` threw the engine's TypeError.
 * - A polluted `Object.prototype[3]` (prototype pollution anywhere in the application) was taken
 *   for a suite with id 3: `inspectCiphertext` reported a message of suite byte 3 — with the
 *   attacker's name and nonce length — as a well-formed ciphertext, and `inspectAttachment` an
 *   attachment header likewise; the rest of the library refuses options read from the prototype.
 *
 * Now: only the suite ids keywarden defines (own entries of SUITES, looked up by number) are
 * suites; anything else is undefined, never a throw; the header parsers ignore the prototype.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SUITES, inspectAttachment, inspectCiphertext, suiteById } from '../src/index.js';
import { attempt, params } from './support/fuzz.js';

const proto = Object.prototype as unknown as Record<number, unknown>;
afterEach(() => {
  delete proto[3];
});

describe('suiteById', () => {
  it('is a suite only for the ids keywarden defines; undefined for anything else, never a throw', () => {
    expect(suiteById(1)).toBe(SUITES[1]);
    expect(suiteById(2)).toBe(SUITES[2]);
    for (const id of ['toString', 'constructor', '__proto__', 'hasOwnProperty', '1', '2', 1.5, -1, 0, 3, 255, Number.NaN, null, undefined, Object.create(null), {}, [1], Symbol('x'), 1n]) {
      const r = attempt(() => suiteById(id as never));
      expect(r, typeof id === 'string' || typeof id === 'number' ? String(id) : typeof id).toEqual({ ok: true, value: undefined });
    }
    fc.assert(
      fc.property(fc.oneof(fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true }), fc.integer({ min: -10, max: 300 }), fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype))), (id) => {
        const r = attempt(() => suiteById(id as never));
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.value).toBe(id === 1 || id === 2 ? SUITES[id] : undefined);
      }),
      params(500),
    );
  });

  it('a polluted Object.prototype does not add a suite to the header parsers', () => {
    proto[3] = { id: 3, name: 'EVIL', keyLength: 32, nonceLength: 0, tagLength: 16, maxMessagesPerKey: 1 };
    const ct = new Uint8Array(64);
    ct.set([2, 3, 0, 0, 0, 1]);
    expect(attempt(() => inspectCiphertext(ct))).toMatchObject({ ok: false, error: { code: 'ERR_UNSUPPORTED_FORMAT' } });
    const header = new Uint8Array(46);
    header.set([0xa1, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(attempt(() => inspectAttachment(header))).toMatchObject({ ok: false, error: { code: 'ERR_UNSUPPORTED_FORMAT' } });
  });
});
