/**
 * Migration of a keywarden 0.1 PostgreSQL audit log (entries in `audit_entries`, one checkpoint
 * per append in `audit_checkpoints`, the head row `audit_head`) to tiles — resumably. Schema
 * migration 6 (`migrate`) renamed the head row's table to `audit_head_v1`, so 0.1 instances fail
 * closed from then on and the entries being migrated no longer change. This step then builds the
 * tiles from the stored entries, 65,536 at a time, one transaction per chunk that also records
 * how far it got (`audit_migration.size`); a crash or a kill resumes there. The roots and the
 * checkpoints are unchanged: the newest checkpoint becomes the first tree head. Entries past it
 * (0.1's unsigned tail) stay in `audit_entries` past the head, where AuditLog.open refuses them
 * until the operator's repair, as 0.1 did. Runs under the sequencer lease (one migrator).
 * @module
 */
import type { Pool, PoolClient } from 'pg';
import { AuditCorruptError, AuditUnavailableError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { openCheckpoint } from './checkpoint.js';
import { leafHash } from './merkle.js';
import type { NoteVerifier } from './note.js';
import { type AuditTables, asBuffer, run, toInt } from './postgres-sql.js';
import type { RecordKeys } from './records.js';
import { RESET_TAIL, ReplayGuard, resetFloor } from './replay-guard.js';
import { TileEdge } from './tile-edge.js';
import { edgeTiles } from './tiles.js';

/** Entries per resumable step (tests make it small). @internal */
export const postgresMigration = { chunk: 65_536 };

/** Migrates if needed (see the module comment). */
export async function migratePostgresLegacy(
  pool: Pool, t: AuditTables, keys: RecordKeys, verifier: NoteVerifier,
  acquire: () => Promise<boolean>, release: () => Promise<void>, transaction: <T>(op: string, fn: (client: PoolClient) => Promise<T>) => Promise<T>,
): Promise<void> {
  // Another instance may be migrating (it holds the lease): wait for it; if it dies, its lease
  // runs out and this one takes over where it stopped.
  for (;;) {
    const state = await run<{ done: boolean }>(pool, 'migrate', `SELECT done FROM ${t.migration} WHERE id = 1`);
    if (state.rows[0] === undefined) throw new AuditUnavailableError('postgres audit store: the audit tables are missing or from an older keywarden (run migrate)');
    if (state.rows[0].done) return;
    if (await acquire()) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    await migrateHoldingLease(pool, t, keys, verifier, transaction);
  } finally {
    await release().catch(() => undefined);
  }
}

async function migrateHoldingLease(
  pool: Pool, t: AuditTables, keys: RecordKeys, verifier: NoteVerifier, transaction: <T>(op: string, fn: (client: PoolClient) => Promise<T>) => Promise<T>,
): Promise<void> {
  const row = (await run<{ size: unknown }>(pool, 'migrate', `SELECT size FROM ${t.migration} WHERE id = 1`)).rows[0]!;
  const cpRes = await run<{ note: string }>(pool, 'migrate', `SELECT note FROM ${t.checkpoints} ORDER BY seq DESC LIMIT 1`);
  const note = cpRes.rows[0]?.note;
  let cp: { size: number; rootHash: Uint8Array } | undefined;
  if (note !== undefined) {
    try {
      cp = openCheckpoint(note, verifier, keys.origin).checkpoint;
    } catch (cause) {
      throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
    }
  }
  const target = cp?.size ?? 0;
  let size = toInt(row.size, 'audit_migration.size');
  // Resume: the partial tiles at `size` were stored with the last chunk.
  const partials: Uint8Array[] = [];
  for (const e of edgeTiles(size)) {
    const r = await run<{ hashes: Uint8Array }>(pool, 'migrate', `SELECT hashes FROM ${t.tiles} WHERE level = $1 AND idx = $2 AND width >= $3 ORDER BY width LIMIT 1`, [e.level, e.index, e.width]);
    if (r.rows[0] !== undefined) partials[e.level as number] = new Uint8Array(r.rows[0].hashes);
  }
  const edge = TileEdge.fromPartials(size, partials);
  while (size < target) {
    const end = Math.min(target, size + postgresMigration.chunk);
    const rows = await run<{ idx: unknown; entry: Uint8Array }>(pool, 'migrate', `SELECT idx, entry FROM ${t.entries} WHERE idx >= $1 AND idx < $2 ORDER BY idx`, [size, end]);
    rows.rows.forEach((r, i) => {
      if (toInt(r.idx, 'audit_entries.idx') !== size + i) throw new AuditCorruptError(`checkpoint (size ${target}) commits to entry ${size + i}, which is missing: entries were removed`, size + i);
      edge.append(leafHash(new Uint8Array(r.entry)));
    });
    if (rows.rows.length !== end - size) throw new AuditCorruptError(`checkpoint (size ${target}) commits to more entries than the log holds (${size + rows.rows.length}): entries were removed`, size + rows.rows.length);
    const writes = edge.take().filter((w) => w.level !== 'entries');
    await transaction('migrate', async (client) => {
      await run(client, 'migrate', `INSERT INTO ${t.tiles} (level, idx, width, hashes) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])
        ON CONFLICT (level, idx, width) DO UPDATE SET hashes = excluded.hashes`,
        [writes.map((w) => w.level), writes.map((w) => w.index), writes.map((w) => w.width), writes.map((w) => asBuffer(w.data))]);
      await run(client, 'migrate', `UPDATE ${t.migration} SET size = $1 WHERE id = 1`, [end]);
    });
    size = end;
  }
  if (cp !== undefined && !equalBytes(edge.root(), cp.rootHash)) throw new AuditCorruptError(`stored entries do not match the latest checkpoint (size ${cp.size})`, cp.size);
  await transaction('migrate', async (client) => {
    // Full tiles make their partial rows redundant (tlog-tiles §"Partial Tiles").
    await run(client, 'migrate', `DELETE FROM ${t.tiles} p USING ${t.tiles} f WHERE f.level = p.level AND f.idx = p.idx AND f.width = 256 AND p.width < 256`);
    // A log with entries needs a replay guard (replay-guard.ts). 0.1 had no outbox, but a store
    // writer can make a migrated log look unmigrated again: the guard refuses what was sealed before now.
    const tail = await run<{ entry: Uint8Array }>(client, 'migrate', `SELECT entry FROM ${t.entries} WHERE idx >= $1 AND idx < $2`, [Math.max(0, target - RESET_TAIL), target]);
    const at = { size: target, root: cp?.rootHash ?? edge.root() };
    const guard = asBuffer(ReplayGuard.afterMigration(at, Date.now(), resetFloor(tail.rows.map((r) => new Uint8Array(r.entry)), 0)).seal(keys.mac, at));
    if (note !== undefined && target > 0) await run(client, 'migrate', `INSERT INTO ${t.tree} (start, size, note, guard) VALUES (0, $1, $2, $3) ON CONFLICT DO NOTHING`, [target, note, guard]);
    await run(client, 'migrate', `UPDATE ${t.migration} SET done = true WHERE id = 1`);
  });
}
