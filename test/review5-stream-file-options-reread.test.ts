/**
 * Review 5 (files): encryptFile reads its options twice — once to validate them and size its read
 * buffers, and again, after the source file was opened (an await), to make the encryptor — so an
 * options object changed in between (reused for the next upload, say) gives an encryptor whose
 * segments are larger than the read buffers were sized for. The encryptor keeps views of up to
 * one segment of earlier reads (src/stream/chunks.ts), the two 1 MiB read buffers are refilled
 * under it, and the attachment written is the wrong plaintext — sealed authentically, so it
 * decrypts without any error to bytes the source file never held.
 *
 * Where: src/stream/files.ts encryptFile — `checkCall(conversationId, options, true).segmentSize`
 * sizes the buffers (pump's `unit`), `kw.createAttachmentEncryptor(conversationId, options)`
 * re-reads `options` after `await open(source)`.
 *
 * Now: the buffers are sized from the segment size the encryptor itself records in its header,
 * so whatever the options said at either time, the file is read in whole segments of the size
 * actually used.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { encryptFile } from '../src/stream/node.js';

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('encryptFile seals the file it was given', () => {
  it('even when the options object changes while the call is under way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-rv5-'));
    dirs.push(dir);
    const pt = new Uint8Array(randomBytes(5 * 2 ** 20 + 123)); // no period: a refilled buffer never holds the same bytes
    await writeFile(join(dir, 'in.bin'), pt);
    const options: { aad: string; segmentSize?: number } = { aad: 'att-1' };
    const done = encryptFile(kw, 'dm:alice:bob', join(dir, 'in.bin'), join(dir, 'att.kw'), options);
    options.segmentSize = 4 * 2 ** 20; // the caller reuses its options object for the next upload
    await done;
    const stored = await readFile(join(dir, 'att.kw'));
    const opened = await kw.decryptAttachment('dm:alice:bob', stored, { aad: 'att-1' });
    expect(opened.length).toBe(pt.length);
    expect(Buffer.from(opened).equals(Buffer.from(pt))).toBe(true); // was: false (other bytes, authentically sealed)
  });
});
