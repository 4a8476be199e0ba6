/**
 * The auditor's verifier (docs/AUDIT.md §5). Given the log's public key, its entries and the
 * checkpoints it issued (and optionally the last checkpoint the auditor trusted), it parses every
 * entry strictly, recomputes the Merkle tree, checks every checkpoint's signature and root,
 * checks that checkpoints only grow (a fork or a rollback is reported as such), checks
 * consistency with the trusted checkpoint, and verifies witness cosignatures where configured.
 * Nothing here trusts the log operator: only the verifier key.
 */
import { type Checkpoint, newCosignatureVerifier, openCheckpoint, verifyCosignatures } from './checkpoint.js';
import { decodeEntry } from './entry.js';
import { MerkleTree, leafHash, verifyConsistency } from './merkle.js';
import { newNoteVerifier, parseVerifierKey } from './note.js';
import { openTreeHead } from './records.js';
import { equalBytes, toHex } from '../util/bytes.js';
import { InvalidInputError } from '../errors.js';
import { fields } from '../util/validate.js';

/** What the verifier needs. */
export interface AuditVerifyInput {
  /** The log's published verifier key (`<origin>+<key id>+<base64 key>`). */
  verifierKey: string;
  /** Expected origin; default: the verifier key's name. */
  origin?: string;
  /** Every entry, in log order. */
  entries: readonly Uint8Array[];
  /** Every checkpoint note the log issued, in order of issue. */
  checkpoints: readonly string[];
  /** The last checkpoint note the auditor trusted (from an earlier audit or a witness). */
  trusted?: string;
  /**
   * The store's newest tree head (docs/AUDIT.md §4): entries after the latest checkpoint that it
   * covers, signed by the log key, are `pending` — integrated, awaiting the next checkpoint —
   * not a problem.
   */
  head?: string;
  /**
   * The entries and checkpoints come from a store that keeps a signed tree head (a
   * FileAuditStore's or PostgresAuditStore's, not an exported directory): checkpoints without a
   * `head` then mean the head was removed — a problem, as `AuditLog.open` refuses such a store
   * (docs/AUDIT.md §4.5). A head behind the latest checkpoint is a problem either way.
   */
  requireHead?: boolean;
  /** Witness cosigner verifier keys; with `witnessQuorum`, the latest checkpoint must carry that many valid cosignatures. */
  witnesses?: readonly string[];
  /** Valid cosignatures required (default 1 when `witnesses` are given; at most their number). */
  witnessQuorum?: number;
  /**
   * The quorum's cosignatures must be at most this old (ms): a store rolled back to an older,
   * cosigned checkpoint is found only so (or against a trusted checkpoint). One dated more than
   * this far in the future does not count either.
   */
  witnessMaxAgeMs?: number;
  /** The auditor's clock for `witnessMaxAgeMs` (ms since 1970; default `Date.now`). */
  now?: () => number;
}

/**
 * The verifier's input, own fields only: a misspelt optional field (`witneses`) would silently drop
 * the check it names, and an inherited one set a check nobody asked for (outside review,
 * 2026-12-01). @internal
 */
export function verifyInput<T extends object>(input: T, more: readonly string[] = []): T {
  return fields('input', input, ['verifierKey', 'entries', 'checkpoints'], ['origin', 'trusted', 'head', 'requireHead', 'witnesses', 'witnessQuorum', 'witnessMaxAgeMs', 'now', ...more]) as T;
}

/**
 * Checks the witness options (both verifiers), BEFORE any of the log is read: a mistake in the
 * auditor's own configuration is an InvalidInputError naming the option, never a problem of the
 * log, and never found only after a full read (outside review 7: a witness listed twice was
 * refused at the end, and the CLI then exited 3, "could not complete", instead of 2; a key that
 * is not a cosigner key was reported as an invalid cosignature ON THE LOG). @internal
 */
export function checkWitnessOptions(input: Pick<AuditVerifyInput, 'witnesses' | 'witnessQuorum' | 'witnessMaxAgeMs' | 'now'>): void {
  const witnesses = input.witnesses ?? [];
  const { witnessQuorum, witnessMaxAgeMs } = input;
  if (input.now !== undefined && typeof input.now !== 'function') throw new InvalidInputError('now', 'expected a function returning ms since 1970');
  if (!Array.isArray(witnesses)) throw new InvalidInputError('witnesses', 'expected an array of witness cosigner verifier keys');
  if (witnesses.length === 0) {
    // A demand with nobody to meet it would enforce nothing (outside review, 2026-12-01).
    if (witnessQuorum !== undefined) throw new InvalidInputError('witnessQuorum', 'expected witnesses to count: give their keys in witnesses');
    if (witnessMaxAgeMs !== undefined) throw new InvalidInputError('witnessMaxAgeMs', 'expected witnesses: give their keys in witnesses');
    return;
  }
  // A quorum counts witnesses, not names: one public key under two names would let one witness,
  // cosigning under both, meet a quorum of two (outside review, 2026-12-02).
  const seen = new Map<string, string>();
  for (let i = 0; i < witnesses.length; i++) {
    const w: unknown = witnesses[i];
    let parts: ReturnType<typeof parseVerifierKey>;
    try {
      newCosignatureVerifier(w as string);
      parts = parseVerifierKey(w as string);
    } catch (err) {
      throw new InvalidInputError('witnesses', `expected witness cosigner (type 0x04) verifier keys; witnesses[${i}] is not one (${(err as Error).message})`);
    }
    const key = `${parts.type}:${toHex(parts.publicKey)}`;
    const first = seen.get(key);
    if (first !== undefined) throw new InvalidInputError('witnesses', first === parts.name ? `witness ${first} is listed twice: list each witness once` : `one witness key under two names (${first}, ${parts.name}): list each witness once`);
    seen.set(key, parts.name);
  }
  const quorum = witnessQuorum ?? 1;
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > witnesses.length) throw new InvalidInputError('witnessQuorum', `expected a whole number from 1 to the number of witnesses (${witnesses.length})`);
  if (witnessMaxAgeMs !== undefined && !(Number.isFinite(witnessMaxAgeMs) && witnessMaxAgeMs > 0)) throw new InvalidInputError('witnessMaxAgeMs', 'expected a positive number of milliseconds');
}

/** The witness part of a verification (both verifiers): the cosignatures and the problems. @internal */
export function checkWitnesses(
  input: Pick<AuditVerifyInput, 'witnesses' | 'witnessQuorum' | 'witnessMaxAgeMs' | 'now'>, latest: { note: string; pos: number } | undefined,
): { cosignatures: { name: string; time: number }[]; problems: AuditProblem[] } {
  checkWitnessOptions(input);
  const witnesses = input.witnesses ?? [];
  const { witnessQuorum, witnessMaxAgeMs } = input;
  if (witnesses.length === 0) return { cosignatures: [], problems: [] };
  const quorum = witnessQuorum ?? 1;
  // No checkpoint (none published, or the history removed from the store): nothing carries the
  // cosignatures the auditor requires — a failure, never a pass.
  if (latest === undefined) return { cosignatures: [], problems: [{ kind: 'witness', message: `the log has no checkpoint: no witness cosignature to check (${quorum} required)` }] };
  const problems: AuditProblem[] = [];
  let cosignatures: { name: string; time: number }[] = [];
  try {
    cosignatures = verifyCosignatures(latest.note, [...witnesses]).map((c) => ({ name: c.name, time: c.time }));
  } catch (err) {
    problems.push({ kind: 'witness', checkpoint: latest.pos, message: `a witness cosignature on the latest checkpoint is invalid: ${(err as Error).message}`, evidence: [latest.note] });
  }
  if (cosignatures.length < quorum) {
    problems.push({ kind: 'witness', checkpoint: latest.pos, message: `the latest checkpoint has ${cosignatures.length} valid witness cosignatures, ${quorum} required` });
  } else if (witnessMaxAgeMs !== undefined) {
    // Fresh = within the maximum age of the auditor's clock, EITHER way. A cosignature dated in
    // the future (a witness's wrong clock: tlog-cosignature timestamps are the witness's own, and
    // verifiers MAY reject future ones) would otherwise pass this rollback check for as long as
    // its date lies ahead (outside review 5, 2026-12-02).
    const now = (input.now ?? Date.now)();
    if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidInputError('now', 'expected the clock to return a finite number of ms since 1970');
    const since = now - witnessMaxAgeMs;
    const until = now + witnessMaxAgeMs;
    const fresh = cosignatures.filter((c) => c.time * 1000 >= since && c.time * 1000 <= until).length;
    if (fresh < quorum) {
      const ahead = cosignatures.filter((c) => c.time * 1000 > until);
      const newest = Math.max(...cosignatures.filter((c) => c.time * 1000 <= until).map((c) => c.time));
      const stale = Number.isFinite(newest) ? ` are older than ${witnessMaxAgeMs} ms (newest ${unixSecondsText(newest)})` : ' are not recent';
      const future = ahead.length > 0 ? `; ${ahead.length} valid ones are dated more than ${witnessMaxAgeMs} ms in the future (${ahead.map((c) => unixSecondsText(c.time)).join(', ')}) and do not count` : '';
      problems.push({ kind: 'witness', checkpoint: latest.pos, message: `${quorum - fresh} of the ${quorum} required witness cosignatures${stale}${future}: the store may have been rolled back to an older checkpoint`, evidence: [latest.note] });
    }
  }
  return { cosignatures, problems };
}

/** The `rollback` problem of a latest checkpoint (size `latestSize`, or none) older than the trusted one. @internal */
export function rollbackFromTrusted(trustedSize: number, trustedNote: string, latestSize: number | undefined, latestNote: string | undefined): AuditProblem {
  return latestSize === undefined || latestNote === undefined
    ? { kind: 'rollback', message: `the log has no checkpoint, the trusted one has size ${trustedSize}: the checkpoint history was removed`, evidence: [trustedNote] }
    : { kind: 'rollback', message: `the latest checkpoint (size ${latestSize}) is older than the trusted one (size ${trustedSize})`, evidence: [trustedNote, latestNote] };
}

/** One finding. `index` is the entry index, `checkpoint` the checkpoint's position. */
export interface AuditProblem {
  kind: 'entry' | 'checkpoint-signature' | 'checkpoint-size' | 'checkpoint-root' | 'fork' | 'rollback' | 'trusted' | 'witness' | 'storage' | 'unsigned-tail' | 'head' | 'tile';
  message: string;
  index?: number;
  checkpoint?: number;
  /** Material an auditor can show someone else (e.g. two signed checkpoints that disagree). */
  evidence?: string[];
}

/**
 * Problems of one kind listed at most: one changed entry invalidates every later checkpoint, and
 * a log checkpointed each second has ~3*10^7 a year — the report would not fit in memory (outside
 * review, 2026-12-02). The first ones name the damage; the rest are counted.
 */
export const MAX_PROBLEMS_PER_KIND = 20;

/** Collects problems, keeping {@link MAX_PROBLEMS_PER_KIND} of each kind and counting the rest. @internal */
export class ProblemList {
  private readonly listed: AuditProblem[] = [];
  private readonly shown = new Map<AuditProblem['kind'], number>();
  private readonly counts = new Map<AuditProblem['kind'], number>();
  private readonly atMost = new Set<AuditProblem['kind']>();

  push(...found: AuditProblem[]): void {
    for (const p of found) {
      this.counts.set(p.kind, (this.counts.get(p.kind) ?? 0) + 1);
      const n = this.shown.get(p.kind) ?? 0;
      if (n < MAX_PROBLEMS_PER_KIND) {
        this.shown.set(p.kind, n + 1);
        this.listed.push(p);
      }
    }
  }

  /** Counts `n` more of `kind` that a caller already left out (`atMost`: some may not be problems after all). */
  leftOut(kind: AuditProblem['kind'], n: number, atMost = false): void {
    if (n <= 0) return;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n);
    if (atMost) this.atMost.add(kind);
  }

  /** How many were found, listed or not. */
  get found(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** The listed problems, then one per kind that had more, saying how many were left out. */
  list(): AuditProblem[] {
    const out = [...this.listed];
    for (const [kind, n] of this.counts) {
      const more = n - (this.shown.get(kind) ?? 0);
      if (more > 0) out.push({ kind, message: `${this.atMost.has(kind) ? 'up to ' : ''}${more} more ${kind} problems were found and not listed (the first ${MAX_PROBLEMS_PER_KIND} are)` });
    }
    return out;
  }
}

/** A head behind the latest checkpoint, or missing where the store keeps one (docs/AUDIT.md §4.5). @internal */
export function headStateProblem(headSize: number | undefined, latest: { cp: Checkpoint; pos: number; note: string } | undefined, requireHead: boolean): AuditProblem | undefined {
  if (latest === undefined || latest.cp.size === 0) return undefined;
  if (headSize === undefined) {
    return requireHead ? { kind: 'head', index: latest.cp.size, message: `the store has a checkpoint of size ${latest.cp.size} but no tree head: the head was removed, and the log cannot be opened`, evidence: [latest.note] } : undefined;
  }
  if (headSize < latest.cp.size) {
    return { kind: 'head', index: headSize, message: `the tree head (size ${headSize}) is behind the latest checkpoint (size ${latest.cp.size}): an older head was put back, and the log cannot be opened`, evidence: [latest.note] };
  }
  return undefined;
}

/** The verifier's verdict. */
export interface AuditVerifyReport {
  ok: boolean;
  entries: number;
  checkpoints: number;
  /** Size and root (hex) of the latest valid checkpoint. */
  latest?: { size: number; root: string };
  /**
   * Entries after the latest checkpoint that the store's tree head (signed by the log key)
   * covers: integrated, awaiting the next checkpoint (docs/AUDIT.md §4). Not a problem.
   */
  pending: number;
  /**
   * Entries covered by no signature — neither a checkpoint nor the tree head. Always a problem:
   * records written without the log key, or a batch that never completed (docs/AUDIT.md §4).
   */
  unsignedTail: number;
  /** Valid witness cosignatures on the latest checkpoint. */
  cosignatures: { name: string; time: number }[];
  problems: AuditProblem[];
}


/**
 * Verifies a log. Never throws for bad log data: every problem is reported with its index.
 *
 * @example
 * ```ts
 * const report = verifyAuditLog({ verifierKey, entries, checkpoints, trusted: lastAudit });
 * if (!report.ok) for (const p of report.problems) console.log(p.kind, p.index, p.message);
 * ```
 */
export function verifyAuditLog(given: AuditVerifyInput): AuditVerifyReport {
  const input = verifyInput(given);
  const verifier = newNoteVerifier(input.verifierKey);
  const origin = input.origin ?? verifier.name;
  checkWitnessOptions(input);
  const problems = new ProblemList();

  input.entries.forEach((e, index) => {
    try {
      decodeEntry(e);
    } catch (err) {
      problems.push({ kind: 'entry', index, message: `entry ${index} does not parse: ${(err as Error).message}` });
    }
  });
  const tree = new MerkleTree();
  for (const e of input.entries) tree.append(leafHash(e));

  // Each checkpoint: signed by the log, within the entries, and committing to exactly them.
  let latest: { cp: Checkpoint; pos: number; note: string } | undefined;
  let lastGood = 0; // largest size whose root matched, to pin a mismatch to an index range
  const seen = new Map<number, { root: Uint8Array; pos: number; note: string }>();
  input.checkpoints.forEach((note, pos) => {
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, verifier, origin).checkpoint;
    } catch (err) {
      problems.push({ kind: 'checkpoint-signature', checkpoint: pos, message: `checkpoint ${pos} is not a valid checkpoint signed by the log: ${(err as Error).message}` });
      return;
    }
    const same = seen.get(cp.size);
    if (same && !equalBytes(same.root, cp.rootHash)) {
      problems.push({ kind: 'fork', checkpoint: pos, message: `checkpoints ${same.pos} and ${pos} are both signed for size ${cp.size} with different roots: the log forked`, evidence: [same.note, note] });
    }
    seen.set(cp.size, { root: cp.rootHash, pos, note });
    if (latest && cp.size < latest.cp.size) {
      problems.push({ kind: 'rollback', checkpoint: pos, message: `checkpoint ${pos} (size ${cp.size}) comes after checkpoint ${latest.pos} (size ${latest.cp.size}): the log went back`, evidence: [latest.note, note] });
    }
    if (cp.size > tree.size) {
      // `index` is the first entry no earlier checkpoint vouches for: the removal is there or later.
      problems.push({ kind: 'checkpoint-size', checkpoint: pos, index: Math.min(lastGood, tree.size), message: `checkpoint ${pos} commits to ${cp.size} entries but the log has ${tree.size}: entries at or after index ${Math.min(lastGood, tree.size)} were removed`, evidence: [note] });
    } else if (cp.size === 0 && !equalBytes(tree.root(0), cp.rootHash)) {
      // No entry to point at: the log signed, for no entries, a root other than the empty tree's.
      problems.push({ kind: 'checkpoint-root', checkpoint: pos, message: `checkpoint ${pos} (size 0) does not commit to the empty tree: the log signed a false root`, evidence: [note] });
    } else if (!equalBytes(tree.root(cp.size), cp.rootHash)) {
      const from = Math.min(lastGood, cp.size - 1);
      problems.push({
        kind: 'checkpoint-root', checkpoint: pos, index: from,
        message: cp.size - from === 1
          ? `entry ${from} differs from what checkpoint ${pos} (size ${cp.size}) committed to`
          : `entries in [${from}, ${cp.size}) differ from what checkpoint ${pos} (size ${cp.size}) committed to`,
        evidence: [note],
      });
    } else if (cp.size > lastGood) {
      lastGood = cp.size;
    }
    if (!latest || cp.size >= latest.cp.size) latest = { cp, pos, note };
  });

  // The auditor's previous view: the log must have only grown since.
  if (input.trusted !== undefined) {
    let t: Checkpoint | undefined;
    try {
      t = openCheckpoint(input.trusted, verifier, origin).checkpoint;
    } catch (err) {
      problems.push({ kind: 'trusted', message: `the trusted checkpoint does not verify: ${(err as Error).message}` });
    }
    if (t) {
      if (t.size > tree.size) {
        problems.push({ kind: 'trusted', index: tree.size, message: `the trusted checkpoint has ${t.size} entries, the log only ${tree.size}: the log was truncated`, evidence: [input.trusted] });
      } else if (!equalBytes(tree.root(t.size), t.rootHash)) {
        problems.push({ kind: 'trusted', message: `the log's first ${t.size} entries no longer match the trusted checkpoint: history was rewritten`, evidence: [input.trusted] });
      } else if (latest && latest.cp.size > tree.size) {
        // The latest checkpoint is beyond the entries (reported above as checkpoint-size): no
        // consistency proof can be computed from entries that are not there.
      } else if (latest && latest.cp.size >= t.size) {
        const proof = tree.consistencyProof(t.size, latest.cp.size);
        if (!verifyConsistency(t.size, latest.cp.size, t.rootHash, latest.cp.rootHash, proof)) {
          problems.push({ kind: 'trusted', message: `no valid consistency proof from the trusted checkpoint (size ${t.size}) to the latest (size ${latest.cp.size})`, evidence: [input.trusted, latest.note] });
        }
      } else if ((latest?.cp.size ?? 0) < t.size) {
        // No checkpoint at all counts as size 0: removing the whole history is a rollback too
        // (outside review 5, 2026-12-02: it passed where cutting it back to an older one failed).
        problems.push(rollbackFromTrusted(t.size, input.trusted, latest?.cp.size, latest?.note));
      }
    }
  }

  const witnessed = checkWitnesses(input, latest);
  const cosignatures = witnessed.cosignatures;
  problems.push(...witnessed.problems);

  const covered = latest ? Math.min(tree.size, latest.cp.size) : 0;
  let signed = covered;
  let headSize: number | undefined;
  if (input.head !== undefined) {
    try {
      const h = openTreeHead(input.head, verifier);
      headSize = h.size;
      if (h.size > tree.size) problems.push({ kind: 'head', index: tree.size, message: `the tree head commits to ${h.size} entries but the log has ${tree.size}: entries at or after index ${tree.size} were removed`, evidence: [input.head] });
      else if (!equalBytes(tree.root(h.size), h.root)) problems.push({ kind: 'head', index: covered, message: `entries in [${covered}, ${h.size}) differ from what the tree head committed to`, evidence: [input.head] });
      else signed = Math.max(covered, h.size);
    } catch (err) {
      problems.push({ kind: 'head', message: `the tree head does not verify: ${(err as Error).message}`, evidence: [input.head] });
    }
  }
  const headState = input.head === undefined || headSize !== undefined ? headStateProblem(headSize, latest, input.requireHead === true) : undefined;
  if (headState !== undefined) problems.push(headState);
  if (tree.size > signed) {
    problems.push({
      kind: 'unsigned-tail', index: signed,
      message: `entries from index ${signed} (${tree.size - signed} of them) are covered by no signed checkpoint or tree head: records written without the log key, or a batch that never completed`,
    });
  }

  return {
    ok: problems.found === 0,
    entries: tree.size,
    checkpoints: input.checkpoints.length,
    ...(latest && { latest: { size: latest.cp.size, root: toHex(latest.cp.rootHash) } }),
    pending: signed - covered,
    unsignedTail: tree.size - signed,
    cosignatures,
    problems: problems.list(),
  };
}

/**
 * A cosignature time (Unix seconds) as ISO 8601, or as the number when a `Date` cannot hold it
 * (a witness may sign any uint64; `toISOString` throws past year 275760: outside review, 2026-12-01).
 *
 * @example
 * ```ts
 * unixSecondsText(0); // '1970-01-01T00:00:00.000Z'
 * ```
 */
export function unixSecondsText(seconds: number): string {
  const ms = seconds * 1000;
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${seconds} (Unix seconds, beyond what a date can show)`;
}
