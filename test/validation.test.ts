// Input validation through the node entry's Keywarden: every bad input is refused with an
// InvalidInputError naming the parameter, before anything reaches the key store or the KMS.
import { describe, expect, it } from 'vitest';
import {
  DecryptionError, type GeneratedDataKey, InvalidInputError, KeyNotFoundError, type KeyStore, Keywarden, type KeywardenOptions,
  LocalMasterKey, type MasterKeyProvider, MemoryKeyStore,
} from '../src/node.js';

/** A LocalMasterKey and a MemoryKeyStore behind wrappers that log every call. */
function harness() {
  const calls: string[] = [];
  const inner = new LocalMasterKey(LocalMasterKey.generateKey());
  const masterKey: MasterKeyProvider = {
    keyId: inner.keyId,
    generateDataKey(context): Promise<GeneratedDataKey> {
      calls.push('kms.generateDataKey');
      return inner.generateDataKey(context);
    },
    unwrapDataKey(w, context, id) {
      calls.push('kms.unwrapDataKey');
      return inner.unwrapDataKey(w, context, id);
    },
  };
  const memory = new MemoryKeyStore();
  const wrap = (s: KeyStore, prefix: string): KeyStore => ({
    getLatest: (c) => (calls.push(`${prefix}.getLatest`), s.getLatest(c)),
    getVersion: (c, v) => (calls.push(`${prefix}.getVersion`), s.getVersion(c, v)),
    listVersions: (c) => (calls.push(`${prefix}.listVersions`), s.listVersions(c)),
    insertFirst: (r) => (calls.push(`${prefix}.insertFirst`), s.insertFirst(r)),
    insertNext: (r, e, o) => (calls.push(`${prefix}.insertNext`), s.insertNext(r, e, o)),
    reserveMessages: (c, v, n, l) => (calls.push(`${prefix}.reserveMessages`), s.reserveMessages(c, v, n, l)),
    shred: (c, t, at) => (calls.push(`${prefix}.shred`), s.shred(c, t, at)),
    transaction: (fn) => (calls.push(`${prefix}.transaction`), s.transaction((tx) => fn(wrap(tx, 'tx')))),
  });
  const keyStore = wrap(memory, 'store');
  const kw = new Keywarden({ masterKey, keyStore });
  return { kw, calls, memory, masterKey, keyStore };
}

/** A well-formed ciphertext from an unrelated instance (for decrypt calls whose other inputs are bad). */
const foreign = await (async () => {
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
  return kw.encrypt('conv', new Uint8Array([1, 2, 3]));
})();

/** Runs `call`, which must return a promise that rejects; returns the rejection. */
async function rejectionOf(call: () => unknown): Promise<unknown> {
  let p: unknown;
  try {
    p = call();
  } catch (e) {
    throw new Error(`expected a rejected promise, but the call threw synchronously: ${String(e)}`, { cause: e });
  }
  expect(p).toBeInstanceOf(Promise);
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to reject');
}

/** `param` may be a RegExp where more than one name is a fair answer. */
function expectInvalid(err: unknown, param: string | RegExp): void {
  expect(err).toBeInstanceOf(InvalidInputError);
  expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', retryable: false });
  const e = err as InvalidInputError;
  if (typeof param === 'string') expect(e.param).toBe(param);
  else expect(e.param).toMatch(param);
  expect(e.message.startsWith(`${e.param}: `)).toBe(true);
}

/** Plain bytes of a Uint8Array or Buffer (the node AEAD returns Buffers). */
const bytes = (b: Uint8Array) => Array.from(b);

type Call = (kw: Keywarden) => unknown;

function refuses(cases: [string, Call, string | RegExp][]) {
  const rows = cases.map(([name, call, param]) => [name, String(param), call, param] as const);
  it.each(rows)('%s → param %s', async (_name, _shown, call, param) => {
    const { kw, calls, memory } = harness();
    expectInvalid(await rejectionOf(() => call(kw)), param);
    expect(calls).toEqual([]);
    expect(memory.size).toBe(0);
    expect(kw.stats().kms).toEqual({ generateDataKey: 0, unwrapDataKey: 0 });
  });
}

const pt = new Uint8Array([1, 2, 3]);
const badIds: [string, unknown][] = [
  ["''", ''],
  ['257 ASCII bytes', 'a'.repeat(257)],
  ["86 '€' (258 bytes)", '€'.repeat(86)],
  ["85 '€' + 'ab' (257 bytes)", `${'€'.repeat(85)}ab`],
  ["65 '😀' (260 bytes)", '😀'.repeat(65)],
  ['a lone surrogate', '\uD800'],
  ['a lone low surrogate inside text', 'ab\uDC00cd'],
  ['a number', 42],
  ['undefined', undefined],
  ['null', null],
  ['an object', { id: 'x' }],
  ['bytes', new Uint8Array([0x61])],
];

describe('conversationId', () => {
  const cases: [string, Call, string | RegExp][] = [];
  for (const [name, id] of badIds) {
    const c = id as string;
    cases.push(
      [`encrypt(${name})`, (kw) => kw.encrypt(c, pt), 'conversationId'],
      [`encryptString(${name})`, (kw) => kw.encryptString(c, 'hi'), 'conversationId'],
      [`decrypt(${name}, well-formed ciphertext)`, (kw) => kw.decrypt(c, foreign), 'conversationId'],
      [`decrypt(${name}, garbage)`, (kw) => kw.decrypt(c, new Uint8Array([9, 9, 9])), 'conversationId'],
      [`decryptMany(${name})`, (kw) => kw.decryptMany(c, [foreign]), 'conversationId'],
      [`rotate(${name})`, (kw) => kw.rotate(c), 'conversationId'],
      [`describeKeys(${name})`, (kw) => kw.describeKeys(c), 'conversationId'],
    );
  }
  refuses(cases);

  it.each([
    ['256 ASCII bytes', 'a'.repeat(256)],
    ["85 '€' + 'a' (256 bytes)", `${'€'.repeat(85)}a`],
    ["64 '😀' (256 bytes)", '😀'.repeat(64)],
    ['1 byte', 'x'],
    ['NUL and separators', '\u0000|:v1'],
  ])('accepts %s and round-trips', async (_name, id) => {
    const { kw, calls } = harness();
    const ct = await kw.encrypt(id, pt, { aad: 'm' });
    expect(bytes(await kw.decrypt(id, ct, { aad: 'm' }))).toEqual(bytes(pt));
    const [r] = await kw.decryptMany(id, [{ ciphertext: ct, aad: 'm' }]);
    expect(r!.ok && bytes(r!.plaintext)).toEqual(bytes(pt));
    expect((await kw.rotate(id)).version).toBe(2);
    expect((await kw.describeKeys(id)).map((k) => [k.conversationId, k.version])).toEqual([[id, 1], [id, 2]]);
    expect(calls).toContain('kms.generateDataKey');
  });
});

describe('plaintext and options', () => {
  refuses([
    ['plaintext string', (kw) => kw.encrypt('c', 'hello' as never), 'plaintext'],
    ['plaintext number', (kw) => kw.encrypt('c', 5 as never), 'plaintext'],
    ['plaintext array', (kw) => kw.encrypt('c', [1, 2, 3] as never), 'plaintext'],
    ['plaintext null', (kw) => kw.encrypt('c', null as never), 'plaintext'],
    ['plaintext undefined', (kw) => kw.encrypt('c', undefined as never), 'plaintext'],
    ['plaintext ArrayBuffer', (kw) => kw.encrypt('c', new ArrayBuffer(3) as never), 'plaintext'],
    ['plaintext DataView', (kw) => kw.encrypt('c', new DataView(new ArrayBuffer(3)) as never), 'plaintext'],
    ['plaintext Int8Array', (kw) => kw.encrypt('c', new Int8Array(3) as never), 'plaintext'],
    ['plaintext Uint8ClampedArray', (kw) => kw.encrypt('c', new Uint8ClampedArray(3) as never), 'plaintext'],
    ['plaintext checked before a bad id', (kw) => kw.encrypt('c', 'x' as never), 'plaintext'],
    ['encrypt options.aad number', (kw) => kw.encrypt('c', pt, { aad: 5 as never }), 'options.aad'],
    ['encrypt options.aad object', (kw) => kw.encrypt('c', pt, { aad: {} as never }), 'options.aad'],
    ['encrypt options.aad null', (kw) => kw.encrypt('c', pt, { aad: null as never }), 'options.aad'],
    ['encrypt options.aad array', (kw) => kw.encrypt('c', pt, { aad: [1] as never }), 'options.aad'],
    ['encrypt unknown option aadd', (kw) => kw.encrypt('c', pt, { aadd: 'x' } as never), 'options.aadd'],
    ['encrypt options not an object', (kw) => kw.encrypt('c', pt, 'aad' as never), 'options'],
    ['encrypt options null', (kw) => kw.encrypt('c', pt, null as never), 'options'],
    ['decrypt options.aad number', (kw) => kw.decrypt('c', foreign, { aad: 5 as never }), 'options.aad'],
    ['decrypt options.aad object', (kw) => kw.decrypt('c', foreign, { aad: {} as never }), 'options.aad'],
    ['decrypt unknown option aadd', (kw) => kw.decrypt('c', foreign, { aadd: 'x' } as never), 'options.aadd'],
    ['decrypt options checked before the header', (kw) => kw.decrypt('c', new Uint8Array(0), { x: 1 } as never), 'options.x'],
  ]);

  it('accepts a Buffer, a subarray view and an empty plaintext', async () => {
    const { kw } = harness();
    const buf = Buffer.from('buffer plaintext');
    expect(Buffer.from(await kw.decrypt('c', await kw.encrypt('c', buf)))).toEqual(buf);
    const big = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(bytes(await kw.decrypt('c', await kw.encrypt('c', big.subarray(2, 5))))).toEqual([2, 3, 4]);
    expect(bytes(await kw.decrypt('c', await kw.encrypt('c', new Uint8Array(0))))).toEqual([]);
    // aad: a string is its UTF-8 bytes; absent and empty are the same.
    const ct = await kw.encrypt('c', pt, { aad: 'é' });
    expect(bytes(await kw.decrypt('c', ct, { aad: new Uint8Array([0xc3, 0xa9]) }))).toEqual(bytes(pt));
    const ct2 = await kw.encrypt('c', pt, { aad: '' });
    expect(bytes(await kw.decrypt('c', ct2))).toEqual(bytes(pt));
    expect(bytes(await kw.decrypt('c', ct2, {}))).toEqual(bytes(pt));
  });
});

describe('decrypt and decryptMany inputs', () => {
  refuses([
    ['decrypt ciphertext string', (kw) => kw.decrypt('c', 'AQE=' as never), 'ciphertext'],
    ['decrypt ciphertext number', (kw) => kw.decrypt('c', 1 as never), 'ciphertext'],
    ['decrypt ciphertext null', (kw) => kw.decrypt('c', null as never), 'ciphertext'],
    ['decrypt ciphertext undefined', (kw) => kw.decrypt('c', undefined as never), 'ciphertext'],
    ['decrypt ciphertext array', (kw) => kw.decrypt('c', Array.from(foreign) as never), 'ciphertext'],
    ['decrypt ciphertext ArrayBuffer', (kw) => kw.decrypt('c', foreign.slice().buffer as never), 'ciphertext'],
    ['decrypt ciphertext DataView', (kw) => kw.decrypt('c', new DataView(foreign.slice().buffer) as never), 'ciphertext'],
    ['decryptString ciphertext string', (kw) => kw.decryptString('c', 'x' as never), 'ciphertext'],
    ['decryptMany items string', (kw) => kw.decryptMany('c', 'items' as never), 'items'],
    ['decryptMany items null', (kw) => kw.decryptMany('c', null as never), 'items'],
    ['decryptMany items undefined', (kw) => kw.decryptMany('c', undefined as never), 'items'],
    ['decryptMany items object', (kw) => kw.decryptMany('c', { 0: foreign, length: 1 } as never), 'items'],
    ['decryptMany items a Uint8Array', (kw) => kw.decryptMany('c', foreign as never), 'items'],
    ['decryptMany items[1] number', (kw) => kw.decryptMany('c', [foreign, 5] as never), 'items[1]'],
    ['decryptMany items[1] string', (kw) => kw.decryptMany('c', [foreign, 'x'] as never), 'items[1]'],
    ['decryptMany items[1] null', (kw) => kw.decryptMany('c', [foreign, null] as never), 'items[1]'],
    ['decryptMany items[1] undefined', (kw) => kw.decryptMany('c', [foreign, undefined] as never), 'items[1]'],
    ['decryptMany items[1] array', (kw) => kw.decryptMany('c', [foreign, [1, 2]] as never), 'items[1]'],
    // An ArrayBuffer is an object without a `ciphertext`: either name is a fair answer.
    ['decryptMany items[0] ArrayBuffer', (kw) => kw.decryptMany('c', [foreign.slice().buffer] as never), /^items\[0\](\.ciphertext)?$/],
    ['decryptMany items[2].ciphertext string', (kw) => kw.decryptMany('c', [foreign, foreign, { ciphertext: 'x' }] as never), 'items[2].ciphertext'],
    ['decryptMany items[1].ciphertext missing', (kw) => kw.decryptMany('c', [foreign, { aad: 'x' }] as never), 'items[1].ciphertext'],
    ['decryptMany items[1].aad number', (kw) => kw.decryptMany('c', [foreign, { ciphertext: foreign, aad: 5 }] as never), 'items[1].aad'],
    ['decryptMany items[1] unknown key', (kw) => kw.decryptMany('c', [foreign, { ciphertext: foreign, add: 'x' }] as never), 'items[1].add'],
  ]);

  it('decryptMany of an empty page resolves to [] without touching store or KMS', async () => {
    const { kw, calls } = harness();
    expect(await kw.decryptMany('c', [])).toEqual([]);
    expect(calls).toEqual([]);
  });
});

describe('describeKeys', () => {
  it('an unknown conversation → ERR_KEY_NOT_FOUND, nothing written, no KMS call', async () => {
    const { kw, calls, memory } = harness();
    const err = await rejectionOf(() => kw.describeKeys('nobody'));
    expect(err).toBeInstanceOf(KeyNotFoundError);
    expect(err).toMatchObject({ code: 'ERR_KEY_NOT_FOUND' });
    expect(calls.filter((c) => !c.endsWith('listVersions') && !c.endsWith('getLatest') && !c.endsWith('getVersion'))).toEqual([]);
    expect(memory.size).toBe(0);
  });
});

describe('constructor', () => {
  const base = () => {
    const { masterKey, keyStore } = harness();
    return { masterKey, keyStore };
  };
  const cases: [string, () => unknown, string | RegExp][] = [
    ['unknown option', () => ({ ...base(), foo: 1 }), 'options.foo'],
    ['misspelt option', () => ({ ...base(), maxMessagePerKey: 10 }), 'options.maxMessagePerKey'],
    ['missing masterKey', () => ({ keyStore: base().keyStore }), 'options.masterKey'],
    ['masterKey not a provider', () => ({ ...base(), masterKey: {} }), 'options.masterKey'],
    ['masterKey raw bytes', () => ({ ...base(), masterKey: LocalMasterKey.generateKey() }), 'options.masterKey'],
    ['masterKey without keyId', () => ({ ...base(), masterKey: { generateDataKey() {}, unwrapDataKey() {} } }), 'options.masterKey'],
    ['missing keyStore', () => ({ masterKey: base().masterKey }), 'options.keyStore'],
    ['keyStore not a store', () => ({ ...base(), keyStore: new Map() }), 'options.keyStore'],
    ['bad suite name', () => ({ ...base(), suite: 'AES-128-GCM' }), 'options.suite'],
    ['suite name wrong case', () => ({ ...base(), suite: 'aes-256-gcm' }), 'options.suite'],
    ['maxMessagesPerKey 0', () => ({ ...base(), maxMessagesPerKey: 0 }), 'options.maxMessagesPerKey'],
    ['maxMessagesPerKey 1.5', () => ({ ...base(), maxMessagesPerKey: 1.5 }), 'options.maxMessagesPerKey'],
    ['maxMessagesPerKey -1', () => ({ ...base(), maxMessagesPerKey: -1 }), 'options.maxMessagesPerKey'],
    ['maxMessagesPerKey string', () => ({ ...base(), maxMessagesPerKey: '10' }), 'options.maxMessagesPerKey'],
    ['maxMessagesPerKey NaN', () => ({ ...base(), maxMessagesPerKey: NaN }), 'options.maxMessagesPerKey'],
    ['reservationSize 0', () => ({ ...base(), reservationSize: 0 }), 'options.reservationSize'],
    ['autoRotate string', () => ({ ...base(), autoRotate: 'yes' }), 'options.autoRotate'],
    ['now not a function', () => ({ ...base(), now: 5 }), 'options.now'],
    ['aead not an AeadImpl', () => ({ ...base(), aead: {} }), 'options.aead'],
    ['cache.maxEntries 0', () => ({ ...base(), cache: { maxEntries: 0 } }), 'options.cache.maxEntries'],
    ['unknown cache option', () => ({ ...base(), cache: { foo: 1 } }), 'options.cache.foo'],
    ['options undefined', () => undefined, 'options'],
    ['options null', () => null, 'options'],
    ['options a string', () => 'options', 'options'],
    // The node entry spreads an object-like argument to add its default aead: an array
    // then reads as an options object without a masterKey.
    ['options an array', () => [], /^options(\.masterKey)?$/],
  ];
  const rows = cases.map(([name, make, param]) => [name, String(param), make, param] as const);
  it.each(rows)('%s → param %s', (_name, _shown, make, param) => {
    let err: unknown;
    try {
      new Keywarden(make() as KeywardenOptions);
    } catch (e) {
      err = e;
    }
    expectInvalid(err, param);
  });

  it('accepts the bounds: maxMessagesPerKey 1, reservationSize 1, both suites', async () => {
    const { masterKey, keyStore } = harness();
    for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305'] as const) {
      const kw = new Keywarden({ masterKey, keyStore, suite, maxMessagesPerKey: 1, reservationSize: 1 });
      expect(kw.implementation).toBe('node');
      const ct = await kw.encrypt(`c-${suite}`, pt);
      expect(bytes(await kw.decrypt(`c-${suite}`, ct))).toEqual(bytes(pt));
    }
  });
});

describe('encryptString', () => {
  it('a non-string text → param text, nothing written (however the error is delivered)', async () => {
    const { kw, calls, memory } = harness();
    let err: unknown;
    try {
      await kw.encryptString('c', 5 as never);
    } catch (e) {
      err = e;
    }
    expectInvalid(err, 'text');
    expect(calls).toEqual([]);
    expect(memory.size).toBe(0);
  });
});

describe('input errors reject (never throw synchronously)', () => {
  // Every public method is async: a caller using .catch() must see input errors there.
  const calls: [string, Call][] = [
    ['encrypt', (kw) => kw.encrypt('', pt)],
    ['encryptString (bad id)', (kw) => kw.encryptString('', 'x')],
    ['encryptString (bad text)', (kw) => kw.encryptString('c', 5 as never)],
    ['decrypt', (kw) => kw.decrypt('c', 'x' as never)],
    ['decryptString', (kw) => kw.decryptString('c', 'x' as never)],
    ['decryptMany', (kw) => kw.decryptMany('c', 'x' as never)],
    ['rotate', (kw) => kw.rotate('')],
    ['describeKeys', (kw) => kw.describeKeys('')],
  ];
  it.each(calls)('%s', async (_name, call) => {
    const { kw } = harness();
    expect(await rejectionOf(() => call(kw))).toBeInstanceOf(InvalidInputError);
  });
});

describe('decryption failures are indistinguishable', () => {
  it('same class, code and message, and no cause, whatever went wrong', async () => {
    const { kw } = harness();
    const ct = await kw.encrypt('A', new TextEncoder().encode('hello world'), { aad: 'm1' });
    await kw.encrypt('B', pt);
    const otherInstance = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const foreignA = await otherInstance.encrypt('A', pt, { aad: 'm1' });
    const notUtf8 = await kw.encrypt('A', new Uint8Array([0xff, 0xfe]));

    const edit = (f: (b: Uint8Array) => void) => {
      const b = Uint8Array.from(ct);
      f(b);
      return b;
    };
    const attempts: [string, () => Promise<unknown>][] = [
      ['wrong tag', () => kw.decrypt('A', edit((b) => (b[b.length - 1]! ^= 1)), { aad: 'm1' })],
      ['flipped body byte', () => kw.decrypt('A', edit((b) => (b[23]! ^= 0x80)), { aad: 'm1' })],
      ['flipped nonce byte', () => kw.decrypt('A', edit((b) => (b[11]! ^= 1)), { aad: 'm1' })],
      ['truncated by one byte', () => kw.decrypt('A', ct.subarray(0, ct.length - 1), { aad: 'm1' })],
      ['truncated below nonce + tag', () => kw.decrypt('A', ct.subarray(0, 10 + 12 + 15), { aad: 'm1' })],
      ['truncated to 5 bytes', () => kw.decrypt('A', ct.subarray(0, 5), { aad: 'm1' })],
      ['extended by one byte', () => kw.decrypt('A', Uint8Array.from([...ct, 0]), { aad: 'm1' })],
      ['wrong conversation (has a key)', () => kw.decrypt('B', ct, { aad: 'm1' })],
      ['wrong conversation (no key)', () => kw.decrypt('nobody', ct, { aad: 'm1' })],
      ['unknown key version', () => kw.decrypt('A', edit((b) => (b[5] = 7)), { aad: 'm1' })],
      ['key version 0', () => kw.decrypt('A', edit((b) => b.fill(0, 2, 6)), { aad: 'm1' })],
      ['largest key version', () => kw.decrypt('A', edit((b) => b.fill(0xff, 2, 6)), { aad: 'm1' })],
      ['unknown suite', () => kw.decrypt('A', edit((b) => (b[1] = 0x7f)), { aad: 'm1' })],
      ['other suite id', () => kw.decrypt('A', Uint8Array.from([2, 2, ...ct.subarray(2), ...new Uint8Array(12)]), { aad: 'm1' })],
      ['unknown format version', () => kw.decrypt('A', edit((b) => (b[0] = 3)), { aad: 'm1' })],
      ['v2 message relabelled v1', () => kw.decrypt('A', edit((b) => (b[0] = 1)), { aad: 'm1' })],
      ['sealing time moved by one second', () => kw.decrypt('A', edit((b) => (b[9]! ^= 1)), { aad: 'm1' })],
      ['sealing time moved by years', () => kw.decrypt('A', edit((b) => (b[6]! ^= 0x10)), { aad: 'm1' })],
      ['wrong aad', () => kw.decrypt('A', ct, { aad: 'm2' })],
      ['missing aad', () => kw.decrypt('A', ct)],
      ['another master key', () => kw.decrypt('A', foreignA, { aad: 'm1' })],
      ['garbage bytes', () => kw.decrypt('A', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff))],
      ['empty ciphertext', () => kw.decrypt('A', new Uint8Array(0))],
      ['decryptString of non-UTF-8', () => kw.decryptString('A', notUtf8)],
    ];
    const errors: [string, unknown][] = [];
    for (const [name, attempt] of attempts) errors.push([name, await rejectionOf(attempt)]);
    const page = await kw.decryptMany('A', [
      edit((b) => (b[b.length - 1]! ^= 1)), new Uint8Array(0), edit((b) => (b[5] = 9)), { ciphertext: ct, aad: 'zz' }, foreignA,
    ]);
    page.forEach((r, i) => {
      expect(r.ok).toBe(false);
      if (!r.ok) errors.push([`decryptMany item ${i}`, r.error]);
    });

    const reference = new DecryptionError();
    for (const [name, err] of errors) {
      const e = err as DecryptionError;
      expect.soft(e, name).toBeInstanceOf(DecryptionError);
      expect.soft({ name, code: e.code, message: e.message, errName: e.name, retryable: e.retryable }).toEqual({
        name, code: 'ERR_DECRYPT_FAILED', message: reference.message, errName: 'DecryptionError', retryable: false,
      });
      expect.soft(Object.hasOwn(e, 'cause'), `${name}: has no cause`).toBe(false);
      expect.soft(e.cause, name).toBeUndefined();
    }
    // Sanity: the untouched message still opens.
    expect(new TextDecoder().decode(await kw.decrypt('A', ct, { aad: 'm1' }))).toBe('hello world');
  });
});
