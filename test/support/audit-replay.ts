/**
 * Shared pieces of the replay-guard tests (test/audit-outbox-replay.test.ts and
 * test/audit-replay-*.test.ts): what an attacker with write access to a store does to it —
 * copy an outbox record, read or put back the stored guard, damage the head — on the file store
 * and on PostgreSQL.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { FileAuditStore } from '../../src/audit/file-store.js';
import { MAGIC, frame, scanFrames } from '../../src/audit/framing.js';
import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import { migrate } from '../../src/store/migrations.js';
import { type TestPool, testPool } from './pg.js';
import type { OutboxRecord } from '../../src/audit/records.js';
import type { AuditStore } from '../../src/audit/store.js';

/** A byte-for-byte copy of a record, as someone reading the outbox keeps it. */
export const copyRecord = (r: OutboxRecord): OutboxRecord => ({ bundle: r.bundle.slice(), flags: r.flags, mac: r.mac.slice() });

/** Waits (up to 10 s) until the store's head says at least `n` entries. */
export async function waitSize(store: AuditStore, n: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await store.size()) >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`size never reached ${n}`);
}

/** The stored guard and head of a store, as an attacker reads and rewrites them. */
export interface GuardAccess {
  getGuard: () => Promise<Uint8Array | undefined>;
  setGuard: (g: Uint8Array | undefined) => Promise<void>;
  /** Makes the newest tree head fail its signature (the size still parses). */
  forgeHead: () => Promise<void>;
}

/** The `head` file of a FileAuditStore directory: its note and its JSON. */
export function fileHead(dir: string) {
  const path = join(dir, 'head');
  const read = async () => {
    const scan = scanFrames(new Uint8Array(await readFile(path)));
    return { note: scan.records[0]!, json: JSON.parse(new TextDecoder().decode(scan.records[1]!)) as Record<string, unknown> };
  };
  const write = (note: Uint8Array, json: unknown) => writeFile(path, Buffer.concat([MAGIC, frame(note), frame(new TextEncoder().encode(JSON.stringify(json)))]));
  return { read, write };
}

/** {@link GuardAccess} on a FileAuditStore directory. */
export function fileGuard(dir: string): GuardAccess {
  const head = fileHead(dir);
  return {
    getGuard: async () => {
      const { json } = await head.read();
      return typeof json.guard === 'string' ? new Uint8Array(Buffer.from(json.guard, 'base64')) : undefined;
    },
    setGuard: async (g) => {
      const { note, json } = await head.read();
      json.guard = g === undefined ? null : Buffer.from(g).toString('base64');
      await head.write(note, json);
    },
    forgeHead: async () => {
      const { note, json } = await head.read();
      const lines = new TextDecoder().decode(note).split('\n');
      // Another root: a tree head's fourth line, or (a checkpoint stored as the head) its third.
      lines[lines[0]!.startsWith('keywarden.audit/tree-head') ? 3 : 2] = Buffer.alloc(32, 9).toString('base64');
      await head.write(new TextEncoder().encode(lines.join('\n')), json);
    },
  };
}

/** {@link GuardAccess} on a PostgresAuditStore schema. */
export function pgGuard(pool: Pool, schema: string): GuardAccess {
  const tree = `"${schema}".audit_tree`;
  return {
    getGuard: async () => {
      const r = await pool.query(`SELECT guard FROM ${tree} ORDER BY start DESC LIMIT 1`);
      return r.rows[0]?.guard == null ? undefined : new Uint8Array(r.rows[0].guard);
    },
    setGuard: async (g) => {
      await pool.query(`UPDATE ${tree} SET guard = $1 WHERE start = (SELECT max(start) FROM ${tree})`, [g === undefined ? null : Buffer.from(g)]);
    },
    forgeHead: async () => {
      await pool.query(`UPDATE ${tree} SET note = 'forged head' WHERE start = (SELECT max(start) FROM ${tree})`);
    },
  };
}

/** A store under attack: opened afresh as often as asked, with the attacker's access to its guard. */
export interface StoreEnv extends GuardAccess {
  open: () => Promise<AuditStore>;
  cleanup: () => Promise<void>;
}

/**
 * Makers of a fresh file store and a fresh PostgreSQL schema (PGlite, or the server at
 * DATABASE_URL) per test; registers the pool's set-up and tear-down with the calling file.
 */
export function storeEnvs(tag: string): { file: () => Promise<StoreEnv>; pg: () => Promise<StoreEnv> } {
  let db: TestPool;
  let schemas = 0;
  beforeAll(async () => {
    db = await testPool();
  });
  afterAll(async () => {
    for (let i = 0; i < schemas; i++) await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_${tag}${i}" CASCADE`);
    await db?.close();
  });
  return {
    file: async () => {
      const dir = await mkdtemp(join(tmpdir(), `kw-${tag}-`));
      return { open: () => FileAuditStore.open(dir), cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5 }), ...fileGuard(dir) };
    },
    pg: async () => {
      const schema = `${db.schema}_${tag}${schemas++}`;
      await migrate(db.pool, { schema });
      return { open: async () => new PostgresAuditStore(db.pool, { schema }), cleanup: async () => {}, ...pgGuard(db.pool, schema) };
    },
  };
}
