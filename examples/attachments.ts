/**
 * Attachments: a video streamed into storage, played back from an offset, and downloaded whole.
 * Run: `npx tsx examples/attachments.ts`. The README shows the `#region readme` parts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// #region readme
import { createReadStream, createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
import { createDecryptStream, createEncryptStream, fileSource } from 'keywarden/attachments';
// #endregion readme

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keywarden-example-'));
  process.chdir(dir);
  const video = randomBytes(3 * 1024 * 1024 + 123);
  await writeFile('upload.mp4', video);
  try {
    // #region readme
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const conversationId = 'dm:alice:bob';
    const aad = 'att-7f3a'; // the attachment's id: the stored object opens only as this attachment

    // Upload: any size, a few 64 KiB segments in memory at a time.
    await pipeline(createReadStream('upload.mp4'), createEncryptStream(kw, conversationId, { aad }), createWriteStream('att-7f3a.kw'));

    // Playback with seeking: reads and authenticates only the segments of the range asked for.
    const source = await fileSource('att-7f3a.kw'); // or { size, read(offset, length) } over object-store Range GETs
    const player = await kw.openAttachment(conversationId, source, { aad });
    const range = await player.decryptRange(1_000_000, 65_536); // "Range: bytes=1000000-1065535"
    player.close();
    await source.close();

    // Download: the output is complete only if the pipeline resolves (else ERR_DECRYPT_FAILED),
    // so write it aside and move it into place afterwards.
    await pipeline(createReadStream('att-7f3a.kw'), createDecryptStream(kw, conversationId, { aad }), createWriteStream('download.partial'));
    await rename('download.partial', 'download.mp4');
    // #endregion readme
    assert.deepEqual(Buffer.from(range), video.subarray(1_000_000, 1_065_536));
    assert.ok((await readFile('download.mp4')).equals(video));
    console.log(`attachments ok: ${video.length} bytes sealed into ${(await readFile('att-7f3a.kw')).length}, a range and the whole decrypted`);
    kw.close();
  } finally {
    process.chdir(tmpdir());
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
