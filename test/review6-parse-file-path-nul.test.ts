/**
 * Review 6 (parsers): a file path holding a NUL character reached `node:fs` from the attachment
 * file helpers (`encryptFile`, `decryptFile`, `fileSource`) and came back as Node's own raw
 * TypeError (ERR_INVALID_ARG_VALUE) — an argument error of the caller's, not a file-system
 * error, so it must be ours: ERR_INVALID_INPUT naming the parameter, with nothing opened or
 * written.
 *
 * Now: the helpers refuse such a path up front, naming `source`, `destination` or `path`.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { decryptFile, encryptFile, fileSource } from '../src/stream/files.js';

describe('attachment file helpers: a path with NUL is the caller\'s input error', () => {
  it('names the parameter and touches nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-r6-nul-'));
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    try {
      const src = join(dir, 'plain.bin');
      await writeFile(src, new Uint8Array(100));
      const bad = join(dir, 'x\0y');
      const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string; param?: string }) => `${e.code}:${e.param}`);
      expect(await code(encryptFile(kw, 'c1', bad, join(dir, 'out.kwa')))).toBe('ERR_INVALID_INPUT:source');
      expect(await code(encryptFile(kw, 'c1', src, bad))).toBe('ERR_INVALID_INPUT:destination');
      expect(await code(decryptFile(kw, 'c1', bad, join(dir, 'out.bin')))).toBe('ERR_INVALID_INPUT:source');
      expect(await code(decryptFile(kw, 'c1', src, bad))).toBe('ERR_INVALID_INPUT:destination');
      expect(await code(fileSource(bad))).toBe('ERR_INVALID_INPUT:path');
      expect((await readdir(dir)).sort()).toEqual(['plain.bin']);
    } finally {
      kw.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
