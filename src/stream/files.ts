/**
 * File helpers (docs/FORMAT.md §9): seal or open an attachment from one file into another with
 * a fixed amount of memory, and read a stored attachment file at random offsets. Node only.
 *
 * Memory: input is read into two reused buffers of about 1 MiB (whole segments); each output
 * buffer is written, then released at once where the runtime can (`ArrayBuffer.prototype.transfer`,
 * Node ≥ 21) instead of waiting for the garbage collector — with 64 KiB segments, V8 would
 * otherwise let ~32 MiB of written buffers pile up between young-generation collections.
 *
 * Output is all-or-nothing: it goes to a new temporary file next to the destination (mode 0600),
 * is flushed to disk, and is renamed over the destination only when the whole attachment was
 * sealed or authenticated; on any failure the temporary file is removed and the destination is
 * untouched. File system errors are passed on as node reports them.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Keywarden } from '../keywarden.js';
import { InvalidInputError } from '../errors.js';
import { assertString } from '../util/validate.js';
import { type AttachmentDecryptOptions, type AttachmentEncryptOptions, checkCall, checkKeywarden, checkedOptions } from './attachments.js';
import { ATTACHMENT_HEADER_LENGTH, SEGMENT_TAG_LENGTH, parseAttachmentHeader } from './format.js';
import type { AttachmentSource } from './reader.js';
import type { AttachmentDecryptor, AttachmentEncryptor } from './sealer.js';

/** What a file helper did. */
export interface FileResult {
  /** Bytes read from the source file. */
  bytesRead: number;
  /** Bytes written to the destination file. */
  bytesWritten: number;
}

const READ_TARGET = 1 << 20;
const RELEASE_MIN = 4096;
type Transferable = ArrayBuffer & { transfer?: (length?: number) => ArrayBuffer };

/** Frees a buffer we made and no longer need, now rather than at the next GC (where supported). */
function release(b: Uint8Array): void {
  if (b.length < RELEASE_MIN || b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength) return;
  const ab = b.buffer as Transferable;
  if (typeof ab.transfer !== 'function') return;
  try {
    ab.transfer(0); // detaches: the backing store goes now
  } catch {
    // not detachable (a runtime-owned buffer): the GC frees it
  }
}

/** Reads until `buf` is full or the file ends; returns the bytes read. */
async function readFull(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, position + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/** Writes every chunk (retrying short writes), then releases them. */
async function writeAll(fh: FileHandle, chunks: Uint8Array[]): Promise<number> {
  let total = 0;
  for (const c of chunks) total += c.length;
  let pending = chunks;
  let left = total;
  while (left > 0) {
    const { bytesWritten } = await fh.writev(pending);
    left -= bytesWritten;
    if (left === 0) break;
    // A short write: skip what went out and write the rest.
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const c of pending) {
      if (skip >= c.length) skip -= c.length;
      else {
        rest.push(skip > 0 ? c.subarray(skip) : c);
        skip = 0;
      }
    }
    pending = rest;
  }
  for (const c of chunks) release(c);
  chunks.length = 0;
  return total;
}

/**
 * Streams `source` through `core` (update per read, final at the end) into a temporary file,
 * then renames it over `destination`. `first` bytes were already consumed from the source.
 */
async function pump(core: AttachmentEncryptor | AttachmentDecryptor, src: FileHandle, first: number, unit: number, destination: string): Promise<FileResult> {
  // A name of bounded length (a destination's own may be up to NAME_MAX, 255 bytes, with no room
  // for more: outside review, 2026-12-02), in the same directory so that the rename is atomic.
  const tmp = join(dirname(destination), `.kw-${randomBytes(12).toString('hex')}.partial`);
  let out: FileHandle | undefined;
  try {
    out = await open(tmp, 'wx', 0o600);
    // Two buffers of whole segments: a segment's lookahead keeps views of at most one segment
    // of the previous read, which is never the buffer being filled (src/stream/chunks.ts).
    const size = Math.max(unit, Math.floor(READ_TARGET / unit) * unit);
    const bufs = [new Uint8Array(size), new Uint8Array(size)];
    const chunks: Uint8Array[] = [];
    const emit = (c: Uint8Array) => void chunks.push(c);
    let read = first;
    let written = 0;
    for (let i = 0; ; i ^= 1) {
      const buf = bufs[i]!;
      const n = await readFull(src, buf, read);
      read += n;
      if (n > 0) core.update(buf.subarray(0, n), emit);
      if (n < buf.length) core.final(emit);
      written += await writeAll(out, chunks);
      if (n < buf.length) break;
    }
    await out.datasync();
    await out.close();
    out = undefined;
    await rename(tmp, destination);
    return { bytesRead: read, bytesWritten: written };
  } catch (err) {
    core.destroy();
    await out?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * A file path as `node:fs` takes it: a non-empty string of at most 4096 characters without NUL.
 * A NUL was Node's raw TypeError (ERR_INVALID_ARG_VALUE): the caller's argument error, so ours
 * (outside review 6, test/review6-parse-file-path-nul.test.ts).
 */
function assertPath(param: string, value: unknown): asserts value is string {
  assertString(param, value, 4096);
  if (value.includes('\0')) throw new InvalidInputError(param, 'expected a file path without NUL characters');
}

/**
 * Seals the file `source` into an attachment at `destination` (replaced only on success).
 *
 * @example
 * ```ts
 * import { encryptFile } from 'keywarden/attachments';
 * await encryptFile(kw, conversationId, '/uploads/video.mp4', '/store/att-77.kw', { aad: 'att-77' });
 * ```
 */
export async function encryptFile(kw: Keywarden, conversationId: string, source: string, destination: string, options?: AttachmentEncryptOptions): Promise<FileResult> {
  checkKeywarden(kw);
  const c = checkCall(conversationId, options, true);
  assertPath('source', source);
  assertPath('destination', destination);
  const src = await open(source, 'r');
  try {
    // The options as checked above, not read again after the wait: and the read buffers sized by
    // the segment size the encryptor records in its header, the one it really uses. Sized from a
    // second read of an options object changed meanwhile, they were smaller than a segment, were
    // refilled under the views the encryptor still held, and the file was sealed — authentically
    // — as bytes it never held (outside review, 2026-12-02).
    const enc = await kw.createAttachmentEncryptor(conversationId, checkedOptions(c, true));
    return await pump(enc, src, 0, parseAttachmentHeader(enc.header)!.segmentSize, destination);
  } finally {
    await src.close();
  }
}

/**
 * Opens the attachment file `source` into `destination`. The destination appears only when
 * every segment authenticated; on `ERR_DECRYPT_FAILED` nothing is written.
 *
 * @example
 * ```ts
 * import { decryptFile } from 'keywarden/attachments';
 * await decryptFile(kw, conversationId, '/store/att-77.kw', '/tmp/video.mp4', { aad: 'att-77' });
 * ```
 */
export async function decryptFile(kw: Keywarden, conversationId: string, source: string, destination: string, options?: AttachmentDecryptOptions): Promise<FileResult> {
  checkKeywarden(kw);
  const c = checkCall(conversationId, options, false);
  assertPath('source', source);
  assertPath('destination', destination);
  const src = await open(source, 'r');
  try {
    const header = new Uint8Array(ATTACHMENT_HEADER_LENGTH);
    const got = await readFull(src, header, 0);
    const dec = await kw.createAttachmentDecryptor(conversationId, got === header.length ? header : header.subarray(0, got), checkedOptions(c, false));
    return await pump(dec, src, got, parseAttachmentHeader(header)!.segmentSize + SEGMENT_TAG_LENGTH, destination); // a valid header: the decryptor checked it
  } finally {
    await src.close();
  }
}

/** An {@link AttachmentSource} over a file, for `openAttachment`; `close()` it when done. */
export interface FileSource extends AttachmentSource {
  close(): Promise<void>;
}

/**
 * Opens a stored attachment file for random access.
 *
 * @example
 * ```ts
 * import { fileSource } from 'keywarden/attachments';
 * const src = await fileSource('/store/att-77.kw');
 * const att = await kw.openAttachment(conversationId, src, { aad: 'att-77' });
 * const bytes = await att.decryptRange(0, 4096);
 * att.close();
 * await src.close();
 * ```
 */
export async function fileSource(path: string): Promise<FileSource> {
  assertPath('path', path);
  const fh = await open(path, 'r');
  let size: number;
  try {
    ({ size } = await fh.stat());
  } catch (err) {
    // Nobody else holds the handle yet: close it, or a failed stat leaks a descriptor (outside review, 2026-12-02).
    await fh.close().catch(() => undefined);
    throw err;
  }
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      const n = await readFull(fh, buf, offset);
      return n === length ? buf : buf.subarray(0, n);
    },
    close: () => fh.close(),
  };
}
