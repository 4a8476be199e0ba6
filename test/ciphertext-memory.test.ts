/**
 * What encrypt and decrypt return owns its memory (found by `npm run soak`, issue #11). The
 * native AEAD used to build ciphertexts with `Buffer.allocUnsafe`, which for anything under
 * 4 KiB hands out a slice of Node's shared 8 KiB pool: an application that kept some ciphertexts
 * (a write-behind queue, a cache, the soak's sample of messages) kept 8 KiB per ciphertext alive
 * (the soak's ~10,500 retained ciphertexts of ~250 B held ~55 MB of ArrayBuffers), and
 * `ct.buffer` exposed whatever else the process had put in that slab, e.g. another message's
 * plaintext from `Buffer.from(text)`, to a caller that stores or sends `.buffer`.
 */
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import { nodeAead } from '../src/aead/node.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import type { SuiteName } from '../src/format/suites.js';

const SIZES = [0, 1, 200, 1000, 4000, 8192, 200_000];
const owns = (b: Uint8Array) => b.byteOffset === 0 && b.buffer.byteLength === b.byteLength;

describe.each([
  ['node', nodeAead],
  ['noble', nobleAead],
] as const)('%s AEAD through Keywarden', (_name, aead) => {
  it.each(['AES-256-GCM', 'XChaCha20-Poly1305'] as SuiteName[])('%s: every ciphertext and plaintext has an ArrayBuffer of its own', async (suite) => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), aead, suite });
    for (const size of SIZES) {
      const pt = new Uint8Array(size).fill(7);
      const ct = await kw.encrypt('conv', pt, { aad: 'm1' });
      expect({ size, owns: owns(ct) }).toEqual({ size, owns: true });
      const back = await kw.decrypt('conv', ct, { aad: 'm1' });
      expect(Buffer.from(back).equals(Buffer.from(pt))).toBe(true);
      expect({ size, owns: owns(back) }).toEqual({ size, owns: true });
      const [page] = await kw.decryptMany('conv', [{ ciphertext: ct, aad: 'm1' }]);
      expect(page!.ok && owns(page!.plaintext)).toBe(true);
    }
    kw.close();
  });
});

it('a ciphertext does not expose bytes the application allocated elsewhere', async () => {
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), aead: nodeAead });
  await kw.encrypt('conv', new Uint8Array(10)); // the key is cached: the next encrypt is synchronous work
  const other = Buffer.from('the plaintext of another message, from elsewhere in the application');
  const ct = await kw.encrypt('conv', new Uint8Array(100));
  expect(Buffer.from(ct.buffer).includes(other)).toBe(false);
  kw.close();
});
