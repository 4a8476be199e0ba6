/**
 * Review 5 (attachments): a caller's buffer detached (transferred to a worker, `structuredClone`
 * with `transfer`) while an attachment call waits for its conversation key makes the call fail
 * with a raw `TypeError` ("Cannot perform %TypedArray%.prototype.set / Construct on a detached
 * ArrayBuffer") instead of a KeywardenError.
 *
 * Where: src/stream/attachments.ts — `encryptor` and `#openingParams` keep views of the caller's
 * aad and header (util/validate.ts ownBytes/plainBytes) across the key wait and derive the
 * attachment key from them afterwards (derive.ts `out.set(aad)`); `decrypt` feeds
 * `ct.subarray(46)` of the caller's ciphertext after the wait; src/stream/reader.ts
 * `memorySource.read` calls `subarray` on the caller's bytes at every range. The message API
 * handles the same case (src/keywarden.ts #encryptSlow: "a buffer transferred away or shrunk while
 * the key loaded"): `encrypt` throws ERR_INVALID_INPUT naming `options.aad`, `decrypt` fails with
 * ERR_DECRYPT_FAILED. SECURITY.md: every error a public function throws is a KeywardenError with
 * a stable code.
 *
 * encryptFile was worse: it validates its options, opens the source file, then hands the same
 * options to createAttachmentEncryptor, whose check reads a detached aad as empty (ownBytes) — so
 * the file was sealed, without a word, with no aad at all, and opens without the attachment id.
 *
 * createDecryptStream likewise checks its options when made and reads them again when the header
 * has arrived: an aad detached in between was taken as no aad, and an attachment sealed with no
 * aad opened although the caller asked for one.
 *
 * Now: sealing refuses an aad that changed size during the wait (ERR_INVALID_INPUT,
 * `options.aad`, nothing sealed), as `encrypt` does; opening copies the 46-byte header when
 * called, and a ciphertext, aad or in-memory source detached meanwhile fails with
 * ERR_DECRYPT_FAILED, as `decrypt` does.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, encryptFile } from '../src/stream/node.js';

const CONV = 'dm:alice:bob';
const detach = (b: Uint8Array): void => void structuredClone(b.buffer, { transfer: [b.buffer as ArrayBuffer] });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A Buffer copy with a backing store of its own (Buffer.from would put a small one in node's shared pool). */
const unpooled = (b: Uint8Array): Buffer => {
  const out = Buffer.alloc(b.length);
  out.set(b);
  return out;
};

/** A sealed attachment and a way to get a Keywarden whose key cache is cold (every call waits for the store). */
async function setup() {
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const cold = () => new Keywarden({ masterKey, keyStore });
  const plaintext = new Uint8Array(1000).map((_, i) => i);
  const stored = await cold().encryptAttachment(CONV, plaintext, { aad: 'att-1', segmentSize: 256 });
  return { cold, plaintext, stored };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return 'resolved';
}

describe('a buffer detached while an attachment call waits for its key', () => {
  it('sealing: an aad transferred away is ERR_INVALID_INPUT options.aad, as encrypt', async () => {
    const { cold } = await setup();
    for (const call of [
      (kw: Keywarden, aad: Uint8Array) => kw.encryptAttachment('dm:new', new Uint8Array(10), { aad }),
      (kw: Keywarden, aad: Uint8Array) => kw.createAttachmentEncryptor('dm:new', { aad }),
    ]) {
      const aad = bytes('att-2');
      const p = call(cold(), aad);
      detach(aad);
      expect(await failure(p)).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.aad' }); // was: TypeError
    }
  });

  it('decryptAttachment: a ciphertext or aad transferred away is ERR_DECRYPT_FAILED, as decrypt', async () => {
    const { cold, stored } = await setup();
    for (const ct of [stored.slice(), unpooled(stored)]) {
      const p1 = cold().decryptAttachment(CONV, ct, { aad: 'att-1' });
      detach(ct);
      expect(await failure(p1)).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: TypeError
    }
    const aad = bytes('att-1');
    const p2 = cold().decryptAttachment(CONV, stored, { aad });
    detach(aad);
    expect(await failure(p2)).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: TypeError
  });

  it('createAttachmentDecryptor: the header is taken as it was when called (Uint8Array or Buffer)', async () => {
    const { cold, plaintext, stored } = await setup();
    for (const copy of [stored.slice(), unpooled(stored)]) {
      const p = cold().createAttachmentDecryptor(CONV, copy.subarray(0, 46), { aad: 'att-1' });
      detach(copy);
      const dec = await p; // was: TypeError
      const out: Uint8Array[] = [];
      dec.update(stored.subarray(46), (c) => out.push(c));
      dec.final((c) => out.push(c));
      expect(Buffer.concat(out)).toEqual(Buffer.from(plaintext));
    }
  });

  it('openAttachment over bytes in memory: detached during the open or after it, ERR_DECRYPT_FAILED', async () => {
    const { cold, stored } = await setup();
    const ct = stored.slice();
    const kw = cold();
    const p = kw.openAttachment(CONV, ct, { aad: 'att-1' });
    await Promise.resolve(); // the header is read at once; the key is still loading
    detach(ct);
    expect(await failure(p)).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: TypeError

    const ct2 = stored.slice();
    const reader = await kw.openAttachment(CONV, ct2, { aad: 'att-1' });
    detach(ct2);
    expect(await failure(reader.decryptRange(0, 10))).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: TypeError
    reader.close();

    const aad = bytes('att-1');
    const p3 = cold().openAttachment(CONV, stored, { aad });
    detach(aad);
    expect(await failure(p3)).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: TypeError
  });

  it('encryptFile: an aad transferred away while the source opens is refused, never sealed as no aad', async () => {
    const { cold } = await setup();
    const dir = await mkdtemp(join(tmpdir(), 'kw-rv5-'));
    try {
      await writeFile(join(dir, 'in.bin'), new Uint8Array(1000));
      const kw = cold();
      const aad = bytes('att-3');
      const p = encryptFile(kw, 'dm:new', join(dir, 'in.bin'), join(dir, 'att.kw'), { aad });
      detach(aad);
      const err = await failure(p);
      if (err === 'resolved') {
        // what happened before the fix: the attachment is bound to no aad
        await kw.decryptAttachment('dm:new', await readFile(join(dir, 'att.kw')));
      }
      expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.aad' }); // was: sealed with an empty aad
      expect(await readdir(dir)).toEqual(['in.bin']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('createDecryptStream: an aad transferred away before the header arrives does not open an attachment sealed with no aad', async () => {
    const { cold } = await setup();
    const kw = cold();
    const noAad = await kw.encryptAttachment(CONV, new Uint8Array(100));
    const aad = bytes('att-1');
    const t = createDecryptStream(kw, CONV, { aad });
    detach(aad);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    expect(await failure(pipeline(Readable.from([Buffer.from(noAad)]), t, sink))).toMatchObject({ code: 'ERR_DECRYPT_FAILED' }); // was: resolved
  });
});
