/**
 * The sequencer: the one instance (per store, at a time) that integrates committed records into
 * the Merkle log, in batches (docs/AUDIT.md §4). Each round takes what is waiting — this
 * process's own appends and the outbox records other instances (or this one, inside a caller's
 * transaction) committed — up to `maxBatch` entries, checks every outbox record's MAC, extends
 * the right edge, signs ONE tree head (and, when due, ONE checkpoint) for the whole batch, and
 * hands the store one durable step. Appends that arrive meanwhile wait for the next round: that
 * is the group commit.
 *
 * A checkpoint is published at the end of a batch that holds a record whose writer waits for one
 * (break-glass), at every batch with `checkpointEveryBatch`, when `checkpointIntervalMs` has
 * passed since the last one and the tree grew, and on demand.
 * @module
 */
import { AbortedError, AuditCorruptError, AuditUnavailableError, KeywardenError } from '../errors.js';
import { equalBytes, toBase64 } from '../util/bytes.js';
import { signCheckpoint } from './checkpoint.js';
import { leafHash } from './merkle.js';
import { FLAG_WAIT, type RecordKeys, openOutboxRecord, receiptMac, signTreeHead } from './records.js';
import type { ReplayGuard } from './replay-guard.js';
import { type AuditStore, type IntegrateBatch, type StoredReceipt, headRootLine, headSize } from './store.js';
import type { TileEdge } from './tile-edge.js';

/** How the sequencer batches and checkpoints. */
export interface SequencerOptions {
  /** Entries per batch at most. */
  maxBatch: number;
  /** A checkpoint at least this often while the tree grows. */
  checkpointIntervalMs: number;
  /** A checkpoint with every batch. */
  checkpointEveryBatch: boolean;
  /** Longest pause between two looks at an idle outbox. */
  pollMs: number;
  /**
   * Pause after a batch that did not fill up before the outbox is looked at again, so that the
   * records committed meanwhile share one batch (one claim, one signature, one durable step).
   * Local appends, checkpoint requests and a writer of this process waiting for its record
   * ({@link Sequencer.nudge}) end the pause at once.
   */
  lingerMs: number;
  /** Whether a writer of this process waits for an outbox record: then the sequencer does not linger. */
  waiting: () => boolean;
  now: () => number;
  /** The producer id of this process's own outbox records (its clock is the sequencer's). */
  ownProducer: Uint8Array;
}

/** The integrated tree as the sequencer last committed it. */
export interface SequencedView {
  size: number;
  root: Uint8Array;
  head: string | undefined;
  checkpoint: string | undefined;
  checkpointSize: number;
}

/** Where a local append landed. */
export interface Landed {
  index: number;
  size: number;
  /** The checkpoint published with its batch, when it asked for one. */
  checkpoint: string | undefined;
}

interface LocalItem {
  entries: Uint8Array[];
  wait: boolean;
  signal: AbortSignal;
  resolve: (r: Landed) => void;
  reject: (err: unknown) => void;
}

/** Counters for stats(). */
export interface SequencerCounters {
  batches: number;
  entries: number;
  checkpoints: number;
  quarantined: number;
  failures: number;
}

/** A round that claimed at least this many bytes of records counts as full (no pause after it). */
const FULL_BYTES = 1024 * 1024;

const asUnavailable = (err: unknown): KeywardenError => (err instanceof KeywardenError ? err : new AuditUnavailableError('audit store failed', err));

/**
 * Integrates batches until stopped. Created by AuditLog when it takes the sequencer role, from
 * an edge it verified (inspect.ts).
 *
 * @example
 * ```ts
 * const seq = new Sequencer(store, keys, verified.edge, view, options, (v, receipts) => log.advance(v, receipts));
 * const { index } = await seq.submit([entryBytes], false, signal);
 * ```
 */
export class Sequencer {
  readonly #store: AuditStore;
  readonly #keys: RecordKeys;
  readonly #o: SequencerOptions;
  readonly #onAdvance: (view: SequencedView, receipts: IntegrateBatch['receipts']) => void;
  readonly #onFatal: (err: unknown) => void;
  #edge: TileEdge;
  /** What the outbox has given so far (replay-guard.ts): adopted from a batch once it is durable. */
  #guard: ReplayGuard;
  /** The time a drained claim moves the replay horizon to (see the constructor). */
  readonly #drainClock: () => number;
  #view: SequencedView;
  #queue: LocalItem[] = [];
  #checkpointWaiters: { resolve: (note: string) => void; reject: (err: unknown) => void }[] = [];
  #lastCheckpointAt: number;
  #stopped = false;
  #wake: (() => void) | undefined;
  #delay = 1;
  /** The idle back-off: doubles from 1 ms up to pollMs over empty rounds, restarts after a working one. */
  #ramp = 1;
  /** Whether the last round filled its batch (then the next one starts at once). */
  #full = false;
  /**
   * Whether the next round starts at once whatever the last one did: a nudge came while it was in
   * flight, or its checkpoint failed to publish (published again at once, not after a pause).
   */
  #again = false;
  readonly #done: Promise<void>;
  readonly counters: SequencerCounters = { batches: 0, entries: 0, checkpoints: 0, quarantined: 0, failures: 0 };

  constructor(
    store: AuditStore, keys: RecordKeys, edge: TileEdge, guard: ReplayGuard, view: SequencedView, options: SequencerOptions,
    onAdvance: (view: SequencedView, receipts: IntegrateBatch['receipts']) => void, onFatal: (err: unknown) => void,
  ) {
    this.#store = store;
    this.#keys = keys;
    this.#edge = edge;
    this.#guard = guard;
    this.#view = view;
    this.#o = options;
    // The horizon follows the wall clock, but never faster than twice the monotonic clock from
    // where the stored guard left it: one reading of a clock that jumped ahead (a bad RTC, an NTP
    // step, a restored VM) must not push it past records sealed with correct clocks, which would
    // then all be refused (docs/AUDIT.md §4.8). A guard that never drained starts at the wall
    // clock; the newest sealing time integrated bounds it then (ReplayGuard.drained).
    const mono0 = performance.now();
    const wall0 = guard.anchor > 0 ? guard.anchor : options.now();
    this.#drainClock = () => Math.min(options.now(), wall0 + 2 * (performance.now() - mono0));
    this.#onAdvance = onAdvance;
    this.#onFatal = onFatal;
    this.#lastCheckpointAt = options.now();
    this.#done = this.#loop();
  }

  get view(): SequencedView {
    return this.#view;
  }

  /** Producers and runs the replay guard remembers. */
  get guardSize(): { producers: number; runs: number } {
    return this.#guard.size;
  }

  /** Queues entries for the next batch; resolves once they are durable in the log. */
  submit(entries: Uint8Array[], wait: boolean, signal: AbortSignal): Promise<Landed> {
    if (this.#stopped) return Promise.reject(new AuditUnavailableError('this instance is no longer the audit sequencer'));
    return new Promise<Landed>((resolve, reject) => {
      this.#queue.push({ entries, wait, signal, resolve, reject });
      this.#wake?.();
    });
  }

  /**
   * Ends a pause at once: a writer of this process waits for a record it committed through the
   * outbox (break-glass, flush). A nudge during a round makes the next round start at once, since
   * that round's claim may have been taken before the record was committed.
   */
  nudge(): void {
    this.#again = true;
    this.#delay = 0;
    this.#wake?.();
  }

  /**
   * A checkpoint of this log stored by someone else — `acceptCosignatures`, the same tree with
   * witness cosignatures — becomes the view's latest when it is not older than the view's own.
   * Without this, the next batch without a checkpoint handed the plain note back to the log and
   * later proofs lost the cosignatures (review 4, test/review4-audit-cosigned-view-reverts.test.ts).
   */
  adoptCheckpoint(note: string, size: number): void {
    if (size >= this.#view.checkpointSize && size <= this.#view.size) this.#view = { ...this.#view, checkpoint: note, checkpointSize: size };
  }

  /** Publishes a checkpoint of the tree as of the next round (on demand). */
  checkpoint(): Promise<string> {
    if (this.#stopped) return Promise.reject(new AuditUnavailableError('this instance is no longer the audit sequencer'));
    return new Promise<string>((resolve, reject) => {
      this.#checkpointWaiters.push({ resolve, reject });
      this.#wake?.();
    });
  }

  /**
   * Stops after the batch in flight (waiting for it at most `waitMs`: a store that hangs must not
   * hang the caller); queued appends fail (retryable), nothing queued is written.
   */
  async stop(reason: unknown = new AuditUnavailableError('the audit sequencer stopped'), waitMs = 5000): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#done, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    for (const item of this.#queue.splice(0)) item.reject(reason);
    for (const w of this.#checkpointWaiters.splice(0)) w.reject(reason);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      await this.#idle();
      if (this.#stopped) break;
      try {
        this.#again = false;
        const worked = await this.#round();
        // Linger after a partial batch (Kafka's linger.ms, Tessera's batch max age): at a steady
        // stream of outbox records, back-to-back rounds would each pay the fixed cost of a
        // claim, a signature and a commit for a handful of entries (docs/AUDIT.md §4).
        if (worked) {
          this.#ramp = 0;
          this.#delay = this.#again || this.#full || this.#o.waiting() ? 0 : this.#o.lingerMs;
        } else {
          // The back-off starts again at 1 ms after a pause: a record committed just after an
          // empty look is taken within a few ms, not after twice the pause.
          this.#ramp = this.#again ? 0 : Math.min(Math.max(1, this.#ramp * 2), this.#o.pollMs);
          this.#delay = this.#ramp;
        }
      } catch (err) {
        this.counters.failures++;
        const fatal = err instanceof KeywardenError && err.code === 'ERR_AUDIT_CORRUPT' ? err : await this.#diagnose();
        if (fatal !== undefined) {
          this.#stopped = true;
          this.#onFatal(fatal);
          break;
        }
        this.#delay = this.#ramp = this.#o.pollMs; // the store is failing: back off before the next look
      }
    }
  }

  /** Waits for work: a local append, a checkpoint request, the poll delay or the checkpoint interval. */
  #idle(): Promise<void> {
    if (this.#queue.length > 0 || this.#checkpointWaiters.length > 0 || this.#delay === 0) return Promise.resolve();
    const dueIn = this.#view.size > this.#view.checkpointSize ? Math.max(0, this.#lastCheckpointAt + this.#o.checkpointIntervalMs - this.#o.now()) : Infinity;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(this.#delay, dueIn));
      timer.unref?.(); // a background loop: it never keeps the process alive on its own
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  /** One batch. Returns whether there was anything to do. */
  async #round(): Promise<boolean> {
    const local: LocalItem[] = [];
    let count = 0;
    while (this.#queue.length > 0 && count < this.#o.maxBatch) {
      const item = this.#queue.shift()!;
      if (item.signal.aborted) {
        item.reject(item.signal.reason instanceof KeywardenError ? item.signal.reason : new AbortedError(item.signal.reason));
        continue;
      }
      local.push(item);
      count += item.entries.length;
    }
    const requested = this.#checkpointWaiters.splice(0);
    try {
      const want = Math.max(1, Math.min(1000, this.#o.maxBatch - count));
      const claimedAt = this.#drainClock();
      const claimed = count < this.#o.maxBatch ? await this.#store.claim(want) : [];
      // Full: the round took all it could. A store may also cap a claim by bytes (the file store
      // reads at most 8 MiB per outbox file): a round that claimed FULL_BYTES is no trickle either,
      // and pausing after it would only slow a backlog down.
      let claimedBytes = 0;
      for (const r of claimed) claimedBytes += r.bundle.length;
      this.#full = count >= this.#o.maxBatch || claimed.length >= want || claimedBytes >= FULL_BYTES;
      const edge = this.#edge.clone();
      const start = edge.size;
      const entries: Uint8Array[] = [];
      const leafHashes: Uint8Array[] = [];
      const append = (list: readonly Uint8Array[]): number => {
        const index = edge.size;
        for (const e of list) {
          const h = leafHash(e);
          edge.append(h, this.#store.keepsBundles ? e : undefined);
          entries.push(e);
          leafHashes.push(h); // handed to the store: it need not hash the entry again
        }
        return index;
      };
      const landed = local.map((item) => append(item.entries));
      const batch: IntegrateBatch = { start, base: this.#view.root, entries, leafHashes, tiles: [], head: '', consumed: [], quarantined: [], receipts: [] };
      const consumed: string[] = [];
      const quarantined: { ticket: string; reason: string }[] = [];
      const receipts: StoredReceipt[] = [];
      // A copy only when records came: an idle round must not pay for a large guard.
      const guard = claimed.length > 0 ? this.#guard.clone() : this.#guard;
      for (const r of claimed) {
        const wait = (r.flags & FLAG_WAIT) !== 0;
        // An empty record that waits is another instance's request for a checkpoint.
        const opened = openOutboxRecord(this.#keys.mac, r.bundle, r.flags, r.mac);
        if (opened === undefined) {
          quarantined.push({ ticket: r.ticket, reason: 'outbox record MAC does not verify: written without the log key' });
          continue;
        }
        // A genuine record integrated before (copied back into the outbox), or one sealed before
        // the horizon: refused, never signed into the log twice (replay-guard.ts).
        const verdict = guard.check(opened.id);
        if (verdict !== undefined) {
          quarantined.push({ ticket: r.ticket, reason: verdict === 'replayed' ? 'outbox record was integrated before: a replay' : 'outbox record was sealed before the replay window: too old to integrate' });
          continue;
        }
        guard.consume(opened.id, equalBytes(opened.id.producer, this.#o.ownProducer));
        const index = append(opened.entries);
        consumed.push(r.ticket);
        if (wait) receipts.push({ ticket: r.ticket, index, count: opened.entries.length, mac: receiptMac(this.#keys.mac, index, opened.entries.length, r.mac) });
      }
      // Whatever was committed before the claim started has now been seen (the claim was not cut
      // short by the batch size nor by a store's byte cap): the horizon moves.
      if (claimed.length > 0 && claimed.length < want && claimedBytes < FULL_BYTES && claimed.more !== true) guard.drained(claimedAt);
      const now = this.#o.now();
      const wantsCheckpoint = requested.length > 0 || receipts.length > 0 || local.some((i) => i.wait) || (entries.length > 0 && this.#o.checkpointEveryBatch) ||
        (edge.size > this.#view.checkpointSize && now - this.#lastCheckpointAt >= this.#o.checkpointIntervalMs);
      if (entries.length === 0 && consumed.length === 0 && quarantined.length === 0) {
        if (!wantsCheckpoint) return false;
        const note = signCheckpoint({ origin: this.#keys.origin, size: edge.size, rootHash: this.#view.root, extensions: [] }, this.#keys.signer);
        await this.#store.appendCheckpoint(note, { asSequencer: true }); // fenced: role held, head is this tree
        this.#published(note, edge.size, now);
        for (const w of requested) w.resolve(note);
        this.#onAdvance(this.#view, []);
        return true;
      }
      const root = edge.root();
      batch.tiles = edge.take();
      // One signature per batch: a checkpointed batch's checkpoint is also its tree head.
      if (wantsCheckpoint) batch.checkpoint = signCheckpoint({ origin: this.#keys.origin, size: edge.size, rootHash: root, extensions: [] }, this.#keys.signer);
      batch.head = batch.checkpoint ?? signTreeHead(this.#keys.signer, edge.size, root);
      batch.consumed = consumed;
      batch.quarantined = quarantined;
      batch.receipts = receipts;
      batch.guard = guard.seal(this.#keys.mac, { size: edge.size, root });
      let unpublished: KeywardenError | undefined;
      try {
        await this.#store.integrate(batch);
      } catch (err) {
        // The step may have committed and failed only to publish its checkpoint (the file store
        // writes the history after the head): its entries are then durable, its checkpoint not.
        if (batch.checkpoint === undefined || (await this.#store.state().catch(() => undefined))?.head !== batch.head) throw err;
        unpublished = asUnavailable(err);
      }
      this.#edge = edge;
      this.#guard = guard;
      this.#view = { ...this.#view, size: edge.size, root, head: batch.head };
      this.counters.batches++;
      this.counters.entries += entries.length;
      this.counters.quarantined += quarantined.length;
      if (unpublished === undefined && batch.checkpoint !== undefined) this.#published(batch.checkpoint, edge.size, now);
      if (unpublished !== undefined) {
        this.#lastCheckpointAt = -Infinity; // publish at the next round, which starts at once
        this.#again = true;
      }
      // Durable appends are acknowledged; those waiting for the checkpoint only once it is out.
      local.forEach((item, i) => (item.wait && unpublished !== undefined ? item.reject(unpublished) : item.resolve({ index: landed[i]!, size: edge.size, checkpoint: batch.checkpoint })));
      for (const w of requested) {
        if (unpublished === undefined) w.resolve(batch.checkpoint!);
        else w.reject(unpublished);
      }
      this.#onAdvance(this.#view, unpublished === undefined ? receipts : []);
      return true;
    } catch (err) {
      const e = asUnavailable(err);
      for (const item of local) item.reject(e);
      for (const w of requested) w.reject(e);
      throw e;
    }
  }

  /**
   * After a failed step: is it one this sequencer must not retry? Another sequencer moved the
   * head (this one's edge is stale), or rows no signature covers block the next index.
   */
  async #diagnose(): Promise<KeywardenError | undefined> {
    try {
      const { head } = await this.#store.state();
      // Moved means another tree, not another text: a round that integrated records but no
      // entries signs a new head for the same tree, which the PostgreSQL store does not keep
      // (its head rows are written only when the tree grows). Comparing the text made such a
      // sequencer give up its role at its next transient failure.
      if (head !== this.#view.head && !this.#sameTree(head)) return new AuditUnavailableError('the log head moved: another instance is the sequencer');
      // The lease went to another instance (its step may not have moved the head yet).
      if (!(await this.#store.acquireSequencer())) return new AuditUnavailableError('the sequencer lease is held by another instance');
      if ((await this.#store.uncovered(this.#view.size)).length > 0) {
        return new AuditCorruptError(`entries from index ${this.#view.size} are covered by no signature: refusing to integrate over them`, this.#view.size);
      }
    } catch {
      // the store is unreachable: an ordinary failure, retried
    }
    return undefined;
  }

  /** Whether a stored head (unverified) states this sequencer's tree: its size and root. */
  #sameTree(head: string | undefined): boolean {
    if (headSize(head) !== this.#view.size) return false;
    return this.#view.size === 0 || headRootLine(head) === toBase64(this.#view.root);
  }

  #published(note: string, size: number, now: number): void {
    this.#view = { ...this.#view, checkpoint: note, checkpointSize: size };
    this.#lastCheckpointAt = now;
    this.counters.checkpoints++;
  }
}
