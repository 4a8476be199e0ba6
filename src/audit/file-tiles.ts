/**
 * Tiles and entry bundles as files at their C2SP tlog-tiles paths (`tile/<L>/<N>[.p/<W>]`,
 * `tile/entries/<N>[.p/<W>]`) under a directory (Node only). Each file is written whole
 * (temporary file, fdatasync, rename) and its directory synced before the step that needs it
 * commits. A partial file is kept until its full tile exists (readers asking for an older size
 * then take a prefix of the full one, which tlog-tiles §"Partial Tiles" allows).
 * @module
 */
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TileWrite } from './tile-edge.js';
import { TILE_WIDTH, decodeBundle, encodeBundle, levelSpan, tilePath } from './tiles.js';
import { HASH_SIZE } from './merkle.js';
import { PUBLIC_DIR_MODE, PUBLIC_FILE_MODE, replaceFile, syncDir, syncDirsOf } from './framing.js';

const missing = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as { code?: string }).code ?? '');

async function readOrUndefined(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if (missing(err)) return undefined;
    throw err;
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (missing(err)) return [];
    throw err;
  }
}

/**
 * The highest index stored under `dir` (a `tile/<L>` or `tile/entries` directory), full or
 * partial, or undefined: an index written with more path groups is larger, so the walk goes down
 * the largest `xNNN` group that holds anything — one directory listing per level, whatever the
 * log's size.
 */
async function highestIndex(dir: string, above = 0): Promise<number | undefined> {
  const list = await names(dir);
  const groups = list.filter((n) => /^x[0-9]{3}$/.test(n)).sort().reverse();
  for (const g of groups) {
    const found = await highestIndex(join(dir, g), above * 1000 + Number(g.slice(1)));
    if (found !== undefined) return found;
  }
  const leaves = list.map((n) => /^([0-9]{3})(?:\.p)?$/.exec(n)?.[1]).filter((n) => n !== undefined).map(Number);
  return leaves.length === 0 ? undefined : above * 1000 + Math.max(...leaves);
}

async function widths(pDir: string): Promise<number[]> {
  try {
    return (await readdir(pDir)).filter((n) => /^[1-9][0-9]{0,2}$/.test(n)).map(Number).filter((w) => w < TILE_WIDTH).sort((a, b) => a - b);
  } catch (err) {
    if (missing(err)) return [];
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (missing(err)) return false;
    throw err;
  }
}

/** The tiles and bundles of one log directory. */
export class TileFiles {
  readonly root: string;
  readonly #dirs = new Set<string>();
  readonly #fileMode: number;
  readonly #dirMode: number;

  /** `public`: files and directories readable by others (an export), else owner-only (a store). */
  constructor(root: string, options?: { public?: boolean }) {
    this.root = root;
    this.#fileMode = options?.public === true ? PUBLIC_FILE_MODE : 0o600;
    this.#dirMode = options?.public === true ? PUBLIC_DIR_MODE : 0o700;
  }

  /** Absolute path of a tile or bundle. */
  path(level: number | 'entries', index: number, width: number): string {
    return join(this.root, tilePath(level, index, width));
  }

  /**
   * The stored bytes of (level, index) with at least `width` hashes or entries: the full file,
   * the exact partial, or the narrowest wider partial; undefined when none is stored.
   */
  async read(level: number | 'entries', index: number, width: number): Promise<Uint8Array | undefined> {
    return (await this.#locate(level, index, width))?.data;
  }

  /** {@link read}, with the width the file's name declares. */
  async #locate(level: number | 'entries', index: number, width: number): Promise<{ data: Uint8Array; width: number } | undefined> {
    const full = this.path(level, index, TILE_WIDTH);
    if (width < TILE_WIDTH) {
      const exact = await readOrUndefined(this.path(level, index, width));
      if (exact !== undefined) return { data: exact, width };
    }
    const f = await readOrUndefined(full);
    if (f !== undefined) return { data: f, width: TILE_WIDTH };
    for (const w of await widths(`${full}.p`)) {
      if (w > width) {
        const data = await readOrUndefined(this.path(level, index, w));
        return data === undefined ? undefined : { data, width: w };
      }
    }
    return undefined;
  }

  /** Hashes of tile (level, index) with at least `width` of them (see {@link read}). */
  async readTile(level: number, index: number, width: number): Promise<Uint8Array | undefined> {
    const t = await this.#locate(level, index, width);
    // A file holds exactly the hashes its name declares, 256 for a full tile (C2SP tlog-tiles): a
    // partial one with more passed as good (outside review 7). A narrower width may be read from a
    // wider file.
    return t === undefined || t.data.length !== t.width * HASH_SIZE ? undefined : t.data;
  }

  /** The first `width` entries of bundle `index`, or undefined when not stored (or not a bundle). */
  async readBundle(index: number, width: number): Promise<Uint8Array[] | undefined> {
    const b = await this.#locate('entries', index, width);
    const entries = b === undefined ? undefined : decodeBundle(b.data);
    // Exactly as many entries as the file's name declares (C2SP tlog-tiles; see readTile); a
    // narrower width may be read from a wider file.
    if (b === undefined || entries === undefined || entries.length !== b.width) return undefined;
    return entries.slice(0, width);
  }

  /**
   * Writes tiles and bundles (each atomically) and syncs every directory that gained a name.
   * Returns the paths written, for {@link unlink} if the step they belong to fails.
   */
  async write(writes: readonly TileWrite[]): Promise<string[]> {
    const paths = writes.map((w) => this.path(w.level, w.index, w.width));
    const created = new Set<string>();
    try {
      for (const p of paths) await this.#mkdirs(dirname(p), created);
      const results = await Promise.allSettled(writes.map((w, i) => replaceFile(paths[i]!, w.data, this.#fileMode)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await Promise.all([...created].map(syncDir));
      await syncDirsOf(paths);
    } catch (err) {
      // None of these files may stay: they are past the head. If they cannot be removed either,
      // the caller must stop (`undone: false`).
      const undone = await this.unlink(paths).then(() => true, () => false);
      throw Object.assign(err instanceof Error ? err : new Error(String(err)), { undone });
    }
    return paths;
  }

  /** Removes files written by a step that failed (best effort is not enough: throws on failure). */
  async unlink(paths: readonly string[]): Promise<void> {
    await Promise.all(paths.map((p) => rm(p, { force: true })));
    await syncDirsOf(paths);
  }

  /** After a step committed: the partial versions of every tile it completed are no longer needed. */
  async dropSuperseded(writes: readonly TileWrite[]): Promise<void> {
    const dirs = writes.filter((w) => w.width === TILE_WIDTH).map((w) => `${this.path(w.level, w.index, TILE_WIDTH)}.p`);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }

  /**
   * Entries stored beyond a tree of `size` (files no tree head covers: a batch that never
   * committed, or forged): the entries past `size` in the bundle that holds index `size`, and in
   * the bundle after it.
   */
  async entriesBeyond(size: number): Promise<Uint8Array[]> {
    const n = Math.floor(size / TILE_WIDTH);
    const w = size % TILE_WIDTH;
    const out: Uint8Array[] = [];
    const widest = async (index: number, above: number): Promise<Uint8Array[] | undefined> => {
      const full = await readOrUndefined(this.path('entries', index, TILE_WIDTH));
      if (full !== undefined) return decodeBundle(full) ?? [full];
      const ws = (await widths(`${this.path('entries', index, TILE_WIDTH)}.p`)).filter((x) => x > above);
      if (ws.length === 0) return undefined;
      const b = await readOrUndefined(this.path('entries', index, ws[ws.length - 1]!));
      return b === undefined ? undefined : decodeBundle(b) ?? [b];
    };
    out.push(...((await widest(n, w))?.slice(w) ?? []));
    out.push(...((await widest(n + 1, 0)) ?? []));
    // Anything further on was planted (outside review, 2026-12-01: a forged bundle two bundles
    // on passed verify and open, then blocked every open once the log grew up to it).
    const top = await highestIndex(join(this.root, 'tile', 'entries'));
    if (top !== undefined && top > n + 1) out.push(...((await widest(top, 0)) ?? [new Uint8Array(0)]));
    return out;
  }

  /**
   * Cuts the stored tree back to `size` (the operator's repair): makes sure the partial tile of
   * every level and the partial bundle at `size` exist (derived from a wider or full one), then
   * removes every file beyond `size`.
   */
  async cutTo(size: number): Promise<void> {
    const kinds: (number | 'entries')[] = ['entries'];
    for (let level = 0; level < 8 && (await exists(join(this.root, 'tile', String(level)))); level++) kinds.push(level);
    for (const kind of kinds) {
      const nodes = kind === 'entries' ? size : Math.floor(size / levelSpan(kind));
      const n = Math.floor(nodes / TILE_WIDTH);
      const w = nodes % TILE_WIDTH;
      if (w > 0 && (await readOrUndefined(this.path(kind, n, w))) === undefined) {
        const wider = await this.read(kind, n, w);
        if (wider !== undefined) {
          const data = kind === 'entries' ? encodeBundle((decodeBundle(wider) ?? []).slice(0, w)) : wider.slice(0, w * HASH_SIZE);
          await this.write([{ level: kind, index: n, width: w, data }]);
        }
      }
      const full = this.path(kind, n, TILE_WIDTH);
      for (const x of await widths(`${full}.p`)) if (x > w) await rm(this.path(kind, n, x), { force: true });
      await rm(full, { force: true });
      await rm(this.path(kind, n + 1, TILE_WIDTH), { force: true });
      await rm(`${this.path(kind, n + 1, TILE_WIDTH)}.p`, { recursive: true, force: true });
      // And whatever was planted further on, highest first.
      for (let top = await highestIndex(join(this.root, 'tile', String(kind))); top !== undefined && top > n; top = await highestIndex(join(this.root, 'tile', String(kind)))) {
        await rm(this.path(kind, top, TILE_WIDTH), { force: true });
        await rm(`${this.path(kind, top, TILE_WIDTH)}.p`, { recursive: true, force: true });
      }
      await syncDir(dirname(full)).catch(() => undefined);
    }
  }

  async #mkdirs(dir: string, created: Set<string>): Promise<void> {
    if (this.#dirs.has(dir)) return;
    const first = await mkdir(dir, { recursive: true, mode: this.#dirMode });
    if (first !== undefined) {
      // Every directory from the first one created down to `dir` gained a name in its parent.
      for (let d = dir; d.length >= first.length; d = dirname(d)) created.add(dirname(d));
    }
    this.#dirs.add(dir);
  }
}
