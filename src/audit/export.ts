/**
 * Publishing a log for auditors and witnesses (docs/AUDIT.md §7): its newest checkpoint, tiles
 * and entry bundles written as static files in the C2SP tlog-tiles layout (Node only), so any
 * tlog-tiles client — Go's golang.org/x/mod/sumdb/tlog among them — can fetch them from a web
 * server or a bucket and verify proofs itself.
 *
 * Incremental: the directory's own `checkpoint` says how far an earlier export got; the tiles are
 * recomputed from the entries added since (starting from the partial tiles exported last time,
 * which must still hash to that checkpoint), and the new `checkpoint` is written last, and only
 * when the recomputed root equals its root — so a published directory never holds a checkpoint
 * its tiles do not prove.
 * @module
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditCorruptError, InvalidInputError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { openCheckpoint } from './checkpoint.js';
import { TileFiles } from './file-tiles.js';
import { replaceFile, syncDir } from './framing.js';
import { HASH_SIZE, leafHash } from './merkle.js';
import { newNoteVerifier } from './note.js';
import { TileEdge, type TileWrite } from './tile-edge.js';
import { TILE_WIDTH, edgeTiles } from './tiles.js';

/** What an export reads: the newest checkpoint and the entries from an index on. */
export interface ExportSource {
  latest(): Promise<string | undefined>;
  entries(from: number): AsyncIterable<Uint8Array>;
}

/** What an export did. */
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
 * @throws AuditCorruptError when the newest checkpoint does not verify, when the directory's own
 * checkpoint or tiles are damaged, or when the entries do not hash to the checkpoint.
 * @example
 * ```ts
 * const { from, size, files } = await exportLog(source, './public/log', verifierKey);
 * ```
 */
export async function exportLog(source: ExportSource, outDir: string, verifierKey: string): Promise<ExportResult> {
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
  await mkdir(outDir, { recursive: true });
  const out = new TileFiles(outDir);
  const previous = await readFile(join(outDir, 'checkpoint'), 'utf8').catch(() => undefined);
  const prev = previous === undefined ? { size: 0 } : open(previous, `${join(outDir, 'checkpoint')}`);
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
  if ('rootHash' in prev && !equalBytes(edge.root(), prev.rootHash)) throw new AuditCorruptError(`${outDir}: the tiles of the previous export do not match its checkpoint; export into a new directory`);

  let files = 0;
  let pending: TileWrite[] = [];
  const flush = async () => {
    await out.write(pending);
    files += pending.length;
    pending = [];
  };
  if (cp.size > prev.size) {
    for await (const e of source.entries(prev.size)) {
      edge.append(leafHash(e), e);
      if (edge.size % TILE_WIDTH === 0) pending.push(...edge.takeCompleted());
      if (pending.length >= GROUP) await flush();
      if (edge.size === cp.size) break;
    }
    if (edge.size < cp.size) throw new AuditCorruptError(`the checkpoint commits to ${cp.size} entries, the store holds ${edge.size}`, edge.size);
    pending.push(...edge.take());
    await flush();
  }
  if (!equalBytes(edge.root(), cp.rootHash)) throw new AuditCorruptError(`the entries do not hash to the checkpoint (size ${cp.size}): nothing published`, prev.size);
  await replaceFile(join(outDir, 'checkpoint'), new TextEncoder().encode(note));
  await syncDir(outDir);
  return { from: prev.size, size: cp.size, files };
}
