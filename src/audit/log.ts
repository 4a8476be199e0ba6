/**
 * AuditLog: an append-only transparency log of key events and break-glass accesses
 * (docs/AUDIT.md). Entries are leaves of an RFC 6962 Merkle tree kept incrementally; after every
 * append, and on demand, the log signs a C2SP tlog-checkpoint as a signed note. Appends are
 * fail-closed: they resolve only once durable, and a store failure or the timeout surfaces as
 * `ERR_AUDIT_UNAVAILABLE`, so break-glass can refuse to decrypt without its record.
 */
import { AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { assertInt, assertOptions, assertString } from '../util/validate.js';
import { type Checkpoint, type VerifiedCosignature, openCheckpoint, signCheckpoint, verifyCosignatures } from './checkpoint.js';
import { type AuditEvent, encodeEntry } from './entry.js';
import { formatConsistencyRequest, formatTlogProof } from './formats.js';
import { MerkleTree, leafHash } from './merkle.js';
import { type NoteSigner, type NoteVerifier, newNoteSigner, newNoteVerifier, verifierKeyFromSigner } from './note.js';
import type { AuditStore } from './store.js';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Where entries and checkpoints are kept. */
  store: AuditStore;
  /** The log's signed-note signer key (`PRIVATE+KEY+<origin>+<id>+<key>`); its name is the origin. */
  signerKey: string;
  /** Milliseconds an append may take before it fails with ERR_AUDIT_UNAVAILABLE. Default 5000. */
  appendTimeoutMs?: number;
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

  private constructor(o: Required<AuditLogOptions>, signer: NoteSigner, verifierKey: string, tree: MerkleTree, last: string | undefined) {
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
   * stored checkpoint is one of ours and matches the entries (else `ERR_AUDIT_CORRUPT`).
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    assertOptions('options', options, ['store', 'signerKey', 'appendTimeoutMs']);
    if (!options?.store || typeof options.store.append !== 'function') throw new InvalidInputError('options.store', 'expected an AuditStore');
    assertString('options.signerKey', options.signerKey, 4096);
    const timeout = options.appendTimeoutMs ?? 5000;
    assertInt('options.appendTimeoutMs', timeout, 1, 600_000);
    let signer: NoteSigner;
    let verifierKey: string;
    try {
      signer = newNoteSigner(options.signerKey);
      verifierKey = verifierKeyFromSigner(options.signerKey);
    } catch (cause) {
      throw new InvalidInputError('options.signerKey', `expected a signed-note signer key (${(cause as Error).message})`);
    }
    // Checkpoints first: a checkpoint is stored with (or after) its entries, so reading entries
    // afterwards covers it even while other instances append to a shared store.
    const notes = await options.store.checkpoints();
    const size = await options.store.size();
    const tree = new MerkleTree();
    for (let start = 0; start < size; start += 4096) {
      for (const e of await options.store.read(start, Math.min(size, start + 4096))) tree.append(leafHash(e));
    }
    const last = notes[notes.length - 1];
    const log = new AuditLog({ store: options.store, signerKey: options.signerKey, appendTimeoutMs: timeout }, signer, verifierKey, tree, last);
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
    }
    return log;
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
  append(events: AuditEvent | readonly AuditEvent[], options?: { tx?: unknown }): Promise<AuditReceipt> {
    const list = Array.isArray(events) ? (events as readonly AuditEvent[]) : [events as AuditEvent];
    let bytes: Uint8Array[];
    try {
      if (list.length === 0) throw new InvalidInputError('events', 'expected at least one event');
      bytes = list.map(encodeEntry);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#store.appendSequenced !== undefined) return this.#withTimeout(this.#appendSequenced(bytes, options?.tx));
    if (options?.tx !== undefined) return Promise.reject(new InvalidInputError('options.tx', 'this audit store has no transactions to join'));
    return this.#withTimeout(
      this.#serial(async () => {
        const index = await this.#storeCall(() => this.#store.append(bytes));
        if (index !== this.#tree.size) throw new AuditCorruptError(`store appended at ${index}, log expected ${this.#tree.size}`, index);
        for (const b of bytes) this.#tree.append(leafHash(b));
        const checkpoint = await this.#issueCheckpoint();
        return { index, size: this.#tree.size, checkpoint };
      }),
    );
  }

  /**
   * Shared stores (PostgreSQL): the store serialises appends from every instance under its log
   * head lock and signs through us; our in-memory tree follows when nobody else appended in
   * between, and otherwise catches up in {@link AuditLog.sync}.
   */
  async #appendSequenced(bytes: Uint8Array[], tx: unknown): Promise<AuditReceipt> {
    const r = await this.#storeCall(() =>
      this.#store.appendSequenced!(bytes, (size, root) => signCheckpoint({ origin: this.origin, size, rootHash: root, extensions: [] }, this.#signer), tx === undefined ? undefined : { tx }),
    );
    if (r.index === this.#tree.size) for (const b of bytes) this.#tree.append(leafHash(b));
    this.#lastCheckpoint = r.checkpoint;
    return { index: r.index, size: r.size, checkpoint: r.checkpoint };
  }

  /** Reads entries other instances appended to a shared store, so proofs cover them. */
  async sync(): Promise<number> {
    const size = await this.#storeCall(() => this.#store.size());
    for (let start = this.#tree.size; start < size; start += 4096) {
      for (const e of await this.#storeCall(() => this.#store.read(start, Math.min(size, start + 4096)))) this.#tree.append(leafHash(e));
    }
    if (this.#store.appendSequenced !== undefined) {
      const notes = await this.#storeCall(() => this.#store.checkpoints());
      this.#lastCheckpoint = notes[notes.length - 1] ?? this.#lastCheckpoint;
    }
    return this.#tree.size;
  }

  /** Signs and stores a checkpoint of the current tree (e.g. for an idle log). */
  checkpoint(): Promise<string> {
    if (this.#store.appendSequenced !== undefined) return this.#withTimeout(this.#appendSequenced([], undefined).then((r) => r.checkpoint));
    return this.#withTimeout(this.#serial(() => this.#issueCheckpoint()));
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
    await this.#withTimeout(
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

  #withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AuditUnavailableError(`audit append did not complete within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}

