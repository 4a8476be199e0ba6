/**
 * Migration of a keywarden 0.1 audit directory — `entries` and `checkpoints`, framed files — to
 * the tiled layout (Node only), resumably: the entries are streamed in chunks of 65,536; after
 * each chunk its tiles and bundles are durable and `migration` records how far it got, so a
 * crash or a kill resumes there. Nothing signed changes: the tree is built from the same entries
 * (same roots), the `checkpoints` file stays the history as it is, and the newest checkpoint
 * becomes the tree head. Entries past the newest checkpoint (0.1's unsigned tail) are written
 * past the head, where AuditLog.open refuses them until the operator's repair, as 0.1 did.
 * The 0.1 `entries` file is kept as `entries.v1`.
 * @module
 */
import { type FileHandle, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditCorruptError, AuditUnavailableError } from '../errors.js';
import { equalBytes, toBase64 } from '../util/bytes.js';
import { openCheckpoint } from './checkpoint.js';
import { MAGIC, frame, noteTexts, replaceFile, scanFrames, syncDir } from './framing.js';
import type { TileFiles } from './file-tiles.js';
import { leafHash } from './merkle.js';
import type { NoteVerifier } from './note.js';
import type { RecordKeys } from './records.js';
import { ReplayGuard, resetFloor } from './replay-guard.js';
import { TileEdge } from './tile-edge.js';
import { MAX_BUNDLE_ENTRY, TILE_WIDTH, edgeTiles } from './tiles.js';

/** Entries per resumable step, and a hook after each (tests make steps small and stop one). @internal */
export const fileMigration: { chunk: number; afterChunk: ((size: number) => void) | undefined } = { chunk: 65_536, afterChunk: undefined };
const READ = 16 * 1024 * 1024;
const enc = new TextEncoder();

interface Progress {
  size: number;
  offset: number;
}

/** Streams framed records of `file` from byte `offset`, `CHUNK` records (and their end offset) at a time. */
async function* chunks(file: FileHandle, offset: number, repairTornTail: boolean, path: string): AsyncGenerator<{ records: Uint8Array[]; end: number }> {
  let pos = offset;
  let carry = new Uint8Array(0);
  let records: Uint8Array[] = [];
  for (;;) {
    const buf = Buffer.alloc(READ);
    const { bytesRead } = await file.read(buf, 0, READ, pos + carry.length);
    const data = carry.length === 0 ? new Uint8Array(buf.buffer, buf.byteOffset, bytesRead) : Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    const scan = scanFrames(data, 0);
    let consumed = 0;
    for (const r of scan.records) {
      records.push(r);
      consumed += 4 + r.length + 8;
      if (records.length === fileMigration.chunk) {
        yield { records, end: pos + consumed };
        records = [];
      }
    }
    pos += consumed;
    carry = data.slice(consumed);
    // No entry is longer than a bundle holds: a longer length is damage here, not a reason to
    // grow the carry read after read (quadratic on a hostile length: outside review, 2026-12-01).
    if (carry.length >= 4 && new DataView(carry.buffer, carry.byteOffset, 4).getUint32(0) > MAX_BUNDLE_ENTRY && bytesRead > 0) {
      throw new AuditCorruptError(`${path}: a record longer than an entry can be at byte ${pos}`, pos);
    }
    if (bytesRead === 0) {
      if (carry.length > 0) {
        const damage = scan.damage ?? { offset: 0, torn: true, message: 'truncated record' };
        if (!(damage.torn && repairTornTail)) {
          throw new AuditCorruptError(`${path}: ${damage.message} at byte ${pos}${damage.torn ? ' (torn last record: reopen with repairTornTail to cut it)' : ''}`, pos);
        }
      }
      if (records.length > 0) yield { records, end: pos };
      return;
    }
    if (scan.damage !== undefined && !scan.damage.torn) throw new AuditCorruptError(`${path}: ${scan.damage.message} at byte ${pos}`, pos);
  }
}

/** A read's fallback when the file does not exist; any other failure is the store's error. */
function missingAs<T>(fallback: T, path: string): (err: unknown) => T {
  return (err) => {
    if ((err as { code?: string }).code === 'ENOENT') return fallback;
    throw new AuditUnavailableError(`audit store: reading ${path} failed (${(err as { code?: string }).code ?? 'error'})`, err);
  };
}

/** The newest valid checkpoint of a framed history file, and the file's valid end. */
async function latestCheckpoint(path: string, repairTornTail: boolean): Promise<{ note: string | undefined; end: number }> {
  // Only a missing history means "no checkpoint yet": any other read failure stops the migration
  // before its irreversible steps (outside review, 2026-12-01: EISDIR/EIO/EACCES were taken as
  // an empty history and every signed entry became an unsigned tail).
  const data = await readFile(path).catch(missingAs(new Uint8Array(0), path));
  const scan = scanFrames(data);
  if (scan.damage !== undefined && !(scan.damage.torn && repairTornTail)) {
    throw new AuditCorruptError(`${path}: ${scan.damage.message} at byte ${scan.damage.offset}${scan.damage.torn ? ' (torn last record: reopen with repairTornTail to cut it)' : ''}`, scan.damage.offset);
  }
  // Every record is checked, not only the newest: the history is kept as it is (docs/AUDIT.md §4.7).
  const notes = noteTexts(path, scan.records);
  return { note: notes[notes.length - 1], end: Math.max(scan.validEnd, MAGIC.length) };
}

/** Migrates `dir` (see the module comment). The caller holds the sequencer lock. */
export async function migrateFileLegacy(dir: string, tiles: TileFiles, keys: RecordKeys, verifier: NoteVerifier, repairTornTail: boolean): Promise<void> {
  const progressPath = join(dir, 'migration');
  const progressText = await readFile(progressPath, 'utf8').catch(missingAs(JSON.stringify({ size: 0, offset: MAGIC.length }), progressPath));
  let progress: Progress;
  try {
    progress = JSON.parse(progressText) as Progress;
  } catch {
    progress = { size: -1, offset: -1 };
  }
  if (!Number.isSafeInteger(progress?.size) || progress.size < 0 || !Number.isSafeInteger(progress.offset) || progress.offset < MAGIC.length) {
    throw new AuditCorruptError(`${progressPath}: not the migration's progress record`);
  }
  const history = await latestCheckpoint(join(dir, 'checkpoints'), repairTornTail);
  let cp: { size: number; rootHash: Uint8Array } | undefined;
  if (history.note !== undefined) {
    try {
      cp = openCheckpoint(history.note, verifier, keys.origin).checkpoint;
    } catch (cause) {
      throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
    }
  }
  const covered = cp?.size ?? 0;
  // Resume from the last chunk recorded: its tiles (and the partial ones at its size) are on disk.
  const partials: Uint8Array[] = [];
  for (const t of edgeTiles(progress.size)) partials[t.level as number] = (await tiles.readTile(t.level as number, t.index, t.width))!;
  const w = progress.size % TILE_WIDTH;
  const bundle = w === 0 ? [] : await tiles.readBundle(Math.floor(progress.size / TILE_WIDTH), w);
  const edge = TileEdge.fromPartials(progress.size, partials, bundle ?? []);
  const file = await open(join(dir, 'entries'), 'r');
  const beyond: Uint8Array[] = [];
  try {
    for await (const { records, end } of chunks(file, progress.offset, repairTornTail, join(dir, 'entries'))) {
      for (const e of records) {
        if (e.length > MAX_BUNDLE_ENTRY) throw new AuditCorruptError(`entry ${edge.size} is ${e.length} bytes, more than a tlog-tiles bundle holds`, edge.size);
        if (edge.size < covered) edge.append(leafHash(e), e);
        else beyond.push(e);
      }
      await tiles.write(edge.take());
      // Resume point: everything before `end` is in tiles (an unsigned tail is kept whole for the end).
      if (beyond.length === 0) {
        await replaceFile(progressPath, enc.encode(JSON.stringify({ size: edge.size, offset: end } satisfies Progress)));
        await syncDir(dir);
        fileMigration.afterChunk?.(edge.size);
      }
    }
  } finally {
    await file.close();
  }
  if (cp !== undefined && edge.size < cp.size) {
    throw new AuditCorruptError(`checkpoint (size ${cp.size}) commits to more entries than the log holds (${edge.size}): entries were removed`, edge.size);
  }
  if (cp !== undefined && !equalBytes(edge.root(), cp.rootHash)) throw new AuditCorruptError(`stored entries do not match the latest checkpoint (size ${cp.size})`, cp.size);
  // An unsigned tail of 0.1 goes past the head, as bundles no signature covers.
  if (beyond.length > 0) {
    const rest = edge.clone();
    for (const e of beyond) rest.append(leafHash(e), e);
    await tiles.write(rest.take().filter((w) => w.level === 'entries'));
  }
  const note = history.note;
  // A log with entries needs a replay guard (replay-guard.ts). 0.1 had no outbox, but a store
  // writer can make a tiled log look like 0.1 again: the guard refuses what was sealed before now.
  let guard: string | null = null;
  if (note !== undefined) {
    const size = cp?.size ?? 0;
    const lastBundle = size === 0 ? [] : ((await tiles.readBundle(Math.floor((size - 1) / TILE_WIDTH), ((size - 1) % TILE_WIDTH) + 1)) ?? []);
    const at = { size, root: cp?.rootHash ?? edge.root() };
    guard = toBase64(ReplayGuard.afterMigration(at, Date.now(), resetFloor(lastBundle, 0)).seal(keys.mac, at));
  }
  const head = { note, history: history.end, pending: null, cursors: {}, receipts: [], guard };
  if (note !== undefined) {
    await replaceFile(join(dir, 'checkpoint'), enc.encode(note));
  }
  await replaceFile(join(dir, 'head'), Buffer.concat([MAGIC, frame(enc.encode(note ?? '')), frame(enc.encode(JSON.stringify(head)))]));
  await replaceFile(join(dir, 'layout'), enc.encode('keywarden-audit-tiles/v1\n'));
  await rename(join(dir, 'entries'), join(dir, 'entries.v1'));
  await rm(progressPath, { force: true });
  await syncDir(dir);
}
