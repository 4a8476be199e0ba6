/**
 * Review 6 (streams): `close()` now wipes the keys of the attachment encryptors and decryptors an
 * instance handed out (test/review6-keys-close-wipes-attachment-keys.test.ts), but their next call
 * then failed as if the caller had misused them: an encryptor with ERR_INVALID_INPUT ("already
 * finished or destroyed"), a decryptor — and the Web and Node decrypt streams — with
 * ERR_DECRYPT_FAILED, as for a tampered attachment. A caller switching on the code took a
 * shutdown for a bug or an attack.
 *
 * Now: once the instance is closed, every later call of its encryptors, decryptors and attachment
 * streams fails with ERR_CLOSED, as the instance's own calls do.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { ATTACHMENT_HEADER_LENGTH as H } from '../src/stream/format.js';
import { createDecryptStream, createEncryptStream } from '../src/stream/node.js';

const make = () => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('attachment objects after close(): ERR_CLOSED', () => {
  it('encryptor and decryptor', async () => {
    const kw = make();
    const sealed = await kw.encryptAttachment('c1', new Uint8Array(5000), { segmentSize: 1024 });
    const enc = await kw.createAttachmentEncryptor('c1', { segmentSize: 1024 });
    const dec = await kw.createAttachmentDecryptor('c1', sealed.subarray(0, H));
    enc.update(new Uint8Array(10), () => undefined);
    kw.close();
    expect(codeOf(() => enc.update(new Uint8Array(10), () => undefined))).toBe('ERR_CLOSED');
    expect(codeOf(() => enc.final(() => undefined))).toBe('ERR_CLOSED');
    expect(codeOf(() => dec.update(sealed.subarray(H), () => undefined))).toBe('ERR_CLOSED');
    expect(codeOf(() => dec.final(() => undefined))).toBe('ERR_CLOSED');
  });

  it('a finished or destroyed one still fails as before (not ERR_CLOSED) while the instance is open', async () => {
    const kw = make();
    const enc = await kw.createAttachmentEncryptor('c1');
    enc.final(() => undefined);
    expect(codeOf(() => enc.update(new Uint8Array(1), () => undefined))).toBe('ERR_INVALID_INPUT');
    const sealed = await kw.encryptAttachment('c1', new Uint8Array(10));
    const dec = await kw.createAttachmentDecryptor('c1', sealed.subarray(0, H));
    dec.destroy();
    expect(codeOf(() => dec.update(sealed.subarray(H), () => undefined))).toBe('ERR_DECRYPT_FAILED');
    kw.close();
  });

  it('Web and Node streams cut by close()', async () => {
    const kw = make();
    const plain = new Uint8Array(200_000);
    const sealed = await kw.encryptAttachment('c1', plain, { segmentSize: 1024 });
    // Web: the first segment through, then close, then the rest.
    const web = kw.decryptAttachmentStream('c1');
    const w = web.writable.getWriter();
    const reading = (async () => {
      const r = web.readable.getReader();
      for (;;) if ((await r.read()).done) break;
    })();
    await w.write(sealed.subarray(0, 4096));
    kw.close();
    const webErr = await w.write(sealed.subarray(4096)).then(() => w.close()).then(() => reading).then(() => 'ok', (e: { code?: string }) => e.code);
    await reading.catch(() => undefined);
    expect(webErr).toBe('ERR_CLOSED');

    const kw2 = make();
    const sealed2 = await kw2.encryptAttachment('c1', plain, { segmentSize: 1024 });
    let sent = false;
    const src = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(sealed2.subarray(0, 4096));
          setImmediate(() => {
            kw2.close();
            this.push(sealed2.subarray(4096));
            this.push(null);
          });
        }
      },
    });
    const nodeErr = await pipeline(src, createDecryptStream(kw2, 'c1'), new Writable({ write: (_c, _e, cb) => cb() })).then(() => 'ok', (e: { code?: string }) => e.code);
    expect(nodeErr).toBe('ERR_CLOSED');
    const kw3 = make();
    const encStream = createEncryptStream(kw3, 'c1', { segmentSize: 1024 });
    const out = pipeline(Readable.from((async function* () {
      yield new Uint8Array(3000);
      await new Promise((r) => setImmediate(r));
      kw3.close();
      yield new Uint8Array(3000);
    })()), encStream, new Writable({ write: (_c, _e, cb) => cb() }));
    expect(await out.then(() => 'ok', (e: { code?: string }) => e.code)).toBe('ERR_CLOSED');
  });
});
