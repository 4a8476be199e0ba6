/**
 * The sequencer's replay guard (docs/AUDIT.md §4.8): which outbox records it has integrated, so
 * that a genuine record copied back into the outbox afterwards — by someone who can write the
 * audit store but holds no log key — is quarantined instead of being signed into the log twice.
 *
 * Every outbox record carries a MAC-covered id: producer, counter, sealing time (records.ts).
 * The guard keeps, per producer, the runs of counters it has integrated, and a **horizon**: the
 * last time the sequencer found the outbox drained (a claim that returned less than it asked
 * for) minus the replay window, stored, and never moved back (not even by a larger window after
 * a restart, which must not re-admit what the guard has forgotten). A record is refused when
 *
 * - its counter lies in a run of its producer (a replay), or
 * - it was sealed before the horizon: its transaction stayed open longer than the window, or it
 *   is a replay of a record the guard has forgotten.
 *
 * The second rule is what keeps the guard small. A producer's sealing times never decrease with
 * its counter, so once a run starts before the horizon, every counter in the gap below it was
 * sealed before the horizon too: the gap (a rolled-back transaction, a record never committed)
 * is merged away. A producer whose newest integrated record is older than the horizon is
 * forgotten whole. What stays is, per producer seen within the window, one run per gap younger
 * than the window.
 *
 * The guard is stored with each integration step (the same durable step as the entries it
 * admits), sealed with the outbox MAC key and bound to the tree head it was written with (size
 * and root): a guard made without the key, one written with another head (an older one put back
 * to re-admit records), or a missing one on a non-empty log, stops the sequencer
 * (ERR_AUDIT_CORRUPT). An operator repair re-binds the guard to the head it cuts back to, or
 * resets it when it is lost ({@link ReplayGuard.afterRepair}).
 *
 * @example
 * ```ts
 * const guard = ReplayGuard.open(keys.mac, state.guard, { size, root }, { windowMs: 86_400_000 });
 * const why = guard.check(id); // undefined, or why the record is refused
 * if (why === undefined) guard.consume(id);
 * const stored = guard.seal(keys.mac, { size: newSize, root: newRoot });
 * ```
 * @module
 */
import { AuditCorruptError } from '../errors.js';
import { equalBytes, toHex, utf8 } from '../util/bytes.js';
import { hmacSha256 } from '../util/digest.js';
import { HASH_SIZE } from './merkle.js';
import { type OutboxId, PRODUCER_ID_SIZE } from './records.js';

/** The tree head a stored guard belongs to. */
export interface GuardHead {
  size: number;
  root: Uint8Array;
}

const GUARD_DOMAIN = utf8('keywarden-audit-outbox-guard/v1\u0000');
const VERSION = 2;
const MAC_SIZE = 32;
/**
 * Runs kept per producer at most. Past it the oldest gap is closed: a record of that gap still
 * pending (a transaction open since, or a rolled-back one) is then refused as a replay. It bounds
 * the guard — written with every step — at ~100 KB per producer whatever the rollback rate.
 */
export const MAX_RUNS_PER_PRODUCER = 4096;

/** Counters `start..end` (inclusive) integrated; `time` is the sealing time of `start`. */
interface Run {
  start: number;
  end: number;
  time: number;
}

interface Producer {
  id: Uint8Array;
  runs: Run[];
  /** Sealing time of the newest record integrated. */
  last: number;
}

/** Why the guard refuses a record. */
export type ReplayVerdict = 'replayed' | 'expired' | undefined;

/** Options of a {@link ReplayGuard}. */
export interface ReplayGuardOptions {
  /** How long a sealed record may wait (its transaction open, the sequencer away) before it is refused, ms. */
  windowMs: number;
}

/**
 * What the sequencer has integrated from the outbox (see the module comment).
 *
 * @example
 * ```ts
 * const guard = ReplayGuard.open(keys.mac, undefined, 0, { windowMs: 86_400_000 }); // a new log
 * ```
 */
export class ReplayGuard {
  readonly #windowMs: number;
  readonly #producers: Map<string, Producer>;
  /**
   * Records sealed before this time are refused. Stored, and it never goes back: a larger
   * window after a restart must not re-admit what a smaller one already let the guard forget.
   */
  #horizon: number;

  private constructor(windowMs: number, horizon: number, producers: Map<string, Producer>) {
    this.#windowMs = windowMs;
    this.#horizon = horizon;
    this.#producers = producers;
  }

  /** A guard that has seen nothing (a new log, or one migrated from a layout without an outbox). */
  static empty(options: ReplayGuardOptions): ReplayGuard {
    return new ReplayGuard(options.windowMs, 0, new Map());
  }

  /**
   * The guard stored with the tree head `head`. A log that has no entries yet may have none;
   * any other missing, forged, damaged or rolled-back guard is AuditCorruptError.
   */
  static open(key: Uint8Array, stored: Uint8Array | undefined, head: GuardHead, options: ReplayGuardOptions): ReplayGuard {
    const size = head.size;
    if (stored === undefined) {
      if (size > 0) throw new AuditCorruptError(`the outbox replay guard is missing from a log of ${size} entries: refusing to integrate outbox records without it`, size);
      return ReplayGuard.empty(options);
    }
    const { guard, sealedAt } = ReplayGuard.#decode(key, stored, size, options);
    // Written with another head: an older guard put back would re-admit what it has not seen.
    if (sealedAt.size !== size || !equalBytes(sealedAt.root, head.root)) {
      throw new AuditCorruptError(`the stored outbox replay guard was written with another tree head (size ${sealedAt.size}, not ${size}): it was rolled back or replaced`, size);
    }
    return guard;
  }

  /**
   * The guard to keep when an operator repair cuts the log back to `head` (AuditLog's repair):
   * the stored one when it is the log's own and has seen at least that far (what it remembers of
   * records whose entries the repair drops errs on the safe side), else a new one whose horizon
   * is `now` — it refuses every record sealed before the repair, since it cannot know which of
   * them were integrated.
   */
  static afterRepair(key: Uint8Array, stored: Uint8Array | undefined, head: GuardHead, now: number, options: ReplayGuardOptions): ReplayGuard {
    if (stored !== undefined) {
      try {
        const { guard, sealedAt } = ReplayGuard.#decode(key, stored, head.size, options);
        if (sealedAt.size >= head.size) return guard;
      } catch {
        // not the log's own, or damaged: reset below
      }
    }
    if (stored === undefined && head.size === 0) return ReplayGuard.empty(options);
    return new ReplayGuard(options.windowMs, Math.max(0, Math.floor(now)), new Map());
  }

  static #decode(key: Uint8Array, stored: Uint8Array, size: number, options: ReplayGuardOptions): { guard: ReplayGuard; sealedAt: GuardHead } {
    const bad = (what: string): AuditCorruptError => new AuditCorruptError(`the stored outbox replay guard ${what}`, size);
    if (stored.length < 1 + 8 + HASH_SIZE + 8 + 4 + MAC_SIZE) throw bad('is truncated');
    const body = stored.subarray(0, stored.length - MAC_SIZE);
    if (!equalBytes(hmacSha256(key, GUARD_DOMAIN, body), stored.subarray(stored.length - MAC_SIZE))) throw bad('is not sealed by this log\'s key');
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    let at = 0;
    const u64 = (): number => {
      if (at + 8 > body.length) throw bad('is truncated');
      const n = v.getUint32(at) * 2 ** 32 + v.getUint32(at + 4);
      at += 8;
      if (!Number.isSafeInteger(n)) throw bad('holds a number out of range');
      return n;
    };
    const u32 = (): number => {
      if (at + 4 > body.length) throw bad('is truncated');
      at += 4;
      return v.getUint32(at - 4);
    };
    if (body[at++] !== VERSION) throw bad('has an unknown version');
    const sealedSize = u64();
    const sealedRoot = body.slice(at, at + HASH_SIZE);
    at += HASH_SIZE;
    const horizon = u64();
    const producers = new Map<string, Producer>();
    for (let n = u32(); n > 0; n--) {
      if (at + PRODUCER_ID_SIZE > body.length) throw bad('is truncated');
      const id = body.slice(at, at + PRODUCER_ID_SIZE);
      at += PRODUCER_ID_SIZE;
      const last = u64();
      const runs: Run[] = [];
      for (let r = u32(); r > 0; r--) {
        const run = { start: u64(), end: u64(), time: u64() };
        const prev = runs[runs.length - 1];
        if (run.end < run.start || (prev !== undefined && run.start <= prev.end + 1)) throw bad('holds overlapping runs');
        runs.push(run);
      }
      producers.set(toHex(id), { id, runs, last });
    }
    if (at !== body.length) throw bad('has trailing bytes');
    return { guard: new ReplayGuard(options.windowMs, horizon, producers), sealedAt: { size: sealedSize, root: sealedRoot } };
  }

  /** The replay window this guard was opened with (ms). */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Records sealed before this time (ms since the epoch) are refused. */
  get horizon(): number {
    return this.#horizon;
  }

  /** Producers remembered, and runs over all of them (for stats). */
  get size(): { producers: number; runs: number } {
    let runs = 0;
    for (const p of this.#producers.values()) runs += p.runs.length;
    return { producers: this.#producers.size, runs };
  }

  /** Why `id` must not be integrated, or undefined when it may be. */
  check(id: OutboxId): ReplayVerdict {
    if (id.time < this.horizon) return 'expired';
    const p = this.#producers.get(toHex(id.producer));
    if (p === undefined) return undefined;
    return findRun(p.runs, id.counter) >= 0 ? 'replayed' : undefined;
  }

  /** Remembers `id` as integrated (call after {@link check} said yes). */
  consume(id: OutboxId): void {
    const key = toHex(id.producer);
    let p = this.#producers.get(key);
    if (p === undefined) {
      p = { id: id.producer.slice(0, PRODUCER_ID_SIZE), runs: [], last: id.time };
      this.#producers.set(key, p);
    }
    p.last = Math.max(p.last, id.time);
    const runs = p.runs;
    // The first run starting after the counter; the counter joins the one before, that one, or neither.
    let i = 0;
    let hi = runs.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (runs[mid]!.start <= id.counter) i = mid + 1;
      else hi = mid;
    }
    const before = runs[i - 1];
    const after = runs[i];
    if (before !== undefined && id.counter <= before.end) return;
    const joinsBefore = before !== undefined && before.end + 1 === id.counter;
    const joinsAfter = after !== undefined && after.start - 1 === id.counter;
    if (joinsBefore && joinsAfter) {
      before.end = after.end;
      runs.splice(i, 1);
    } else if (joinsBefore) before.end = id.counter;
    else if (joinsAfter) {
      after.start = id.counter;
      after.time = id.time;
    } else runs.splice(i, 0, { start: id.counter, end: id.counter, time: id.time });
    if (runs.length > MAX_RUNS_PER_PRODUCER) {
      runs[0]!.end = runs[1]!.end;
      runs.splice(1, 1);
    }
  }

  /**
   * The sequencer found the outbox drained by a claim that started at `at` (its own clock):
   * moves the horizon and forgets what the horizon now covers.
   */
  drained(at: number): void {
    this.#horizon = Math.max(this.#horizon, Math.floor(at) - this.#windowMs);
    const horizon = this.#horizon;
    for (const [key, p] of this.#producers) {
      if (p.last < horizon) {
        this.#producers.delete(key);
        continue;
      }
      // A run that starts before the horizon: its gap below holds only counters sealed earlier
      // still. Runs' times rise with their counters, so those runs are a prefix: one run now.
      const runs = p.runs;
      let k = 0;
      let hi = runs.length;
      while (k < hi) {
        const mid = (k + hi) >>> 1;
        if (runs[mid]!.time < horizon) k = mid + 1;
        else hi = mid;
      }
      if (k >= 2) {
        runs[0]!.end = runs[k - 1]!.end;
        runs.splice(1, k - 1);
      }
    }
  }

  /** An independent copy (a batch works on one; the sequencer adopts it once the batch is durable). */
  clone(): ReplayGuard {
    const producers = new Map<string, Producer>();
    for (const [key, p] of this.#producers) producers.set(key, { id: p.id, runs: p.runs.map((r) => ({ ...r })), last: p.last });
    return new ReplayGuard(this.#windowMs, this.#horizon, producers);
  }

  /** The stored form, sealed with the outbox MAC key and bound to the tree head `head`. */
  seal(key: Uint8Array, head: GuardHead): Uint8Array {
    let len = 1 + 8 + HASH_SIZE + 8 + 4;
    for (const p of this.#producers.values()) len += PRODUCER_ID_SIZE + 8 + 4 + p.runs.length * 24;
    const out = new Uint8Array(len + MAC_SIZE);
    const v = new DataView(out.buffer);
    let at = 0;
    const u64 = (n: number): void => {
      v.setUint32(at, Math.floor(n / 2 ** 32));
      v.setUint32(at + 4, n >>> 0);
      at += 8;
    };
    out[at++] = VERSION;
    u64(head.size);
    out.set(head.root.subarray(0, HASH_SIZE), at);
    at += HASH_SIZE;
    u64(this.#horizon);
    v.setUint32(at, this.#producers.size);
    at += 4;
    for (const p of this.#producers.values()) {
      out.set(p.id, at);
      at += PRODUCER_ID_SIZE;
      u64(p.last);
      v.setUint32(at, p.runs.length);
      at += 4;
      for (const r of p.runs) {
        u64(r.start);
        u64(r.end);
        u64(r.time);
      }
    }
    out.set(hmacSha256(key, GUARD_DOMAIN, out.subarray(0, len)), len);
    return out;
  }
}

/** Index of the run holding `counter`, or -1 (binary search: runs are sorted and disjoint). */
function findRun(runs: readonly Run[], counter: number): number {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = runs[mid]!;
    if (counter < r.start) hi = mid - 1;
    else if (counter > r.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}
