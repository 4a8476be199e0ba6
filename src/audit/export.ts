/**
 * Publishing a log for auditors and witnesses (docs/AUDIT.md §7): its newest checkpoint, tiles
 * and entry bundles written as static files in the C2SP tlog-tiles layout (Node only), so any
 * tlog-tiles client — Go's golang.org/x/mod/sumdb/tlog among them — can fetch them from a web
 * server or a bucket and verify proofs itself.
 *
 * Incremental: the directory's own `checkpoint` says how far an earlier export got; the tiles are
 * recomputed from the entries added since (starting from the partial tiles exported last time,
 * which must still hash to that checkpoint; every full tile and bundle published before is
 * recomputed from the entries and must equal its file — a read of the whole log, writes stay
 * incremental), and the new `checkpoint` is written last, and only
 * when the recomputed root equals its root — so a published directory never holds a checkpoint
 * its tiles do not prove.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { AuditCorruptError, AuditUnavailableError, InvalidInputError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { ownOptions } from '../util/validate.js';
import { openCheckpoint } from './checkpoint.js';
import { closedHere, lockText, openedHere, takeLock } from './file-lock.js';
import { TileFiles } from './file-tiles.js';
import { PUBLIC_DIR_MODE, PUBLIC_FILE_MODE, replaceFile, syncDir } from './framing.js';
import { HASH_SIZE, leafHash } from './merkle.js';
import { newNoteVerifier } from './note.js';
import { TileEdge, type TileWrite } from './tile-edge.js';
import { TILE_WIDTH, edgeTiles, levelSpan, tilePath } from './tiles.js';

/** What an export reads: the newest checkpoint and the entries from an index on. */
export interface ExportSource {
  latest(): Promise<string | undefined>;
  entries(from: number): AsyncIterable<Uint8Array>;
}

/** What an export did. */
/**
 * Options of {@link exportLog}.
 *
 * @example
 * ```ts
 * await exportLog(source, './public/log', verifierKey, { trustPublished: true }); // O(new entries) on a huge log
 * ```
 */
export interface ExportOptions {
  /**
   * Skip re-reading the full tiles and bundles an earlier export published (default false). By
   * default every export recomputes them from the log's entries and refuses a missing or changed
   * one (`ERR_AUDIT_CORRUPT`) before it writes anything: a read of the whole log. With `true`
   * only the entries added since are read (the edge's partial tiles are still checked), and a
   * changed full tile below the edge is left for clients to detect (their tile hash check does)
   * and for `keywarden audit verify --dir OUT` — for logs too large to re-read at every export.
   */
  trustPublished?: boolean;
}

export interface ExportResult {
  /** Tree size of the checkpoint exported before (0 for a new directory). */
  from: number;
  /** Tree size of the checkpoint exported now. */
  size: number;
  /** Tiles and bundles written. */
  files: number;
}

/** Files written per group (one parallel round of fdatasyncs). */
const GROUP = 256;

/**
 * Exports the log read from `source` into `outDir` (see the module comment).
 *
 * Reads the new entries twice: once to check that they hash to the checkpoint, before any file
 * is written, and once to write them. One export at a time per directory (a lock file there).
 *
 * @throws AuditCorruptError when the newest checkpoint does not verify, when the directory's own
 * checkpoint or tiles are damaged, or when the entries do not hash to the checkpoint (then
 * nothing is written).
 * @throws AuditUnavailableError while another export into the same directory runs.
 * @example
 * ```ts
 * const { from, size, files } = await exportLog(source, './public/log', verifierKey);
 * ```
 */
export async function exportLog(source: ExportSource, outDir: string, verifierKey: string, options?: ExportOptions): Promise<ExportResult> {
  const { trustPublished } = ownOptions('options', options, ['trustPublished']);
  if (trustPublished !== undefined && typeof trustPublished !== 'boolean') throw new InvalidInputError('options.trustPublished', 'expected boolean');
  const verifier = newNoteVerifier(verifierKey);
  const note = await source.latest();
  if (note === undefined) throw new InvalidInputError('source', 'the log has no checkpoint to export yet');
  const open = (n: string, what: string) => {
    try {
      return openCheckpoint(n, verifier, verifier.name).checkpoint;
    } catch (cause) {
      throw new AuditCorruptError(`${what} does not verify under this log's key: ${(cause as Error).message}`);
    }
  };
  const cp = open(note, 'the newest checkpoint');
  // 0755 less the umask, like every published directory: never 0777 (outside review 6: under a
  // umask of 0 the published directory was world-writable).
  await mkdir(outDir, { recursive: true, mode: PUBLIC_DIR_MODE });
  // One export at a time per directory: the "never go back" check below and the final
  // `checkpoint` write must see no other export in between, or an export of an older checkpoint
  // that finishes last rolls the published one back (outside review, 2026-12-01).
  const instance = Buffer.from(randomBytes(16)).toString('hex');
  const lockPath = join(outDir, LOCK_NAME);
  openedHere(instance);
  try {
    if (!(await takeLock(lockPath, lockText(instance)))) {
      throw new AuditUnavailableError(`${outDir}: another export into this directory is running (${LOCK_NAME}); try again when it is done`);
    }
    try {
      return await exportLocked(source, outDir, note, cp, open, trustPublished === true);
    } finally {
      await rm(lockPath, { force: true });
    }
  } finally {
    closedHere(instance);
  }
}

/** The lock file of an export in progress (a dot file: not part of the tlog-tiles layout). */
const LOCK_NAME = '.keywarden-export.lock';

async function exportLocked(
  source: ExportSource, outDir: string, note: string, cp: { size: number; rootHash: Uint8Array },
  open: (n: string, what: string) => { size: number; rootHash: Uint8Array },
  trustPublished: boolean,
): Promise<ExportResult> {
  // Published files are public: readable by the web server's user, as the umask allows (the
  // store's own files are owner-only; outside review, 2026-12-01).
  const out = new TileFiles(outDir, { public: true });
  const previous = await readFile(join(outDir, 'checkpoint'), 'utf8').catch(() => undefined);
  const prev: { size: number; rootHash?: Uint8Array } = previous === undefined ? { size: 0 } : open(previous, `${join(outDir, 'checkpoint')}`);
  if (prev.size > cp.size) throw new AuditCorruptError(`${outDir} already holds a checkpoint of size ${prev.size}, newer than the log's (${cp.size})`, cp.size);

  const partials: Uint8Array[] = [];
  for (const t of edgeTiles(prev.size)) partials[t.level as number] = (await out.readTile(t.level as number, t.index, t.width))!;
  const w = prev.size % TILE_WIDTH;
  const bundle = w === 0 ? [] : await out.readBundle(Math.floor(prev.size / TILE_WIDTH), w);
  // The partial bundle is carried into the next one: its entries must be those the level-0 tile
  // (checked against the checkpoint below) hashes, or an entry changed in the previous export
  // would be published again under the new checkpoint (found by an outside review).
  const level0 = partials[0];
  if (bundle !== undefined && w > 0 && level0 !== undefined && level0.length >= w * HASH_SIZE) {
    for (let i = 0; i < w; i++) {
      if (bundle[i] === undefined || !equalBytes(leafHash(bundle[i]!), level0.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) {
        throw new AuditCorruptError(`${outDir}: entry ${prev.size - w + i} of the previous export's partial bundle does not match its tiles; export into a new directory`, prev.size - w + i);
      }
    }
  }
  let edge: TileEdge;
  try {
    edge = TileEdge.fromPartials(prev.size, partials, bundle ?? []);
  } catch (err) {
    throw new AuditCorruptError(`${outDir}: the files of the previous export are incomplete (${(err as Error).message}); export into a new directory`);
  }
  if (prev.rootHash !== undefined && !equalBytes(edge.root(), prev.rootHash)) throw new AuditCorruptError(`${outDir}: the tiles of the previous export do not match its checkpoint; export into a new directory`);

  // Every full tile and bundle the previous export published must still be what the entries
  // make: the edge check above does not read them (outside review 6: a changed `tile/0/000`
  // stayed published under the next checkpoint).
  if (!trustPublished) await checkPublished(source, out, prev.size);

  // First pass, nothing written: the entries must hash to the checkpoint. Published tiles and
  // bundles are immutable (clients and caches keep them for good), so none may be written from
  // entries that turn out not to be the log's (outside review, 2026-12-01: full tiles of
  // tampered entries stayed published although the export reported "nothing published").
  if (cp.size > prev.size) {
    const check = edge.clone();
    await appendAll(source, check, cp.size, () => void check.takeCompleted());
    if (!equalBytes(check.root(), cp.rootHash)) throw new AuditCorruptError(`the entries do not hash to the checkpoint (size ${cp.size}): nothing published`, prev.size);
  } else if (!equalBytes(edge.root(), cp.rootHash)) {
    throw new AuditCorruptError(`the entries do not hash to the checkpoint (size ${cp.size}): nothing published`, prev.size);
  }

  // Second pass: the same entries again, written. A source that changed between the passes is
  // caught before the checkpoint is replaced (the files written then are past the published
  // checkpoint, never served as part of it, and rewritten by the next export).
  let files = 0;
  let pending: TileWrite[] = [];
  const safe = new Set<string>();
  const flush = async () => {
    for (const w of pending) await realDirs(outDir, dirname(out.path(w.level, w.index, w.width)), safe);
    await out.write(pending);
    files += pending.length;
    pending = [];
  };
  if (cp.size > prev.size) {
    await appendAll(source, edge, cp.size, async () => {
      pending.push(...edge.takeCompleted());
      if (pending.length >= GROUP) await flush();
    });
    pending.push(...edge.take());
    await flush();
  }
  if (!equalBytes(edge.root(), cp.rootHash)) throw new AuditCorruptError(`the entries changed during the export (size ${cp.size}): the checkpoint was not replaced`, prev.size);
  await replaceFile(join(outDir, 'checkpoint'), new TextEncoder().encode(note), PUBLIC_FILE_MODE);
  await syncDir(outDir);
  return { from: prev.size, size: cp.size, files };
}

/**
 * Recomputes, from the source's entries, every full tile and bundle a tree of `size` entries
 * holds, and compares each with the file published in `out`, byte for byte.
 *
 * @throws AuditCorruptError naming the first file that is missing or different.
 */
async function checkPublished(source: ExportSource, out: TileFiles, size: number): Promise<void> {
  const full = Math.floor(size / TILE_WIDTH) * TILE_WIDTH;
  if (full === 0) return;
  const edge = TileEdge.empty(true);
  const compare = async () => {
    for (const t of edge.takeCompleted()) {
      // Only tiles wholly inside the published tree (a higher level's tile completes later).
      const span = t.level === 'entries' ? TILE_WIDTH : TILE_WIDTH * levelSpan(t.level);
      if ((t.index + 1) * span > size) continue;
      const file = await readFile(out.path(t.level, t.index, TILE_WIDTH)).catch(() => undefined);
      if (file === undefined || !equalBytes(new Uint8Array(file), t.data)) {
        throw new AuditCorruptError(`${out.root}: ${tilePath(t.level, t.index)} of the previous export is missing or does not match the log's entries; export into a new directory`, t.index * span);
      }
    }
  };
  await appendAll(source, edge, full, compare);
}

/**
 * Makes sure `dir` (inside `root`) and every directory between them are real directories, never
 * symbolic links: an export writes only inside its directory (outside review 6: `OUT/tile` a link
 * elsewhere, and the tiles were written there). Creates the missing ones, one level at a time.
 */
async function realDirs(root: string, dir: string, checked: Set<string>): Promise<void> {
  if (checked.has(dir)) return;
  const rel = relative(root, dir);
  if (rel.startsWith('..') || rel === '') return;
  let d = root;
  for (const part of rel.split(sep)) {
    d = join(d, part);
    if (checked.has(d)) continue;
    let st = await lstat(d).catch((err: { code?: string }) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) {
      await mkdir(d, { mode: PUBLIC_DIR_MODE }).catch((err: { code?: string }) => {
        if (err.code !== 'EEXIST') throw err;
      });
      await syncDir(dirname(d));
      st = await lstat(d);
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new AuditCorruptError(`${d} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}: an export writes only inside ${root}; remove it, or export into a new directory`);
    }
    checked.add(d);
  }
}

/** Appends the source's entries from `edge.size` up to `size`; `onTile` after every full level-0 tile. */
async function appendAll(source: ExportSource, edge: TileEdge, size: number, onTile: () => void | Promise<void>): Promise<void> {
  if (edge.size >= size) return;
  for await (const e of source.entries(edge.size)) {
    edge.append(leafHash(e), e);
    if (edge.size % TILE_WIDTH === 0) await onTile();
    if (edge.size === size) break;
  }
  if (edge.size < size) throw new AuditCorruptError(`the checkpoint commits to ${size} entries, the store holds ${edge.size}`, edge.size);
}
