/** Shared test fixtures: instances on embedded defaults and arbitraries for ids and bytes. */
import fc from 'fast-check';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError, nobleAead, type KeyStore, type KeywardenOptions } from '../../src/node.js';
import { nodeAead } from '../../src/aead/node.js';

/** Two instances over one store and master key: one native, one portable (noble). */
export function pair(extra: Partial<KeywardenOptions> = {}) {
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const node = new Keywarden({ masterKey, keyStore, aead: nodeAead, ...extra });
  const noble = new Keywarden({ masterKey, keyStore, aead: nobleAead, ...extra });
  return { masterKey, keyStore, node, noble };
}

const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8');

/** Valid conversation ids: well-formed Unicode, 1..256 UTF-8 bytes (any code points, NUL included). */
export const conversationIdArb = fc
  .oneof(
    fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', '|', ':', 'v', '1', 'é', '€', '😀'), minLength: 1, maxLength: 80 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
  )
  .filter((s) => utf8Len(s) <= 256 && s.isWellFormed());

/** Plaintexts: mostly small, sometimes empty, rarely up to 1 MiB (generated from a seed for speed). */
export const plaintextArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  {
    weight: 1,
    arbitrary: fc.record({ len: fc.integer({ min: 2049, max: 1 << 20 }), seed: fc.integer() }).map(({ len, seed }) => {
      const b = new Uint8Array(len);
      let x = seed | 1;
      for (let i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        b[i] = x & 0xff;
      }
      return b;
    }),
  },
);

/** Caller aad: absent, empty, bytes or a string. */
export const aadArb = fc.oneof(fc.constant(undefined), fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 32 }));

export function errorCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? String(e),
  );
}

/**
 * What a call does, as a string a test can compare: 'ok', `${code} ${param}` for a KeywardenError
 * (the param when it names one), or 'not a KeywardenError: …' for anything else.
 */
export async function outcomeOf(call: () => unknown): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    if (!isKeywardenError(err)) return `not a KeywardenError: ${String(err)}`;
    return `${err.code} ${(err as { param?: string }).param ?? ''}`.trim();
  }
}

/** A KeyStore that forwards to `inner` except for the methods in `overrides`. */
export function wrapStore(inner: KeyStore, overrides: Partial<KeyStore>): KeyStore {
  const forward: KeyStore = {
    getLatest: (c) => inner.getLatest(c),
    getVersion: (c, v) => inner.getVersion(c, v),
    listVersions: (c) => inner.listVersions(c),
    insertFirst: (r) => inner.insertFirst(r),
    insertNext: (r, e, o) => inner.insertNext(r, e, o),
    reserveMessages: (c, v, n, l) => inner.reserveMessages(c, v, n, l),
    shred: (c, t, at) => inner.shred(c, t, at),
    transaction: (fn) => inner.transaction(fn),
  };
  return { ...forward, ...overrides };
}
