/**
 * What AuditLog.open (and a sequencer taking over) checks before it trusts a store, at a cost
 * independent of the log's size (docs/AUDIT.md §4, "Opening"):
 *
 * 1. the newest checkpoint is signed by the log key;
 * 2. the partial tiles of the tree at the checkpoint's size hash to the checkpoint's root (so
 *    the right edge every later append extends is the signed one);
 * 3. the newest tree head is signed by the log key and is not behind the checkpoint;
 * 4. the tail — entries integrated after the checkpoint, bounded by the checkpoint interval — is
 *    re-integrated from the checkpoint's edge: every entry parses strictly, every tile it
 *    completes or changes equals the stored one, and the resulting root is the tree head's;
 * 5. the store holds nothing beyond the tree head (entries nobody signed: never adopted).
 *
 * Every older entry is covered by the checkpoint's signature; `audit verify` is the full check.
 * @module
 */
import { AuditCorruptError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { type Checkpoint, openCheckpoint } from './checkpoint.js';
import { decodeEntry } from './entry.js';
import { HASH_SIZE, emptyRoot, leafHash } from './merkle.js';
import type { NoteVerifier } from './note.js';
import { type TreeHead, openTreeHead } from './records.js';
import type { AuditStore, AuditStoreState } from './store.js';
import { TileEdge } from './tile-edge.js';
import { TILE_WIDTH, edgeTiles, tilePath } from './tiles.js';

/** A store whose signed statements and tail checked out. */
export interface VerifiedState {
  /** The right edge at the tree head (what a sequencer extends). */
  edge: TileEdge;
  size: number;
  root: Uint8Array;
  head: string | undefined;
  checkpoint: string | undefined;
  checkpointSize: number;
  /** The outbox replay guard stored with the head (opened by the sequencer, replay-guard.ts). */
  guard: Uint8Array | undefined;
  /** `checkpoint` and `head` as parsed once their signatures verified (reused by the log). */
  verified: { checkpoint: Checkpoint | undefined; head: TreeHead | undefined };
  /** Entries past the head were left to the live sequencer stepping elsewhere (see inspectStore): the next holder judges them. */
  tailUnjudged?: boolean;
}

/**
 * A store that did not check out. `dropTo`, when set, is the size an operator repair may cut the
 * log back to (the newest point a signature still vouches for, never below the checkpoint).
 */
export interface InspectProblem {
  message: string;
  at: number | undefined;
  dropTo: number | undefined;
  /** The signed note to keep as the tree head after a repair (when the head itself is sound). */
  keepHead: string | undefined;
  /** The root at `dropTo`. */
  rootAtDrop: Uint8Array | undefined;
  /** The problem is entries past the head while another live instance holds the sequencer role. */
  tailElsewhere?: boolean;
}

const READ_CHUNK = 4096;

/** Reads the partial tiles (and bundle) of a tree of `size` and builds its edge. */
export async function edgeAt(store: AuditStore, size: number): Promise<TileEdge> {
  const partials: (Uint8Array | undefined)[] = [];
  await Promise.all(edgeTiles(size).map(async (t) => {
    partials[t.level as number] = await store.readTile(t.level as number, t.index, t.width);
  }));
  const bundle = store.keepsBundles ? (size % TILE_WIDTH === 0 ? [] : await store.read(size - (size % TILE_WIDTH), size)) : undefined;
  return TileEdge.fromPartials(size, partials, bundle);
}

/**
 * Inspects `store` (see the module comment). Never throws for bad stored data: returns the
 * problem instead; store failures propagate.
 */
export async function inspectStore(store: AuditStore, verifier: NoteVerifier, origin: string): Promise<VerifiedState | InspectProblem> {
  let state = await store.state();
  for (let attempt = 1; ; attempt++) {
    let r = await inspectAt(store, verifier, origin, state);
    // Entries past the head while another instance holds the role: a store whose step writes its
    // files before its head (files) shows its step in flight that way. Only a head that moves —
    // a new tree head signed with the log's key — shows a live sequencer at work; then the tail is
    // its own, judged by the next holder (outside review, 2026-12-01: 33 of 60 opens of a busy,
    // healthy file log were refused; a lock naming any live pid must not make a forged tail pass).
    if (isProblem(r) && r.tailElsewhere === true) {
      const moved = await headMoves(store, state.head);
      if (moved === undefined) return r;
      state = moved;
      r = await inspectAt(store, verifier, origin, state, true);
    }
    if (!isProblem(r) || attempt === MAX_INSPECTIONS) return r;
    // The state and the tail are separate reads: another process's sequencer may have committed
    // a batch (its entries and tree head in one transaction) or a checkpoint in between, and its
    // entries then look uncovered by the older head (test/audit-open-race.test.ts; seen in CI
    // with 4 processes). Inspect again from the newer state; a problem that persists while the
    // state stands still is real.
    const now = await store.state();
    if (now.head === state.head && now.checkpoint === state.checkpoint) return r;
    state = now;
  }
}

/** Inspections of a store whose state keeps moving under a busy sequencer before giving up. */
const MAX_INSPECTIONS = 8;

/** How long a tail past the head may wait for the head to move (see inspectStore). */
const TAIL_WAIT_MS = 2000;

/** The store's state once its head is other than `head`, or undefined if it stays for TAIL_WAIT_MS. */
async function headMoves(store: AuditStore, head: string | undefined): Promise<AuditStoreState | undefined> {
  for (let waited = 0; waited < TAIL_WAIT_MS; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const now = await store.state();
    if (now.head !== head) return now;
  }
  return undefined;
}

async function inspectAt(store: AuditStore, verifier: NoteVerifier, origin: string, state: AuditStoreState, tailElsewhere = false): Promise<VerifiedState | InspectProblem> {
  const { head: headNote, checkpoint } = state;
  const problem = (message: string, at: number | undefined, dropTo?: number, keepHead?: string, rootAtDrop?: Uint8Array): InspectProblem => ({ message, at, dropTo, keepHead, rootAtDrop });

  let cp: Checkpoint | undefined;
  if (checkpoint !== undefined) {
    try {
      cp = openCheckpoint(checkpoint, verifier, origin).checkpoint;
    } catch (cause) {
      return problem(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`, undefined);
    }
  }
  const cpSize = cp?.size ?? 0;
  const cpRoot = cp?.rootHash ?? emptyRoot();

  let edge: TileEdge;
  try {
    edge = await edgeAt(store, cpSize);
  } catch (err) {
    if (err instanceof AuditCorruptError) return problem(`the tiles at the latest checkpoint (size ${cpSize}): ${err.message}`, cpSize);
    throw err;
  }
  if (!equalBytes(edge.root(), cpRoot)) return problem(`stored tiles do not match the latest checkpoint (size ${cpSize})`, cpSize);

  let head: TreeHead | undefined;
  if (headNote !== undefined) {
    try {
      head = openTreeHead(headNote, verifier);
    } catch (err) {
      return problem(`${(err as Error).message}: entries from index ${cpSize} are covered by no valid signature`, cpSize, cpSize, undefined, cpRoot);
    }
  } else if (cpSize > 0) {
    return problem(`the store has a checkpoint of size ${cpSize} but no tree head`, cpSize, cpSize, undefined, cpRoot);
  }
  const size = head?.size ?? 0;
  if (size < cpSize) return problem(`the tree head (size ${size}) is behind the latest checkpoint (size ${cpSize})`, size);
  if (size === cpSize && head !== undefined && !equalBytes(head.root, cpRoot)) {
    return problem(`the tree head and the latest checkpoint disagree about the tree of size ${size}`, size);
  }

  // The tail: re-integrate it from the checkpoint's edge, checking every tile it touched.
  for (let start = cpSize; start < size; start += READ_CHUNK) {
    const end = Math.min(size, start + READ_CHUNK);
    const entries = await store.read(start, end);
    if (entries.length !== end - start) return problem(`entries ${start + entries.length}..${end - 1} are missing (the tree head counts ${size})`, start + entries.length, cpSize, undefined, cpRoot);
    for (let i = 0; i < entries.length; i++) {
      try {
        decodeEntry(entries[i]!);
      } catch (err) {
        return problem(`entry ${start + i} does not parse: ${(err as Error).message}`, start + i, cpSize, undefined, cpRoot);
      }
      edge.append(leafHash(entries[i]!), store.keepsBundles ? entries[i] : undefined);
    }
    for (const w of edge.take()) {
      if (w.level === 'entries') continue;
      const stored = await store.readTile(w.level, w.index, w.width);
      if (stored === undefined || !equalBytes(stored.subarray(0, w.width * HASH_SIZE), w.data)) {
        return problem(`tile ${tilePath(w.level, w.index, w.width)} does not match the entries after the latest checkpoint`, Math.max(cpSize, w.index * TILE_WIDTH ** (w.level + 1)), cpSize, undefined, cpRoot);
      }
    }
  }
  if (size > cpSize && !equalBytes(edge.root(), head!.root)) {
    return problem(`entries from index ${cpSize} do not match the tree head (size ${size})`, cpSize, cpSize, undefined, cpRoot);
  }
  const extra = await store.uncovered(size);
  if (extra.length > 0 && !tailElsewhere) {
    return {
      ...problem(
        `entries from index ${size} (${extra.length} of them) are covered by no signed tree head or checkpoint: records written without the log key, or a batch that never completed`,
        size, size, headNote, edge.root(),
      ),
      ...((await store.sequencerElsewhere?.()) === true && { tailElsewhere: true }),
    };
  }
  return { edge, size, root: edge.root(), head: headNote, checkpoint, checkpointSize: cpSize, guard: state.guard, verified: { checkpoint: cp, head }, ...(extra.length > 0 && { tailUnjudged: true }) };
}

/** True when `r` is a problem rather than a verified state. */
export function isProblem(r: VerifiedState | InspectProblem): r is InspectProblem {
  return 'message' in r;
}
