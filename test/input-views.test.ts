/**
 * What counts as bytes at the public entries, and what a caller's object can do once accepted
 * (found by an outside review, 2026-11-30):
 * - a Uint8Array subclass whose `length` getter calls `encrypt` ran in the middle of a seal,
 *   after the nonce was drawn: the outer message was sealed with the inner one's nonce (AES-GCM
 *   nonce reuse under one key);
 * - a Proxy over a Uint8Array passed the byte check and then threw a raw TypeError;
 * - a DataView or Uint16Array whose `constructor.name` said 'Uint8Array' was taken as bytes;
 * - a subclass reporting `length` 0 got a plaintext past the 64 MiB limit sealed.
 * Bytes are now what the engine says is a Uint8Array (a Buffer, a subclass, another realm's), read
 * through the engine's own accessors, never the object's.
 */
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { Keywarden as PortableKeywarden } from '../src/index.js';
import { outcomeOf } from './support/fixtures.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const nonce = (ct: Uint8Array) => Buffer.from(ct.subarray(10, 22)).toString('hex'); // format v2, AES-256-GCM (docs/FORMAT.md §3)
const builds = [
  ['node', () => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() })],
  ['portable', () => new PortableKeywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() })],
] as const;


describe.each(builds)('caller objects cannot reach into a seal (%s)', (_, make) => {
  it('an aad whose getter calls encrypt does not make two messages share a nonce', async () => {
    const kw = make();
    await kw.encrypt('c', new Uint8Array(1)); // a cached key: later seals are synchronous
    for (const read of [1, 2, 3]) {
      let reads = 0;
      let inner: Promise<Uint8Array> | undefined;
      class Aad extends Uint8Array {
        override get length(): number {
          if (++reads === read) inner = kw.encrypt('c', enc('meet me at noon.'), { aad: 'other' });
          return super.length;
        }
      }
      const outer = await kw.encrypt('c', enc('attack at dawn!!'), { aad: new Aad(enc('msg-1')) });
      const second = await (inner ?? kw.encrypt('c', enc('meet me at noon.'), { aad: 'other' }));
      expect(nonce(outer)).not.toBe(nonce(second));
      expect(dec(await kw.decrypt('c', outer, { aad: 'msg-1' }))).toBe('attack at dawn!!');
      expect(dec(await kw.decrypt('c', second, { aad: 'other' }))).toBe('meet me at noon.');
    }
  });

  it('a plaintext whose getters call encrypt does not either', async () => {
    const kw = make();
    await kw.encrypt('c', new Uint8Array(1));
    const inner: Promise<Uint8Array>[] = [];
    class Pt extends Uint8Array {
      override get length(): number {
        if (inner.length < 3) inner.push(kw.encrypt('c', enc('inner'), { aad: 'i' }));
        return super.length;
      }
      override subarray(a?: number, b?: number): Uint8Array<ArrayBuffer> {
        if (inner.length < 6) inner.push(kw.encrypt('c', enc('inner'), { aad: 'i' }));
        return super.subarray(a, b);
      }
    }
    const outer = await kw.encrypt('c', new Pt(enc('outer message')), { aad: 'o' });
    const all = [outer, ...(await Promise.all(inner))];
    expect(new Set(all.map(nonce)).size).toBe(all.length);
    expect(dec(await kw.decrypt('c', outer, { aad: 'o' }))).toBe('outer message');
  });

  it('a subclass that reports a short length cannot pass the plaintext limit', async () => {
    const kw = make();
    class Short extends Uint8Array {
      override get length(): number {
        return 0;
      }
    }
    expect(await outcomeOf(() => kw.encrypt('c', new Short(64 * 2 ** 20 + 1)))).toBe('ERR_INVALID_INPUT plaintext');
    // And one that reports a long length seals what it holds.
    class Long extends Uint8Array {
      override get length(): number {
        return 1 << 20;
      }
    }
    const ct = await kw.encrypt('c', new Long(enc('short')));
    expect(dec(await kw.decrypt('c', ct))).toBe('short');
  });
});

describe('a plaintext whose buffer is detached or shrunk while its key loads is not sealed short (outside review, 2026-12-01)', () => {
  // encrypt kept a view of the caller's bytes across the key load; a buffer transferred away
  // meanwhile (postMessage with a transfer list) was sealed as an empty message, without an error.
  const make = () => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
  it('encrypt and encryptAttachment refuse it (ERR_INVALID_INPUT, nothing sealed); with a cached key the seal is synchronous', async () => {
    const kw = make();
    const pt = enc('a secret message of 32 bytes....');
    const sealing = kw.encrypt('c', pt); // the first seal: the key is being made
    structuredClone(pt.buffer, { transfer: [pt.buffer] });
    await expect(sealing).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'plaintext' });
    const att = new Uint8Array(100_000).fill(1);
    const other = make();
    const sealingAtt = other.encryptAttachment('c', att);
    structuredClone(att.buffer, { transfer: [att.buffer] });
    await expect(sealingAtt).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'plaintext' });
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(32, { maxByteLength: 64 });
    const shrinking = new Uint8Array(ab).fill(65);
    const third = make();
    const sealingShrunk = third.encrypt('c', shrinking);
    ab.resize(8);
    await expect(sealingShrunk).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'plaintext' });
    // Unchanged bytes are sealed as they are (the control).
    const fine = enc('still here');
    expect(dec(await third.decrypt('c', await third.encrypt('c', fine)))).toBe('still here');
  });
});

describe('a length that lies is not believed at the byte checks (outside review, 2026-12-01)', () => {
  // assertBytes read the object's own `length`: a 16-byte key reporting 32 was taken, and
  // LocalMasterKey then wrapped every data key with AES-128 (a 1-byte audit HMAC key likewise).
  class Claims32 extends Uint8Array {
    override get length(): number {
      return 32;
    }
  }
  it('LocalMasterKey and AuditIdHasher refuse a short key that says it has 32 bytes', async () => {
    const { AuditIdHasher } = await import('../src/audit/entry.js');
    expect(() => new LocalMasterKey(new Claims32(16))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'key', message: expect.stringContaining('got 16') }));
    expect(() => new AuditIdHasher(new Claims32(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'auditKey' }));
    // A genuine 32-byte key in a subclass is fine, and copied by the engine, not the subclass.
    const key = LocalMasterKey.generateKey();
    const sub = new Claims32(key.length);
    sub.set(key);
    const a = new LocalMasterKey(sub);
    const b = new LocalMasterKey(key);
    expect(a.keyId).toBe(b.keyId);
  });
});

describe('only the engine\'s Uint8Arrays are bytes', () => {
  const kw = builds[0][1]();
  const labelled = <T extends object>(v: T): T => Object.defineProperty(v, 'constructor', { value: { name: 'Uint8Array' } });
  const fakes: [string, (b: Uint8Array) => unknown][] = [
    ['Proxy over a Uint8Array', (b) => new Proxy(new Uint8Array(b), {})],
    ['DataView labelled Uint8Array', (b) => labelled(new DataView(Uint8Array.from(b).buffer))],
    ['Uint16Array labelled Uint8Array', (b) => labelled(new Uint16Array(Uint8Array.from(b)))],
    ['Uint8ClampedArray', (b) => new Uint8ClampedArray(b)],
    ['array of numbers', (b) => Array.from(b)],
    ['object with length', (b) => ({ length: b.length, 0: b[0] })],
  ];

  it('fake byte views are refused with ERR_INVALID_INPUT naming the parameter, at every entry', async () => {
    const real = await kw.encrypt('c', new Uint8Array(4), { aad: 'm' });
    const att = await kw.encryptAttachment('c', new Uint8Array(4), { aad: 'a' });
    const entries: [string, (fake: (b: Uint8Array) => unknown) => Promise<unknown>][] = [
      ['plaintext', (f) => kw.encrypt('c', f(new Uint8Array(4)) as Uint8Array)],
      ['options.aad', (f) => kw.encrypt('c', new Uint8Array(4), { aad: f(enc('msg-1')) as Uint8Array })],
      ['ciphertext', (f) => kw.decrypt('c', f(real) as Uint8Array, { aad: 'm' })],
      ['options.aad', (f) => kw.decrypt('c', real, { aad: f(enc('m')) as Uint8Array })],
      ['items[0]', (f) => kw.decryptMany('c', [f(real) as Uint8Array])],
      ['items[0].ciphertext', (f) => kw.decryptMany('c', [{ ciphertext: f(real) as Uint8Array, aad: 'm' }])],
      ['items[0].aad', (f) => kw.decryptMany('c', [{ ciphertext: real, aad: f(enc('m')) as Uint8Array }])],
      ['plaintext', (f) => kw.encryptAttachment('c', f(new Uint8Array(4)) as Uint8Array)],
      ['ciphertext', (f) => kw.decryptAttachment('c', f(att) as Uint8Array, { aad: 'a' })],
      ['header', (f) => kw.createAttachmentDecryptor('c', f(att.subarray(0, 46)) as Uint8Array, { aad: 'a' })],
      ['chunk', (f) => kw.createAttachmentEncryptor('c').then((e) => e.update(f(new Uint8Array(3)) as Uint8Array, () => {}))],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fakes), fc.constantFrom(...entries), async ([, fake], [param, call]) => {
        const got = await outcomeOf(() => call(fake));
        // A fake item is reported as the item, or its offending key (`items[0].0`).
        if (param.startsWith('items[0]')) expect(got).toMatch(/^ERR_INVALID_INPUT items\[0\]/);
        else expect(got).toBe(`ERR_INVALID_INPUT ${param}`);
      }),
      { numRuns: 200 },
    );
  });

  it('a Uint8Array of another realm is bytes at every entry, including inspect', async () => {
    const real = await kw.encrypt('c', enc('hello'), { aad: 'm' });
    const foreign = (b: Uint8Array): Uint8Array => runInNewContext('(a) => new Uint8Array(a)')(Array.from(b));
    expect(foreign(real) instanceof Uint8Array).toBe(false);
    expect(dec(await kw.decrypt('c', foreign(real), { aad: foreign(enc('m')) }))).toBe('hello');
    expect(inspectCiphertext(foreign(real)).keyVersion).toBe(1);
    const ct = await kw.encrypt('c', foreign(enc('from elsewhere')));
    expect(dec(await kw.decrypt('c', ct))).toBe('from elsewhere');
  });
});
