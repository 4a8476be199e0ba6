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
 * admits), sealed with the outbox MAC key and bound to the tree size it was written at: a guard
 * made without the key, or one older than the tree head (rolled back to re-admit records), or a
 * missing one on a non-empty log, stops the sequencer (ERR_AUDIT_CORRUPT).
 *
 * @example
 * ```ts
 * const guard = ReplayGuard.open(keys.mac, state.guard, treeSize, { windowMs: 86_400_000 });
 * const why = guard.check(id); // undefined, or why the record is refused
 * if (why === undefined) guard.consume(id);
 * const stored = guard.seal(keys.mac, newTreeSize);
 * ```
 * @module
 */
import { AuditCorruptError } from '../errors.js';
import { equalBytes, toHex, utf8 } from '../util/bytes.js';
import { hmacSha256 } from '../util/digest.js';
import { type OutboxId, PRODUCER_ID_SIZE } from './records.js';

const GUARD_DOMAIN = utf8('keywarden-audit-outbox-guard/v1\u0000');
const VERSION = 1;
const MAC_SIZE = 32;

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
   * The guard stored with a tree of `size` entries. A log that has no entries yet may have none;
   * any other missing, forged, damaged or rolled-back guard is AuditCorruptError.
   */
  static open(key: Uint8Array, stored: Uint8Array | undefined, size: number, options: ReplayGuardOptions): ReplayGuard {
    if (stored === undefined) {
      if (size > 0) throw new AuditCorruptError(`the outbox replay guard is missing from a log of ${size} entries: refusing to integrate outbox records without it`, size);
      return ReplayGuard.empty(options);
    }
    const bad = (what: string): AuditCorruptError => new AuditCorruptError(`the stored outbox replay guard ${what}`, size);
    if (stored.length < 1 + 8 + 8 + 4 + MAC_SIZE) throw bad('is truncated');
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
    const sealedAt = u64();
    // Sealed at a smaller tree: an older guard put back, which would re-admit what it has forgotten.
    if (sealedAt < size) throw bad(`was written at tree size ${sealedAt}, before the tree head (${size}): it was rolled back`);
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
    return new ReplayGuard(options.windowMs, horizon, producers);
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
      // A run that starts before the horizon: its gap below holds only counters sealed earlier still.
      const kept: Run[] = [];
      for (const run of p.runs) {
        const prev = kept[kept.length - 1];
        if (prev !== undefined && run.time < horizon) prev.end = run.end;
        else kept.push(run);
      }
      p.runs = kept;
    }
  }

  /** An independent copy (a batch works on one; the sequencer adopts it once the batch is durable). */
  clone(): ReplayGuard {
    const producers = new Map<string, Producer>();
    for (const [key, p] of this.#producers) producers.set(key, { id: p.id, runs: p.runs.map((r) => ({ ...r })), last: p.last });
    return new ReplayGuard(this.#windowMs, this.#horizon, producers);
  }

  /** The stored form, sealed with the outbox MAC key and bound to tree size `size`. */
  seal(key: Uint8Array, size: number): Uint8Array {
    let len = 1 + 8 + 8 + 4;
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
    u64(size);
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
