/**
 * FileAuditStore: the audit log in a directory (Node only), laid out as C2SP tlog-tiles plus a
 * few private files:
 *
 *   layout                 `keywarden-audit-tiles/v1`
 *   tile/<L>/<N>[.p/<W>]   hash tiles          tile/entries/<N>[.p/<W>]   entry bundles
 *   head                   the newest signed tree head, the outbox cursors, recent receipts and
 *                          where the checkpoint history ends (framed records, replaced atomically)
 *   checkpoint             the newest checkpoint (C2SP tlog-checkpoint)
 *   checkpoints            every checkpoint published, oldest first (framed; unchanged since 0.1)
 *   outbox/                producers' outbox files (file-outbox.ts)
 *   quarantine             outbox records refused by the sequencer (framed)
 *   LOCK                   the sequencer's lock: pid and instance
 *
 * Any number of processes may open the directory; the one holding LOCK is the sequencer and the
 * only writer of everything but its producers' outbox files (a lock left by a dead process is
 * taken over). A batch is durable in this order — tiles and bundles (each fdatasync'ed), the
 * head (the commit point), the history, the `checkpoint` file — so a crash leaves either the old
 * tree or the new one, plus at most files past the head that no signature covers: AuditLog.open
 * refuses those until an operator repairs (docs/AUDIT.md §4).
 * @module
 */
import { type FileHandle, link, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditCorruptError, AuditUnavailableError, InvalidInputError, KeywardenError } from '../errors.js';
import { randomBytes } from '../util/random.js';
import { fromBase64, toBase64 } from '../util/bytes.js';
import { ownOptions } from '../util/validate.js';
import { MAGIC, codeOf, frame, noteTexts, replaceFile, scanFrames, syncDir, writeAll } from './framing.js';
import { TileFiles } from './file-tiles.js';
import { MAX_FRAME, OutboxWriter, type ReadRecord, encodeOutbox, parseTicket, readOutbox, removeConsumed } from './file-outbox.js';
import { closedHere, holderAlive, lockText, openedHere, takeLock } from './file-lock.js';
import { migrateFileLegacy } from './file-migrate.js';
import type { NoteVerifier } from './note.js';
import type { OutboxRecord, RecordKeys } from './records.js';
import { type AuditStore, type AuditStoreState, type ClaimedRecord, type IntegrateBatch, type ReceiptRow, checkReadRange, checkpointSize, headSize, noteSize } from './store.js';
import { TILE_WIDTH, tileWidth } from './tiles.js';

const LAYOUT = 'keywarden-audit-tiles/v1\n';
/** Receipts kept in the head file for producers that wait (the newest). */
const RECEIPTS = 4096;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Options of {@link FileAuditStore.open}. */
export interface FileAuditStoreOptions {
  /**
   * Cut a torn last record (one never acknowledged) instead of refusing: of a 0.1 `entries`
   * file being migrated, or of the checkpoint history. Default false.
   */
  repairTornTail?: boolean;
}

/** The head file's contents. */
interface HeadState {
  note: string | undefined;
  /** Valid length of the `checkpoints` history before `pending`. */
  history: number;
  /** A checkpoint being appended to the history at `history` (completed on takeover if a crash cut it). */
  pending: string | undefined;
  cursors: Map<string, number>;
  /** ticket, index, count and the sequencer's MAC (base64; absent in heads written without one). */
  receipts: FileReceipt[];
  /** The sequencer's outbox replay guard (replay-guard.ts), base64 in the file. */
  guard: Uint8Array | undefined;
}

type FileReceipt = [string, number, number] | [string, number, number, string];

const emptyHead = (): HeadState => ({ note: undefined, history: MAGIC.length, pending: undefined, cursors: new Map(), receipts: [], guard: undefined });

function encodeHead(s: HeadState): Uint8Array {
  const json = JSON.stringify({ history: s.history, pending: s.pending ?? null, cursors: Object.fromEntries(s.cursors), receipts: s.receipts, guard: s.guard === undefined ? null : toBase64(s.guard) });
  return Buffer.concat([MAGIC, frame(enc.encode(s.note ?? '')), frame(enc.encode(json))]);
}

function decodeHead(data: Uint8Array, path: string): HeadState {
  const scan = scanFrames(data);
  if (scan.damage !== undefined || scan.records.length !== 2) throw new AuditUnavailableError(`audit store: ${path} is damaged`);
  // Written only by this store, so anything off its exact shape is damage, refused as such (an
  // outside review reached raw SyntaxErrors and TypeErrors from a hostile head).
  const bad = (what: string) => new AuditCorruptError(`audit store: ${path} is damaged (${what})`);
  let note: string;
  let j: unknown;
  try {
    note = dec.decode(scan.records[0]);
    j = JSON.parse(dec.decode(scan.records[1]));
  } catch {
    throw bad('not UTF-8 JSON');
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw bad('not an object');
  const { history, pending, cursors, receipts, guard } = j as Record<string, unknown>;
  if (!Number.isSafeInteger(history) || (history as number) < MAGIC.length) throw bad('history offset');
  if (pending !== null && pending !== undefined && typeof pending !== 'string') throw bad('pending checkpoint');
  if (cursors === null || typeof cursors !== 'object' || Array.isArray(cursors)) throw bad('cursors');
  const cursorMap = new Map<string, number>();
  for (const [k, v] of Object.entries(cursors)) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw bad('cursors');
    cursorMap.set(k, v as number);
  }
  const okReceipt = (r: unknown) => Array.isArray(r) && (r.length === 3 || (r.length === 4 && typeof r[3] === 'string')) &&
    typeof r[0] === 'string' && Number.isSafeInteger(r[1]) && Number.isSafeInteger(r[2]);
  if (!Array.isArray(receipts) || !receipts.every(okReceipt)) throw bad('receipts');
  const guardBytes = typeof guard === 'string' ? fromBase64(guard) : undefined;
  if (guard !== null && guard !== undefined && (guardBytes === undefined || guardBytes === null)) throw bad('replay guard');
  return {
    note: note.length > 0 ? note : undefined, history: history as number, pending: (pending as string | null) ?? undefined, cursors: cursorMap,
    receipts: receipts as FileReceipt[], guard: guardBytes ?? undefined,
  };
}

/** A read of one of the store's own files: ENOENT is undefined, other failures the store's error. */
function unreadable(path: string) {
  return (err: unknown): undefined => {
    if ((err as { code?: string }).code === 'ENOENT') return undefined;
    throw new AuditUnavailableError(`audit store: reading ${path} failed (${codeOf(err)})`, err);
  };
}

/**
 * An {@link AuditStore} in a directory, shared by any number of local processes.
 *
 * @example
 * ```ts
 * const store = await FileAuditStore.open('/var/lib/keywarden/audit');
 * const log = await AuditLog.open({ store, signerKey });
 * ```
 */
export class FileAuditStore implements AuditStore {
  readonly dir: string;
  readonly keepsBundles = true;
  readonly joinsTransactions = false;
  readonly #options: FileAuditStoreOptions;
  readonly #tiles: TileFiles;
  readonly #outbox: OutboxWriter;
  readonly #instance = Buffer.from(randomBytes(8)).toString('hex');
  /** Set while this instance holds LOCK: the head as last written (this instance is the only writer). */
  #head: HeadState | undefined;
  #history: FileHandle | undefined;
  #claimed = new Map<string, ReadRecord>();
  #bundle: { index: number; entries: Uint8Array[] } | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #broken: unknown;
  #closed = false;
  #batches = 0;
  /** A 0.1 directory (`entries` and `checkpoints` files) not yet migrated. */
  legacy: boolean;

  private constructor(dir: string, options: FileAuditStoreOptions, legacy: boolean) {
    // FileAuditStore.open is the way in; a JavaScript caller reaching the constructor gets a named error.
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidInputError('dir', 'expected a directory path (open stores with FileAuditStore.open)');
    this.dir = dir;
    this.#options = options;
    this.#tiles = new TileFiles(dir);
    this.#outbox = new OutboxWriter(join(dir, 'outbox'));
    this.legacy = legacy;
    openedHere(this.#instance); // its LOCK is live while it is open (file-lock.ts)
  }

  /**
   * Opens the store in `dir`, creating the directory (owner-only: mode 0700) when needed. A
   * `dir` that cannot be a directory, or cannot be read or written, fails with
   * `ERR_AUDIT_UNAVAILABLE` naming the path. Opening never waits for another process: only
   * the sequencer role is exclusive ({@link FileAuditStore.acquireSequencer}).
   */
  static async open(dir: string, options?: FileAuditStoreOptions): Promise<FileAuditStore> {
    if (typeof dir !== 'string' || dir.length === 0) throw new InvalidInputError('dir', 'expected a directory path');
    // Own, known options, checked before anything is created; kept as a copy (outside review,
    // 2026-12-01: a misspelt option opened the store, an inherited one would have repaired it).
    const o = ownOptions('options', options, ['repairTornTail']);
    if (o.repairTornTail !== undefined && typeof o.repairTornTail !== 'boolean') throw new InvalidInputError('options.repairTornTail', 'expected a boolean');
    options = { repairTornTail: o.repairTornTail === true };
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const layoutPath = join(dir, 'layout');
      const readLayout = () => readFile(layoutPath, 'utf8').catch(() => undefined);
      let layout = await readLayout();
      // Empty: another opener created it and has not written it yet (0.x builds wrote it in two
      // steps), or one crashed in between. Wait a moment, then write it whole ourselves.
      for (let i = 0; layout === '' && i < 20; i++) {
        await new Promise((r) => setTimeout(r, 10));
        layout = await readLayout();
      }
      if (layout === '') {
        await replaceFile(layoutPath, enc.encode(LAYOUT));
        layout = LAYOUT;
      }
      const legacy = layout === undefined && (await readFile(join(dir, 'entries')).then(() => true, () => false));
      if (layout === undefined && !legacy) {
        // Written whole under another name, then linked into place: a concurrent opener sees no
        // file or the whole file, never an empty one (link fails if it exists: first one wins).
        const tmp = `${layoutPath}.tmp-${Buffer.from(randomBytes(6)).toString('hex')}`;
        await writeFile(tmp, LAYOUT, { mode: 0o600 });
        await link(tmp, layoutPath).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'EEXIST') throw err;
        }).finally(() => rm(tmp, { force: true }));
        await syncDir(dir);
        layout = await readLayout();
      }
      if (layout !== undefined && layout !== LAYOUT) throw new AuditUnavailableError(`audit store ${dir}: unknown layout ${JSON.stringify(layout.slice(0, 40))}`);
      return new FileAuditStore(dir, options, legacy);
    } catch (err) {
      if (err instanceof KeywardenError) throw err;
      throw new AuditUnavailableError(`audit store directory ${dir} cannot be used (${codeOf(err)})`, err);
    }
  }

  async #readHead(): Promise<HeadState> {
    if (this.#head !== undefined) return this.#head;
    const path = join(this.dir, 'head');
    const data = await readFile(path).catch(unreadable(path));
    return data === undefined ? emptyHead() : decodeHead(data, path);
  }

  async #readCheckpoint(): Promise<string | undefined> {
    const path = join(this.dir, 'checkpoint');
    return readFile(path, 'utf8').catch(unreadable(path));
  }

  async state(): Promise<AuditStoreState> {
    const head = await this.#readHead();
    const file = await this.#readCheckpoint();
    // A checkpoint is also stored as the head of the batch it covers: the newer of the two wins
    // (the `checkpoint` file is written last, so a crash may leave it one step behind).
    const headCp = head.note !== undefined && checkpointSize(head.note) !== undefined && !head.note.startsWith('keywarden.audit/') ? head.note : undefined;
    const checkpoint = headCp !== undefined && (file === undefined || (checkpointSize(file) ?? 0) < noteSize(headCp)) ? headCp : file;
    return { head: head.note, checkpoint, guard: head.guard };
  }

  async size(): Promise<number> {
    return headSize((await this.#readHead()).note);
  }

  async read(start: number, end: number): Promise<Uint8Array[]> {
    checkReadRange(start, end);
    const size = await this.size();
    const out: Uint8Array[] = [];
    for (let i = start; i < Math.min(end, size); ) {
      const n = Math.floor(i / TILE_WIDTH);
      const width = tileWidth(size, 0, n);
      // What the range needs of this bundle: a narrower bundle serves it when the head's is
      // missing (outside review, 2026-12-01: the checkpoint's own entries were reported missing,
      // and could not be repaired, because the bundle of the head past it was gone).
      const need = Math.min(width, Math.min(end, size) - n * TILE_WIDTH);
      if (this.#bundle === undefined || this.#bundle.index !== n || this.#bundle.entries.length < need) {
        const entries = (await this.#tiles.readBundle(n, width)) ?? (need < width ? await this.#tiles.readBundle(n, need) : undefined);
        if (entries === undefined) break; // missing: the caller sees fewer entries than asked
        this.#bundle = { index: n, entries };
      }
      const upto = Math.min(end, size, (n + 1) * TILE_WIDTH);
      for (; i < upto; i++) out.push(this.#bundle.entries[i - n * TILE_WIDTH]!.slice());
    }
    return out;
  }

  readTile(level: number, index: number, width: number): Promise<Uint8Array | undefined> {
    return this.#tiles.readTile(level, index, width);
  }

  integrate(batch: IntegrateBatch): Promise<void> {
    return this.#serial(async () => {
      const before = this.#requireSequencer();
      if (batch.start !== headSize(before.note)) throw new AuditUnavailableError(`audit store ${this.dir}: the head is at ${headSize(before.note)}, the batch extends ${batch.start}`);
      // The fence: the lock must still be this instance's before it writes a file (a takeover
      // by another process, however it came about, stops this one here).
      if ((await this.#lockHolder()) !== lockText(this.#instance)) {
        await this.#release();
        throw new AuditUnavailableError(`audit store ${this.dir}: this instance no longer holds LOCK; nothing was integrated`);
      }
      const head = await this.#publishPending();
      let written: string[] = [];
      try {
        written = await this.#tiles.write(batch.tiles);
        await this.#quarantine(batch.quarantined);
      } catch (err) {
        if ((err as { undone?: boolean }).undone === false) this.#broken = err;
        else await this.#undo(written, err);
        throw new AuditUnavailableError(`audit store ${this.dir}: writing the batch failed (${codeOf(err)}); nothing was integrated`, err);
      }
      const next: HeadState = {
        ...head, cursors: new Map(head.cursors), receipts: [...head.receipts, ...batch.receipts.map((r): FileReceipt => [r.ticket, r.index, r.count, toBase64(r.mac)])].slice(-RECEIPTS),
        note: batch.head, guard: batch.guard ?? head.guard,
      };
      for (const t of [...batch.consumed, ...batch.quarantined.map((q) => q.ticket)]) {
        const p = parseTicket(t);
        if (p !== undefined) next.cursors.set(p.file, Math.max(next.cursors.get(p.file) ?? 0, p.end));
      }
      await this.#commit(next, batch.checkpoint, written);
      for (const t of batch.consumed) this.#claimed.delete(t);
      await this.#tiles.dropSuperseded(batch.tiles).catch(() => undefined);
      if (++this.#batches % 64 === 0) await this.#cleanOutbox().catch(() => undefined);
    });
  }

  /** Writes the head (the commit point), then the checkpoint's history record and file. */
  async #commit(next: HeadState, checkpoint: string | undefined, written: string[]): Promise<void> {
    if (checkpoint !== undefined) next.pending = checkpoint;
    try {
      await replaceFile(join(this.dir, 'head'), encodeHead(next));
    } catch (err) {
      await this.#undo(written, err);
      throw new AuditUnavailableError(`audit store ${this.dir}: writing the tree head failed (${codeOf(err)}); nothing was integrated`, err);
    }
    try {
      await syncDir(this.dir);
    } catch (err) {
      // The new head is in place (the rename succeeded) and names this batch's files: they stay
      // (outside review, 2026-12-01: undoing them here left a head whose entries were gone, and
      // the outbox records it had consumed lost). Whether the rename is durable is unknown, so
      // the store stops until reopened; a reopen reads whichever head the disk kept.
      this.#broken = err;
      throw new AuditUnavailableError(`audit store ${this.dir}: the tree head is written but syncing its directory failed (${codeOf(err)}); reopen the store`, err);
    }
    this.#head = next;
    if (checkpoint !== undefined) await this.#publish(checkpoint);
  }

  /**
   * The head as it is once the checkpoint a failed publication left pending is in the history.
   * That checkpoint is the head's own note, which `state()` already serves as the latest
   * checkpoint to every reader; the next publication writes at the same history offset, so
   * without this a step carrying a new checkpoint truncated it away and it never reached the
   * history (review 4, test/review4-audit-unpublished-checkpoint.test.ts). Called before a step
   * writes anything: if it fails again, nothing of the step is written.
   */
  async #publishPending(): Promise<HeadState> {
    const head = this.#requireSequencer();
    if (head.pending === undefined) return head;
    try {
      await this.#publish(head.pending);
    } catch (err) {
      throw new AuditUnavailableError(`audit store ${this.dir}: publishing the pending checkpoint failed (${codeOf(err)}); nothing of this step was written`, err);
    }
    return this.#requireSequencer();
  }

  /** Appends `note` to the history at the recorded end and replaces the `checkpoint` file. */
  async #publish(note: string): Promise<void> {
    const head = this.#head!;
    const bytes = frame(enc.encode(note));
    try {
      await this.#history!.truncate(head.history);
      await this.#history!.write(bytes, 0, bytes.length, head.history);
      await this.#history!.datasync();
      const current = await this.#readCheckpoint();
      if (current === undefined || (checkpointSize(current) ?? 0) <= noteSize(note)) {
        await replaceFile(join(this.dir, 'checkpoint'), enc.encode(note));
        await syncDir(this.dir);
      }
    } catch (err) {
      // The head is committed (the batch is durable); the checkpoint is not published. The next
      // publication writes at the same place (the head still records it), as does a takeover.
      throw new AuditUnavailableError(`audit store ${this.dir}: publishing the checkpoint failed (${codeOf(err)}); the batch is durable, its checkpoint is not`, err);
    }
    this.#head = { ...head, history: head.history + bytes.length, pending: undefined };
  }

  async #undo(written: string[], cause: unknown): Promise<void> {
    try {
      await this.#tiles.unlink(written);
    } catch {
      // Files past the head remain: the store stops until reopened (AuditLog.open then refuses
      // them until the operator repairs, or a retry of the same batch overwrites them).
      this.#broken = cause;
    }
  }

  async #quarantine(list: IntegrateBatch['quarantined']): Promise<void> {
    if (list.length === 0) return;
    const frames = list.map((q) => {
      const r = this.#claimed.get(q.ticket);
      const payload = enc.encode(JSON.stringify({ ticket: q.ticket, reason: q.reason, record: r === undefined ? null : Buffer.from(encodeOutbox(r)).toString('base64') }));
      return frame(payload);
    });
    const path = join(this.dir, 'quarantine');
    const h = await open(path, 'a', 0o600);
    try {
      if ((await h.stat()).size === 0) await writeAll(h, MAGIC);
      await writeAll(h, Buffer.concat(frames));
      await h.datasync();
    } finally {
      await h.close();
    }
  }

  appendCheckpoint(note: string): Promise<void> {
    const size = noteSize(note);
    return this.#serial(async () => {
      const pending = this.#head?.pending;
      const head = await this.#publishPending();
      if (note === pending) return; // just published: once in the history
      const latest = (await this.state()).checkpoint;
      if (latest !== undefined && (checkpointSize(latest) ?? 0) > size) return;
      // The newest checkpoint for the head's own size becomes the head (it is the newest signed statement).
      const next: HeadState = { ...head, note: size === headSize(head.note) ? note : head.note };
      await this.#commit(next, note, []);
    });
  }

  async checkpoints(): Promise<string[]> {
    const path = join(this.dir, 'checkpoints');
    const data = await readFile(path).catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') return new Uint8Array(0);
      throw err;
    });
    const scan = scanFrames(data);
    // A torn last record (one being appended, or a crash's: never acknowledged) ends the list;
    // other damage is refused, never skipped: the records before it were returned as the whole
    // history, verification through the store passed, and pruneCheckpoints rewrote the history
    // without the records after the damage (review 6, test/review6-audit-file-history-damage-hidden.test.ts).
    // "Torn" only past the end the head file records (the last step's durable history): a damaged
    // length field before it also runs past the end of the file, and read as torn it hid every
    // record from there on (review 6, test/review6-audit-file-history-length-damage.test.ts).
    const d = scan.damage;
    if (d !== undefined && (!d.torn || d.offset < (await this.#readHead()).history)) throw new AuditCorruptError(`${path}: ${d.message} at byte ${d.offset}`, d.offset);
    return noteTexts(path, scan.records);
  }

  pruneCheckpoints(keep: number): Promise<number> {
    return this.#serial(async () => {
      const head = await this.#publishPending();
      const all = await this.checkpoints();
      const drop = Math.max(0, all.length - Math.max(1, keep));
      if (drop === 0) return 0;
      const data = Buffer.concat([MAGIC, ...all.slice(drop).map((n) => frame(enc.encode(n)))]);
      // The head on disk may still name the newest checkpoint as pending at the offset where it
      // starts (a step's head does, until the next step's): a takeover completes it there. Once
      // the history is replaced that offset points into shifted records, so a kill before the
      // head below was written had the takeover cut the newest record and write it again, or
      // append it twice (review 6, test/review6-audit-file-prune-pending-history.test.ts). So
      // first a head with nothing pending: a takeover then finds the pruned history's end by scanning.
      await replaceFile(join(this.dir, 'head'), encodeHead({ ...head, pending: undefined }));
      await syncDir(this.dir);
      await this.#history?.close();
      let replaced = false;
      try {
        await replaceFile(join(this.dir, 'checkpoints'), data);
        replaced = true;
        await syncDir(this.dir);
      } finally {
        // Open again whether or not the history was replaced: a failed replacement left the
        // store holding the closed handle, and every later checkpoint failed to publish (EBADF)
        // until a reopen (review 4, test/review4-audit-prune-failure-history.test.ts). A history
        // that was replaced ends at its new length, whatever failed after (a takeover finds that
        // end by scanning while the head file names the old one).
        this.#history = await open(join(this.dir, 'checkpoints'), 'r+');
        if (replaced) this.#head = { ...head, history: data.length, pending: undefined };
      }
      const next = { ...head, history: data.length, pending: undefined };
      await replaceFile(join(this.dir, 'head'), encodeHead(next));
      await syncDir(this.dir);
      this.#head = next;
      return drop;
    });
  }

  enqueue(record: OutboxRecord, options?: { tx?: unknown }): Promise<string> {
    if (options?.tx !== undefined) return Promise.reject(new InvalidInputError('options.tx', 'the file audit store has no transactions to join'));
    if (this.#closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    // 4-byte length, 1-byte flags, 32-byte MAC, the record, 8-byte checksum (framing.ts, file-outbox.ts).
    if (4 + 1 + 32 + record.bundle.length + 8 > MAX_FRAME) {
      return Promise.reject(new InvalidInputError('events', `expected at most ${MAX_FRAME - 45 - 32} bytes of entries in one outbox record of the file store, got ${record.bundle.length - 32}`));
    }
    return this.#outbox.append(record);
  }

  async claim(limit: number): Promise<ClaimedRecord[] & { more?: boolean }> {
    const head = this.#requireSequencer();
    const records = await readOutbox(join(this.dir, 'outbox'), head.cursors, limit);
    for (const r of records) this.#claimed.set(r.ticket, r);
    return records;
  }

  async receipt(ticket: string): Promise<ReceiptRow | undefined> {
    const r = (await this.#readHead()).receipts.find((x) => x[0] === ticket);
    if (r === undefined) return undefined;
    // A MAC that is not base64 is returned as no MAC: the writer refuses the receipt either way.
    const mac = r[3] === undefined ? null : fromBase64(r[3]);
    return mac === null ? { index: r[1], count: r[2] } : { index: r[1], count: r[2], mac };
  }

  async acquireSequencer(): Promise<boolean> {
    if (this.legacy) return false; // AuditLog.open migrates first
    if (this.#head !== undefined) return !this.#closed && (await this.#lockHolder()) === lockText(this.#instance);
    if (this.#closed || !(await this.#takeLock())) return false;
    try {
      const data = await readFile(join(this.dir, 'head')).catch(() => undefined);
      const head = data === undefined ? emptyHead() : decodeHead(data, join(this.dir, 'head'));
      const path = join(this.dir, 'checkpoints');
      await (await open(path, 'a', 0o600)).close(); // create it if missing
      const history = await open(path, 'r+');
      this.#history = history;
      if ((await history.stat()).size === 0) {
        await history.write(MAGIC, 0, MAGIC.length, 0);
        await history.datasync();
      }
      this.#head = await this.#reconcileHistory(head);
      return true;
    } catch (err) {
      await this.#release();
      throw err instanceof KeywardenError ? err : new AuditUnavailableError(`audit store ${this.dir}: could not take over as sequencer (${codeOf(err)})`, err);
    }
  }

  /** Completes a history append a crash interrupted (the head names it), in O(1) reads. */
  async #reconcileHistory(head: HeadState): Promise<HeadState> {
    const h = this.#history!;
    const size = (await h.stat()).size;
    let end = head.history;
    if (end > size) {
      // The history was replaced (pruned) and the head not yet updated: find its end by scanning.
      const scan = scanFrames(new Uint8Array(await readFile(join(this.dir, 'checkpoints'))));
      if (scan.damage !== undefined && !(scan.damage.torn && this.#options.repairTornTail)) {
        throw new AuditUnavailableError(`audit store ${this.dir}: the checkpoint history is damaged at byte ${scan.damage.offset}${scan.damage.torn ? ' (torn last record: reopen with repairTornTail)' : ''}`);
      }
      end = scan.validEnd;
    }
    if (head.pending !== undefined) {
      const bytes = frame(enc.encode(head.pending));
      const buf = Buffer.alloc(bytes.length);
      const { bytesRead } = await h.read(buf, 0, bytes.length, end);
      if (bytesRead !== bytes.length || !buf.equals(bytes)) {
        await h.truncate(end);
        await h.write(bytes, 0, bytes.length, end);
        await h.datasync();
      }
      end += bytes.length;
      const current = await this.#readCheckpoint();
      if (current === undefined || (checkpointSize(current) ?? 0) <= noteSize(head.pending)) {
        await replaceFile(join(this.dir, 'checkpoint'), enc.encode(head.pending));
        await syncDir(this.dir);
      }
    }
    if (size > end) await h.truncate(end); // a record past the head's view was never acknowledged
    return { ...head, history: end, pending: undefined };
  }

  /**
   * Gives the role up — once this instance's step in flight (and any queued behind it) has
   * finished. The sequencer stops waiting for a slow step after `appendTimeoutMs`, but the step
   * is past its LOCK fence and still writes its tiles and head: removing LOCK under it let
   * another process take the role and integrate at the same size, and this step then overwrote
   * that batch (review 4, test/review4-audit-close-step-in-flight.test.ts). The PostgreSQL store
   * behaves the same way: its release waits for the step's lock on the lease row.
   */
  async releaseSequencer(): Promise<void> {
    for (let tail = this.#tail; ; tail = this.#tail) {
      await tail;
      if (tail === this.#tail) break;
    }
    await this.#release();
  }

  /** Gives the role up now (from inside a step, or when no step can be in flight). */
  async #release(): Promise<void> {
    this.#head = undefined;
    this.#claimed.clear();
    await this.#history?.close().catch(() => undefined);
    this.#history = undefined;
    if ((await this.#lockHolder()) === lockText(this.#instance)) await rm(join(this.dir, 'LOCK'), { force: true });
  }

  async sequencerElsewhere(): Promise<boolean> {
    const holder = await this.#lockHolder();
    return holder !== undefined && holder !== lockText(this.#instance) && holderAlive(holder);
  }

  async uncovered(size: number): Promise<Uint8Array[]> {
    return this.#tiles.entriesBeyond(size);
  }

  repair(size: number, headNote: string, guard?: Uint8Array): Promise<void> {
    return this.#serial(async () => {
      const head = this.#requireSequencer();
      const cp = (await this.state()).checkpoint;
      if (cp !== undefined && (checkpointSize(cp) ?? 0) > size) throw new InvalidInputError('size', 'refusing to drop checkpointed entries');
      await this.#tiles.cutTo(size);
      const next = { ...head, note: headNote, guard: guard ?? head.guard };
      await replaceFile(join(this.dir, 'head'), encodeHead(next));
      await syncDir(this.dir);
      this.#head = next;
      this.#bundle = undefined;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => undefined);
    await this.#outbox.close();
    await this.releaseSequencer();
    closedHere(this.#instance);
  }

  /**
   * Migrates a keywarden 0.1 directory (`entries` + `checkpoints`) to this layout, resumably;
   * called by AuditLog.open with the log's keys. @internal
   */
  async migrateLegacy(keys: RecordKeys, verifier: NoteVerifier): Promise<void> {
    if (!this.legacy) return;
    // The lock only: a takeover would reconcile the history against a head that does not exist yet.
    if (!(await this.#takeLock())) throw new AuditUnavailableError(`audit store ${this.dir}: another process holds it; migrate from there`);
    try {
      await migrateFileLegacy(this.dir, this.#tiles, keys, verifier, this.#options.repairTornTail === true);
      this.legacy = false;
    } finally {
      if ((await this.#lockHolder()) === lockText(this.#instance)) await rm(join(this.dir, 'LOCK'), { force: true });
    }
  }

  async #cleanOutbox(): Promise<void> {
    const head = this.#head!;
    const removed = await removeConsumed(join(this.dir, 'outbox'), head.cursors);
    if (removed.length === 0) return;
    const next = { ...head, cursors: new Map(head.cursors) };
    for (const n of removed) next.cursors.delete(n);
    await replaceFile(join(this.dir, 'head'), encodeHead(next));
    this.#head = next;
  }

  #requireSequencer(): HeadState {
    if (this.#closed) throw new AuditUnavailableError('audit store is closed');
    if (this.#broken !== undefined) throw new AuditUnavailableError(`audit store ${this.dir} is unusable after a failed write it could not undo; reopen the store`, this.#broken);
    if (this.#head === undefined) throw new AuditUnavailableError(`audit store ${this.dir}: this instance is not the sequencer`);
    return this.#head;
  }

  async #lockHolder(): Promise<string | undefined> {
    return (await readFile(join(this.dir, 'LOCK'), 'utf8').catch(() => undefined))?.trim();
  }

  /** Takes LOCK (pid and instance); a lock left by a dead holder is taken over (file-lock.ts). */
  #takeLock(): Promise<boolean> {
    return takeLock(join(this.dir, 'LOCK'), lockText(this.#instance));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}
