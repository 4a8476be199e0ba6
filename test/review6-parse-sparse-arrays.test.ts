/**
 * Outside review 6 (parsers): arrays with holes got past validation that used `forEach`/`every`
 * (which skip holes) and then reached code that reads every index (`for … of`, which does not).
 *
 * - `ciphertextsDigest([, ct])` (src/audit/entry.ts, exported by `keywarden/audit`): the check
 *   skipped the hole, the hashing loop read it: the raw TypeError of the digest code
 *   ("expected Uint8Array, got type=undefined"), not a KeywardenError.
 * - `formatCheckpoint` / `signCheckpoint` with `extensions: [, 'x']` (src/audit/checkpoint.ts):
 *   the check skipped the hole and the body got an extension line `undefined` — a checkpoint the
 *   caller never wrote, signed by the log key.
 *
 * Now: a hole is refused like any other bad element (ERR_INVALID_INPUT naming the index,
 * ERR_CHECKPOINT_MALFORMED); whatever the array, the functions return a value or throw a
 * KeywardenError, and a checkpoint carries exactly the extension lines given.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ciphertextsDigest } from '../src/audit/entry.js';
import { formatCheckpoint, parseCheckpoint, signCheckpoint } from '../src/audit/checkpoint.js';
import { generateNoteKey, newNoteSigner, parseNote } from '../src/audit/note.js';
import { attempt, params } from './support/fuzz.js';

const ROOT = new Uint8Array(32).fill(7);

/** An array of `values` with holes at some indices (and sometimes extra length). */
function withHoles<T>(values: fc.Arbitrary<T>): fc.Arbitrary<T[]> {
  return fc.tuple(fc.array(fc.option(values, { nil: undefined, freq: 3 }), { maxLength: 6 }), fc.nat({ max: 2 })).map(([items, extra]) => {
    const out: T[] = [];
    items.forEach((v, i) => {
      if (v !== undefined) out[i] = v;
    });
    out.length = items.length + extra; // trailing holes too
    return out;
  });
}

describe('arrays with holes', () => {
  it('ciphertextsDigest: a hole is ERR_INVALID_INPUT naming its index, never a raw TypeError', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
    const r = attempt(() => ciphertextsDigest([, new Uint8Array(3)] as unknown as Uint8Array[]));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('ERR_INVALID_INPUT');
      expect(r.error.message).toMatch(/^ciphertexts\[0\]/);
    }
    fc.assert(
      fc.property(withHoles(fc.uint8Array({ maxLength: 8 })), (cts) => {
        const holes = cts.length !== Object.keys(cts).length;
        const d = attempt(() => ciphertextsDigest(cts));
        if (holes) expect(d.ok ? 'accepted' : d.error.code).toBe('ERR_INVALID_INPUT');
        else expect(d.ok).toBe(true);
      }),
      params(300),
    );
  });

  it('formatCheckpoint and signCheckpoint: a hole in extensions is ERR_CHECKPOINT_MALFORMED, not an "undefined" line', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
    const r = attempt(() => formatCheckpoint({ origin: 'log.example', size: 1, rootHash: ROOT, extensions: [, 'x'] as unknown as string[] }));
    expect(r.ok ? JSON.stringify(r.value) : r.error.code).toBe('ERR_CHECKPOINT_MALFORMED');
    const signer = newNoteSigner(generateNoteKey('log.example', new Uint8Array(32).fill(1)).signerKey);
    fc.assert(
      fc.property(withHoles(fc.constantFrom('x', 'ext 1', '\u00e9', 'undefined')), (extensions) => {
        const c = { origin: 'log.example', size: 3, rootHash: ROOT, extensions };
        const holes = extensions.length !== Object.keys(extensions).length;
        for (const f of [() => formatCheckpoint(c), () => parseNote(signCheckpoint(c, signer)).text]) {
          const out = attempt(f);
          if (holes) {
            expect(out.ok ? JSON.stringify(out.value) : out.error.code).toBe('ERR_CHECKPOINT_MALFORMED');
          } else {
            expect(out.ok).toBe(true);
            if (out.ok) expect(parseCheckpoint(out.value).extensions).toEqual(extensions); // exactly the lines given
          }
        }
      }),
      params(300),
    );
  });
});
