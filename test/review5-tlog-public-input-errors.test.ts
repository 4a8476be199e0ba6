/**
 * Outside review 5 (tlog read side): functions of `keywarden/tlog` that did not check their input.
 *
 * - `formatConsistencyRequest(oldSize, proof, checkpointNote)` (the C2SP tlog-witness
 *   add-checkpoint body) checked nothing: `old -1`, `old 1.5`, `old 1e+21`, hashes of 5 bytes and a
 *   non-string note came out as a body no witness accepts, and a proof that is not an array threw
 *   a raw TypeError — where its sibling `formatTlogProof` refuses all of these with
 *   ERR_INVALID_INPUT naming the parameter.
 * - `tileHash(undefined)` (documented: InvalidInputError), `new MerkleTree(null)` and
 *   `new TileTree(read, null)` threw the engine's TypeError.
 *
 * SECURITY.md: "every error a public function throws is a KeywardenError with a stable code".
 *
 * Now: each refuses bad input with ERR_INVALID_INPUT; formatConsistencyRequest returns only
 * bodies of the format (`old <decimal>`, 32-byte base64 hashes, a blank line, the note).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isKeywardenError } from '../src/errors.js';
import * as tlog from '../src/tlog.js';

function outcome(f: () => unknown): { value: unknown } | { code: string } {
  try {
    return { value: f() };
  } catch (err) {
    if (!isKeywardenError(err)) throw new Error(`not a KeywardenError: ${String(err)}`, { cause: err });
    return { code: err.code };
  }
}

const NOTE = 'log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAAAAA=\n';

/** Whether `text` is a tlog-witness add-checkpoint body for `note`. */
function isRequestBody(text: string, note: string): boolean {
  if (!text.endsWith(`\n\n${note}`)) return false;
  const lines = text.slice(0, text.length - note.length - 2).split('\n');
  if (!/^old (0|[1-9][0-9]*)$/.test(lines[0]!) || !Number.isSafeInteger(Number(lines[0]!.slice(4)))) return false;
  return lines.slice(1).every((l) => /^[A-Za-z0-9+/]{43}=$/.test(l) && Buffer.from(l, 'base64').length === 32);
}

describe('keywarden/tlog public functions and bad input', () => {
  it('formatConsistencyRequest: concrete bad arguments are ERR_INVALID_INPUT, not a malformed body', () => {
    const h = new Uint8Array(32);
    const bad: [unknown, unknown, unknown][] = [
      [-1, [h], NOTE], [1.5, [h], NOTE], [1e21, [h], NOTE], [Number.NaN, [], NOTE], ['3', [h], NOTE],
      [1, [new Uint8Array(5)], NOTE], [1, ['x'], NOTE], [1, undefined, NOTE], [1, null, NOTE], [1, 'abc', NOTE],
      [1, [h], undefined], [1, [h], 42],
    ];
    for (const [o, p, n] of bad) expect(outcome(() => tlog.formatConsistencyRequest(o as never, p as never, n as never)), String([o, p, n])).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(tlog.formatConsistencyRequest(3, [h], NOTE)).toBe(`old 3\n${Buffer.from(h).toString('base64')}\n\n${NOTE}`);
  });

  it('formatConsistencyRequest: for all arguments, a body of the format or ERR_INVALID_INPUT', () => {
    const size = fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant(2 ** 53), fc.anything());
    const hash = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 }), fc.anything());
    const proof = fc.oneof(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 4 }), fc.array(hash, { maxLength: 4 }), fc.anything());
    fc.assert(
      fc.property(size, proof, fc.oneof(fc.constant(NOTE), fc.anything()), (o, p, n) => {
        const r = outcome(() => tlog.formatConsistencyRequest(o as never, p as never, n as never));
        if ('code' in r) expect(r.code).toBe('ERR_INVALID_INPUT');
        else expect(isRequestBody(r.value as string, n as string)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('tileHash, MerkleTree and TileTree refuse bad arguments with ERR_INVALID_INPUT', () => {
    expect(outcome(() => tlog.tileHash(undefined as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => tlog.tileHash(null as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => tlog.tileHash('x'.repeat(8192) as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => new tlog.MerkleTree(null as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => new tlog.MerkleTree(5 as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => new tlog.TileTree((async () => undefined) as never, null as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
    expect(outcome(() => new tlog.TileTree(undefined as never))).toEqual({ code: 'ERR_INVALID_INPUT' });
  });
});
