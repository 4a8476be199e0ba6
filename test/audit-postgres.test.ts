/**
 * PostgresAuditStore and PostgresTokenLedger: round trips, AuditLog end to end, many instances
 * appending through the head lock, caller transactions, single-use tokens, and a connection
 * killed mid-append (real PostgreSQL only). Runs on PGlite (one connection, so "concurrent"
 * calls run one after another) or on the server at DATABASE_URL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkpoint, signCheckpoint } from '../src/audit/checkpoint.js';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { CompactRange, MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { PostgresTokenLedger } from '../src/breakglass/postgres-ledger.js';
import { AuditUnavailableError } from '../src/errors.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
let counter = 0;

beforeAll(async () => {
  db = await testPool();
});
const created: string[] = [];
afterAll(async () => {
  try {
    for (const schema of created) await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await db?.close();
  }
});

/** A fresh, migrated schema per test, so that every test starts from an empty log. */
async function freshSchema(): Promise<string> {
  const schema = `${db.schema}_${++counter}`;
  created.push(schema);
  await migrate(db.pool, { schema });
  return schema;
}

const origin = 'example.com/keywarden-audit-pg';
const { signerKey, verifierKey } = generateNoteKey(origin);
const signer = newNoteSigner(signerKey);
const sign = (size: number, rootHash: Uint8Array): string => signCheckpoint({ origin, size, rootHash, extensions: [] } satisfies Checkpoint, signer);
const entry = (n: number): Uint8Array => encodeEntry(sampleEvent(n));
const bytes = (s: string) => new TextEncoder().encode(s);

async function verify(store: PostgresAuditStore) {
  const size = await store.size();
  return verifyAuditLog({ verifierKey, entries: await store.read(0, size), checkpoints: await store.checkpoints() });
}

/** The stored head must match the entries: same size, and the edge's root is the entries' root. */
async function expectHeadConsistent(schema: string): Promise<number> {
  const head = await db.pool.query(`SELECT size, edge FROM "${schema}".audit_head WHERE id = 1`);
  const size = Number(head.rows[0].size);
  const rows = await db.pool.query(`SELECT idx, entry, leaf_hash FROM "${schema}".audit_entries ORDER BY idx`);
  expect(rows.rows.map((r) => Number(r.idx))).toEqual(Array.from({ length: size }, (_, i) => i));
  const tree = new MerkleTree(rows.rows.map((r) => new Uint8Array(r.entry)).map(leafHash));
  rows.rows.forEach((r, i) => expect(new Uint8Array(r.leaf_hash)).toEqual(tree.leafHash(i)));
  expect(CompactRange.decode(size, new Uint8Array(head.rows[0].edge)).root()).toEqual(tree.root());
  return size;
}

describe('PostgresAuditStore basics', () => {
  it('append/read/size/checkpoints round trip; reads are plain copies', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    expect(await store.size()).toBe(0);
    expect(await store.read(0, 10)).toEqual([]);
    expect(await store.checkpoints()).toEqual([]);
    const input = [bytes('a'), bytes('b')];
    expect(await store.append(input)).toBe(0);
    input[0]![0] = 0x7a; // the store must have copied (serialised) the caller's bytes
    expect(await store.append([bytes('c'), new Uint8Array(0)])).toBe(2);
    expect(await store.append([])).toBe(4);
    expect(await store.size()).toBe(4);
    const read = await store.read(0, 4);
    expect(read.map((b) => new TextDecoder().decode(b))).toEqual(['a', 'b', 'c', '']);
    for (const r of read) {
      expect(Object.getPrototypeOf(r)).toBe(Uint8Array.prototype); // not a Buffer over a shared slab
      expect(r.byteOffset).toBe(0);
      expect(r.buffer.byteLength).toBe(r.length);
    }
    read[1]![0] = 0;
    expect(new TextDecoder().decode((await store.read(1, 2))[0])).toBe('b');
    expect((await store.read(1, 3)).map((b) => new TextDecoder().decode(b))).toEqual(['b', 'c']);
    expect(await store.read(3, 3)).toEqual([]);
    // Plain append keeps the head's edge in step with the entries.
    await expectHeadConsistent(schema);
    const cp1 = sign(4, new MerkleTree((await store.read(0, 4)).map(leafHash)).root());
    await store.appendCheckpoint(cp1);
    await store.appendCheckpoint(`${origin}\n2\n${Buffer.alloc(32).toString('base64')}\n\n— sig\n`);
    expect(await store.checkpoints()).toEqual([cp1, `${origin}\n2\n${Buffer.alloc(32).toString('base64')}\n\n— sig\n`]);
    const sizes = await db.pool.query(`SELECT size FROM "${schema}".audit_checkpoints ORDER BY seq`);
    expect(sizes.rows.map((r) => Number(r.size))).toEqual([4, 2]);
    await expect(store.appendCheckpoint('no size here\n')).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await store.close(); // no-op: the pool is still usable
    expect(await store.size()).toBe(4);
  });

  it('a missing table surfaces as ERR_AUDIT_UNAVAILABLE without server text in the message', async () => {
    const store = new PostgresAuditStore(db.pool, { schema: `${db.schema}_nothing_here` });
    const err = await store.size().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditUnavailableError);
    expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: true, message: 'postgres audit store: size failed (SQLSTATE 42P01)' });
    expect((err as Error).cause).toBeDefined();
    await expect(store.append([bytes('x')])).rejects.toBeInstanceOf(AuditUnavailableError);
  });

  it('appendSequenced writes entries and a checkpoint over the new tree; zero entries re-checkpoints', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    const a = await store.appendSequenced([entry(0), entry(1), entry(2)], sign);
    expect(a).toMatchObject({ index: 0, size: 3 });
    const b = await store.appendSequenced([entry(3)], sign);
    expect(b).toMatchObject({ index: 3, size: 4 });
    const c = await store.appendSequenced([], sign);
    expect(c).toMatchObject({ index: 4, size: 4 });
    expect(await store.checkpoints()).toEqual([a.checkpoint, b.checkpoint, c.checkpoint]);
    // Mixing plain append (no checkpoint) keeps the edge right for the next sequenced append.
    expect(await store.append([entry(4)])).toBe(4);
    const d = await store.appendSequenced([entry(5)], sign);
    expect(d).toMatchObject({ index: 5, size: 6 });
    const report = await verify(store);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 6, checkpoints: 4, unsignedTail: 0 });
    expect(await expectHeadConsistent(schema)).toBe(6);
  });

  it('a sign callback that throws stores nothing', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    await store.appendSequenced([entry(0)], sign);
    const boom = new Error('signer offline');
    await expect(
      store.appendSequenced([entry(1)], () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await store.size()).toBe(1);
    expect(await store.checkpoints()).toHaveLength(1);
    await expectHeadConsistent(schema);
  });
});

describe('AuditLog over PostgresAuditStore', () => {
  it('appends verify with verifyAuditLog; a reopened log continues the same tree', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    const log = await AuditLog.open({ store, signerKey });
    for (let i = 0; i < 10; i++) {
      const r = await log.append(sampleEvent(i));
      expect(r).toMatchObject({ index: i, size: i + 1 });
    }
    await log.append([sampleEvent(10), sampleEvent(11)]);
    const again = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey });
    expect(again.size).toBe(12);
    expect(await again.append(sampleEvent(12))).toMatchObject({ index: 12, size: 13 });
    const report = await verify(store);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 13, unsignedTail: 0 });
    await expectHeadConsistent(schema);
  });
  it('two AuditLog instances over one schema interleave into one verifiable tree', async () => {
    const schema = await freshSchema();
    const a = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey });
    const b = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey });
    const receipts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append(sampleEvent(100 + i))));
    expect(receipts.map((r) => r.index).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const store = new PostgresAuditStore(db.pool, { schema });
    const report = await verify(store);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 10 });
    await expectHeadConsistent(schema);
  });
});

describe('many instances appending to one log', () => {
  it('8 instances x 25 concurrent appendSequenced: indices 0..199, no gap or duplicate, every checkpoint verifies, sizes increase', async () => {
    const schema = await freshSchema();
    const stores = Array.from({ length: 8 }, () => new PostgresAuditStore(db.pool, { schema }));
    const receipts = (
      await Promise.all(
        stores.map(async (s, w) => {
          const out: { index: number; size: number; checkpoint: string }[] = [];
          for (let i = 0; i < 25; i++) out.push(await s.appendSequenced([entry(w * 1000 + i)], sign));
          return out;
        }),
      )
    ).flat();
    expect(receipts.map((r) => r.index).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const r of receipts) expect(r.size).toBe(r.index + 1);
    const store = stores[0]!;
    expect(await store.size()).toBe(200);
    const notes = await store.checkpoints();
    expect(notes).toHaveLength(200);
    // Checkpoints in commit order: strictly increasing sizes 1..200.
    const sizes = (await db.pool.query(`SELECT size FROM "${schema}".audit_checkpoints ORDER BY seq`)).rows.map((r) => Number(r.size));
    expect(sizes).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // Every checkpoint's root equals the root recomputed from the entries at its size.
    const report = await verify(store);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 200, checkpoints: 200, unsignedTail: 0 });
    // Each receipt's checkpoint is the one stored for its size.
    for (const r of receipts) expect(notes[r.size - 1]).toBe(r.checkpoint);
    // Every writer's entries are all there, exactly once.
    const stored = (await store.read(0, 200)).map((b) => Buffer.from(b).toString('hex')).sort();
    const expected = stores.flatMap((_, w) => Array.from({ length: 25 }, (_, i) => Buffer.from(entry(w * 1000 + i)).toString('hex'))).sort();
    expect(stored).toEqual(expected);
    await expectHeadConsistent(schema);
  });
});

describe('appendSequenced in a caller transaction', () => {
  it('joins the caller transaction: ROLLBACK leaves nothing stored and the head unchanged', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    await store.appendSequenced([entry(0)], sign);
    const before = (await db.pool.query(`SELECT size, edge FROM "${schema}".audit_head`)).rows[0];
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const r = await store.appendSequenced([entry(1), entry(2)], sign, { tx: client });
      expect(r).toMatchObject({ index: 1, size: 3 });
      // Visible inside the caller's transaction (nothing was committed on its own)...
      expect(Number((await client.query(`SELECT count(*) AS n FROM "${schema}".audit_entries`)).rows[0].n)).toBe(3);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    // ...and gone with its rollback.
    expect(await store.size()).toBe(1);
    expect(await store.checkpoints()).toHaveLength(1);
    expect((await db.pool.query(`SELECT size, edge FROM "${schema}".audit_head`)).rows[0]).toEqual(before);
    await expectHeadConsistent(schema);
    // COMMIT of the caller's transaction keeps them.
    const c2 = await db.pool.connect();
    try {
      await c2.query('BEGIN');
      await store.appendSequenced([entry(1)], sign, { tx: c2 });
      await c2.query('COMMIT');
    } finally {
      c2.release();
    }
    expect(await store.size()).toBe(2);
    expect((await verify(store)).ok).toBe(true);
  });

  it('rejects a tx that is not a client', async () => {
    const store = new PostgresAuditStore(db.pool, { schema: await freshSchema() });
    await expect(store.appendSequenced([entry(0)], sign, { tx: 42 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});

describe('PostgresTokenLedger', () => {
  const expires = () => new Date(Date.now() + 3_600_000);

  it('20 concurrent consumes of one jti: exactly one wins, and only its intent is recorded', async () => {
    const schema = await freshSchema();
    const ledger = new PostgresTokenLedger(db.pool, { schema });
    const store = new PostgresAuditStore(db.pool, { schema });
    const jti = `jti-${randomBytes(4).toString('hex')}`;
    let recorded = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ledger.consume(jti, expires(), async (tx) => {
          recorded++;
          await store.appendSequenced([entry(i)], sign, { tx });
          await new Promise((r) => setTimeout(r, 20)); // hold the token row a while
        }),
      ),
    );
    expect(results.filter((r) => r)).toHaveLength(1);
    expect(recorded).toBe(1);
    expect(await store.size()).toBe(1);
    expect((await verify(store)).ok).toBe(true);
    expect(await ledger.consume(jti, expires(), async () => {})).toBe(false);
  });

  it('a record that throws leaves the token unused; a later consume wins', async () => {
    const schema = await freshSchema();
    const ledger = new PostgresTokenLedger(db.pool, { schema });
    const boom = new Error('audit down');
    await expect(
      ledger.consume('tok-1', expires(), async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await db.pool.query(`SELECT count(*) AS n FROM "${schema}".breakglass_tokens`)).rows[0].n).toBe('0');
    expect(await ledger.consume('tok-1', expires(), async () => {})).toBe(true);
    expect(await ledger.consume('tok-1', expires(), async () => {})).toBe(false);
  });

  it('the intent appended in the same transaction is rolled back with the token', async () => {
    const schema = await freshSchema();
    const ledger = new PostgresTokenLedger(db.pool, { schema });
    const store = new PostgresAuditStore(db.pool, { schema });
    await store.appendSequenced([entry(0)], sign);
    const boom = new Error('decrypt refused after intent');
    await expect(
      ledger.consume('tok-2', expires(), async (tx) => {
        await store.appendSequenced([entry(1)], sign, { tx });
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await store.size()).toBe(1);
    expect(await store.checkpoints()).toHaveLength(1);
    await expectHeadConsistent(schema);
    // The token is still unused; a successful consume commits token and intent together.
    expect(await ledger.consume('tok-2', expires(), async (tx) => void (await store.appendSequenced([entry(1)], sign, { tx })))).toBe(true);
    expect(await store.size()).toBe(2);
    expect((await verify(store)).ok).toBe(true);
    // A record that fails inside the audit store (a failed statement) also leaves the token unused.
    const broken = new PostgresAuditStore(db.pool, { schema: `${db.schema}_missing` });
    await expect(ledger.consume('tok-3', expires(), (tx) => broken.appendSequenced([entry(2)], sign, { tx }).then(() => {}))).rejects.toBeInstanceOf(
      AuditUnavailableError,
    );
    expect(await ledger.consume('tok-3', expires(), async () => {})).toBe(true);
  });

  it('validates its inputs', async () => {
    const ledger = new PostgresTokenLedger(db.pool, { schema: await freshSchema() });
    await expect(ledger.consume('', expires(), async () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(ledger.consume('a\u0000b', expires(), async () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await expect(ledger.consume('a', new Date(NaN), async () => {})).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect(() => new PostgresTokenLedger(db.pool, { schema: 'Bad-Name' })).toThrow(/options\.schema/);
    expect(() => new PostgresAuditStore({} as never)).toThrow(/pool/);
  });
});

describe('connection killed mid-append (real PostgreSQL only)', () => {
  it('surfaces as retryable ERR_AUDIT_UNAVAILABLE with nothing half-written', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // PGlite has one connection: nothing can kill it from outside
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    await store.appendSequenced([entry(0), entry(1)], sign);
    const appName = `kw_audit_kill_${randomBytes(4).toString('hex')}`;
    const victimPool = new pg.Pool({ connectionString: process.env.DATABASE_URL, application_name: appName, max: 2 });
    victimPool.on('error', () => {});
    try {
      const victim = new PostgresAuditStore(victimPool, { schema });
      let killed = false;
      const err = await victim
        .appendSequenced([entry(2), entry(3)], (size, root) => {
          // sign runs while the victim holds the head lock. It is synchronous, so kill the
          // victim's backend from another process before returning.
          execFileSync('psql', [
            process.env.DATABASE_URL!,
            '-qAtc',
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${appName}'; SELECT pg_sleep(0.1)`,
          ]);
          killed = true;
          return sign(size, root);
        })
        .catch((e: unknown) => e);
      expect(killed).toBe(true);
      expect(err).toBeInstanceOf(AuditUnavailableError);
      expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: true });
      expect((err as Error).message).toMatch(/^postgres audit store: appendSequenced failed \(/);
      // Nothing half-written: size unchanged, head consistent with the entries, one checkpoint.
      expect(await store.size()).toBe(2);
      expect(await expectHeadConsistent(schema)).toBe(2);
      expect(await store.checkpoints()).toHaveLength(1);
      // The lock was released with the dead session, and the victim's pool recovers.
      expect(await victim.appendSequenced([entry(2)], sign)).toMatchObject({ index: 2, size: 3 });
      expect((await verify(store)).ok).toBe(true);
    } finally {
      await victimPool.end();
    }
  });
});

describe('an unsigned tail in PostgreSQL is never adopted or signed over (issue #10, defect 1)', () => {
  it('a row forged with a consistent head: the next append refuses instead of signing it, open refuses, verify reports it', async () => {
    const schema = await freshSchema();
    const store = new PostgresAuditStore(db.pool, { schema });
    const log = await AuditLog.open({ store, signerKey });
    await log.append(sampleEvent(1));
    await log.append(sampleEvent(2));
    // Someone with database access but no signing key appends a well-formed row and moves the
    // head along, exactly as a sequenced append would (the plain, checkpoint-less append).
    expect(await store.append([entry(99)])).toBe(2);
    const err = await log.append(sampleEvent(3)).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 2 });
    expect(await store.size()).toBe(3); // the refused append wrote nothing
    expect((await store.checkpoints()).length).toBe(2); // and signed nothing
    await expect(AuditLog.open({ store, signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 2 });
    const report = await verify(store);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'unsigned-tail', index: 2 }));
    // The operator's repair drops it and records it; appends work again.
    const repaired = await AuditLog.open({ store, signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(decodeEntry(await repaired.entry(2)).type).toBe('audit.repaired');
    await repaired.append(sampleEvent(4));
    expect((await verify(store)).ok).toBe(true);
  });
});
