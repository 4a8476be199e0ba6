/**
 * Audit storage (docs/AUDIT.md §4). A store keeps the log as C2SP tlog-tiles — entries, hash
 * tiles, the newest signed tree head and the checkpoints — plus an **outbox** of records that are
 * committed but not yet integrated. One sequencer at a time integrates outbox records in batches:
 * each batch (entries, the tiles they complete or change, the new tree head, an optional
 * checkpoint, and the outbox records it consumed) is ONE durable step, and the store refuses it
 * unless its head is still at `start` (so two sequencers can never both extend the same tree).
 *
 * Implementations: MemoryAuditStore (here), FileAuditStore (./file-store.ts) and
 * PostgresAuditStore (./postgres-store.ts).
 * @module
 */
import { AuditUnavailableError, InvalidInputError } from '../errors.js';
import { type OutboxRecord, TREE_HEAD_LINE } from './records.js';
import type { TileWrite } from './tile-edge.js';
import type { CompanionInsert } from '../store/types.js';
import type { TileWant } from './tile-tree.js';
import { TILE_WIDTH } from './tiles.js';
import { HASH_SIZE } from './merkle.js';

/**
 * The newest signed statements a store holds, read together (one snapshot where the store is
 * shared).
 *
 * @example
 * ```ts
 * const { head, checkpoint } = await store.state();
 * ```
 */
export interface AuditStoreState {
  /** The tree-head note of the newest integrated batch (records.ts), if any. */
  head: string | undefined;
  /** The newest checkpoint note, if any. */
  checkpoint: string | undefined;
  /** The outbox replay guard stored with the head (replay-guard.ts), if any. */
  guard?: Uint8Array | undefined;
}

/**
 * An outbox record handed to the sequencer, with the store's opaque `ticket` for it.
 *
 * @example
 * ```ts
 * for (const r of await store.claim(1000)) console.log(r.ticket, r.flags);
 * ```
 */
export interface ClaimedRecord extends OutboxRecord {
  ticket: string;
}

/** A receipt as a store returns it: where the record's entries landed and the MAC stored with it. */
export interface ReceiptRow {
  /** Index of the record's first entry (the tree size when it was integrated). */
  index: number;
  /** How many entries the record had (0 for a `flush()` or `checkpoint()` request). */
  count: number;
  /** The sequencer's MAC over the receipt (records.ts `receiptMac`); absent in rows written without one. */
  mac?: Uint8Array;
}

/** A receipt the sequencer hands to {@link AuditStore.integrate}. */
export interface StoredReceipt {
  ticket: string;
  index: number;
  count: number;
  mac: Uint8Array;
}

/**
 * One integration step (see {@link AuditStore.integrate}).
 *
 * @example
 * ```ts
 * await store.integrate({ start: 10, entries, tiles: edge.take(), head, consumed: [], quarantined: [], receipts: [] });
 * ```
 */
export interface IntegrateBatch {
  /** Tree size before the batch: the store refuses the batch unless its head is at this size. */
  start: number;
  /**
   * The root of the tree of `start` entries the batch extends: a store that keeps its heads
   * refuses the batch unless its newest head states this root (not only this size). Optional.
   */
  base?: Uint8Array;
  /** The entries, at indices `start`, `start + 1`, … */
  entries: readonly Uint8Array[];
  /**
   * Their RFC 9162 leaf hashes, one per entry, when the caller computed them already (the
   * sequencer does, to extend the tree): a store that keeps leaf hashes stores these rather than
   * hashing every entry again. Absent, or of another length, the store computes them.
   */
  leafHashes?: readonly Uint8Array[];
  /** Tiles (and, for stores that keep them, entry bundles) completed or changed by the batch. */
  tiles: readonly TileWrite[];
  /** Tree-head note for the new size. */
  head: string;
  /** A checkpoint over the new tree, published in the same step. */
  checkpoint?: string;
  /** Outbox records the batch integrates: removed from the outbox in the same step. */
  consumed: readonly string[];
  /** Outbox records refused (MAC failed): moved out of the outbox, with the reason. */
  quarantined: readonly { ticket: string; reason: string }[];
  /**
   * Where the entries of waiting outbox records landed, for their writers ({@link AuditStore.receipt}),
   * each with the sequencer's MAC over it (records.ts `receiptMac`), which the store keeps as given.
   */
  receipts: readonly StoredReceipt[];
  /**
   * The sequencer's outbox replay guard after this batch (replay-guard.ts), stored in the same
   * step and returned by {@link AuditStore.state} with the head. A store may keep it only with
   * batches that add entries: a batch without entries consumes at most checkpoint requests.
   */
  guard?: Uint8Array;
}

/**
 * What the store holds beyond the tree head: entries or tiles that no signed head covers.
 *
 * @example
 * ```ts
 * const extra = await store.uncovered(headSize); // [] on a healthy log
 * ```
 */
export type UncoveredEntries = Uint8Array[];

/**
 * Where an audit log lives. See the module comment for the model; docs/AUDIT.md §4 for the
 * guarantees.
 *
 * @example
 * ```ts
 * const log = await AuditLog.open({ store: await FileAuditStore.open('./audit'), signerKey });
 * ```
 */
export interface AuditStore {
  /** True when the store keeps entry bundles, so the sequencer emits them with the tiles. */
  readonly keepsBundles: boolean;
  /** True when `enqueue` can join a caller's database transaction (`options.tx`). */
  readonly joinsTransactions: boolean;
  /** The newest tree head and checkpoint. */
  state(): Promise<AuditStoreState>;
  /** Number of integrated entries, as the newest tree head says (not verified here). */
  size(): Promise<number>;
  /** Entries [start, end) of the integrated tree. */
  read(start: number, end: number): Promise<Uint8Array[]>;
  /** Tile (level, index) with at least `width` hashes (a wider one is fine), or undefined. */
  readTile(level: number, index: number, width: number): Promise<Uint8Array | undefined>;
  /**
   * Several tiles at once, each like {@link readTile} (answer i for `wants[i]`): lets a store in
   * a database serve a proof's tiles in one round trip. Optional; without it tiles are read one
   * by one.
   */
  readTiles?(wants: readonly TileWant[]): Promise<(Uint8Array | undefined)[]>;
  /** One durable, atomic integration step; fails unless the store's head is at `batch.start`. */
  integrate(batch: IntegrateBatch): Promise<void>;
  /**
   * Publishes a checkpoint (history and newest), unless a larger one is already published.
   * `asSequencer`: the sequencer's own checkpoint of the tree it holds, without a batch — a store
   * shared by several instances refuses it (ERR_AUDIT_UNAVAILABLE) unless this instance still
   * holds the sequencer role and the newest head is exactly that tree (size and root): a
   * sequencer whose role ran out must not sign over a log repaired or extended meanwhile.
   */
  appendCheckpoint(note: string, options?: { asSequencer?: boolean }): Promise<void>;
  /** Every checkpoint published, oldest first. */
  checkpoints(): Promise<string[]>;
  /** Removes all but the newest `keep` checkpoints from the history; returns how many it removed. */
  pruneCheckpoints(keep: number): Promise<number>;
  /** Durably stores an outbox record (in `options.tx` when the store joins transactions); returns its ticket. */
  enqueue(record: OutboxRecord, options?: { tx?: unknown }): Promise<string>;
  /**
   * The outbox insert of `record` as a companion of a key store's statement (a store in a
   * database; see KeyStore.insertFirstWith), or undefined when the store has none.
   * @internal
   */
  companionInsert?(record: OutboxRecord): CompanionInsert | undefined;
  /**
   * Up to `limit` outbox records in commit order, for the sequencer. A store that stopped short
   * of `limit` for another reason (a byte cap) sets `more` on the array: the outbox is then not
   * drained, whatever the count says (the replay guard's horizon waits, replay-guard.ts).
   */
  claim(limit: number): Promise<ClaimedRecord[] & { more?: boolean }>;
  /** Where a waiting record's entries landed, once integrated, with the MAC it was stored with. */
  receipt(ticket: string): Promise<ReceiptRow | undefined>;
  /** Takes (or renews) the sequencer role for this store instance; true while it holds it. */
  acquireSequencer(): Promise<boolean>;
  /** Gives the role up. */
  releaseSequencer(): Promise<void>;
  /**
   * Whether another live instance holds the sequencer role now, for a store whose step writes
   * its files before its head (a reader may then see them mid-step). Optional: a store whose step
   * is one transaction has no such moment.
   */
  sequencerElsewhere?(): Promise<boolean>;
  /** Entries the store holds at or beyond index `size` that no tree head covers (empty when none). */
  uncovered(size: number): Promise<UncoveredEntries>;
  /**
   * The operator's repair (AuditLog.open's `repair`): removes every entry and tile beyond
   * `size`, and makes `head` (a tree head for exactly `size`) the newest. Never below the newest
   * checkpoint. `guard`, when given, is the replay guard to store with that head (the repair
   * re-binds it to the head it cuts back to, replay-guard.ts); otherwise the stored one stays.
   */
  repair(size: number, head: string, guard?: Uint8Array): Promise<void>;
  /** Releases files or connections. */
  close(): Promise<void>;
}

/**
 * The size a stored head note states — a tree head's third line, or a checkpoint's second —
 * unverified (the log verifies heads itself); 0 when there is none or it does not parse.
 */
export function headSize(head: string | undefined): number {
  if (head === undefined) return 0;
  const lines = head.split('\n');
  const line = lines[0] === TREE_HEAD_LINE ? lines[2] : lines[1];
  return line !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(line) ? Number(line) : 0;
}

/**
 * The root hash line (base64) a stored head note states — a tree head's fourth line, or a
 * checkpoint's third — unverified, like {@link headSize}; undefined when there is no head.
 */
export function headRootLine(head: string | undefined): string | undefined {
  if (head === undefined) return undefined;
  const lines = head.split('\n');
  return lines[0] === TREE_HEAD_LINE ? lines[3] : lines[2];
}

/** Tree size on a checkpoint note's second line (C2SP tlog-checkpoint), or undefined. */
export function checkpointSize(note: string): number | undefined {
  const line = note.split('\n')[1];
  return line !== undefined && /^(0|[1-9][0-9]*)$/.test(line) && Number.isSafeInteger(Number(line)) ? Number(line) : undefined;
}

/** Checks `read`'s range arguments. */
export function checkReadRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0) throw new InvalidInputError('start', 'expected safe integers with 0 <= start');
}

/** Checks a checkpoint note's size line, for stores that index checkpoints by size. */
export function noteSize(note: unknown): number {
  const size = typeof note === 'string' ? checkpointSize(note) : undefined;
  if (size === undefined) throw new InvalidInputError('note', 'expected a checkpoint note (origin line, then a decimal tree size)');
  return size;
}

/**
 * An {@link AuditStore} in memory: for tests and for processes that ship their log elsewhere.
 * One sequencer at a time per store object (the first AuditLog to ask).
 *
 * @example
 * ```ts
 * const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey });
 * ```
 */
export class MemoryAuditStore implements AuditStore {
  readonly keepsBundles = false;
  readonly joinsTransactions = false;
  readonly #entries: Uint8Array[] = [];
  readonly #tiles = new Map<string, Uint8Array>();
  readonly #checkpoints: string[] = [];
  readonly #outbox: { id: number; record: OutboxRecord }[] = [];
  readonly #receipts = new Map<string, Required<ReceiptRow>>();
  #head: string | undefined;
  #guard: Uint8Array | undefined;
  #nextTicket = 1;

  async state(): Promise<AuditStoreState> {
    return { head: this.#head, checkpoint: this.#checkpoints[this.#checkpoints.length - 1], guard: this.#guard?.slice() };
  }
  async size(): Promise<number> {
    return headSize(this.#head);
  }
  async read(start: number, end: number): Promise<Uint8Array[]> {
    checkReadRange(start, end);
    return this.#entries.slice(start, Math.min(end, headSize(this.#head))).map((e) => Uint8Array.from(e));
  }
  async readTile(level: number, index: number, width: number): Promise<Uint8Array | undefined> {
    const t = this.#tiles.get(`${level}/${index}`);
    return t !== undefined && t.length >= width * HASH_SIZE ? t.slice() : undefined;
  }
  async integrate(batch: IntegrateBatch): Promise<void> {
    if (batch.start !== headSize(this.#head)) throw new AuditUnavailableError(`the log head moved (at ${headSize(this.#head)}, batch for ${batch.start}): another sequencer`);
    this.#entries.length = batch.start;
    for (const e of batch.entries) this.#entries.push(Uint8Array.from(e));
    for (const t of batch.tiles) if (t.level !== 'entries') this.#tiles.set(`${t.level}/${t.index}`, t.data.slice());
    this.#head = batch.head;
    if (batch.guard !== undefined) this.#guard = batch.guard.slice();
    if (batch.checkpoint !== undefined) this.#checkpoints.push(batch.checkpoint);
    const done = new Set([...batch.consumed, ...batch.quarantined.map((q) => q.ticket)]);
    for (let i = this.#outbox.length - 1; i >= 0; i--) if (done.has(String(this.#outbox[i]!.id))) this.#outbox.splice(i, 1);
    for (const r of batch.receipts) this.#receipts.set(r.ticket, { index: r.index, count: r.count, mac: r.mac.slice() });
  }
  async appendCheckpoint(note: string): Promise<void> {
    const size = noteSize(note);
    const last = this.#checkpoints[this.#checkpoints.length - 1];
    if (last !== undefined && (checkpointSize(last) ?? 0) > size) return;
    this.#checkpoints.push(note);
  }
  async checkpoints(): Promise<string[]> {
    return [...this.#checkpoints];
  }
  async pruneCheckpoints(keep: number): Promise<number> {
    const n = Math.max(0, this.#checkpoints.length - Math.max(1, keep));
    this.#checkpoints.splice(0, n);
    return n;
  }
  async enqueue(record: OutboxRecord): Promise<string> {
    const id = this.#nextTicket++;
    this.#outbox.push({ id, record: { bundle: record.bundle.slice(), flags: record.flags, mac: record.mac.slice() } });
    return String(id);
  }
  async claim(limit: number): Promise<ClaimedRecord[]> {
    return this.#outbox.slice(0, limit).map(({ id, record }) => ({ ticket: String(id), ...record }));
  }
  async receipt(ticket: string): Promise<ReceiptRow | undefined> {
    const r = this.#receipts.get(ticket);
    return r === undefined ? undefined : { ...r, mac: r.mac.slice() };
  }
  /** One object is one holder: share a MemoryAuditStore between AuditLogs only one after another. */
  async acquireSequencer(): Promise<boolean> {
    return true;
  }
  async releaseSequencer(): Promise<void> {}
  async uncovered(size: number): Promise<UncoveredEntries> {
    return this.#entries.slice(size).map((e) => e.slice());
  }
  async repair(size: number, head: string, guard?: Uint8Array): Promise<void> {
    const cp = this.#checkpoints[this.#checkpoints.length - 1];
    if (cp !== undefined && (checkpointSize(cp) ?? 0) > size) throw new InvalidInputError('size', 'refusing to drop checkpointed entries');
    this.#entries.length = Math.min(this.#entries.length, size);
    for (const key of [...this.#tiles.keys()]) {
      const [level, index] = key.split('/').map(Number) as [number, number];
      const nodes = Math.floor(size / TILE_WIDTH ** level);
      if (index * TILE_WIDTH >= nodes) this.#tiles.delete(key);
      else if ((index + 1) * TILE_WIDTH > nodes) this.#tiles.set(key, this.#tiles.get(key)!.slice(0, (nodes - index * TILE_WIDTH) * HASH_SIZE));
    }
    this.#head = head;
    if (guard !== undefined) this.#guard = guard.slice();
  }
  async close(): Promise<void> {}

  /**
   * Test hook: stores entries past the head as someone without the signer key could (they are
   * never adopted: AuditLog.open refuses them, docs/AUDIT.md §4).
   * @internal
   */
  forgeEntries(entries: readonly Uint8Array[]): void {
    this.#entries.length = Math.max(this.#entries.length, headSize(this.#head));
    for (const e of entries) this.#entries.push(Uint8Array.from(e));
  }

  /** Test hook: the stored replay guard, replaced as someone without the log key could. @internal */
  set storedGuard(guard: Uint8Array | undefined) {
    this.#guard = guard?.slice();
  }

  /** Test hook: the outbox as stored (for forging records). @internal */
  get outboxLength(): number {
    return this.#outbox.length;
  }
}
