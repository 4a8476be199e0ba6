/**
 * FileAuditStore: an append-only audit store in a directory (Node only). Two files, `entries`
 * and `checkpoints`, each a magic line then framed records:
 *
 *   u32be length | payload | first 8 bytes of SHA-256(u32be length | payload)
 *
 * Every append is written and fdatasync'ed before it resolves. After a crash mid-write the last
 * record may be torn (short, or its checksum wrong): reopening detects it and refuses to open
 * (`ERR_AUDIT_CORRUPT` with the byte offset) unless the operator passes `repairTornTail`, which
 * cuts exactly the torn bytes — that record was never acknowledged. Damage before the last
 * record is never repaired. A lock file keeps a second writer out.
 */
import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { type AuditStore, assertTruncation } from './store.js';

const MAGIC = new TextEncoder().encode('keywarden-audit-v1\n');
const SUM = 8;

/** A framed record and where it ends, or the reason the data stops being valid. */
export interface FrameScan {
  records: Uint8Array[];
  /** Offset just after the last valid record. */
  validEnd: number;
  /** Set when bytes after validEnd are not a valid record. */
  damage?: { offset: number; torn: boolean; message: string };
}

function checksum(len: Uint8Array, payload: Uint8Array): Uint8Array {
  return sha256.create().update(len).update(payload).digest().subarray(0, SUM);
}

/** Frames one record. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length + SUM);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  out.set(checksum(out.subarray(0, 4), payload), 4 + payload.length);
  return out;
}

/**
 * Reads framed records. Damage that reaches the end of the file is reported as `torn` (a
 * crash mid-append); damage followed by more data is not.
 */
export function scanFrames(data: Uint8Array): FrameScan {
  const records: Uint8Array[] = [];
  if (data.length === 0) return { records, validEnd: 0 };
  if (data.length < MAGIC.length || !equalBytes(data.subarray(0, MAGIC.length), MAGIC)) {
    return { records, validEnd: 0, damage: { offset: 0, torn: data.length < MAGIC.length && equalBytes(data, MAGIC.subarray(0, data.length)), message: 'bad file header' } };
  }
  let off = MAGIC.length;
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

/** Options of {@link FileAuditStore.open}. */
export interface FileAuditStoreOptions {
  /** Cut a torn last record (one never acknowledged) instead of refusing to open. Default false. */
  repairTornTail?: boolean;
}

/**
 * An append-only {@link AuditStore} in a directory.
 *
 * @example
 * ```ts
 * const store = await FileAuditStore.open('/var/lib/keywarden/audit');
 * const log = await AuditLog.open({ store, signerKey, origin: 'example.com/keywarden' });
 * ```
 */
export class FileAuditStore implements AuditStore {
  readonly dir: string;
  #entries: Uint8Array[];
  #checkpoints: string[];
  #entryFile: FileHandle;
  #checkpointFile: FileHandle;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Length of each file up to its last complete, acknowledged record. */
  #entriesEnd: number;
  #checkpointsEnd: number;
  /** Set when a failed write could not be cut back: the files' state is unknown until reopened. */
  #broken: unknown;

  private constructor(dir: string, entries: Uint8Array[], checkpoints: string[], entryFile: FileHandle, checkpointFile: FileHandle, entriesEnd: number, checkpointsEnd: number) {
    this.dir = dir;
    this.#entries = entries;
    this.#checkpoints = checkpoints;
    this.#entryFile = entryFile;
    this.#checkpointFile = checkpointFile;
    this.#entriesEnd = entriesEnd;
    this.#checkpointsEnd = checkpointsEnd;
  }

  /**
   * Opens the store in `dir`, creating the directory (and its parents, owner-only: mode 0700)
   * and the files if needed. A `dir` that cannot be a directory, or cannot be read or written,
   * fails with `ERR_AUDIT_UNAVAILABLE` naming the path.
   */
  static async open(dir: string, options: FileAuditStoreOptions = {}): Promise<FileAuditStore> {
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidInputError('dir', 'expected a directory path');
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AuditUnavailableError(`audit store directory ${dir} cannot be used (${(err as { code?: string }).code ?? 'error'})`, err);
    }
    await takeLock(join(dir, 'LOCK'));
    const opened: FileHandle[] = [];
    try {
      const entries = await openFramed(join(dir, 'entries'), options);
      opened.push(entries.handle);
      const checkpoints = await openFramed(join(dir, 'checkpoints'), options);
      opened.push(checkpoints.handle);
      // Make the files' directory entries durable too (they may have just been created).
      const d = await open(dir, 'r');
      await d.sync().finally(() => d.close());
      const notes = checkpointTexts(join(dir, 'checkpoints'), checkpoints.records);
      return new FileAuditStore(dir, entries.records, notes, entries.handle, checkpoints.handle, entries.end, checkpoints.end);
    } catch (err) {
      // A refused open leaves nothing behind: no handle (issue #11: 50 refused opens leaked 50
      // descriptors), no lock.
      for (const h of opened) await h.close().catch(() => undefined);
      await rm(join(dir, 'LOCK'), { force: true });
      throw err instanceof KeywardenError ? err : new AuditUnavailableError(`audit store ${dir} could not be opened (${codeOf(err)})`, err);
    }
  }

  async size(): Promise<number> {
    return this.#entries.length;
  }

  append(entries: readonly Uint8Array[]): Promise<number> {
    const bytes = entries.map((e) => Uint8Array.from(e));
    return this.#serial(async () => {
      const first = this.#entries.length;
      this.#entriesEnd = await this.#durableWrite(this.#entryFile, this.#entriesEnd, bytes, 'entries');
      this.#entries.push(...bytes);
      return first;
    });
  }

  async read(start: number, end: number): Promise<Uint8Array[]> {
    return this.#entries.slice(start, end).map((e) => Uint8Array.from(e));
  }

  appendCheckpoint(note: string): Promise<void> {
    return this.#serial(async () => {
      const bytes = new TextEncoder().encode(note);
      this.#checkpointsEnd = await this.#durableWrite(this.#checkpointFile, this.#checkpointsEnd, [bytes], 'checkpoints');
      this.#checkpoints.push(note);
    });
  }

  async checkpoints(): Promise<string[]> {
    return [...this.#checkpoints];
  }

  /**
   * Cuts the entries file back to `size` records and the checkpoints file back to its last
   * complete record: removes the entries of an append that was never acknowledged, and any
   * bytes of a write that failed half-way (see AuditStore.truncate). Durable before it resolves.
   */
  truncate(size: number): Promise<void> {
    return this.#serial(async () => {
      assertTruncation(size, this.#entries.length, this.#checkpoints);
      let offset = MAGIC.length;
      for (let i = 0; i < size; i++) offset += 4 + this.#entries[i]!.length + SUM;
      try {
        await cutBack(this.#entryFile, offset);
        this.#entries.length = size;
        this.#entriesEnd = offset;
        await cutBack(this.#checkpointFile, this.#checkpointsEnd);
      } catch (err) {
        this.#broken = err;
        throw new AuditUnavailableError(`audit store ${this.dir}: truncate failed (${codeOf(err)}); reopen the store`, err);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => undefined);
    await this.#entryFile.close();
    await this.#checkpointFile.close();
    await rm(join(this.dir, 'LOCK'), { force: true });
  }

  /**
   * Appends framed records at `end` and fdatasyncs; returns the new end. Any failure (a full
   * disk, EIO, a failed fsync) cuts the file back to `end` and fails with ERR_AUDIT_UNAVAILABLE
   * (retryable): the file is exactly as before. If even the cut-back fails, the store stops:
   * every later call fails until it is reopened (which re-reads and checks what is on disk).
   * After a failed fsync the kernel may have dropped the pages, so the written bytes are never
   * trusted: they are cut, never retried.
   */
  async #durableWrite(file: FileHandle, end: number, payloads: Uint8Array[], name: string): Promise<number> {
    const buf = Buffer.concat(payloads.map(frame));
    try {
      let off = 0;
      while (off < buf.length) off += (await file.write(buf, off, buf.length - off)).bytesWritten;
      await file.datasync();
      return end + buf.length;
    } catch (err) {
      try {
        await cutBack(file, end);
      } catch (cutErr) {
        this.#broken = cutErr;
        throw new AuditUnavailableError(`audit store ${this.dir}: writing ${name} failed (${codeOf(err)}) and the partial write could not be cut back; reopen the store`, err);
      }
      throw new AuditUnavailableError(`audit store ${this.dir}: writing ${name} failed (${codeOf(err)}); nothing was written`, err);
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    if (this.#broken !== undefined) {
      return Promise.reject(new AuditUnavailableError(`audit store ${this.dir} is unusable after a failed write it could not undo; reopen the store`, this.#broken));
    }
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}

/**
 * The checkpoint notes in the records of the checkpoints file. A record that is not UTF-8 passed
 * its (unkeyed) checksum, so it was written that way: damaged data (ERR_AUDIT_CORRUPT at its
 * offset), never an outage a retry could cure.
 */
function checkpointTexts(path: string, records: readonly Uint8Array[]): string[] {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let offset = MAGIC.length;
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

/** Truncates `file` to `length` and makes that durable. */
async function cutBack(file: FileHandle, length: number): Promise<void> {
  await file.truncate(length);
  await file.datasync();
}

/** A file system error's code (ENOSPC, EIO, ...) for a message; never its text, which names paths we already name. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

async function openFramed(path: string, options: FileAuditStoreOptions): Promise<{ records: Uint8Array[]; handle: FileHandle; end: number }> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    data = new Uint8Array(0);
  }
  const scan = scanFrames(data);
  const handle = await open(path, 'a+');
  try {
    if (scan.damage) {
      if (!(scan.damage.torn && options.repairTornTail)) {
        throw new AuditCorruptError(`${path}: ${scan.damage.message} at byte ${scan.damage.offset}${scan.damage.torn ? ' (torn last record: reopen with repairTornTail to cut it)' : ''}`, scan.damage.offset);
      }
      await handle.truncate(Math.max(scan.validEnd, 0));
    }
    if (scan.validEnd === 0 && (scan.damage === undefined || scan.damage.offset === 0)) {
      await handle.truncate(0);
      await handle.write(MAGIC, 0, MAGIC.length, 0);
    }
    await handle.sync();
    return { records: scan.records, handle, end: Math.max(scan.validEnd, MAGIC.length) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** An exclusive lock file holding our pid; a lock left by a dead process is taken over. */
async function takeLock(path: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const h = await open(path, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new AuditUnavailableError(`audit store is locked by process ${pid} (${path})`);
      }
      if (pid === process.pid) throw new AuditUnavailableError(`audit store is already open in this process (${path})`);
      await rm(path, { force: true });
    }
  }
  throw new AuditUnavailableError(`could not lock the audit store (${path})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
