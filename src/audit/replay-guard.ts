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
 * - its producer is remembered and its counter lies in a run (a replay), or
 * - its producer is not remembered (forgotten, or never seen) and it was sealed before the
 *   horizon: its transaction stayed open longer than the window, or it is a replay of a record
 *   the guard has forgotten.
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
import { decodeEntry } from './entry.js';
import { HASH_SIZE } from './merkle.js';
import { type OutboxId, PRODUCER_ID_SIZE } from './records.js';

/** A reset guard refuses records sealed up to this long after the newest kept entry's event time. */
export const RESET_MARGIN_MS = 5000;
/** How many of the newest kept entries a reset reads for their times. */
export const RESET_TAIL = 256;

/**
 * The horizon floor of a reset guard: the newest event time among `entries` (the newest kept
 * ones) plus `marginMs`, whatever this host's clock says — every record integrated so far was
 * sealed before it. Entries that do not decode are skipped.
 */
export function resetFloor(entries: readonly Uint8Array[], marginMs = RESET_MARGIN_MS): number {
  let floor = 0;
  for (const e of entries) {
    let t = NaN;
    try {
      t = Date.parse(decodeEntry(e).time);
    } catch {
      // not an entry of this format: it has no time to go by
    }
    if (Number.isFinite(t)) floor = Math.max(floor, t + marginMs);
  }
  return floor;
}

/** The tree head a stored guard belongs to. */
export interface GuardHead {
  size: number;
  root: Uint8Array;
}

const GUARD_DOMAIN = utf8('keywarden-audit-outbox-guard/v1\u0000');
const VERSION = 3;
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
  /**
   * Counters from here on are judged by the runs alone; below it, by the horizon. It is the
   * lowest counter integrated since the guard (re)learnt the producer: one it forgot may come
   * back, and its records from before were integrated and forgotten (all sealed before the horizon).
   */
  from: number;
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
 * const guard = ReplayGuard.open(keys.mac, undefined, { size: 0, root: emptyRoot() }, { windowMs: 86_400_000 }); // a new log
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
  /**
   * The newest sealing time integrated from producers other than the sequencer's own process
   * (their clocks, not its own): the horizon never passes it minus the window. When only the
   * sequencer's own process has produced, `#ownNewest` stands in.
   */
  #newest: number;
  #ownNewest: number;
  /** The last time a drained claim moved the horizon, on the sequencer's capped clock (sequencer.ts). */
  #anchor: number;

  private constructor(windowMs: number, horizon: number, producers: Map<string, Producer>, newest = 0, anchor = 0, ownNewest = 0) {
    this.#windowMs = windowMs;
    this.#horizon = horizon;
    this.#producers = producers;
    this.#newest = newest;
    this.#anchor = anchor;
    this.#ownNewest = ownNewest;
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
   * the stored one only when it was written with exactly that head; any other — lost, forged,
   * or written with a later head (it cannot be told apart from one of an earlier history the
   * log was repaired away from, which has not seen what came since) — is replaced by a new guard
   * whose horizon is after every record it could have seen: `now`, the newest sealing time the
   * stored guard (if the log's own) knew, and `floor` (the caller's: the newest kept entry's time
   * plus a margin). It refuses every record sealed before the repair.
   */
  static afterRepair(key: Uint8Array, stored: Uint8Array | undefined, head: GuardHead, now: number, floor: number, options: ReplayGuardOptions): ReplayGuard {
    let newest = 0;
    if (stored !== undefined) {
      try {
        const { guard, sealedAt } = ReplayGuard.#decode(key, stored, head.size, options);
        if (sealedAt.size === head.size && equalBytes(sealedAt.root, head.root)) return guard;
        newest = Math.max(guard.#newest, guard.#ownNewest) + 1;
      } catch {
        // not the log's own, or damaged: reset below
      }
    }
    if (stored === undefined && head.size === 0) return ReplayGuard.empty(options);
    const horizon = Math.max(0, Math.floor(now), newest, Math.floor(floor));
    return new ReplayGuard(options.windowMs, horizon, new Map(), horizon, Math.floor(now));
  }

  /**
   * The guard of a log just migrated from a layout without an outbox (0.1). A genuine migration
   * has no outbox record to refuse, but a store writer can make a tiled log look like 0.1 again
   * and have it migrated anew (outside review, 2026-12-01): so, as after a repair, the guard
   * refuses every record sealed before the migration (`now`, and `floor`: {@link resetFloor}
   * over the newest entries, without a margin — a genuine migration's producers start after it,
   * and a margin would refuse their first records) instead of starting with horizon 0.
   */
  static afterMigration(head: GuardHead, now: number, floor: number): ReplayGuard {
    return ReplayGuard.afterRepair(new Uint8Array(32), undefined, head, now, floor, { windowMs: 0 });
  }

  static #decode(key: Uint8Array, stored: Uint8Array, size: number, options: ReplayGuardOptions): { guard: ReplayGuard; sealedAt: GuardHead } {
    const bad = (what: string): AuditCorruptError => new AuditCorruptError(`the stored outbox replay guard ${what}`, size);
    if (stored.length < 1 + 8 + HASH_SIZE + 32 + 4 + MAC_SIZE) throw bad('is truncated');
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
    const newest = u64();
    const ownNewest = u64();
    const anchor = u64();
    const producers = new Map<string, Producer>();
    for (let n = u32(); n > 0; n--) {
      if (at + PRODUCER_ID_SIZE > body.length) throw bad('is truncated');
      const id = body.slice(at, at + PRODUCER_ID_SIZE);
      at += PRODUCER_ID_SIZE;
      const last = u64();
      const from = u64();
      const runs: Run[] = [];
      for (let r = u32(); r > 0; r--) {
        const run = { start: u64(), end: u64(), time: u64() };
        const prev = runs[runs.length - 1];
        if (run.end < run.start || (prev !== undefined && run.start <= prev.end + 1)) throw bad('holds overlapping runs');
        runs.push(run);
      }
      if (runs[0] !== undefined && runs[0].start < from) throw bad('holds a run below its producer\'s floor');
      producers.set(toHex(id), { id, from, runs, last });
    }
    if (at !== body.length) throw bad('has trailing bytes');
    return { guard: new ReplayGuard(options.windowMs, horizon, producers, newest, anchor, ownNewest), sealedAt: { size: sealedSize, root: sealedRoot } };
  }

  /** The replay window this guard was opened with (ms). */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Where the sequencer's capped drain clock starts from (0: never drained). */
  get anchor(): number {
    return this.#anchor;
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
    const p = this.#producers.get(toHex(id.producer));
    // A producer the guard remembers: its runs say exactly what was integrated (a merged gap
    // counts as integrated), so a counter outside them never was, however old. Only what the
    // guard has forgotten (or never saw) needs the horizon.
    if (p !== undefined && id.counter >= p.from) return findRun(p.runs, id.counter) >= 0 ? 'replayed' : undefined;
    return id.time < this.horizon ? 'expired' : undefined;
  }

  /**
   * Remembers `producer` with counters 0 to `counter - 1` as integrated (sealed by `time`):
   * after a reset, the sequencer's own process knows which of its records it sealed before, and
   * its later ones need not wait for the horizon (whatever this host's clock says).
   */
  closeBelow(producer: Uint8Array, counter: number, time: number): void {
    // Remembered (even with no run yet) until the horizon passes what it seals from now on.
    const runs = counter > 0 ? [{ start: 0, end: counter - 1, time: 0 }] : [];
    this.#producers.set(toHex(producer), { id: producer.slice(0, PRODUCER_ID_SIZE), from: 0, runs, last: Math.max(Math.floor(time), this.#horizon) });
  }

  /**
   * Remembers `id` as integrated (call after {@link check} said yes). `own`: the record comes
   * from the sequencer's own process (sealed with its clock).
   */
  consume(id: OutboxId, own = false): void {
    const key = toHex(id.producer);
    let p = this.#producers.get(key);
    if (p === undefined) {
      p = { id: id.producer.slice(0, PRODUCER_ID_SIZE), from: id.counter, runs: [], last: id.time };
      this.#producers.set(key, p);
    }
    // Lower than any since it was (re)learnt: it passed the horizon, so whatever of this
    // producer the guard forgot was sealed before it, with lower counters.
    p.from = Math.min(p.from, id.counter);
    p.last = Math.max(p.last, id.time);
    if (own) this.#ownNewest = Math.max(this.#ownNewest, id.time);
    else this.#newest = Math.max(this.#newest, id.time);
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
    // Never past the newest record integrated minus the window either: the sequencer's clock
    // alone (ahead, on a new log) must not refuse records sealed with correct clocks.
    this.#anchor = Math.max(this.#anchor, Math.floor(at));
    const newest = this.#newest > 0 ? this.#newest : this.#ownNewest;
    this.#horizon = Math.max(this.#horizon, Math.min(Math.floor(at), newest) - this.#windowMs);
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
    for (const [key, p] of this.#producers) producers.set(key, { id: p.id, from: p.from, runs: p.runs.map((r) => ({ ...r })), last: p.last });
    return new ReplayGuard(this.#windowMs, this.#horizon, producers, this.#newest, this.#anchor, this.#ownNewest);
  }

  /** The stored form, sealed with the outbox MAC key and bound to the tree head `head`. */
  seal(key: Uint8Array, head: GuardHead): Uint8Array {
    let len = 1 + 8 + HASH_SIZE + 32 + 4;
    for (const p of this.#producers.values()) len += PRODUCER_ID_SIZE + 8 + 8 + 4 + p.runs.length * 24;
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
    u64(this.#newest);
    u64(this.#ownNewest);
    u64(this.#anchor);
    v.setUint32(at, this.#producers.size);
    at += 4;
    for (const p of this.#producers.values()) {
      out.set(p.id, at);
      at += PRODUCER_ID_SIZE;
      u64(p.last);
      u64(p.from);
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
