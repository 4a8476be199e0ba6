import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LOCAL_WRAPPED_KEY_LENGTH, LocalMasterKey } from '../src/kms/local.js';
import { encodeContext } from '../src/kms/provider.js';
import { keyContext } from '../src/keys/records.js';
import { InvalidInputError, KmsError } from '../src/errors.js';

const fixedKey = (seed: number) => Uint8Array.from({ length: 32 }, (_, i) => (seed * 37 + i * 11 + 1) & 0xff);

async function rejection(p: Promise<unknown>): Promise<KmsError> {
  try {
    await p;
  } catch (e) {
    return e as KmsError;
  }
  throw new Error('expected a rejection');
}

function ctorError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the constructor to throw');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('LocalMasterKey construction', () => {
  it.each([0, 16, 31, 33, 64])('refuses a %i-byte key (param key)', (n) => {
    const err = ctorError(() => new LocalMasterKey(new Uint8Array(n)));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'key' });
  });

  const notBytes: [string, unknown][] = [
    ['string', 'a'.repeat(32)],
    ['array of numbers', Array.from({ length: 32 }, () => 1)],
    ['ArrayBuffer', new ArrayBuffer(32)],
    ['DataView', new DataView(new ArrayBuffer(32))],
    ['Int8Array', new Int8Array(32)],
    ['Uint16Array', new Uint16Array(16)],
    ['null', null],
    ['undefined', undefined],
    ['number', 32],
  ];
  it.each(notBytes)('refuses a %s (param key)', (_name, key) => {
    const err = ctorError(() => new LocalMasterKey(key as Uint8Array));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'key' });
  });

  it('accepts a 32-byte Buffer and a generated key', () => {
    expect(new LocalMasterKey(Buffer.alloc(32, 7)).keyId).toMatch(/^local:[0-9a-f]{16}$/);
    const k = LocalMasterKey.generateKey();
    expect(k).toBeInstanceOf(Uint8Array);
    expect(k).toHaveLength(32);
    expect(LocalMasterKey.generateKey()).not.toEqual(k);
  });

  it('validates options: unknown option, bad keyId', () => {
    expect(ctorError(() => new LocalMasterKey(fixedKey(1), { keyid: 'x' } as never))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.keyid' });
    for (const keyId of ['', 'x'.repeat(257), 5, null]) {
      expect(ctorError(() => new LocalMasterKey(fixedKey(1), { keyId } as never))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.keyId' });
    }
    expect(new LocalMasterKey(fixedKey(1), { keyId: 'x'.repeat(256) }).keyId).toBe('x'.repeat(256));
  });

  it('default keyId is stable for the same key, differs for different keys, and does not reveal the key', () => {
    const a1 = new LocalMasterKey(fixedKey(1));
    const a2 = new LocalMasterKey(fixedKey(1));
    const b = new LocalMasterKey(fixedKey(2));
    expect(a1.keyId).toBe(a2.keyId);
    expect(a1.keyId).not.toBe(b.keyId);
    expect(a1.keyId).toMatch(/^local:[0-9a-f]{16}$/);
    expect(a1.keyId).not.toContain(hex(fixedKey(1)).slice(0, 16));
    expect(new LocalMasterKey(fixedKey(1), { keyId: 'custom' }).keyId).toBe('custom');
  });

  it('default keyIds of random keys are distinct (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (k1, k2) => {
        fc.pre(hex(k1) !== hex(k2));
        expect(new LocalMasterKey(k1).keyId).not.toBe(new LocalMasterKey(k2).keyId);
        expect(new LocalMasterKey(k1).keyId).toBe(new LocalMasterKey(Uint8Array.from(k1)).keyId);
      }),
    );
  });

  it("copies the key: mutating the caller's buffer afterwards changes nothing", async () => {
    const bytes = fixedKey(3);
    const mk = new LocalMasterKey(bytes);
    const id = mk.keyId;
    const ctx = keyContext('conv', 1);
    const before = await mk.generateDataKey(ctx);
    bytes.fill(0xff);
    expect(mk.keyId).toBe(id);
    expect(await mk.unwrapDataKey(before.wrappedKey, ctx, id)).toEqual(before.plaintextKey);
    const after = await mk.generateDataKey(ctx);
    // Still wrapping under the original key: another instance built from it unwraps.
    expect(await new LocalMasterKey(fixedKey(3)).unwrapDataKey(after.wrappedKey, ctx, id)).toEqual(after.plaintextKey);
  });
});

describe('LocalMasterKey wrapping', () => {
  const mk = new LocalMasterKey(fixedKey(10));
  const ctx = keyContext('conversation-1', 3);

  it('generate/unwrap round trip', async () => {
    const g = await mk.generateDataKey(ctx);
    expect(g.masterKeyId).toBe(mk.keyId);
    expect(g.plaintextKey).toBeInstanceOf(Uint8Array);
    expect(g.plaintextKey).toHaveLength(32);
    expect(g.wrappedKey).toHaveLength(LOCAL_WRAPPED_KEY_LENGTH);
    expect(hex(g.wrappedKey)).not.toContain(hex(g.plaintextKey));
    const unwrapped = await mk.unwrapDataKey(g.wrappedKey, ctx, g.masterKeyId);
    expect(unwrapped).toEqual(g.plaintextKey);
    expect(unwrapped).not.toBe(g.plaintextKey);
    // Unwrapping hands out a fresh buffer each time: wiping one does not affect the next.
    unwrapped.fill(0);
    expect(await mk.unwrapDataKey(g.wrappedKey, ctx, g.masterKeyId)).toEqual(g.plaintextKey);
  });

  it('generates distinct keys and wrappings (property over contexts)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }), async (conv, v) => {
        const c = keyContext(conv, v);
        const g1 = await mk.generateDataKey(c);
        const g2 = await mk.generateDataKey(c);
        expect(g1.plaintextKey).not.toEqual(g2.plaintextKey);
        expect(g1.wrappedKey).not.toEqual(g2.wrappedKey);
        expect(await mk.unwrapDataKey(g1.wrappedKey, c, mk.keyId)).toEqual(g1.plaintextKey);
        expect(await mk.unwrapDataKey(g2.wrappedKey, c, mk.keyId)).toEqual(g2.plaintextKey);
      }),
      { numRuns: 50 },
    );
  });

  const otherContexts: [string, Record<string, string>][] = [
    ['another conversation', keyContext('conversation-2', 3)],
    ['another version', keyContext('conversation-1', 4)],
    ['an extra entry', { ...keyContext('conversation-1', 3), extra: '' }],
    ['a missing entry', (() => {
      const c: Record<string, string> = { ...keyContext('conversation-1', 3) };
      delete c['keywarden:purpose'];
      return c;
    })()],
    ['another purpose', { ...keyContext('conversation-1', 3), 'keywarden:purpose': 'other' }],
    ['an empty context', {}],
  ];
  it.each(otherContexts)('refuses to unwrap under %s (ERR_KMS_INVALID_CIPHERTEXT)', async (_name, other) => {
    const g = await mk.generateDataKey(ctx);
    const err = await rejection(mk.unwrapDataKey(g.wrappedKey, other, mk.keyId));
    expect(err).toBeInstanceOf(KmsError);
    expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    expect(err.retryable).toBe(false);
  });

  it('refuses every single-bit flip of the wrapped key (property)', async () => {
    const g = await mk.generateDataKey(ctx);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: LOCAL_WRAPPED_KEY_LENGTH * 8 - 1 }), async (bit) => {
        const w = Uint8Array.from(g.wrappedKey);
        w[bit >>> 3]! ^= 1 << (bit & 7);
        const err = await rejection(mk.unwrapDataKey(w, ctx, mk.keyId));
        expect(err).toBeInstanceOf(KmsError);
        expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
      }),
      { numRuns: 200 },
    );
  });

  it('refuses truncated, extended, empty and non-byte wrapped keys', async () => {
    const g = await mk.generateDataKey(ctx);
    const variants: unknown[] = [
      g.wrappedKey.subarray(0, LOCAL_WRAPPED_KEY_LENGTH - 1),
      Uint8Array.from([...g.wrappedKey, 0]),
      new Uint8Array(0),
      Array.from(g.wrappedKey),
      hex(g.wrappedKey),
    ];
    for (const w of variants) {
      const err = await rejection(mk.unwrapDataKey(w as Uint8Array, ctx, mk.keyId));
      expect(err).toBeInstanceOf(KmsError);
      expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    }
  });

  it('refuses a masterKeyId other than its own (ERR_KMS_KEY_UNAVAILABLE)', async () => {
    const g = await mk.generateDataKey(ctx);
    for (const id of ['local:0000000000000000', `${mk.keyId} `, mk.keyId.toUpperCase(), '']) {
      const err = await rejection(mk.unwrapDataKey(g.wrappedKey, ctx, id));
      expect(err).toBeInstanceOf(KmsError);
      expect(err.code).toBe('ERR_KMS_KEY_UNAVAILABLE');
    }
  });

  it("two keys with different bytes cannot unwrap each other's wrappings, even under the same keyId", async () => {
    const a = new LocalMasterKey(fixedKey(20), { keyId: 'shared-id' });
    const b = new LocalMasterKey(fixedKey(21), { keyId: 'shared-id' });
    const ga = await a.generateDataKey(ctx);
    const gb = await b.generateDataKey(ctx);
    for (const [who, g] of [[b, ga], [a, gb]] as const) {
      const err = await rejection(who.unwrapDataKey(g.wrappedKey, ctx, 'shared-id'));
      expect(err).toBeInstanceOf(KmsError);
      expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    }
  });

  it('the keyId is bound to the wrapping: same bytes under another keyId do not unwrap', async () => {
    const a = new LocalMasterKey(fixedKey(30), { keyId: 'id-a' });
    const b = new LocalMasterKey(fixedKey(30), { keyId: 'id-b' });
    const g = await a.generateDataKey(ctx);
    const err = await rejection(b.unwrapDataKey(g.wrappedKey, ctx, 'id-b'));
    expect(err.code).toBe('ERR_KMS_INVALID_CIPHERTEXT');
  });

  it('destroy(): every later call fails with ERR_KMS_KEY_UNAVAILABLE', async () => {
    const k = new LocalMasterKey(fixedKey(40));
    const g = await k.generateDataKey(ctx);
    k.destroy();
    const e1 = await rejection(k.generateDataKey(ctx));
    const e2 = await rejection(k.unwrapDataKey(g.wrappedKey, ctx, k.keyId));
    for (const e of [e1, e2]) {
      expect(e).toBeInstanceOf(KmsError);
      expect(e.code).toBe('ERR_KMS_KEY_UNAVAILABLE');
    }
    k.destroy(); // idempotent
    expect((await rejection(k.generateDataKey(ctx))).code).toBe('ERR_KMS_KEY_UNAVAILABLE');
  });

  it('error messages (and causes) never contain the master key or the data key', async () => {
    const masterBytes = fixedKey(50);
    const k = new LocalMasterKey(masterBytes);
    const g = await k.generateDataKey(ctx);
    const flipped = Uint8Array.from(g.wrappedKey);
    flipped[20]! ^= 1;
    const errors: unknown[] = [
      await rejection(k.unwrapDataKey(g.wrappedKey, keyContext('other', 1), k.keyId)),
      await rejection(k.unwrapDataKey(flipped, ctx, k.keyId)),
      await rejection(k.unwrapDataKey(g.wrappedKey.subarray(1), ctx, k.keyId)),
      await rejection(k.unwrapDataKey(g.wrappedKey, ctx, 'someone-else')),
      await rejection(new LocalMasterKey(fixedKey(51), { keyId: k.keyId }).unwrapDataKey(g.wrappedKey, ctx, k.keyId)),
    ];
    k.destroy();
    errors.push(await rejection(k.generateDataKey(ctx)), await rejection(k.unwrapDataKey(g.wrappedKey, ctx, k.keyId)));
    errors.push(ctorError(() => new LocalMasterKey(masterBytes.subarray(0, 31))));
    const secrets = [masterBytes, g.plaintextKey].flatMap((b) => {
      const buf = Buffer.from(b);
      return [buf.toString('hex'), buf.toString('hex').toUpperCase(), buf.toString('base64'), buf.toString('base64url'), buf.toString('hex').slice(0, 16)];
    });
    for (const e of errors) {
      const err = e as Error & { cause?: unknown };
      const texts = [err.message, String(err.cause ?? ''), inspect(err, { depth: 5 })];
      for (const t of texts) for (const s of secrets) expect(t).not.toContain(s);
      // The raw bytes do not appear either (e.g. as a comma-separated list).
      for (const t of texts) expect(t).not.toContain(Array.from(masterBytes.subarray(0, 8)).join(','));
    }
  });
});

describe('encodeContext', () => {
  // Well-formed strings (the only kind keywarden puts in a context), plus a tiny alphabet with
  // separators and length-like characters so that near-collisions are tried often.
  const str = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s.isWellFormed()),
    fc.string({ unit: fc.constantFrom('a', '\u0000', '\u0001', '\u0002', ':', '='), maxLength: 6 }),
  );
  const entriesArb = fc.uniqueArray(fc.tuple(str, str), { maxLength: 6, selector: ([k]) => k });
  const dict = (entries: [string, string][]) => Object.fromEntries(entries) as Record<string, string>;
  const sameDict = (a: [string, string][], b: [string, string][]) => {
    if (a.length !== b.length) return false;
    const m = new Map(a);
    return b.every(([k, v]) => m.has(k) && m.get(k) === v);
  };

  it('distinct dictionaries encode differently (property)', () => {
    fc.assert(
      fc.property(entriesArb, entriesArb, (a, b) => {
        fc.pre(!sameDict(a, b));
        expect(hex(encodeContext(dict(a)))).not.toBe(hex(encodeContext(dict(b))));
      }),
      { numRuns: 2000 },
    );
  });

  it('near-identical dictionaries (one edit) encode differently (property)', () => {
    fc.assert(
      fc.property(
        entriesArb.filter((e) => e.length > 0),
        fc.nat(),
        fc.constantFrom('key', 'value', 'drop', 'moveChar'),
        str,
        (entries, pick, edit, s) => {
          const i = pick % entries.length;
          const other = entries.map(([k, v]) => [k, v] as [string, string]);
          const [k, v] = other[i]!;
          if (edit === 'key') other[i] = [s, v];
          else if (edit === 'value') other[i] = [k, s];
          else if (edit === 'drop') other.splice(i, 1);
          else {
            // Shift one code point (not a UTF-16 unit, which could split a surrogate pair) across the boundary.
            const [first = '', ...rest] = Array.from(v);
            other[i] = [k + first, rest.join('')];
          }
          fc.pre(new Set(other.map(([x]) => x)).size === other.length && !sameDict(entries, other));
          expect(hex(encodeContext(dict(entries)))).not.toBe(hex(encodeContext(dict(other))));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('the order of insertion does not matter (property)', () => {
    fc.assert(
      fc.property(
        entriesArb.chain((e) => fc.tuple(fc.constant(e), fc.shuffledSubarray(e, { minLength: e.length, maxLength: e.length }))),
        ([entries, shuffled]) => {
          expect(encodeContext(dict(shuffled))).toEqual(encodeContext(dict(entries)));
        },
      ),
    );
  });

  it('encodes a known context canonically', () => {
    const enc = encodeContext({ b: 'xy', a: '' });
    expect(Array.from(enc)).toEqual([0, 2, 0, 1, 0x61, 0, 0, 0, 1, 0x62, 0, 2, 0x78, 0x79]);
    expect(Array.from(encodeContext({}))).toEqual([0, 0]);
  });

  it('does not let a lone surrogate collide with U+FFFD', () => {
    // TextEncoder turns a lone surrogate into U+FFFD, so these two distinct contexts would share
    // an encoding (and one's wrapped key would unwrap under the other). Either refusing such
    // strings or encoding them differently satisfies "distinct contexts encode differently".
    const outcome = (c: Record<string, string>) => {
      try {
        return hex(encodeContext(c));
      } catch (e) {
        return `threw:${(e as Error).name}`;
      }
    };
    const lone = outcome({ k: '\uD800' });
    const replacement = outcome({ k: '\uFFFD' });
    expect(replacement.startsWith('threw:')).toBe(false);
    expect(lone).not.toBe(replacement); // a refusal ('threw:...') also differs
  });
});
