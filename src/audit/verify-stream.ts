/**
 * The auditor's full check, streaming (docs/AUDIT.md §5): the entries and the checkpoint history
 * are read once, in order, and memory holds only the tree's right edge — O(log n) hashes, plus
 * the partial tiles when stored tiles are checked too — so a log of any size is verified in
 * bounded memory. Checkpoints are matched in lockstep: the history only grows, so each one is
 * checked when the entry stream reaches its size; one smaller than an earlier one is reported as
 * a rollback, and one of the same size as its predecessor with another root as a fork.
 * @module
 */
import { equalBytes, toHex } from '../util/bytes.js';
import { type Checkpoint, openCheckpoint } from './checkpoint.js';
import { decodeEntry } from './entry.js';
import { CompactRange, HASH_SIZE, emptyRoot, leafHash } from './merkle.js';
import { newNoteVerifier } from './note.js';
import { type TreeHead, openTreeHead } from './records.js';
import { TileEdge } from './tile-edge.js';
import type { TileReader } from './tile-tree.js';
import { TILE_WIDTH, levelSpan, tilePath } from './tiles.js';
import { type AuditProblem, type AuditVerifyReport, MAX_PROBLEMS_PER_KIND, ProblemList, checkWitnessOptions, checkWitnesses, headStateProblem, rollbackFromTrusted, verifyInput } from './verify.js';

/** What the streaming verifier reads. */
export interface AuditStreamInput {
  /** The log's published verifier key (`<origin>+<key id>+<base64 key>`). */
  verifierKey: string;
  /** Expected origin; default: the verifier key's name. */
  origin?: string;
  /** Every entry, in log order. */
  entries: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Every checkpoint note the log published, in order of publication. */
  checkpoints: AsyncIterable<string> | Iterable<string>;
  /** The store's newest tree head (entries it covers past the latest checkpoint are pending). */
  head?: string;
  /** See {@link AuditVerifyInput.requireHead}. */
  requireHead?: boolean;
  /** The stored tiles: each is checked against the tiles recomputed from the entries. */
  readTile?: TileReader;
  /** The last checkpoint the auditor trusted. */
  trusted?: string;
  witnesses?: readonly string[];
  witnessQuorum?: number;
  /** See {@link AuditVerifyInput.witnessMaxAgeMs}. */
  witnessMaxAgeMs?: number;
  now?: () => number;
}

/**
 * Verifies a log streamed from its store. Never throws for bad log data (reading the streams may
 * still fail). The report is the same as {@link verifyAuditLog}'s, plus tile checks.
 *
 * @example
 * ```ts
 * const report = await verifyAuditStream({ verifierKey, entries: source.entries(), checkpoints: source.checkpoints(), head, readTile });
 * ```
 */
export async function verifyAuditStream(given: AuditStreamInput): Promise<AuditVerifyReport & { tiles: number }> {
  const input = verifyInput(given, ['readTile']);
  const verifier = newNoteVerifier(input.verifierKey);
  const origin = input.origin ?? verifier.name;
  checkWitnessOptions(input); // before anything is read (outside review 7)
  const problems = new ProblemList();
  let trusted: Checkpoint | undefined;
  if (input.trusted !== undefined) {
    try {
      trusted = openCheckpoint(input.trusted, verifier, origin).checkpoint;
    } catch (err) {
      problems.push({ kind: 'trusted', message: `the trusted checkpoint does not verify: ${(err as Error).message}` });
    }
  }
  let head: TreeHead | undefined;
  if (input.head !== undefined) {
    try {
      head = openTreeHead(input.head, verifier);
    } catch (err) {
      problems.push({ kind: 'head', message: `the tree head does not verify: ${(err as Error).message}`, evidence: [input.head] });
    }
  }
  const wanted = new Set([trusted?.size, head?.size].filter((x): x is number => x !== undefined));
  const roots = new Map<number, Uint8Array>(wanted.has(0) ? [[0, emptyRoot()]] : []);
  const range = CompactRange.empty();
  const edge = input.readTile === undefined ? undefined : TileEdge.empty(false);
  let tiles = 0;
  // Tile mismatches are judged once the signed size is known (past it a store need not have
  // tiles): the first few are kept, the rest only counted, so memory stays bounded.
  const tileProblems: AuditProblem[] = [];
  let tilesNotListed = 0;
  const it = (Symbol.asyncIterator in input.entries ? input.entries[Symbol.asyncIterator]() : (input.entries)[Symbol.iterator]());
  let pos = 0;
  let exhausted = false;

  const checkTiles = async (writes: ReturnType<TileEdge['take']>) => {
    for (const w of writes) {
      if (w.level === 'entries') continue;
      tiles++;
      const stored = await input.readTile!(w.level, w.index, w.width);
      // A partial tile may come back wider (a store keeps the widest it has); a full one is
      // exactly 256 hashes (C2SP tlog-tiles).
      const size = w.width * HASH_SIZE;
      if (stored === undefined || stored.length < size || (w.width === TILE_WIDTH && stored.length !== size) || !equalBytes(stored.subarray(0, size), w.data)) {
        if (tileProblems.length === MAX_PROBLEMS_PER_KIND) tilesNotListed++;
        else tileProblems.push({ kind: 'tile', index: w.index * levelSpan(w.level + 1), message: `tile ${tilePath(w.level, w.index, w.width)} ${stored === undefined ? 'is missing' : 'does not match the entries'}` });
      }
    }
  };
  const advance = async (to: number) => {
    while (pos < to && !exhausted) {
      const next = await it.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      try {
        decodeEntry(next.value);
      } catch (err) {
        problems.push({ kind: 'entry', index: pos, message: `entry ${pos} does not parse: ${(err as Error).message}` });
      }
      const h = leafHash(next.value);
      range.append(h);
      pos++;
      if (edge !== undefined) {
        edge.append(h);
        if (pos % TILE_WIDTH === 0) await checkTiles(edge.takeCompleted());
      }
      if (wanted.has(pos)) roots.set(pos, range.root());
    }
  };

  let latest: { cp: Checkpoint; pos: number; note: string } | undefined;
  let prev: { cp: Checkpoint; pos: number; note: string } | undefined;
  let lastGood = 0;
  let count = 0;
  for await (const note of input.checkpoints) {
    const at = count++;
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, verifier, origin).checkpoint;
    } catch (err) {
      problems.push({ kind: 'checkpoint-signature', checkpoint: at, message: `checkpoint ${at} is not a valid checkpoint signed by the log: ${(err as Error).message}` });
      continue;
    }
    if (prev !== undefined && prev.cp.size === cp.size && !equalBytes(prev.cp.rootHash, cp.rootHash)) {
      problems.push({ kind: 'fork', checkpoint: at, message: `checkpoints ${prev.pos} and ${at} are both signed for size ${cp.size} with different roots: the log forked`, evidence: [prev.note, note] });
    }
    prev = { cp, pos: at, note };
    if (latest !== undefined && cp.size < latest.cp.size) {
      problems.push({ kind: 'rollback', checkpoint: at, message: `checkpoint ${at} (size ${cp.size}) comes after checkpoint ${latest.pos} (size ${latest.cp.size}): the log went back`, evidence: [latest.note, note] });
      continue;
    }
    await advance(cp.size);
    if (pos < cp.size) {
      const from = Math.min(lastGood, pos);
      problems.push({ kind: 'checkpoint-size', checkpoint: at, index: from, message: `checkpoint ${at} commits to ${cp.size} entries but the log has ${pos}: entries at or after index ${from} were removed`, evidence: [note] });
    } else if (!equalBytes(range.root(), cp.rootHash)) {
      const from = Math.min(lastGood, cp.size - 1);
      problems.push({
        kind: 'checkpoint-root', checkpoint: at, index: from,
        message: cp.size - from === 1 ? `entry ${from} differs from what checkpoint ${at} (size ${cp.size}) committed to` : `entries in [${from}, ${cp.size}) differ from what checkpoint ${at} (size ${cp.size}) committed to`,
        evidence: [note],
      });
    } else {
      lastGood = Math.max(lastGood, cp.size);
    }
    latest = { cp, pos: at, note };
  }

  // The partial tiles at the latest checkpoint's size are what open and proofs read: check them
  // there, before the entries under the tree head move the edge on.
  if (edge !== undefined && latest !== undefined && pos === latest.cp.size) await checkTiles(edge.take());

  let headOk = false;
  if (head !== undefined) {
    await advance(head.size);
    const root = roots.get(head.size);
    if (pos < head.size) problems.push({ kind: 'head', index: pos, message: `the tree head commits to ${head.size} entries but the log has ${pos}: entries at or after index ${pos} were removed`, evidence: [input.head!] });
    else if (root === undefined || !equalBytes(root, head.root)) problems.push({ kind: 'head', index: lastGood, message: `entries in [${lastGood}, ${head.size}) differ from what the tree head committed to`, evidence: [input.head!] });
    else headOk = true;
  }
  const headState = input.head === undefined || head !== undefined ? headStateProblem(head?.size, latest, input.requireHead === true) : undefined;
  if (headState !== undefined) problems.push(headState);
  await advance(Number.MAX_SAFE_INTEGER);
  const total = pos;
  const covered = latest === undefined ? 0 : Math.min(total, latest.cp.size);
  const signed = headOk ? Math.max(covered, head!.size) : covered;
  if (total > signed) {
    problems.push({ kind: 'unsigned-tail', index: signed, message: `entries from index ${signed} (${total - signed} of them) are covered by no signed checkpoint or tree head: records written without the log key, or a batch that never completed` });
  }
  // Tiles are checked up to what a signature covers (past it the store need not have any).
  if (edge !== undefined && total === signed) await checkTiles(edge.take());
  problems.push(...tileProblems.filter((p) => p.index! < signed));
  problems.leftOut('tile', tilesNotListed, total !== signed);

  if (trusted !== undefined) {
    const root = roots.get(trusted.size);
    if (trusted.size > total) problems.push({ kind: 'trusted', index: total, message: `the trusted checkpoint has ${trusted.size} entries, the log only ${total}: the log was truncated`, evidence: [input.trusted!] });
    else if (root === undefined || !equalBytes(root, trusted.rootHash)) problems.push({ kind: 'trusted', message: `the log's first ${trusted.size} entries no longer match the trusted checkpoint: history was rewritten`, evidence: [input.trusted!] });
    // No checkpoint at all counts as size 0: removing the whole history is a rollback too (outside review 5).
    else if ((latest?.cp.size ?? 0) < trusted.size) problems.push(rollbackFromTrusted(trusted.size, input.trusted!, latest?.cp.size, latest?.note));
  }

  const witnessed = checkWitnesses(input, latest);
  const cosignatures = witnessed.cosignatures;
  problems.push(...witnessed.problems);

  return {
    ok: problems.found === 0,
    entries: total,
    checkpoints: count,
    ...(latest && { latest: { size: latest.cp.size, root: toHex(latest.cp.rootHash) } }),
    pending: signed - covered,
    unsignedTail: total - signed,
    cosignatures,
    problems: problems.list(),
    tiles,
  };
}
