/**
 * Review 3 (files): encryptFile/decryptFile fail with ENAMETOOLONG for a valid destination whose
 * file name is 234..255 bytes long.
 *
 * Where: src/stream/files.ts:92 — the temporary file is named
 * `.${basename(destination)}.${12 hex}.partial`, 22 bytes longer than the destination's own name,
 * so any destination name within 22 bytes of NAME_MAX (255 on Linux/ext4/tmpfs, most file
 * systems) cannot be written at all, although the destination itself is a legal path. (Nothing is
 * left behind, but the call fails for a name the file system accepts; the docs only promise "a
 * new temporary file next to the destination".)
 *
 * Correct behaviour: a temporary name of bounded length that does not embed the whole destination
 * name (e.g. `.kw-${random}.partial`, or the destination name truncated so the total stays
 * ≤ 255 bytes).
 *
 * Now: the temporary name is `.kw-<24 hex>.partial`, whatever the destination's length.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { decryptFile, encryptFile } from '../src/stream/node.js';

const CONV = 'dm:alice:bob';
const dir = mkdtempSync(join(tmpdir(), 'kw-review3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('file helpers and long destination names', () => {
  it('seal and open into a destination whose name is 240 bytes (a legal name)', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const name = 'v'.repeat(240);
    writeFileSync(join(dir, name), 'probe'); // the file system accepts the name itself
    rmSync(join(dir, name));
    const plain = join(dir, 'plain.bin');
    writeFileSync(plain, new Uint8Array(5000).fill(3));
    await encryptFile(kw, CONV, plain, join(dir, name), { aad: 'att-1' }); // fails: ENAMETOOLONG on the .partial file
    await decryptFile(kw, CONV, join(dir, name), join(dir, 'o'.repeat(240)), { aad: 'att-1' });
    expect(readFileSync(join(dir, 'o'.repeat(240)))).toEqual(readFileSync(plain));
  });
});
