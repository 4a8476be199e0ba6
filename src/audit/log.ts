/**
 * AuditLog: an append-only transparency log of key events and break-glass accesses
 * (docs/AUDIT.md). Entries are leaves of an RFC 6962 Merkle tree kept incrementally; after every
 * append, and on demand, the log signs a C2SP tlog-checkpoint as a signed note. Appends are
 * fail-closed: they resolve only once durable, and a store failure or the timeout surfaces as
 * `ERR_AUDIT_UNAVAILABLE`, so break-glass can refuse to decrypt without its record.
 */
import { AbortedError, AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { isAbortSignal } from '../util/deadline.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, toHex } from '../util/bytes.js';
import { assertInt, assertString, own, ownOptions } from '../util/validate.js';
import { type Checkpoint, type VerifiedCosignature, openCheckpoint, signCheckpoint, verifyCosignatures } from './checkpoint.js';
import { type AuditEvent, encodeEntry, newEvent } from './entry.js';
import { formatConsistencyRequest, formatTlogProof } from './formats.js';
import { MerkleTree, leafHash } from './merkle.js';
import { type NoteSigner, type NoteVerifier, newNoteSigner, newNoteVerifier, verifierKeyFromSigner } from './note.js';
import type { AuditStore, SequencedHead } from './store.js';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Where entries and checkpoints are kept. */
  store: AuditStore;
  /** The log's signed-note signer key (`PRIVATE+KEY+<origin>+<id>+<key>`); its name is the origin. */
  signerKey: string;
  /** Milliseconds an append may take before it fails with ERR_AUDIT_UNAVAILABLE. Default 5000. */
  appendTimeoutMs?: number;
  /**
   * An explicit operator repair, for a log that {@link AuditLog.open} refused because entries past
   * its last signed checkpoint exist (an append that never completed, or records written by
   * someone without the log key). `{ unsignedTail: 'drop', actor }` removes exactly those
   * entries — none of them was ever acknowledged — and records the repair in the log itself as
   * an `audit.repaired` entry (how many, from which index, and a digest of what was dropped),
   * under a new checkpoint. On a healthy log it does nothing.
   */
  repair?: { unsignedTail: 'drop'; actor: string };
}

/** Size and latest checkpoint, from one snapshot where the store can give one. */
async function readHead(store: AuditStore): Promise<{ size: number; checkpoint: string | undefined }> {
  if (store.head !== undefined) return store.head();
  const notes = await store.checkpoints();
  return { size: await store.size(), checkpoint: notes[notes.length - 1] };
}

function repairOption(r: unknown): { unsignedTail: 'drop'; actor: string } {
  if (r === null || typeof r !== 'object') throw new InvalidInputError('options.repair', "expected { unsignedTail: 'drop', actor }");
  const o = ownOptions('options.repair', r as { unsignedTail?: unknown; actor?: unknown }, ['unsignedTail', 'actor']);
  if (o.unsignedTail !== 'drop') throw new InvalidInputError('options.repair.unsignedTail', "expected 'drop'");
  assertString('options.repair.actor', o.actor, 1024);
  return { unsignedTail: 'drop', actor: o.actor };
}

/** What an append returns: where the entry is, and a checkpoint that includes it. */
export interface AuditReceipt {
  /** Index of the (first) appended entry. */
  index: number;
  /** Tree size after the append. */
  size: number;
  /** Signed checkpoint note over the tree including the entry. */
  checkpoint: string;
}


/**
 * The audit log.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateNoteKey('example.com/keywarden-audit');
 * const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey });
 * const { index, checkpoint } = await log.append({ id, type: 'key.rotated', ... });
 * // publish verifierKey; auditors run `keywarden audit verify`
 * ```
 */
export class AuditLog {
  readonly origin: string;
  /** The verifier key to publish for auditors: `<origin>+<key id>+<base64(0x01 || public key)>`. */
  readonly verifierKey: string;
  readonly #store: AuditStore;
  readonly #signer: NoteSigner;
  readonly #verifier: NoteVerifier;
  readonly #tree: MerkleTree;
  readonly #timeoutMs: number;
  #tail: Promise<unknown> = Promise.resolve();
  #lastCheckpoint: string | undefined;
  /** Set when a failed append could not be rolled back: appends refuse until the log is reopened. */
  #broken: unknown;

  private constructor(o: Required<Omit<AuditLogOptions, 'repair'>>, signer: NoteSigner, verifierKey: string, tree: MerkleTree, last: string | undefined) {
    this.#store = o.store;
    this.#signer = signer;
    this.origin = signer.name;
    this.verifierKey = verifierKey;
    this.#verifier = newNoteVerifier(verifierKey);
    this.#tree = tree;
    this.#timeoutMs = o.appendTimeoutMs;
    this.#lastCheckpoint = last;
  }

  /**
   * Opens a log over `store`: reads every entry, rebuilds the tree, and checks that the latest
   * stored checkpoint is one of ours, matches the entries, and covers every one of them. Anything
   * else is `ERR_AUDIT_CORRUPT`: in particular entries past the last checkpoint are never
   * adopted (nobody without the signer key can vouch for them); `at` is the first such index,
   * and `options.repair` is the operator's explicit, recorded way out (docs/AUDIT.md §4).
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (options === undefined) throw new InvalidInputError('options', 'expected an options object');
    const o = ownOptions('options', options, ['store', 'signerKey', 'appendTimeoutMs', 'repair']);
    const repair = o.repair === undefined ? undefined : repairOption(o.repair);
    const store = o.store;
    if (!store || typeof store.append !== 'function') throw new InvalidInputError('options.store', 'expected an AuditStore');
    const signerKey = o.signerKey;
    assertString('options.signerKey', signerKey, 4096);
    const timeout = o.appendTimeoutMs ?? 5000;
    assertInt('options.appendTimeoutMs', timeout, 1, 600_000);
    let signer: NoteSigner;
    let verifierKey: string;
    try {
      signer = newNoteSigner(signerKey);
      verifierKey = verifierKeyFromSigner(signerKey);
    } catch (cause) {
      throw new InvalidInputError('options.signerKey', `expected a signed-note signer key (${(cause as Error).message})`);
    }
    // The size and the latest checkpoint from one snapshot (a shared store's other instances may
    // be appending), then the entries up to that size.
    const { size, checkpoint: last } = await readHead(store);
    const tree = new MerkleTree();
    for (let start = 0; start < size; start += 4096) {
      for (const e of await store.read(start, Math.min(size, start + 4096))) tree.append(leafHash(e));
    }
    const log = new AuditLog({ store, signerKey, appendTimeoutMs: timeout }, signer, verifierKey, tree, last);
    let covered = 0;
    if (last !== undefined) {
      let cp: Checkpoint;
      try {
        cp = openCheckpoint(last, log.#verifier, log.origin).checkpoint;
      } catch (cause) {
        throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
      }
      if (cp.size > tree.size || !equalBytes(cp.rootHash, tree.root(cp.size))) {
        throw new AuditCorruptError(`stored entries do not match the latest checkpoint (size ${cp.size})`, Math.min(cp.size, tree.size));
      }
      covered = cp.size;
    }
    if (tree.size > covered) {
      if (repair === undefined) {
        throw new AuditCorruptError(
          `entries from index ${covered} (${tree.size - covered} of them) are covered by no signed checkpoint: an append that never ` +
            'completed, or records written without the log key; they are not adopted (AuditLog.open with repair: { unsignedTail: \'drop\' } removes them and records it)',
          covered,
        );
      }
      await log.#dropUnsignedTail(covered, repair.actor);
    }
    return log;
  }

  /** The operator repair: drop the unacknowledged tail from `from`, then record that it was dropped. */
  async #dropUnsignedTail(from: number, actor: string): Promise<void> {
    if (this.#store.truncate === undefined) throw new AuditUnavailableError('this audit store cannot drop entries (no truncate)');
    const dropped = this.#tree.size - from;
    const digest = sha256.create();
    for (let i = from; i < this.#tree.size; i++) digest.update(this.#tree.leafHash(i));
    await this.#storeCall(() => this.#store.truncate!(from));
    this.#tree.truncate(from);
    await this.append(newEvent('audit.repaired', { actor, now: () => new Date() }, { from, dropped, digest: toHex(digest.digest()) }));
  }

  /** True when appends can join a caller's database transaction (`append(events, { tx })`). */
  get joinsTransactions(): boolean {
    return this.#store.appendSequenced !== undefined;
  }

  /** Number of entries. */
  get size(): number {
    return this.#tree.size;
  }

  /** The latest checkpoint note issued, if any. */
  get latestCheckpoint(): string | undefined {
    return this.#lastCheckpoint;
  }

  /**
   * Appends one or more events atomically and durably, then signs and stores a checkpoint that
   * includes them. Fails with `ERR_AUDIT_UNAVAILABLE` if the store fails or the append does not
   * complete within `appendTimeoutMs`; a bad event fails with `ERR_AUDIT_ENTRY` before anything
   * is written.
   */
  append(events: AuditEvent | readonly AuditEvent[], options?: { tx?: unknown; signal?: AbortSignal }): Promise<AuditReceipt> {
    const list = Array.isArray(events) ? (events as readonly AuditEvent[]) : [events as AuditEvent];
    let bytes: Uint8Array[];
    try {
      if (list.length === 0) throw new InvalidInputError('events', 'expected at least one event');
      bytes = list.map(encodeEntry);
    } catch (err) {
      return Promise.reject(err);
    }
    const tx = options === undefined ? undefined : own(options, 'tx');
    const caller = options === undefined ? undefined : own(options, 'signal');
    if (caller !== undefined && !isAbortSignal(caller)) return Promise.reject(new InvalidInputError('options.signal', 'expected an AbortSignal'));
    if (this.#store.appendSequenced !== undefined) return this.#withTimeout((signal) => this.#appendSequenced(bytes, tx, signal), caller);
    if (tx !== undefined) return Promise.reject(new InvalidInputError('options.tx', 'this audit store has no transactions to join'));
    return this.#withTimeout((signal) => this.#serial(() => this.#appendAtomically(bytes, signal)), caller);
  }

  /**
   * One append on a store without a sequencer: entries, then a signed checkpoint over them. It
   * is acknowledged only when both are durable; if anything fails on the way (or the timeout
   * fired meanwhile) the entries are rolled back, so a rejected append leaves no trace and the
   * log never holds an entry that no checkpoint covers (docs/AUDIT.md §4).
   */
  async #appendAtomically(bytes: Uint8Array[], signal: AbortSignal): Promise<AuditReceipt> {
    if (this.#broken !== undefined) throw new AuditUnavailableError('audit log is unusable after a failed append that could not be rolled back: reopen it', this.#broken);
    if (signal.aborted) throw signal.reason;
    const before = this.#tree.size;
    let index: number;
    try {
      index = await this.#storeCall(() => this.#store.append(bytes));
    } catch (err) {
      await this.#rollback(before, err);
      throw err;
    }
    if (index !== before) {
      this.#broken = new AuditCorruptError(`store appended at ${index}, log expected ${before}`, index);
      throw this.#broken;
    }
    try {
      for (const b of bytes) this.#tree.append(leafHash(b));
      const checkpoint = await this.#issueCheckpoint();
      if (signal.aborted) throw signal.reason; // too late to acknowledge: the caller was told it failed
      return { index, size: this.#tree.size, checkpoint };
    } catch (err) {
      await this.#rollback(before, err);
      throw err;
    }
  }

  /** Undoes a failed append back to `size` entries; when the store cannot, the log stops appending. */
  async #rollback(size: number, cause: unknown): Promise<void> {
    this.#tree.truncate(size);
    if (this.#store.truncate === undefined) {
      this.#broken = cause;
      return;
    }
    try {
      await this.#store.truncate(size);
    } catch {
      this.#broken = cause;
    }
  }

  /**
   * Shared stores (PostgreSQL): the store serialises appends from every instance under its log
   * head lock and signs through us; our in-memory tree follows when nobody else appended in
   * between, and otherwise catches up in {@link AuditLog.sync}.
   */
  async #appendSequenced(bytes: Uint8Array[], tx: unknown, signal: AbortSignal): Promise<AuditReceipt> {
    const sign = (size: number, root: Uint8Array, previous: SequencedHead) => {
      // Never sign over entries no checkpoint covers (written to the database without the key).
      this.#checkCovered(previous.size, previous.root, previous.checkpoint);
      return signCheckpoint({ origin: this.origin, size, rootHash: root, extensions: [] }, this.#signer);
    };
    const r = await this.#storeCall(() => this.#store.appendSequenced!(bytes, sign, tx === undefined ? { signal } : { tx, signal }));
    if (r.index === this.#tree.size) for (const b of bytes) this.#tree.append(leafHash(b));
    this.#lastCheckpoint = r.checkpoint;
    return { index: r.index, size: r.size, checkpoint: r.checkpoint };
  }

  /**
   * Reads entries other instances appended to a shared store, so proofs cover them — only as far
   * as a signed checkpoint covers them (an unsigned tail is `ERR_AUDIT_CORRUPT`, as in open).
   */
  async sync(): Promise<number> {
    const { size, checkpoint } = await this.#storeCall(() => readHead(this.#store));
    if (size < this.#tree.size) throw new AuditCorruptError(`the store holds ${size} entries, fewer than the ${this.#tree.size} this log has seen`, size);
    const before = this.#tree.size;
    for (let start = before; start < size; start += 4096) {
      for (const e of await this.#storeCall(() => this.#store.read(start, Math.min(size, start + 4096)))) this.#tree.append(leafHash(e));
    }
    try {
      this.#checkCovered(size, this.#tree.root(size), checkpoint);
    } catch (err) {
      this.#tree.truncate(before);
      throw err;
    }
    if (checkpoint !== undefined) this.#lastCheckpoint = checkpoint;
    return this.#tree.size;
  }

  /** Throws ERR_AUDIT_CORRUPT unless `checkpoint` is ours and covers exactly the tree of `size` with `root`. */
  #checkCovered(size: number, root: Uint8Array, checkpoint: string | undefined): void {
    let cp: Checkpoint | undefined;
    if (checkpoint !== undefined) {
      try {
        cp = openCheckpoint(checkpoint, this.#verifier, this.origin).checkpoint;
      } catch (cause) {
        throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
      }
    }
    const covered = cp?.size ?? 0;
    if (covered > size) throw new AuditCorruptError(`the latest checkpoint covers ${covered} entries, the store holds ${size}`, size);
    if (cp !== undefined && covered === size && !equalBytes(cp.rootHash, root)) throw new AuditCorruptError(`stored entries do not match the latest checkpoint (size ${covered})`, covered);
    if (covered < size) throw new AuditCorruptError(`entries from index ${covered} (${size - covered} of them) are covered by no signed checkpoint: refusing to adopt or sign over them`, covered);
  }

  /** Signs and stores a checkpoint of the current tree (e.g. for an idle log). */
  checkpoint(): Promise<string> {
    if (this.#store.appendSequenced !== undefined) return this.#withTimeout((signal) => this.#appendSequenced([], undefined, signal).then((r) => r.checkpoint));
    return this.#withTimeout(() => this.#serial(() => this.#issueCheckpoint()));
  }

  /** The exact bytes of entry `index`. */
  async entry(index: number): Promise<Uint8Array> {
    assertInt('index', index, 0, Math.max(0, this.size - 1));
    if (index >= this.size) throw new InvalidInputError('index', `expected an index below the log size ${this.size}`);
    const [e] = await this.#store.read(index, index + 1);
    return e!;
  }

  /** RFC 9162 inclusion proof of entry `index` in the tree of `size` entries. */
  inclusionProof(index: number, size = this.size): Uint8Array[] {
    return this.#tree.inclusionProof(index, size);
  }

  /** RFC 9162 consistency proof from `oldSize` to `size`. */
  consistencyProof(oldSize: number, size = this.size): Uint8Array[] {
    return this.#tree.consistencyProof(oldSize, size);
  }

  /** Tree root at `size`. */
  root(size = this.size): Uint8Array {
    return this.#tree.root(size);
  }

  /**
   * A C2SP `tlog-proof@v1` file proving entry `index` is in the log, against the latest
   * checkpoint: offline-verifiable with the log's verifier key.
   */
  async proof(index: number): Promise<string> {
    if (this.#store.appendSequenced !== undefined) await this.sync();
    const cp = this.#lastCheckpoint ?? (await this.checkpoint());
    const { checkpoint } = openCheckpoint(cp, this.#verifier, this.origin);
    if (index < 0 || index >= checkpoint.size) throw new InvalidInputError('index', `expected an index below the checkpointed size ${checkpoint.size}`);
    return formatTlogProof(index, this.#tree.inclusionProof(index, checkpoint.size), cp);
  }

  /**
   * The body of a C2SP tlog-witness add-checkpoint request from `oldSize` to the latest
   * checkpoint: `old <size>`, the consistency proof hashes, a blank line, the checkpoint.
   */
  async consistency(oldSize: number): Promise<string> {
    if (this.#store.appendSequenced !== undefined) await this.sync();
    const cp = this.#lastCheckpoint ?? (await this.checkpoint());
    const { checkpoint } = openCheckpoint(cp, this.#verifier, this.origin);
    assertInt('oldSize', oldSize, 0, checkpoint.size);
    return formatConsistencyRequest(oldSize, this.#tree.consistencyProof(oldSize, checkpoint.size), cp);
  }

  /**
   * Accepts a checkpoint of this log cosigned by witnesses (C2SP tlog-cosignature): checks the
   * log's own signature, that it matches this log's tree, and at least one valid cosignature
   * by `witnessKeys`; then stores it, so later proofs carry the cosignatures. Returns them.
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
    if (cp.size > this.size || !equalBytes(cp.rootHash, this.root(cp.size))) throw new InvalidInputError('note', 'checkpoint does not match this log');
    if (cosignatures.length === 0) throw new InvalidInputError('note', 'no valid cosignature by the given witnesses');
    await this.#withTimeout(() =>
      this.#serial(async () => {
        await this.#storeCall(() => this.#store.appendCheckpoint(note));
        if (cp.size === this.size) this.#lastCheckpoint = note;
      }),
    );
    return cosignatures;
  }

  /** Closes the store. */
  async close(): Promise<void> {
    await this.#tail.catch(() => undefined);
    await this.#store.close();
  }

  async #issueCheckpoint(): Promise<string> {
    const body: Checkpoint = { origin: this.origin, size: this.#tree.size, rootHash: this.#tree.root(), extensions: [] };
    const note = signCheckpoint(body, this.#signer);
    await this.#storeCall(() => this.#store.appendCheckpoint(note));
    this.#lastCheckpoint = note;
    return note;
  }

  async #storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof KeywardenError) throw err;
      throw new AuditUnavailableError('audit store failed', err);
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }

  /**
   * Fails the operation at the deadline (fail closed) and aborts it: the operation checks the
   * signal before acknowledging and rolls back instead, so a late completion is not adopted.
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
      timer = setTimeout(() => fail(new AuditUnavailableError(`audit append did not complete within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      // The caller giving up is handled like the deadline: the append is aborted and rolled back.
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

