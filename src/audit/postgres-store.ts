/**
 * PostgresAuditStore: the {@link AuditStore} for a fleet of processes sharing one audit log in
 * PostgreSQL (tables from `migrate`, migration 6). There is no global lock on the append path:
 *
 * - producers insert outbox rows (`audit_outbox`, a bigserial id each) — inside the caller's
 *   transaction (a key insert, a token consumption) or, alone, group-committed;
 * - the sequencer (whoever holds the lease row `audit_sequencer`, renewed by its AuditLog)
 *   integrates them: ONE transaction inserts the entries, the tiles (`audit_tiles`), the new tree
 *   head (`audit_tree`, insert-only, primary key = the size it extends, so two sequencers can
 *   never extend the same tree) and the checkpoint, and deletes the outbox rows;
 * - nothing on the append path is ever UPDATEd, so a long-running snapshot (a report, pg_dump, a
 *   lagging replica) leaves no chain of row versions behind on a hot row: the newest head is
 *   found by a backward index scan of an insert-only table. Only the lease row is updated, once
 *   per `roleCheckMs`.
 *
 * `pg` is an optional peer dependency: this module only imports its types, and the caller
 * supplies (and owns) the Pool.
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import { AuditCorruptError, AuditUnavailableError, InvalidInputError } from '../errors.js';
import { assertPool, guardPool, quoteIdent, schemaOption, withPgTransaction } from '../store/pg.js';
import { preparedStatementsOption } from '../store/pg-statements.js';
import { type AuditTables, type Queryable, asBuffer, run, toInt, unavailable } from './postgres-sql.js';
import { concatBytes, toBase64 } from '../util/bytes.js';
import { ownOptions } from '../util/validate.js';
import { randomBytes } from '../util/random.js';
import { GroupCommit } from './group-commit.js';
import { HASH_SIZE, leafHash } from './merkle.js';
import type { NoteVerifier } from './note.js';
import { FLAG_WAIT, type OutboxRecord, type RecordKeys } from './records.js';
import type { CompanionInsert } from '../store/types.js';
import { migratePostgresLegacy } from './postgres-migrate.js';
import { type AuditStore, type AuditStoreState, type ClaimedRecord, type IntegrateBatch, type ReceiptRow, checkReadRange, headRootLine, headSize, noteSize } from './store.js';
import { TILE_WIDTH, levelSpan } from './tiles.js';
import type { TileWant } from './tile-tree.js';

/** Byte strings (entries, tiles) back to back, with each one's offset and length (for `substring` on the server). */
function packBytes(entries: readonly Uint8Array[]): { blob: Uint8Array; offsets: number[]; lengths: number[] } {
  let total = 0;
  for (const e of entries) total += e.length;
  const blob = new Uint8Array(total);
  const offsets = new Array<number>(entries.length);
  const lengths = new Array<number>(entries.length);
  let at = 0;
  entries.forEach((e, i) => {
    blob.set(e, at);
    offsets[i] = at;
    lengths[i] = e.length;
    at += e.length;
  });
  return { blob, offsets, lengths };
}

function isClient(tx: unknown): tx is PoolClient {
  return tx !== null && typeof tx === 'object' && typeof (tx as PoolClient).query === 'function';
}

/** Options of {@link PostgresAuditStore}. */
export interface PostgresAuditStoreOptions {
  /** Schema holding the tables (default `public`), as given to `migrate`. */
  schema?: string;
  /** How long the sequencer lease lasts unless renewed (ms). Default 5000: a crashed sequencer is replaced within it. */
  leaseMs?: number;
  /**
   * Named prepared statements (default true), as for `PostgresKeyStore`: `false` for a pooler
   * that does not keep them per client. Off for the whole pool once any store turns it off.
   */
  preparedStatements?: boolean;
}

/**
 * An {@link AuditStore} on PostgreSQL (12 or later), through a node-postgres `Pool`. Driver
 * failures become `ERR_AUDIT_UNAVAILABLE` ({@link AuditUnavailableError}, retryable); nothing
 * is half-written, since every step is one transaction.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'keywarden' });
 * const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema: 'keywarden' }), signerKey });
 * ```
 */
export class PostgresAuditStore implements AuditStore {
  readonly keepsBundles = false;
  readonly joinsTransactions = true;
  readonly #pool: Pool;
  readonly #t: AuditTables;
  readonly #leaseMs: number;
  readonly #holder = Buffer.from(randomBytes(12)).toString('hex');
  readonly #group: GroupCommit<OutboxRecord, string>;
  #lastSeen = 0;
  #lastFullScan = 0;
  #batches = 0;

  constructor(pool: Pool, options?: PostgresAuditStoreOptions) {
    assertPool(pool);
    // Own, known options only, every one checked before the shared pool is touched (outside
    // review, 2026-12-01: an inherited `schema` chose the schema; a misspelt option was ignored).
    const o = ownOptions('options', options, ['schema', 'leaseMs', 'preparedStatements']);
    const leaseMs = o.leaseMs ?? 5000;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) throw new InvalidInputError('options.leaseMs', 'expected an integer of at least 100');
    const schema = schemaOption(o.schema === undefined ? undefined : { schema: o.schema });
    preparedStatementsOption(pool, o.preparedStatements); // checks its value before it marks the pool
    guardPool(pool);
    const s = quoteIdent(schema);
    this.#pool = pool;
    this.#leaseMs = leaseMs;
    this.#t = {
      schema, entries: `${s}.audit_entries`, checkpoints: `${s}.audit_checkpoints`, tiles: `${s}.audit_tiles`, tree: `${s}.audit_tree`, outbox: `${s}.audit_outbox`,
      receipts: `${s}.audit_receipts`, quarantine: `${s}.audit_quarantine`, sequencer: `${s}.audit_sequencer`, migration: `${s}.audit_migration`,
    };
    this.#group = new GroupCommit((records) => this.#insertOutbox(this.#pool, records), 500);
  }

  /** The newest head and checkpoint from one snapshot (one statement). */
  async state(): Promise<AuditStoreState> {
    const res = await run<{ head: string | null; guard: Uint8Array | null; cp: string | null }>(this.#pool, 'state',
      `SELECT h.note AS head, h.guard, (SELECT note FROM ${this.#t.checkpoints} ORDER BY seq DESC LIMIT 1) AS cp
         FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT note, guard FROM ${this.#t.tree} ORDER BY start DESC LIMIT 1) AS h ON true`);
    const row = res.rows[0]!;
    return { head: row.head ?? undefined, checkpoint: row.cp ?? undefined, guard: row.guard === null ? undefined : new Uint8Array(row.guard) };
  }

  async size(): Promise<number> {
    return headSize((await this.state()).head);
  }

  async read(start: number, end: number): Promise<Uint8Array[]> {
    checkReadRange(start, end);
    if (end <= start) return [];
    const res = await run<{ entry: Uint8Array }>(this.#pool, 'read', `SELECT entry FROM ${this.#t.entries} WHERE idx >= $1 AND idx < $2 ORDER BY idx`, [start, end]);
    // Plain copies: node-postgres Buffers may share a pooled slab.
    return res.rows.map((r) => new Uint8Array(r.entry));
  }

  async readTile(level: number, index: number, width: number): Promise<Uint8Array | undefined> {
    const res = await run<{ hashes: Uint8Array }>(this.#pool, 'readTile',
      `SELECT hashes FROM ${this.#t.tiles} WHERE level = $1 AND idx = $2 AND width >= $3 ORDER BY width LIMIT 1`, [level, index, width]);
    const h = res.rows[0]?.hashes;
    return h === undefined ? undefined : new Uint8Array(h);
  }

  /**
   * Several tiles (each like {@link readTile}): a proof's uncached tiles. Side by side, one query
   * each, when the pool has a connection idle for each (and one more): on a cold page cache a tile is several
   * random reads (index, heap, TOAST chunks), which one statement would make one after another;
   * otherwise in one query, so that a proof never opens connections of its own.
   */
  async readTiles(wants: readonly TileWant[]): Promise<(Uint8Array | undefined)[]> {
    if (wants.length === 0) return [];
    const pool = this.#pool as { idleCount?: unknown };
    // (One more than the tiles: a proof reads its entry beside them.)
    if (wants.length > 1 && typeof pool.idleCount === 'number' && pool.idleCount > wants.length) {
      return Promise.all(wants.map((w) => this.readTile(w.level, w.index, w.width)));
    }
    const res = await run<{ hashes: Uint8Array | null }>(this.#pool, 'readTiles',
      `SELECT (SELECT t.hashes FROM ${this.#t.tiles} t WHERE t.level = w.level AND t.idx = w.idx AND t.width >= w.width ORDER BY t.width LIMIT 1) AS hashes
         FROM unnest($1::smallint[], $2::bigint[], $3::smallint[]) WITH ORDINALITY AS w(level, idx, width, i) ORDER BY w.i`,
      [wants.map((w) => w.level), wants.map((w) => w.index), wants.map((w) => w.width)]);
    if (res.rows.length !== wants.length) throw new AuditCorruptError('postgres audit store: readTiles returned the wrong number of rows');
    return res.rows.map((r) => (r.hashes === null ? undefined : new Uint8Array(r.hashes)));
  }

  /**
   * One transaction: tree head (primary key = `start`: refused if another sequencer extended the
   * same tree), entries, tiles (and the partial rows of tiles completed), checkpoint, receipts,
   * quarantined records, and the consumed outbox rows — which must all still be there.
   */
  async integrate(batch: IntegrateBatch): Promise<void> {
    const tiles = batch.tiles.filter((t) => t.level !== 'entries');
    if (batch.receipts.some((r) => r.mac.length !== HASH_SIZE)) throw new InvalidInputError('batch.receipts', `expected MACs of ${HASH_SIZE} bytes`);
    const ids = [...batch.consumed, ...batch.quarantined.map((q) => q.ticket)].map(Number);
    // Entries, leaf hashes and tiles travel as binary parameters (each kind back to back, then an
    // offset and a length per item): an array of bytea is sent as text, two hex digits a byte,
    // which the driver encodes and the server decodes again — most of a batch's bytes.
    const { blob, offsets, lengths } = packBytes(batch.entries);
    const packedTiles = packBytes(tiles.map((t) => t.data)); // the same for tiles (8 KiB each when full)
    const leaves = new Uint8Array(batch.entries.length * HASH_SIZE);
    const given = batch.leafHashes !== undefined && batch.leafHashes.length === batch.entries.length ? batch.leafHashes : undefined;
    batch.entries.forEach((e, i) => leaves.set(given?.[i] ?? leafHash(e), i * HASH_SIZE));
    const p: unknown[] = [
      batch.start, batch.start + batch.entries.length, batch.head,
      offsets, asBuffer(blob), asBuffer(leaves),
      tiles.map((t) => t.level), tiles.map((t) => t.index), tiles.map((t) => t.width), asBuffer(packedTiles.blob),
      ids, batch.quarantined.map((q) => Number(q.ticket)), batch.quarantined.map((q) => q.reason),
      batch.receipts.map((r) => Number(r.ticket)), batch.receipts.map((r) => r.index), batch.receipts.map((r) => r.count),
      batch.checkpoint === undefined ? null : noteSize(batch.checkpoint), batch.checkpoint ?? null,
      lengths, packedTiles.offsets, packedTiles.lengths, batch.guard === undefined ? null : asBuffer(batch.guard),
      asBuffer(concatBytes(...batch.receipts.map((r) => r.mac))), // 32 bytes each, in the receipts' order
    ];
    const t = this.#t;
    // A tile's narrower versions go once a wider one is stored: readers ask for "at least this
    // wide" (an index range that starts at the width asked), so they never meet the deleted rows.
    const sql = `WITH
      tr AS (INSERT INTO ${t.tree} (start, size, note, guard) SELECT $1::bigint, $2::bigint, $3::text, $22::bytea WHERE $2::bigint > $1::bigint),
      en AS (INSERT INTO ${t.entries} (idx, entry, leaf_hash)
             SELECT $1::bigint + u.i - 1, substring($5::bytea FROM u.off + 1 FOR u.len), substring($6::bytea FROM (u.i - 1)::int * ${HASH_SIZE} + 1 FOR ${HASH_SIZE})
             FROM unnest($4::int[], $19::int[]) WITH ORDINALITY AS u(off, len, i)),
      ti AS (INSERT INTO ${t.tiles} (level, idx, width, hashes)
             SELECT c.level, c.idx, c.width, substring($10::bytea FROM c.off + 1 FOR c.len)
             FROM unnest($7::smallint[], $8::bigint[], $9::smallint[], $20::int[], $21::int[]) AS c(level, idx, width, off, len)
             ON CONFLICT (level, idx, width) DO UPDATE SET hashes = excluded.hashes),
      dp AS (DELETE FROM ${t.tiles} d USING unnest($7::smallint[], $8::bigint[], $9::smallint[]) AS c(level, idx, width) WHERE d.level = c.level AND d.idx = c.idx AND d.width < c.width),
      qu AS (INSERT INTO ${t.quarantine} (outbox_id, bundle, flags, mac, reason)
             SELECT o.id, o.bundle, o.flags, o.mac, q.reason FROM ${t.outbox} o JOIN unnest($12::bigint[], $13::text[]) AS q(id, reason) ON o.id = q.id),
      rc AS (INSERT INTO ${t.receipts} (outbox_id, idx, count, mac)
             SELECT r.id, r.idx, r.count, substring($23::bytea FROM (r.i - 1)::int * 32 + 1 FOR 32)
             FROM unnest($14::bigint[], $15::bigint[], $16::bigint[]) WITH ORDINALITY AS r(id, idx, count, i)),
      cp AS (INSERT INTO ${t.checkpoints} (size, note) SELECT $17::bigint, $18::text WHERE $18::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${t.checkpoints} WHERE size > $17::bigint)),
      ob AS (DELETE FROM ${t.outbox} WHERE id = ANY($11::bigint[]) RETURNING id)
      SELECT count(*)::int AS n FROM ob`;
    await this.#transaction('integrate', async (client) => {
      // The lease, held now and locked until this step commits: a takeover (acquireSequencer's
      // UPDATE) waits for this step, and a sequencer whose lease ran out writes nothing (outside
      // review, 2026-12-01: a stale sequencer's round without entries wrote a smaller checkpoint
      // after the new sequencer's larger one).
      const lease = await run(client, 'integrate', `SELECT 1 FROM ${t.sequencer} WHERE id = 1 AND holder = $1 AND expires_at > now() FOR UPDATE`, [this.#holder]);
      if ((lease.rowCount ?? 0) === 0) throw new AuditUnavailableError('the sequencer lease was lost: another instance is the sequencer');
      // The fence: the newest tree head must still be at `start`, locked until this step commits.
      // The primary key on `start` alone is not enough: a repair deletes the rows past the size it
      // cuts back to, and a sequencer that has not noticed it lost its lease would then extend its
      // old tree over the repaired one (an outside attack left the log unopenable that way).
      await run(client, 'integrate', `SELECT size FROM ${t.tree} ORDER BY start DESC LIMIT 1 FOR UPDATE`);
      // Read again in a statement of its own: under read committed a lock that waited for another
      // step returns the row it waited for, not the head that step added.
      const newest = await run<{ size: unknown; note: string }>(client, 'integrate', `SELECT size, note FROM ${t.tree} ORDER BY start DESC LIMIT 1`);
      const at = newest.rows[0] === undefined ? 0 : toInt(newest.rows[0].size, 'audit_tree.size');
      if (at !== batch.start) throw new AuditUnavailableError(`the log head moved (at ${at}, batch for ${batch.start}): another sequencer or a repair`);
      // The same size is not the same tree: a sequencer whose lease ran out, renewed once it was
      // free again, still holds its old edge, and a repair may have cut the log back and let it
      // grow again to that size (outside review 6: its batch was written over the repaired log).
      if (batch.base !== undefined && at > 0 && headRootLine(newest.rows[0]!.note) !== toBase64(batch.base)) {
        throw new AuditUnavailableError(`the log head moved (another tree of size ${at}): another sequencer or a repair`);
      }
      const res = await run<{ n: number }>(client, 'integrate', sql, p);
      // Every record integrated must still have been in the outbox (no second integration).
      if (res.rows[0]!.n !== ids.length) throw new AuditUnavailableError(`postgres audit store: integrate found ${res.rows[0]!.n} of its ${ids.length} outbox rows: another sequencer took them`);
    });
    for (const id of ids) this.#lastSeen = Math.max(this.#lastSeen, id);
    if (++this.#batches % 256 === 0) await this.#prune().catch(() => undefined);
  }

  /** Old tree heads and receipts nobody needs any more (the tables stay small). */
  async #prune(): Promise<void> {
    await run(this.#pool, 'prune', `DELETE FROM ${this.#t.tree} WHERE start < (SELECT start FROM ${this.#t.tree} ORDER BY start DESC OFFSET 16 LIMIT 1)`);
    await run(this.#pool, 'prune', `DELETE FROM ${this.#t.receipts} WHERE created_at < now() - interval '1 hour'`);
  }

  async appendCheckpoint(note: string, options?: { asSequencer?: boolean }): Promise<void> {
    const size = noteSize(note);
    const t = this.#t;
    await this.#transaction('appendCheckpoint', async (client) => {
      // The lease row first, as a step takes it: it always exists, so this also orders a
      // checkpoint after a step in flight on an empty tree, where there is no head row to lock
      // (outside review 6: a cosigned checkpoint of size 0 was stored after a step's size 1).
      const lease = await run(client, 'appendCheckpoint', `SELECT holder = $1 AND expires_at > now() AS mine FROM ${t.sequencer} WHERE id = 1 FOR UPDATE`, [this.#holder]);
      // The sequencer's own checkpoint without a batch: only while it holds the role, and only of
      // the newest head's tree (outside review 6: a sequencer whose lease ran out published its
      // old tree's checkpoint over a repaired log — a fork the log signed itself).
      if (options?.asSequencer === true && lease.rows[0]?.mine !== true) throw new AuditUnavailableError('the sequencer lease was lost: another instance is the sequencer');
      // Never after a larger one: the history's sizes only grow (a verifier reports a rollback
      // otherwise). The newest head's lock orders this after a step in flight (which takes it
      // too), and the check runs in a statement of its own, after the lock, so it sees that step's
      // checkpoint (outside review, 2026-12-01: acceptCosignatures racing a batch stored size 1
      // after size 2).
      await run(client, 'appendCheckpoint', `SELECT 1 FROM ${t.tree} ORDER BY start DESC LIMIT 1 FOR UPDATE`);
      if (options?.asSequencer === true) {
        const newest = await run<{ size: unknown; note: string }>(client, 'appendCheckpoint', `SELECT size, note FROM ${t.tree} ORDER BY start DESC LIMIT 1`);
        const at = newest.rows[0] === undefined ? 0 : toInt(newest.rows[0].size, 'audit_tree.size');
        if (at !== size || (at > 0 && headRootLine(newest.rows[0]!.note) !== note.split('\n')[2])) {
          throw new AuditUnavailableError(`the log head moved (at ${at}, checkpoint of ${size}): another sequencer or a repair`);
        }
      }
      await run(client, 'appendCheckpoint',
        `INSERT INTO ${t.checkpoints} (size, note) SELECT $1::bigint, $2::text WHERE NOT EXISTS (SELECT 1 FROM ${t.checkpoints} WHERE size > $1::bigint)`, [size, note]);
    });
  }

  async checkpoints(): Promise<string[]> {
    const res = await run<{ note: string }>(this.#pool, 'checkpoints', `SELECT note FROM ${this.#t.checkpoints} ORDER BY seq`);
    return res.rows.map((r) => r.note);
  }

  /** Checkpoints after position `afterSeq` in the history (for streaming readers), `limit` at a time. */
  async checkpointPage(afterSeq: number, limit: number): Promise<{ seq: number; note: string }[]> {
    const res = await run<{ seq: unknown; note: string }>(this.#pool, 'checkpoints', `SELECT seq, note FROM ${this.#t.checkpoints} WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
    return res.rows.map((r) => ({ seq: toInt(r.seq, 'audit_checkpoints.seq'), note: r.note }));
  }

  async pruneCheckpoints(keep: number): Promise<number> {
    const res = await run(this.#pool, 'pruneCheckpoints',
      `DELETE FROM ${this.#t.checkpoints} WHERE seq < (SELECT seq FROM ${this.#t.checkpoints} ORDER BY seq DESC OFFSET $1 LIMIT 1)`, [Math.max(1, keep) - 1]);
    return res.rowCount ?? 0;
  }

  async enqueue(record: OutboxRecord, options?: { tx?: unknown }): Promise<string> {
    const tx = options?.tx;
    if (tx === undefined) return this.#group.submit(record);
    if (!isClient(tx)) throw new InvalidInputError('options.tx', 'expected a pg PoolClient inside a transaction');
    return (await this.#insertOutbox(tx, [record]))[0]!;
  }

  /**
   * The outbox row for a key store's one-statement insert (same pool, so the same database).
   * @internal
   */
  companionInsert(record: OutboxRecord): CompanionInsert {
    const outbox = this.#t.outbox;
    return {
      pool: this.#pool,
      sql: (cte, n) => `INSERT INTO ${outbox} (bundle, flags, mac) SELECT $${n}::bytea, $${n + 1}::smallint, $${n + 2}::bytea FROM ${cte}`,
      params: [asBuffer(record.bundle), record.flags, asBuffer(record.mac)],
    };
  }

  async #insertOutbox(q: Queryable, records: OutboxRecord[]): Promise<string[]> {
    // Ids come from the sequence in insertion order, which is the input order.
    const res = await run<{ id: unknown }>(q, 'enqueue',
      `INSERT INTO ${this.#t.outbox} (bundle, flags, mac) SELECT b, f, m FROM unnest($1::bytea[], $2::smallint[], $3::bytea[]) WITH ORDINALITY AS u(b, f, m, o) ORDER BY o RETURNING id`,
      [records.map((r) => asBuffer(r.bundle)), records.map((r) => r.flags), records.map((r) => asBuffer(r.mac))]);
    return res.rows.map((r) => toInt(r.id, 'audit_outbox.id')).sort((a, b) => a - b).map(String);
  }

  /**
   * Outbox rows in id order. Rows integrated are deleted; to keep their dead versions (which a
   * long-running snapshot keeps from being vacuumed) off the hot path, most looks start after
   * the last id integrated, and once a second every row is looked at again (a row whose id was
   * drawn earlier may commit later).
   */
  async claim(limit: number): Promise<ClaimedRecord[]> {
    const full = Date.now() - this.#lastFullScan > 1000;
    if (full) this.#lastFullScan = Date.now();
    let res = await this.#claimAfter(full ? 0 : this.#lastSeen, limit);
    // A record that waits (a flush or checkpoint request, a break-glass record) is answered with
    // a checkpoint over everything committed before it: a row whose id was drawn earlier but
    // committed later sits below the last id seen, so such a claim looks from the start (outside
    // review, 2026-12-01: flush() resolved with such a record still in the outbox).
    if (!full && res.rows.some((r) => (r.flags & FLAG_WAIT) !== 0)) {
      this.#lastFullScan = Date.now();
      res = await this.#claimAfter(0, limit);
    }
    return res.rows.map((r) => ({ ticket: String(toInt(r.id, 'audit_outbox.id')), bundle: new Uint8Array(r.bundle), flags: r.flags, mac: new Uint8Array(r.mac) }));
  }

  #claimAfter(after: number, limit: number) {
    return run<{ id: unknown; bundle: Uint8Array; flags: number; mac: Uint8Array }>(this.#pool, 'claim',
      `SELECT id, bundle, flags, mac FROM ${this.#t.outbox} WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit]);
  }

  async receipt(ticket: string): Promise<ReceiptRow | undefined> {
    const res = await run<{ idx: unknown; count: unknown; mac: Uint8Array | null }>(this.#pool, 'receipt', `SELECT idx, count, mac FROM ${this.#t.receipts} WHERE outbox_id = $1`, [Number(ticket)]);
    const r = res.rows[0];
    if (r === undefined) return undefined;
    const at = { index: toInt(r.idx, 'audit_receipts.idx'), count: toInt(r.count, 'audit_receipts.count') };
    return r.mac === null ? at : { ...at, mac: new Uint8Array(r.mac) };
  }

  /** Takes or renews the lease (database time, so no clock skew between hosts matters). */
  async acquireSequencer(): Promise<boolean> {
    const res = await run(this.#pool, 'acquireSequencer',
      `UPDATE ${this.#t.sequencer} SET holder = $1, expires_at = now() + $2 * interval '1 millisecond' WHERE id = 1 AND (holder = $1 OR expires_at < now()) RETURNING holder`,
      [this.#holder, this.#leaseMs]);
    return (res.rowCount ?? 0) > 0;
  }

  async releaseSequencer(): Promise<void> {
    await run(this.#pool, 'releaseSequencer', `UPDATE ${this.#t.sequencer} SET expires_at = '-infinity' WHERE id = 1 AND holder = $1`, [this.#holder]);
  }

  async uncovered(size: number): Promise<Uint8Array[]> {
    const res = await run<{ entry: Uint8Array }>(this.#pool, 'uncovered', `SELECT entry FROM ${this.#t.entries} WHERE idx >= $1 ORDER BY idx LIMIT 100000`, [size]);
    return res.rows.map((r) => new Uint8Array(r.entry));
  }

  /** The operator's repair: everything past `size` goes, and `head` becomes the newest head. */
  async repair(size: number, head: string, guardGiven?: Uint8Array): Promise<void> {
    const t = this.#t;
    await this.#transaction('repair', async (client) => {
      const cp = await run<{ size: unknown }>(client, 'repair', `SELECT size FROM ${t.checkpoints} ORDER BY seq DESC LIMIT 1`);
      if (cp.rows[0] !== undefined && toInt(cp.rows[0].size, 'audit_checkpoints.size') > size) throw new InvalidInputError('size', 'refusing to drop checkpointed entries');
      await run(client, 'repair', `DELETE FROM ${t.entries} WHERE idx >= $1`, [size]);
      for (let level = 0; level < 8; level++) {
        const nodes = Math.floor(size / levelSpan(level));
        const n = Math.floor(nodes / TILE_WIDTH);
        const w = nodes % TILE_WIDTH;
        if (w > 0) {
          // The partial tile at `size` (a prefix of a wider or full row, when it was removed).
          await run(client, 'repair', `INSERT INTO ${t.tiles} (level, idx, width, hashes)
            SELECT $1, $2, $3, substring(hashes FROM 1 FOR $4) FROM ${t.tiles} WHERE level = $1 AND idx = $2 AND width > $3 ORDER BY width LIMIT 1
            ON CONFLICT (level, idx, width) DO NOTHING`, [level, n, w, w * HASH_SIZE]);
        }
        await run(client, 'repair', `DELETE FROM ${t.tiles} WHERE level = $1 AND (idx > $2 OR (idx = $2 AND width > $3))`, [level, n, w]);
      }
      // The replay guard stays (replay-guard.ts): it remembers the records of the rows dropped too.
      const kept = await run<{ guard: Uint8Array | null }>(client, 'repair', `SELECT guard FROM ${t.tree} ORDER BY start DESC LIMIT 1`);
      const guard = guardGiven !== undefined ? asBuffer(guardGiven) : kept.rows[0]?.guard ?? null;
      await run(client, 'repair', `DELETE FROM ${t.tree} WHERE size > $1`, [size]);
      const newest = await run<{ start: unknown; size: unknown }>(client, 'repair', `SELECT start, size FROM ${t.tree} ORDER BY start DESC LIMIT 1`);
      const row = newest.rows[0];
      if (row !== undefined && toInt(row.size, 'audit_tree.size') === size) await run(client, 'repair', `UPDATE ${t.tree} SET note = $2, guard = $3 WHERE start = $1`, [row.start, head, guard]);
      else if (size > 0) await run(client, 'repair', `INSERT INTO ${t.tree} (start, size, note, guard) VALUES ($1, $2, $3, $4)`, [row === undefined ? 0 : toInt(row.size, 'audit_tree.size'), size, head, guard]);
    });
  }

  /** Nothing to release: the caller owns the pool. */
  async close(): Promise<void> {
    await this.#group.idle();
  }

  /**
   * Migrates the 0.1 layout (entries in `audit_entries`, one checkpoint per append, the head row
   * `audit_head_v1`) to tiles, resumably; called by AuditLog.open with the log's keys. @internal
   */
  async migrateLegacy(keys: RecordKeys, verifier: NoteVerifier): Promise<void> {
    await migratePostgresLegacy(this.#pool, this.#t, keys, verifier, () => this.acquireSequencer(), () => this.releaseSequencer(), (op, fn) => this.#transaction(op, fn));
  }

  /** The tables (for the CLI's read-only source and tests). @internal */
  get tables(): AuditTables {
    return this.#t;
  }

  #transaction<T>(op: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return withPgTransaction(
      this.#pool,
      (client, sql) => run(client, op, sql),
      {
        connect: (err) => unavailable(op, err),
        rolledBack: () => new AuditUnavailableError(`postgres audit store: ${op} rolled back (a statement in it failed)`),
      },
      (client) => fn(client),
    );
  }
}
