/**
 * AuditLog: an append-only transparency log of key events and break-glass accesses
 * (docs/AUDIT.md). Entries are leaves of an RFC 6962 Merkle tree stored as C2SP tlog-tiles;
 * instances commit events to an outbox (in the caller's transaction where the store allows) and
 * one sequencer at a time integrates them in batches, signing a tree head per batch and a
 * checkpoint per interval, per batch or on demand (./sequencer.ts). Memory holds the right edge
 * and a bounded tile cache; opening reads the newest checkpoint and tree head and checks the
 * tail since the checkpoint (./inspect.ts), whatever the log's size.
 *
 * Two acknowledgements (docs/AUDIT.md §4):
 * - {@link AuditLog.record}: durable — in the outbox (committed with the caller's transaction)
 *   or already integrated. Key lifecycle events use it.
 * - {@link AuditLog.append} (and `record(…, { checkpoint: true })` then `checkpointed()`):
 *   integrated AND covered by a signed checkpoint. Break-glass uses it before releasing anything.
 * @module
 */
import { AbortedError, AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { isAbortSignal } from '../util/deadline.js';
import { sha256 } from '../util/digest.js';
import { equalBytes, toHex } from '../util/bytes.js';
import { assertInt, assertString, own, ownOptions } from '../util/validate.js';
import { type Checkpoint, type VerifiedCosignature, openCheckpoint, verifyCosignatures } from './checkpoint.js';
import { type AuditEvent, encodeEntry, newEvent } from './entry.js';
import { formatConsistencyRequest, formatTlogProof } from './formats.js';
import { HASH_SIZE, leafHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { type NoteVerifier, newNoteVerifier, verifierKeyFromSigner } from './note.js';
import { OutboxProducer, type RecordKeys, TREE_HEAD_LINE, type TreeHead, openTreeHead, recordKeys, sealOutboxRecord, signTreeHead } from './records.js';
import { RESET_TAIL, ReplayGuard, resetFloor } from './replay-guard.js';
import { type InspectProblem, type VerifiedState, inspectStore, isProblem } from './inspect.js';
import { type Landed, type SequencedView, Sequencer } from './sequencer.js';
import { type AuditStore, headSize } from './store.js';
import type { CompanionInsert } from '../store/types.js';
import { type TileWant, TileTree } from './tile-tree.js';
import { type AuditReceipt, TicketWaiters } from './waiters.js';

export type { AuditReceipt } from './waiters.js';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Where the log is kept. */
  store: AuditStore;
  /** The log's signed-note signer key (`PRIVATE+KEY+<origin>+<id>+<key>`); its name is the origin. */
  signerKey: string;
  /** Milliseconds a record or append may take before it fails with ERR_AUDIT_UNAVAILABLE. Default 5000. */
  appendTimeoutMs?: number;
  /**
   * An explicit operator repair, for a log that {@link AuditLog.open} refused because the store
   * holds entries no valid signature covers (records written without the log key, or a batch that
   * never completed). `{ unsignedTail: 'drop', actor }` removes exactly those entries — back to the
   * newest point a signature vouches for, never below the newest checkpoint — and records the
   * repair in the log itself as an `audit.repaired` entry (how many, from which index, and a
   * digest of what was dropped). On a healthy log it does nothing.
   */
  repair?: { unsignedTail: 'drop'; actor: string };
  /** A checkpoint at least this often while the log grows (ms). Default 1000. */
  checkpointIntervalMs?: number;
  /** A checkpoint with every batch (as keywarden 0.1 did per append). Default false. */
  checkpointEveryBatch?: boolean;
  /** Entries per batch at most. Default 4096. */
  maxBatch?: number;
  /**
   * Longest pause (ms) between two looks at an idle outbox (the pause after a batch that did not
   * fill up is `lingerMs`), or at a receipt awaited. Default 50.
   */
  pollMs?: number;
  /**
   * After a batch that did not fill up, how long (ms) the sequencer waits before it looks at the
   * outbox again, so that records committed meanwhile share one batch: at a steady stream of new
   * conversations this cuts the sequencer's CPU per entry several-fold (docs/AUDIT.md §4). Local
   * appends, checkpoint requests and break-glass writers of this process waiting for their
   * records end the wait at once; records of other instances wait at most this long (plus one
   * round) before they are integrated. 0 looks again at once. Default 25.
   */
  lingerMs?: number;
  /** How often (ms) an instance renews the sequencer role, or tries to take it. Default 1000. */
  roleCheckMs?: number;
  /** Whether this instance may become the sequencer. Default true; false makes it a pure producer. */
  sequencer?: boolean;
  /** Tiles kept in memory for proofs. Default 128 (about 1 MiB). */
  tileCache?: number;
  /**
   * How long (ms) a sealed outbox record may wait to be integrated — its transaction open, or no
   * sequencer running — before the sequencer refuses it as possibly replayed and quarantines it
   * (docs/AUDIT.md §4.8). The sequencer's replay guard remembers the records of this window.
   * Keep it well above your longest transaction and the clock skew between hosts (records carry
   * their producer's time, the horizon is the sequencer's). 60,000 to 30 days; default 24 hours.
   */
  replayWindowMs?: number;
}

const OPTION_KEYS = ['store', 'signerKey', 'appendTimeoutMs', 'repair', 'checkpointIntervalMs', 'checkpointEveryBatch', 'maxBatch', 'pollMs', 'lingerMs', 'roleCheckMs', 'sequencer', 'tileCache', 'replayWindowMs'];

/** What {@link AuditLog.record} returns: the record is durable; `checkpointed()` waits for its checkpoint. */
export interface AuditPending {
  /** Index of the (first) entry when this instance integrated it already, else undefined. */
  readonly index: number | undefined;
  /** Resolves once the entries are integrated under a signed checkpoint (only for `checkpoint: true`). */
  checkpointed(options?: { signal?: AbortSignal }): Promise<AuditReceipt>;
}

/** Counters and state for monitoring. */
export interface AuditLogStats {
  size: number;
  checkpointSize: number;
  /** Integrated entries no checkpoint covers yet (normal between checkpoints). */
  pending: number;
  sequencer: boolean;
  batches: number;
  checkpoints: number;
  quarantined: number;
  failures: number;
  cachedTiles: number;
  /** Producers and runs of counters the sequencer's outbox replay guard remembers (0 when not the sequencer). */
  replayGuard: { producers: number; runs: number };
  /** Why this instance could not take or keep the sequencer role, if it could not. */
  lastError: string | undefined;
}

function repairOption(r: unknown): { unsignedTail: 'drop'; actor: string } {
  if (r === null || typeof r !== 'object') throw new InvalidInputError('options.repair', "expected { unsignedTail: 'drop', actor }");
  const o = ownOptions('options.repair', r as { unsignedTail?: unknown; actor?: unknown }, ['unsignedTail', 'actor']);
  if (o.unsignedTail !== 'drop') throw new InvalidInputError('options.repair.unsignedTail', "expected 'drop'");
  assertString('options.repair.actor', o.actor, 1024);
  return { unsignedTail: 'drop', actor: o.actor };
}

function encodeEvents(events: AuditEvent | readonly AuditEvent[]): Uint8Array[] {
  const list = Array.isArray(events) ? (events as readonly AuditEvent[]) : [events as AuditEvent];
  if (list.length === 0) throw new InvalidInputError('events', 'expected at least one event');
  return list.map(encodeEntry);
}

const asUnavailable = (err: unknown): KeywardenError => (err instanceof KeywardenError ? err : new AuditUnavailableError('audit store failed', err));

type Resolved = Required<Omit<AuditLogOptions, 'repair' | 'store' | 'signerKey'>>;

/**
 * The audit log.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateNoteKey('example.com/keywarden-audit');
 * const log = await AuditLog.open({ store: await FileAuditStore.open('./audit'), signerKey });
 * const { index, checkpoint } = await log.append({ id, type: 'key.rotated', ... });
 * // publish verifierKey; auditors run `keywarden audit verify`
 * ```
 */
export class AuditLog {
  readonly origin: string;
  /** The verifier key to publish for auditors: `<origin>+<key id>+<base64(0x01 || public key)>`. */
  readonly verifierKey: string;
  readonly #store: AuditStore;
  readonly #keys: RecordKeys;
  readonly #verifier: NoteVerifier;
  readonly #o: Resolved;
  /** Ids of the outbox records this instance seals (records.ts). */
  readonly #producer = new OutboxProducer();
  readonly #tree: TileTree;
  readonly #tickets: TicketWaiters;
  #view: SequencedView;
  #seq: Sequencer | undefined;
  #roleTimer: ReturnType<typeof setInterval> | undefined;
  #role: Promise<void> = Promise.resolve();
  #lastError: string | undefined;
  #closed = false;
  /**
   * The last checkpoint and tree head whose signatures verified, by their exact text: a proof or
   * sync that reads the same note again reuses the result instead of another Ed25519
   * verification (the text is identical, so is the answer). One entry each: bounded memory.
   */
  #verifiedCheckpoint: { note: string; cp: Checkpoint } | undefined;
  #verifiedHead: { note: string; head: TreeHead } | undefined;

  private constructor(store: AuditStore, keys: RecordKeys, verifierKey: string, o: Resolved, view: SequencedView) {
    this.#store = store;
    this.#keys = keys;
    this.origin = keys.origin;
    this.verifierKey = verifierKey;
    this.#verifier = newNoteVerifier(verifierKey);
    this.#o = o;
    this.#view = view;
    this.#tree = new TileTree((level, index, width) => store.readTile(level, index, width), {
      cacheTiles: o.tileCache,
      ...(store.readTiles !== undefined && { readMany: (wants: readonly TileWant[]) => store.readTiles!(wants) }),
    });
    this.#tickets = new TicketWaiters(store, this.#verifier, this.origin, o.pollMs, {
      receiptKey: keys.mac,
      nudge: () => this.#seq?.nudge(),
      included: async (index, entries, size, root) => {
        for (const [k, e] of entries.entries()) {
          if (!verifyInclusion(leafHash(e), index + k, size, await this.#tree.inclusionProof(index + k, size), root)) return false;
        }
        return true;
      },
    });
  }

  /**
   * Opens a log over `store`: reads the newest checkpoint and tree head, checks them against the
   * tiles and each other and re-checks the entries integrated since the checkpoint (never the
   * whole log). Anything else is `ERR_AUDIT_CORRUPT` — in particular entries no signature covers
   * are never adopted; `at` is the first such index, and `options.repair` is the operator's
   * explicit, recorded way out (docs/AUDIT.md §4). Then takes the sequencer role if it is free.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (options === undefined) throw new InvalidInputError('options', 'expected an options object');
    const o = ownOptions('options', options, OPTION_KEYS);
    const repair = o.repair === undefined ? undefined : repairOption(o.repair);
    const store = o.store;
    if (!store || typeof store.integrate !== 'function') throw new InvalidInputError('options.store', 'expected an AuditStore');
    assertString('options.signerKey', o.signerKey, 4096);
    const resolved: Resolved = {
      appendTimeoutMs: o.appendTimeoutMs ?? 5000, checkpointIntervalMs: o.checkpointIntervalMs ?? 1000, checkpointEveryBatch: o.checkpointEveryBatch ?? false,
      maxBatch: o.maxBatch ?? 4096, pollMs: o.pollMs ?? 50, lingerMs: o.lingerMs ?? 25, roleCheckMs: o.roleCheckMs ?? 1000, sequencer: o.sequencer ?? true, tileCache: o.tileCache ?? 128,
      replayWindowMs: o.replayWindowMs ?? 86_400_000,
    };
    assertInt('options.appendTimeoutMs', resolved.appendTimeoutMs, 1, 600_000);
    assertInt('options.checkpointIntervalMs', resolved.checkpointIntervalMs, 1, 86_400_000);
    assertInt('options.maxBatch', resolved.maxBatch, 1, 1_000_000);
    assertInt('options.pollMs', resolved.pollMs, 1, 60_000);
    assertInt('options.lingerMs', resolved.lingerMs, 0, 60_000);
    assertInt('options.roleCheckMs', resolved.roleCheckMs, 10, 600_000);
    assertInt('options.tileCache', resolved.tileCache, 0, 1_000_000);
    assertInt('options.replayWindowMs', resolved.replayWindowMs, 60_000, 30 * 86_400_000);
    if (typeof resolved.checkpointEveryBatch !== 'boolean') throw new InvalidInputError('options.checkpointEveryBatch', 'expected a boolean');
    if (typeof resolved.sequencer !== 'boolean') throw new InvalidInputError('options.sequencer', 'expected a boolean');
    let keys: RecordKeys;
    let verifierKey: string;
    try {
      keys = recordKeys(o.signerKey);
      verifierKey = verifierKeyFromSigner(o.signerKey);
    } catch (cause) {
      throw new InvalidInputError('options.signerKey', `expected a signed-note signer key (${(cause as Error).message})`);
    }
    if (keys.origin === TREE_HEAD_LINE) throw new InvalidInputError('options.signerKey', 'the origin may not be the tree-head marker line');
    const verifier = newNoteVerifier(verifierKey);
    const migrate = (store as { migrateLegacy?: (keys: RecordKeys, verifier: NoteVerifier) => Promise<unknown> }).migrateLegacy;
    if (typeof migrate === 'function') await migrate.call(store, keys, verifier);

    const inspected = await inspectStore(store, verifier, keys.origin);
    if (isProblem(inspected) && (repair === undefined || inspected.dropTo === undefined)) {
      throw new AuditCorruptError(
        `${inspected.message}; they are not adopted${inspected.dropTo !== undefined ? " (AuditLog.open with repair: { unsignedTail: 'drop' } removes them and records it)" : ''}`,
        inspected.at,
      );
    }
    const view: SequencedView = isProblem(inspected)
      ? { size: 0, root: new Uint8Array(32), head: undefined, checkpoint: undefined, checkpointSize: 0 }
      : { size: inspected.size, root: inspected.root, head: inspected.head, checkpoint: inspected.checkpoint, checkpointSize: inspected.checkpointSize };
    const log = new AuditLog(store, keys, verifierKey, resolved, view);
    if (!isProblem(inspected)) {
      // Verified by the inspection just now: the first proof need not verify them again.
      const { checkpoint, head } = inspected.verified;
      if (inspected.checkpoint !== undefined && checkpoint !== undefined) log.#verifiedCheckpoint = { note: inspected.checkpoint, cp: checkpoint };
      if (inspected.head !== undefined && head !== undefined) log.#verifiedHead = { note: inspected.head, head };
    }
    if (isProblem(inspected)) await log.#repair(inspected, repair!.actor);
    else if (repair !== undefined && resolved.sequencer && log.#guardProblem(inspected)) {
      // A healthy tree whose replay guard is lost or not the log's own: the explicit repair resets
      // it (nothing is dropped) and records that it did.
      await log.#repair({ message: 'replay guard', at: inspected.size, dropTo: inspected.size, keepHead: inspected.head, rootAtDrop: inspected.root }, repair.actor);
    } else if (resolved.sequencer) await log.#takeRole(inspected);
    log.#roleTimer = setInterval(() => void log.#roleTick(), resolved.roleCheckMs);
    log.#roleTimer.unref?.();
    return log;
  }

  /** The operator repair: drop what no signature vouches for, then record that it was dropped. */
  async #repair(problem: InspectProblem, actor: string): Promise<void> {
    if (!(await this.#store.acquireSequencer())) throw new AuditUnavailableError('another instance holds the audit sequencer role: repair the log from it');
    const from = problem.dropTo!;
    let again: VerifiedState;
    let kept: ReplayGuard;
    let dropped: number;
    let digest: Uint8Array;
    try {
      const state = await this.#store.state();
      const stored = headSize(state.head);
      const gone = [...(from < stored ? await this.#store.read(from, stored) : []), ...(await this.#store.uncovered(Math.max(from, stored)))];
      const hashes = new Uint8Array(gone.length * HASH_SIZE); // SHA-256 over the leaf hashes, in order
      gone.forEach((e, i) => hashes.set(leafHash(e), i * HASH_SIZE));
      digest = sha256(hashes);
      dropped = gone.length;
      const head = problem.keepHead ?? signTreeHead(this.#keys.signer, from, problem.rootAtDrop!);
      // The replay guard stays only if it was written with exactly the head the repair cuts back
      // to; otherwise it is reset (replay-guard.ts afterRepair, docs/AUDIT.md §4.8).
      const at = { size: from, root: problem.rootAtDrop ?? openTreeHead(head, this.#verifier).root };
      // A reset guard's horizon must pass every record integrated so far, whatever this host's
      // clock says: the newest kept entry's time (plus a margin for sealing after the event was made).
      const floor = resetFloor(await this.#store.read(Math.max(0, from - RESET_TAIL), from));
      const guard = ReplayGuard.afterRepair(this.#keys.mac, state.guard, at, Date.now(), floor, { windowMs: this.#o.replayWindowMs });
      // This process's own records: those sealed before the repair are refused by counter, the
      // ones after it are taken whatever this host's clock says against the horizon.
      guard.closeBelow(this.#producer.id, this.#producer.nextCounter, Date.now());
      await this.#storeCall(() => this.#store.repair(from, head, guard.seal(this.#keys.mac, at)));
      const r = await inspectStore(this.#store, this.#verifier, this.origin);
      if (isProblem(r)) throw new AuditCorruptError(`the log is still damaged after the repair: ${r.message}`, r.at);
      kept = this.#openGuard(r);
      again = r;
    } catch (err) {
      // Nothing runs on the role yet: give it up, so that the next open can take it.
      await this.#store.releaseSequencer().catch(() => undefined);
      throw err;
    }
    this.#view = { size: again.size, root: again.root, head: again.head, checkpoint: again.checkpoint, checkpointSize: again.checkpointSize };
    this.#startSequencer(again, kept);
    await this.append(newEvent('audit.repaired', { actor, now: () => new Date() }, { from, dropped, digest: toHex(digest) }));
  }

  /** Takes the sequencer role when free; verifies the store again if it moved since `known`. */
  async #takeRole(known?: VerifiedState): Promise<void> {
    if (this.#closed || this.#seq !== undefined || !(await this.#store.acquireSequencer())) return;
    let state = known;
    // Judged afresh once the role is held when the store moved, or when a tail past the head was
    // left to the sequencer that held the role then (inspect.ts).
    if (state === undefined || state.tailUnjudged === true || (await this.#store.state()).head !== state.head) {
      const r = await inspectStore(this.#store, this.#verifier, this.origin);
      if (isProblem(r)) {
        this.#lastError = r.message;
        await this.#store.releaseSequencer();
        return;
      }
      state = r;
    }
    let guard: ReplayGuard;
    try {
      guard = this.#openGuard(state);
    } catch (err) {
      this.#lastError = (err as Error).message;
      await this.#store.releaseSequencer();
      // At open the log refuses the store (fail closed); later, another instance may hold a good one.
      if (known !== undefined) throw err;
      return;
    }
    this.#view = { size: state.size, root: state.root, head: state.head, checkpoint: state.checkpoint, checkpointSize: state.checkpointSize };
    this.#startSequencer(state, guard);
  }

  /** Whether the verified state's replay guard does not open (missing, forged, rolled back). */
  #guardProblem(state: VerifiedState): boolean {
    try {
      this.#openGuard(state);
      return false;
    } catch (err) {
      if (err instanceof AuditCorruptError) return true;
      throw err;
    }
  }

  /** The replay guard stored with the verified head (replay-guard.ts); AuditCorruptError when it is missing, forged or rolled back. */
  #openGuard(state: VerifiedState): ReplayGuard {
    return ReplayGuard.open(this.#keys.mac, state.guard, { size: state.size, root: state.root }, { windowMs: this.#o.replayWindowMs });
  }

  #startSequencer(state: VerifiedState, guard: ReplayGuard): void {
    this.#lastError = undefined;
    this.#seq = new Sequencer(
      this.#store, this.#keys, state.edge, guard, this.#view,
      { maxBatch: this.#o.maxBatch, checkpointIntervalMs: this.#o.checkpointIntervalMs, checkpointEveryBatch: this.#o.checkpointEveryBatch, pollMs: this.#o.pollMs, lingerMs: this.#o.lingerMs, waiting: () => this.#tickets.waiting, now: Date.now, ownProducer: this.#producer.id },
      (view, receipts) => {
        this.#view = view;
        this.#tickets.settle(receipts, view.checkpoint, view.checkpointSize);
      },
      (err) => {
        this.#lastError = (err as Error).message;
        this.#role = this.#role.then(() => this.#stepDown(err));
      },
    );
  }

  async #stepDown(reason: unknown): Promise<void> {
    const seq = this.#seq;
    if (seq === undefined) return;
    this.#seq = undefined;
    await seq.stop(reason instanceof KeywardenError ? reason : new AuditUnavailableError('the audit sequencer stopped', reason), this.#o.appendTimeoutMs);
    await this.#store.releaseSequencer().catch(() => undefined);
  }

  /** Renews the role (or steps down when it was lost), or tries to take it. Serialised. */
  #roleTick(): Promise<void> {
    this.#role = this.#role.then(async () => {
      if (this.#closed) return;
      try {
        if (this.#seq !== undefined) {
          if (!(await this.#store.acquireSequencer())) await this.#stepDown(new AuditUnavailableError('lost the audit sequencer role'));
        } else if (this.#o.sequencer) {
          await this.#takeRole();
        }
      } catch (err) {
        this.#lastError = (err as Error).message;
      }
    });
    return this.#role;
  }

  /** True when records can join a caller's database transaction (`record(events, { tx })`). */
  get joinsTransactions(): boolean {
    return this.#store.joinsTransactions;
  }

  /** Number of integrated entries this instance knows of ({@link AuditLog.sync} refreshes it). */
  get size(): number {
    return this.#view.size;
  }

  /** The latest checkpoint note this instance knows of. */
  get latestCheckpoint(): string | undefined {
    return this.#view.checkpoint;
  }

  /** Whether this instance is the sequencer now. */
  get isSequencer(): boolean {
    return this.#seq !== undefined;
  }

  /**
   * Records events durably: committed to the outbox (inside `options.tx`, the caller's database
   * transaction, when given) or, on the sequencer, integrated. Acknowledged events are never lost;
   * they are under a checkpoint within `checkpointIntervalMs`. With `checkpoint: true` the
   * sequencer publishes a checkpoint with the batch that integrates them, and `checkpointed()`
   * waits for it. Fails with ERR_AUDIT_UNAVAILABLE on a store failure or after `appendTimeoutMs`;
   * a bad event fails with ERR_AUDIT_ENTRY before anything is written.
   */
  record(events: AuditEvent | readonly AuditEvent[], options?: { tx?: unknown; signal?: AbortSignal; checkpoint?: boolean }): Promise<AuditPending> {
    let bytes: Uint8Array[];
    try {
      bytes = encodeEvents(events);
    } catch (err) {
      return Promise.reject(err);
    }
    const tx = options === undefined ? undefined : own(options, 'tx');
    const caller = options === undefined ? undefined : own(options, 'signal');
    const wait = options === undefined ? false : own(options, 'checkpoint') ?? false;
    if (caller !== undefined && !isAbortSignal(caller)) return Promise.reject(new InvalidInputError('options.signal', 'expected an AbortSignal'));
    if (typeof wait !== 'boolean') return Promise.reject(new InvalidInputError('options.checkpoint', 'expected a boolean'));
    if (tx !== undefined && !this.#store.joinsTransactions) return Promise.reject(new InvalidInputError('options.tx', 'this audit store has no transactions to join'));
    return this.#withTimeout(async (signal) => {
      if (this.#closed) throw new AuditUnavailableError('the audit log is closed');
      if (tx === undefined && this.#seq !== undefined) return this.#landed(await this.#seq.submit(bytes, wait, signal), wait);
      const record = sealOutboxRecord(this.#keys.mac, bytes, wait, this.#producer.next());
      const ticket = await this.#storeCall(() => this.#store.enqueue(record, tx === undefined ? undefined : { tx }));
      return this.#pendingTicket(ticket, record.mac, wait, bytes);
    }, caller);
  }

  /**
   * {@link AuditLog.record} for a key store to write in its own statement: the events' outbox
   * row as a companion insert (acknowledged once that statement commits, like `record` with
   * `tx`), or undefined when the store cannot (the caller then records in a transaction).
   * Fails like `record` for a closed log or a bad event, before anything is written.
   * @internal
   */
  companionFor(events: readonly AuditEvent[]): CompanionInsert | undefined {
    if (this.#store.companionInsert === undefined) return undefined;
    if (this.#closed) throw new AuditUnavailableError('the audit log is closed');
    return this.#store.companionInsert(sealOutboxRecord(this.#keys.mac, encodeEvents(events), false, this.#producer.next()));
  }

  /**
   * Appends events and resolves once they are integrated AND covered by a signed checkpoint:
   * the receipt carries that checkpoint. Fails like {@link AuditLog.record}. It cannot run inside a
   * caller's transaction (the checkpoint comes after the commit): use `record(…, { tx,
   * checkpoint: true })`, commit, then `checkpointed()`.
   */
  append(events: AuditEvent | readonly AuditEvent[], options?: { tx?: unknown; signal?: AbortSignal }): Promise<AuditReceipt> {
    if (options !== undefined && own(options, 'tx') !== undefined) {
      return Promise.reject(new InvalidInputError('options.tx', 'an append that waits for its checkpoint cannot run inside a transaction: record(events, { tx, checkpoint: true }), commit, then checkpointed()'));
    }
    const signal = options === undefined ? undefined : own(options, 'signal');
    if (signal !== undefined && !isAbortSignal(signal)) return Promise.reject(new InvalidInputError('options.signal', 'expected an AbortSignal'));
    return this.#withTimeout(async (s) => (await this.record(events, { checkpoint: true, signal: s })).checkpointed({ signal: s }), signal);
  }

  #landed(l: Landed, wait: boolean): AuditPending {
    return {
      index: l.index,
      checkpointed: () => (wait && l.checkpoint !== undefined ? Promise.resolve({ index: l.index, size: l.size, checkpoint: l.checkpoint }) : Promise.reject(new InvalidInputError('options.checkpoint', 'recorded without checkpoint: true'))),
    };
  }

  #pendingTicket(ticket: string, recordMac: Uint8Array, wait: boolean, entries: readonly Uint8Array[]): AuditPending {
    return {
      index: undefined,
      checkpointed: (opts) => {
        if (!wait) return Promise.reject(new InvalidInputError('options.checkpoint', 'recorded without checkpoint: true'));
        const signal = opts === undefined ? undefined : own(opts, 'signal');
        return this.#withTimeout((s) => this.#tickets.wait(ticket, recordMac, s, entries), signal as AbortSignal | undefined);
      },
    };
  }

  /**
   * Refreshes this instance's view from the store (other instances integrate too): the newest
   * tree head and checkpoint, both checked against the log key. Returns the size.
   */
  async sync(): Promise<number> {
    if (this.#seq !== undefined) {
      // The sequencer's tree is its own, but a checkpoint of it may have been stored by another
      // instance (acceptCosignatures with witness cosignatures, docs/AUDIT.md §3): adopted, so
      // that proofs here carry them too (outside review 6).
      const { checkpoint } = await this.#storeCall(() => this.#store.state());
      if (checkpoint !== undefined && checkpoint !== this.#view.checkpoint) await this.#adoptStored(checkpoint);
      return this.#view.size;
    }
    const { head, checkpoint } = await this.#storeCall(() => this.#store.state());
    const cp = checkpoint === undefined ? undefined : this.#open(checkpoint);
    const h = head === undefined ? undefined : this.#openHead(head);
    const size = h?.size ?? 0;
    if (size < (cp?.size ?? 0)) throw new AuditCorruptError(`the tree head (size ${size}) is behind the latest checkpoint (size ${cp!.size})`, size);
    if (size < this.#view.size) throw new AuditCorruptError(`the store holds ${size} entries, fewer than the ${this.#view.size} this log has seen`, size);
    this.#view = { size, root: h?.root ?? this.#view.root, head, checkpoint, checkpointSize: cp?.size ?? 0 };
    return size;
  }

  /**
   * On the sequencer: a stored checkpoint becomes the view's latest when it verifies, is not
   * older than the view's own, and states this sequencer's tree (its root at that size).
   * Anything else (a larger tree, another root, a bad signature) is left alone here.
   */
  async #adoptStored(note: string): Promise<void> {
    const seq = this.#seq;
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, this.#verifier, this.origin).checkpoint;
    } catch {
      return;
    }
    const view = this.#view;
    if (cp.size < view.checkpointSize || cp.size > view.size) return;
    const root = cp.size === view.size ? view.root : await this.#tree.root(cp.size);
    if (!equalBytes(root, cp.rootHash) || this.#seq !== seq || seq === undefined) return;
    seq.adoptCheckpoint(note, cp.size);
    this.#view = seq.view;
  }

  #open(note: string): Checkpoint {
    const memo = this.#verifiedCheckpoint;
    if (memo !== undefined && memo.note === note) return memo.cp;
    try {
      const cp = openCheckpoint(note, this.#verifier, this.origin).checkpoint;
      this.#verifiedCheckpoint = { note, cp };
      return cp;
    } catch (cause) {
      throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
    }
  }

  #openHead(note: string): TreeHead {
    const memo = this.#verifiedHead;
    if (memo !== undefined && memo.note === note) return memo.head;
    const head = openTreeHead(note, this.#verifier);
    this.#verifiedHead = { note, head };
    return head;
  }

  /** Signs and publishes a checkpoint of the current tree (on demand, e.g. for a witness). */
  checkpoint(): Promise<string> {
    return this.#withTimeout(async (signal) => {
      if (this.#seq !== undefined) return this.#seq.checkpoint();
      // Not the sequencer: ask it, with an empty record that waits.
      return (await this.#request(signal)).checkpoint;
    });
  }

  /**
   * Resolves once every record committed through this instance before the call (and, on
   * PostgreSQL and in memory, every record committed by anyone before it) is integrated and
   * under a checkpoint: an empty record that waits goes through the outbox behind them.
   */
  flush(): Promise<AuditReceipt> {
    return this.#withTimeout((signal) => this.#request(signal));
  }

  /** An empty record that waits, through the outbox: a checkpoint over everything before it. */
  async #request(signal: AbortSignal): Promise<AuditReceipt> {
    // Like record(): a closed log writes nothing (its store is closed, and no waiter of it would
    // ever be settled — the request only ran into appendTimeoutMs).
    if (this.#closed) throw new AuditUnavailableError('the audit log is closed');
    const record = sealOutboxRecord(this.#keys.mac, [], true, this.#producer.next());
    const ticket = await this.#storeCall(() => this.#store.enqueue(record));
    return this.#tickets.wait(ticket, record.mac, signal);
  }

  /** The exact bytes of entry `index`. */
  async entry(index: number): Promise<Uint8Array> {
    assertInt('index', index, 0, Math.max(0, this.size - 1));
    if (index >= this.size) throw new InvalidInputError('index', `expected an index below the log size ${this.size}`);
    const [e] = await this.#storeCall(() => this.#store.read(index, index + 1));
    if (e === undefined) throw new AuditCorruptError(`entry ${index} is missing`, index);
    return e;
  }

  /** RFC 9162 inclusion proof of entry `index` in the tree of `size` entries, from the tiles. */
  inclusionProof(index: number, size = this.size): Promise<Uint8Array[]> {
    assertInt('size', size, 1, this.size);
    return this.#tree.inclusionProof(index, size);
  }

  /** RFC 9162 consistency proof from `oldSize` to `size`, from the tiles. */
  consistencyProof(oldSize: number, size = this.size): Promise<Uint8Array[]> {
    assertInt('size', size, 0, this.size);
    return this.#tree.consistencyProof(oldSize, size);
  }

  /** Tree root at `size`, from the tiles. */
  root(size = this.size): Promise<Uint8Array> {
    assertInt('size', size, 0, this.size);
    return this.#tree.root(size);
  }

  /** The latest checkpoint (asking for one when there is none) and its parsed body. */
  async #latestCheckpoint(): Promise<{ note: string; cp: Checkpoint }> {
    await this.sync();
    const note = this.#view.checkpoint ?? (await this.checkpoint());
    return { note, cp: this.#open(note) };
  }

  /**
   * A C2SP `tlog-proof@v1` file proving entry `index` is in the log, against the latest
   * checkpoint: offline-verifiable with the log's verifier key. The proof is checked against
   * the checkpoint before it is returned (damaged tiles are ERR_AUDIT_CORRUPT, never a bad proof).
   */
  async proof(index: number): Promise<string> {
    // Against the checkpoint this instance knows, side by side with the look at the store's
    // latest (sync): when that is still the latest — almost always — the proof waits for one
    // round trip less. Whichever it is built against, it is checked against that checkpoint.
    const known = this.#view.checkpoint;
    const knownSize = known === undefined ? 0 : this.#open(known).size;
    const early = Number.isSafeInteger(index) && index >= 0 && index < knownSize ? this.#proofParts(index, knownSize).catch(() => undefined) : undefined;
    const { note, cp } = await this.#latestCheckpoint();
    if (!Number.isSafeInteger(index) || index < 0 || index >= cp.size) throw new InvalidInputError('index', `expected an index below the checkpointed size ${cp.size}`);
    const [proof, entry] = (note === known ? await early : undefined) ?? (await this.#proofParts(index, cp.size));
    if (!verifyInclusion(leafHash(entry), index, cp.size, proof, cp.rootHash)) {
      throw new AuditCorruptError(`the stored entry ${index} or its tiles do not match the latest checkpoint`, index);
    }
    return formatTlogProof(index, proof, note);
  }

  /** The inclusion proof of `index` in the tree of `size` and the entry: independent reads, side by side. */
  #proofParts(index: number, size: number): Promise<[Uint8Array[], Uint8Array]> {
    return Promise.all([this.#tree.inclusionProof(index, size), this.entry(index)]);
  }

  /**
   * The body of a C2SP tlog-witness add-checkpoint request from `oldSize` to the latest
   * checkpoint: `old <size>`, the consistency proof hashes, a blank line, the checkpoint.
   */
  async consistency(oldSize: number): Promise<string> {
    const { note, cp } = await this.#latestCheckpoint();
    assertInt('oldSize', oldSize, 0, cp.size);
    // One after the other: the old root mostly needs tiles the proof just cached (side by side,
    // both would miss the cache and read the same tiles twice).
    const proof = await this.#tree.consistencyProof(oldSize, cp.size);
    if (!verifyConsistency(oldSize, cp.size, await this.#tree.root(oldSize), cp.rootHash, proof)) {
      throw new AuditCorruptError(`the stored tiles do not match the latest checkpoint (size ${cp.size})`, oldSize);
    }
    return formatConsistencyRequest(oldSize, proof, note);
  }

  /**
   * Accepts a checkpoint of this log cosigned by witnesses (C2SP tlog-cosignature): checks the
   * log's own signature, that it matches this log's tree and is not older than the latest
   * checkpoint, and at least one valid cosignature by `witnessKeys`; then publishes it, so later
   * proofs carry the cosignatures. Returns them.
   */
  async acceptCosignatures(note: string, witnessKeys: readonly string[]): Promise<VerifiedCosignature[]> {
    let cp: Checkpoint;
    let cosignatures: VerifiedCosignature[];
    try {
      cp = openCheckpoint(note, this.#verifier, this.origin).checkpoint;
      cosignatures = verifyCosignatures(note, [...witnessKeys]);
    } catch (cause) {
      throw new InvalidInputError('note', `not a validly cosigned checkpoint of this log (${(cause as Error).message})`);
    }
    await this.sync();
    if (cp.size > this.size || !equalBytes(cp.rootHash, await this.#tree.root(cp.size))) throw new InvalidInputError('note', 'checkpoint does not match this log');
    if (cp.size < this.#view.checkpointSize) throw new InvalidInputError('note', `checkpoint (size ${cp.size}) is older than the latest (size ${this.#view.checkpointSize}): cosign the latest`);
    if (cosignatures.length === 0) throw new InvalidInputError('note', 'no valid cosignature by the given witnesses');
    await this.#withTimeout(() => this.#storeCall(() => this.#store.appendCheckpoint(note)));
    if (cp.size >= this.#view.checkpointSize) this.#view = { ...this.#view, checkpoint: note, checkpointSize: cp.size };
    // The sequencer's own view too: its next batch hands that view back to the log.
    this.#seq?.adoptCheckpoint(note, cp.size);
    return cosignatures;
  }

  /** Removes all but the newest `keep` checkpoints (at least 1) from the store's history. */
  pruneCheckpoints(keep: number): Promise<number> {
    assertInt('keep', keep, 1, Number.MAX_SAFE_INTEGER);
    return this.#storeCall(() => this.#store.pruneCheckpoints(keep));
  }

  /** Counters and state, for monitoring. */
  stats(): AuditLogStats {
    const c = this.#seq?.counters;
    return {
      size: this.#view.size, checkpointSize: this.#view.checkpointSize, pending: this.#view.size - this.#view.checkpointSize, sequencer: this.#seq !== undefined,
      batches: c?.batches ?? 0, checkpoints: c?.checkpoints ?? 0, quarantined: c?.quarantined ?? 0, failures: c?.failures ?? 0,
      cachedTiles: this.#tree.cachedTiles, replayGuard: this.#seq?.guardSize ?? { producers: 0, runs: 0 }, lastError: this.#lastError,
    };
  }

  /** Stops the sequencer after its batch in flight, gives the role up and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#roleTimer);
    await this.#role.catch(() => undefined);
    await this.#stepDown(new AuditUnavailableError('the audit log is closed'));
    this.#tickets.rejectAll(new AuditUnavailableError('the audit log is closed'));
    await this.#store.close();
  }

  async #storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw asUnavailable(err);
    }
  }

  /**
   * Fails the operation at the deadline (fail closed) and aborts it; the caller's signal is
   * handled like the deadline.
   */
  #withTimeout<T>(op: (signal: AbortSignal) => Promise<T>, caller?: AbortSignal): Promise<T> {
    if (caller?.aborted) return Promise.reject(new AbortedError(caller.reason));
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const fail = (err: KeywardenError) => {
        controller.abort(err);
        reject(err);
      };
      timer = setTimeout(() => fail(new AuditUnavailableError(`audit append did not complete within ${this.#o.appendTimeoutMs} ms`)), this.#o.appendTimeoutMs);
      onAbort = () => fail(new AbortedError(caller!.reason));
      caller?.addEventListener('abort', onAbort, { once: true });
    });
    const p = op(controller.signal);
    p.catch(() => undefined); // settled later than the timeout: the rejection was already reported
    return Promise.race([p, timeout]).finally(() => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort!);
    });
  }
}
