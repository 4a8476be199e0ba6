/**
 * Framed records and durable file writes for the file audit store (Node only). A framed file is
 * a magic line, then records:
 *
 *   u32be length | payload | first 8 bytes of SHA-256(u32be length | payload)
 *
 * so a torn last record (a crash mid-write) is told apart from damage followed by more data.
 * Whole files that must change atomically (the tree head, tiles, the latest checkpoint) are
 * written to a temporary name, fdatasync'ed and renamed over the old one; the directory is then
 * synced so the new name is durable too.
 * @module
 */
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256 } from '../util/digest.js';
import { AuditCorruptError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';

/** The magic line of every framed file (unchanged since keywarden 0.1). */
export const MAGIC = new TextEncoder().encode('keywarden-audit-v1\n');
const SUM = 8;
/** Bytes read at a time by {@link framedRecords} (more when one record is longer). */
const READ_CHUNK = 4 * 1024 * 1024;

/** Framed records read from a file, and where they stop being valid. */
export interface FrameScan {
  records: Uint8Array[];
  /** Offset just after the last valid record. */
  validEnd: number;
  /** Set when bytes after validEnd are not a valid record. */
  damage?: { offset: number; torn: boolean; message: string };
}

function checksum(len: Uint8Array, payload: Uint8Array): Uint8Array {
  return sha256(len, payload).subarray(0, SUM);
}

/**
 * Frames one record.
 *
 * @example
 * ```ts
 * await appendFile(path, frame(payload));
 * ```
 */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length + SUM);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  out.set(checksum(out.subarray(0, 4), payload), 4 + payload.length);
  return out;
}

/**
 * Reads framed records from `data` (starting after the magic line, or at `from` for a file read
 * from the middle). Damage that reaches the end of the data is reported as `torn` (a crash
 * mid-append); damage followed by more data is not.
 *
 * @example
 * ```ts
 * const { records, damage } = scanFrames(await readFile(path));
 * ```
 */
export function scanFrames(data: Uint8Array, from?: number): FrameScan {
  const records: Uint8Array[] = [];
  if (from === undefined) {
    if (data.length === 0) return { records, validEnd: 0 };
    if (data.length < MAGIC.length || !equalBytes(data.subarray(0, MAGIC.length), MAGIC)) {
      return { records, validEnd: 0, damage: { offset: 0, torn: data.length < MAGIC.length && equalBytes(data, MAGIC.subarray(0, data.length)), message: 'bad file header' } };
    }
  }
  let off = from ?? MAGIC.length;
  while (off < data.length) {
    const rest = data.length - off;
    if (rest < 4) return { records, validEnd: off, damage: { offset: off, torn: true, message: 'truncated record length' } };
    const len = new DataView(data.buffer, data.byteOffset + off, 4).getUint32(0);
    if (rest < 4 + len + SUM) return { records, validEnd: off, damage: { offset: off, torn: true, message: `record of ${len} bytes truncated` } };
    const payload = data.subarray(off + 4, off + 4 + len);
    if (!equalBytes(checksum(data.subarray(off, off + 4), payload), data.subarray(off + 4 + len, off + 4 + len + SUM))) {
      const last = off + 4 + len + SUM === data.length;
      return { records, validEnd: off, damage: { offset: off, torn: last, message: 'record checksum mismatch' } };
    }
    records.push(payload.slice());
    off += 4 + len + SUM;
  }
  return { records, validEnd: off };
}

/**
 * The records of a framed file of notes (checkpoints), as text. A record that is not UTF-8
 * passed its (unkeyed) checksum, so it was written that way: damaged data, ERR_AUDIT_CORRUPT at
 * its byte offset — never an outage a retry could cure (issue #11).
 *
 * @example
 * ```ts
 * const notes = noteTexts(path, scanFrames(data).records);
 * ```
 */
export function noteTexts(path: string, records: readonly Uint8Array[], from = MAGIC.length): string[] {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let offset = from;
  return records.map((r) => {
    const at = offset;
    offset += 4 + r.length + SUM;
    try {
      return dec.decode(r);
    } catch {
      throw new AuditCorruptError(`${path}: the checkpoint record at byte ${at} is not UTF-8`, at);
    }
  });
}

/** A file system error's code (ENOSPC, EIO, ...) for a message; never its text, which names paths we already name. */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** Writes all of `data` at the handle's position (appending for 'a' handles). */
export async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += (await file.write(data, off, data.length - off)).bytesWritten;
}

/**
 * Replaces `path` with `data` atomically: a temporary file in the same directory, written and
 * fdatasync'ed, then renamed over `path`. The caller syncs the directory (several files of one
 * step share that). A failure removes the temporary file.
 */
export async function replaceFile(path: string, data: Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${Buffer.from(randomBytes(6)).toString('hex')}`;
  try {
    const h = await open(tmp, 'w', mode);
    try {
      await writeAll(h, data);
      await h.datasync();
    } finally {
      await h.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Mode of files published for anyone to read (an export), before the umask. */
export const PUBLIC_FILE_MODE = 0o644;
/** Mode of directories published for anyone to read, before the umask. */
export const PUBLIC_DIR_MODE = 0o755;

/** Makes the directory entries in `dir` durable (new names, renames, removals). */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Syncs the directories of `paths`, each once. */
export async function syncDirsOf(paths: Iterable<string>): Promise<void> {
  await Promise.all([...new Set([...paths].map((p) => dirname(p)))].map(syncDir));
}

/**
 * Streams the framed records of the file at `path` (bounded memory), calling `onDamage` when the
 * records stop being valid before the end. A missing file yields nothing.
 */
export async function* framedRecords(path: string, onDamage: (damage: NonNullable<FrameScan['damage']>) => void): AsyncGenerator<Uint8Array> {
  let h;
  try {
    h = await open(path, 'r');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  try {
    const head = Buffer.alloc(MAGIC.length);
    const { bytesRead } = await h.read(head, 0, MAGIC.length, 0);
    if (bytesRead === 0) return;
    if (bytesRead < MAGIC.length || !equalBytes(head, MAGIC)) {
      onDamage({ offset: 0, torn: bytesRead < MAGIC.length && equalBytes(head.subarray(0, bytesRead), MAGIC.subarray(0, bytesRead)), message: 'bad file header' });
      return;
    }
    let size = (await h.stat()).size;
    let pos = MAGIC.length;
    let carry: Uint8Array = new Uint8Array(0);
    let want = READ_CHUNK;
    for (;;) {
      const buf = Buffer.alloc(want);
      const got = (await h.read(buf, 0, buf.length, pos + carry.length)).bytesRead;
      const data = carry.length === 0 ? new Uint8Array(buf.buffer, buf.byteOffset, got) : Buffer.concat([carry, buf.subarray(0, got)]);
      const scan = scanFrames(data, 0);
      let used = 0;
      for (const r of scan.records) {
        yield r;
        used += 4 + r.length + 8;
      }
      if (scan.damage !== undefined && (!scan.damage.torn || got === 0)) {
        onDamage({ ...scan.damage, offset: pos + scan.damage.offset });
        return;
      }
      if (got === 0) return;
      pos += used;
      carry = data.slice(used);
      // A record longer than what is in hand is read whole with the next read — not by a carry
      // grown 4 MiB a pass and copied each time (quadratic on a hostile length: outside review,
      // 2026-12-01) — and one the rest of the file cannot hold is a torn record now.
      want = READ_CHUNK;
      if (carry.length >= 4) {
        const len = new DataView(carry.buffer, carry.byteOffset, 4).getUint32(0);
        if (pos + 4 + len + SUM > size) size = (await h.stat()).size; // the file may have grown since
        if (pos + 4 + len + SUM > size) {
          onDamage({ offset: pos, torn: true, message: `record of ${len} bytes truncated` });
          return;
        }
        want = Math.max(READ_CHUNK, 4 + len + SUM - carry.length);
      }
    }
  } finally {
    await h.close();
  }
}
