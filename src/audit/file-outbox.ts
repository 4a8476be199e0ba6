/**
 * The file store's outbox (Node only): each producing instance appends its records to a file of
 * its own under `outbox/` — `<pid>-<random>.<sequence>`, framed like the other files, payload
 * `flags (1 byte) || MAC (32 bytes) || entry bundle` (records.ts) — so producers never contend.
 * Concurrent appends of one instance share one write and one fdatasync (group commit); a record
 * is acknowledged only once synced. The sequencer reads every file from its cursor (kept in the
 * tree-head file, advanced in the same durable step that integrates the records), and removes a
 * file once it is fully integrated and its producer has moved on (a newer file, or the process
 * is gone).
 * @module
 */
import { type FileHandle, mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditUnavailableError } from '../errors.js';
import { randomBytes } from '../util/random.js';
import { MAGIC, codeOf, frame, scanFrames, syncDir, writeAll } from './framing.js';
import type { OutboxRecord } from './records.js';
import type { ClaimedRecord } from './store.js';
import { GroupCommit } from './group-commit.js';

/**
 * The largest outbox frame the sequencer can read (one read of READ_BYTES per file and claim):
 * a larger record is refused before anything is written, or it would never be integrated.
 */
export const MAX_FRAME = 8 * 1024 * 1024;

/** Start a new outbox file past this size. */
const ROTATE_BYTES = 64 * 1024 * 1024;
/** Bytes read per outbox file per claim at most. */
const READ_BYTES = MAX_FRAME;
const NAME = /^([0-9]+)-([0-9a-f]{12})\.([0-9]{6})$/;

/** Payload of an outbox frame. */
export function encodeOutbox(r: OutboxRecord): Uint8Array {
  const out = new Uint8Array(1 + 32 + r.bundle.length);
  out[0] = r.flags;
  out.set(r.mac, 1);
  out.set(r.bundle, 33);
  return out;
}

/** The record in an outbox frame's payload, or undefined when it is too short to be one. */
export function decodeOutbox(payload: Uint8Array): OutboxRecord | undefined {
  if (payload.length < 33) return undefined;
  return { flags: payload[0]!, mac: payload.slice(1, 33), bundle: payload.slice(33) };
}

/** Whether process `pid` runs (on this host). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** One instance's outbox file(s). */
export class OutboxWriter {
  readonly #dir: string;
  readonly #producer = `${process.pid}-${Buffer.from(randomBytes(6)).toString('hex')}`;
  #seq = 0;
  #file: { name: string; handle: FileHandle; end: number } | undefined;
  readonly #group: GroupCommit<OutboxRecord, string>;

  constructor(dir: string) {
    this.#dir = dir;
    this.#group = new GroupCommit((records) => this.#flush(records));
  }

  /** Appends a record durably; resolves with its ticket. */
  append(record: OutboxRecord): Promise<string> {
    return this.#group.submit(record);
  }

  async close(): Promise<void> {
    await this.#group.idle();
    await this.#file?.handle.close().catch(() => undefined);
    this.#file = undefined;
  }

  async #flush(records: OutboxRecord[]): Promise<string[]> {
    const f = await this.#current();
    const frames = records.map((r) => frame(encodeOutbox(r)));
    const tickets: string[] = [];
    let off = f.end;
    for (const fr of frames) {
      tickets.push(`${f.name}:${off}:${off + fr.length}`);
      off += fr.length;
    }
    try {
      await writeAll(f.handle, Buffer.concat(frames));
      await f.handle.datasync();
    } catch (err) {
      // The bytes are not trusted after a failed write or sync: cut them and start a new file.
      await f.handle.truncate(f.end).catch(() => undefined);
      await f.handle.close().catch(() => undefined);
      this.#file = undefined;
      throw new AuditUnavailableError(`audit outbox ${join(this.#dir, f.name)}: write failed (${codeOf(err)}); nothing was recorded`, err);
    }
    f.end = off;
    return tickets;
  }

  async #current(): Promise<{ name: string; handle: FileHandle; end: number }> {
    if (this.#file !== undefined && this.#file.end < ROTATE_BYTES) return this.#file;
    if (this.#file !== undefined) await this.#file.handle.close().catch(() => undefined);
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const name = `${this.#producer}.${String(this.#seq++).padStart(6, '0')}`;
    const handle = await open(join(this.#dir, name), 'wx', 0o600);
    await writeAll(handle, MAGIC);
    await handle.sync();
    await syncDir(this.#dir);
    this.#file = { name, handle, end: MAGIC.length };
    return this.#file;
  }
}

/** A record read by the sequencer, with where it ends in its file. */
export interface ReadRecord extends ClaimedRecord {
  file: string;
  end: number;
}

/** Parses a ticket `<file>:<start>:<end>`. */
export function parseTicket(ticket: string): { file: string; start: number; end: number } | undefined {
  const m = /^([^:/]+):([0-9]+):([0-9]+)$/.exec(ticket);
  return m ? { file: m[1]!, start: Number(m[2]), end: Number(m[3]) } : undefined;
}

/**
 * Up to `limit` records from the outbox files in `dir`, each file read from `cursors[file]`
 * (the first record when absent). A torn last frame is left for later (its producer may be
 * writing it); a damaged frame with data after it cannot be re-synchronised and is returned as
 * one record with an empty MAC, which the sequencer quarantines.
 */
export async function readOutbox(dir: string, cursors: ReadonlyMap<string, number>, limit: number): Promise<ReadRecord[] & { more?: boolean }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => NAME.test(n)).sort();
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  const out: ReadRecord[] & { more?: boolean } = [];
  for (const name of names) {
    if (out.length >= limit) break;
    const from = cursors.get(name) ?? MAGIC.length;
    let h: FileHandle;
    try {
      h = await open(join(dir, name), 'r');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') continue;
      throw err;
    }
    try {
      // Only what is there past the cursor (at most READ_BYTES): an idle sequencer looks at every
      // producer's file each poll, and a buffer of READ_BYTES each time cost 800 MiB a second
      // with 8 producers (outside review, 2026-12-01). Bytes appended after the stat are newer
      // than the claim: the next one reads them.
      const avail = Math.min(READ_BYTES, (await h.stat()).size - from);
      if (avail <= 0) continue;
      const buf = Buffer.alloc(avail);
      const { bytesRead } = await h.read(buf, 0, avail, from);
      const scan = scanFrames(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead), 0);
      // The read stopped at its cap inside a frame: that file has more than this claim saw.
      if (bytesRead === READ_BYTES && scan.damage?.torn === true) out.more = true;
      let off = from;
      let all = true;
      for (const payload of scan.records) {
        if (out.length >= limit) {
          all = false;
          break;
        }
        const len = 4 + payload.length + 8;
        const rec = decodeOutbox(payload) ?? { flags: 0, mac: new Uint8Array(0), bundle: payload };
        out.push({ ...rec, ticket: `${name}:${off}:${off + len}`, file: name, end: off + len });
        off += len;
      }
      if (all && scan.damage !== undefined && !scan.damage.torn && out.length < limit) {
        // Damage with data after it: the frames cannot be re-synchronised. The rest of the file
        // goes to quarantine as one record (it carries no valid MAC).
        const size = (await h.stat()).size;
        out.push({ flags: 0, mac: new Uint8Array(0), bundle: new Uint8Array(0), ticket: `${name}:${off}:${size}`, file: name, end: size });
      }
    } finally {
      await h.close();
    }
  }
  return out;
}

/**
 * Removes outbox files that are fully integrated (the cursor is at their end, or only a torn
 * frame of a producer that is gone follows it) and will get no more records: a newer file of
 * the same producer exists, or the producer's process is gone. Returns the names removed (their
 * cursors can be forgotten).
 */
export async function removeConsumed(dir: string, cursors: ReadonlyMap<string, number>): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => NAME.test(n)).sort();
  } catch {
    return [];
  }
  const newest = new Map<string, string>();
  for (const n of names) newest.set(n.slice(0, n.lastIndexOf('.')), n);
  const removed: string[] = [];
  for (const n of names) {
    const cursor = cursors.get(n);
    if (cursor === undefined) continue;
    const pid = Number(NAME.exec(n)![1]);
    const gone = pid !== process.pid && !isAlive(pid);
    const moved = newest.get(n.slice(0, n.lastIndexOf('.'))) !== n;
    if (!gone && !moved) continue;
    let rest: Uint8Array;
    try {
      const h = await open(join(dir, n), 'r');
      try {
        const size = (await h.stat()).size;
        if (size - cursor > 1024 * 1024) continue;
        const buf = Buffer.alloc(Math.max(0, size - cursor));
        await h.read(buf, 0, buf.length, cursor);
        rest = new Uint8Array(buf);
      } finally {
        await h.close();
      }
    } catch {
      continue;
    }
    // Fully integrated, or only a torn frame that its (gone) producer never acknowledged.
    const scan = scanFrames(rest, 0);
    if (rest.length === 0 || (gone && scan.records.length === 0 && scan.damage?.torn === true)) {
      await rm(join(dir, n), { force: true });
      removed.push(n);
    }
  }
  return removed;
}
