/**
 * Review 5 (random access): an AttachmentSource whose `read` returns its bytes directly instead of
 * a promise works without a signal and fails with a raw `TypeError: p.catch is not a function`
 * as soon as a `signal` is passed (openAttachment, decryptRange); a `read` that returns something
 * that is not bytes fails with ERR_DECRYPT_FAILED without a signal and with that TypeError with one.
 *
 * Where: src/stream/reader.ts readExactly — `raceAbort(src.read(...), signal)` calls `.catch` on
 * whatever `read` returned (src/util/deadline.ts), which only a promise has. The contract
 * (reader.ts: "a source that returns anything else fails like a bad ciphertext") and SECURITY.md
 * (every error a public function throws is a KeywardenError; only a rejecting `read` passes its
 * own error through) say otherwise.
 *
 * Now: what `read` returns is taken as a promise of it (`Promise.resolve`), so a value works the
 * same with or without a signal, and anything but the bytes asked for is ERR_DECRYPT_FAILED.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const CONV = 'dm:alice:bob';

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code?: unknown }).code ?? String(err);
  }
}

describe('a source whose read returns a value, not a promise', () => {
  it('opens and reads the same with or without a signal', async () => {
    const pt = new Uint8Array(3000).map((_, i) => i & 0xff);
    const stored = await kw.encryptAttachment(CONV, pt, { aad: 'a', segmentSize: 256 });
    const source = { size: stored.length, read: (o: number, n: number) => stored.subarray(o, o + n) } as never;
    const signal = new AbortController().signal;
    for (const options of [{ aad: 'a' }, { aad: 'a', signal }]) {
      const reader = await kw.openAttachment(CONV, source, options); // was: TypeError with the signal
      expect(Buffer.from(await reader.decryptRange(700, 900, { signal })).equals(Buffer.from(pt.subarray(700, 1600)))).toBe(true);
      reader.close();
    }
  });

  it('anything but bytes fails like a bad ciphertext, with or without a signal', async () => {
    const stored = await kw.encryptAttachment(CONV, new Uint8Array(10), { aad: 'a' });
    const signal = new AbortController().signal;
    for (const value of [null, 42, 'bytes', { length: 46 }]) {
      const source = { size: stored.length, read: () => value } as never;
      expect(await outcome(kw.openAttachment(CONV, source, { aad: 'a' }))).toBe('ERR_DECRYPT_FAILED');
      expect(await outcome(kw.openAttachment(CONV, source, { aad: 'a', signal }))).toBe('ERR_DECRYPT_FAILED'); // was: TypeError
    }
  });
});
