/**
 * PostgresAuditStore and PostgresTokenLedger (issue #14): AuditLog end to end, many instances
 * through the outbox with one sequencer, records in a caller's transaction, single-use tokens,
 * fencing and the lease, forged rows, and the migration from keywarden 0.1's layout. Runs on
 * PGlite (one connection) or on the server at DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { edgeAt } from '../src/audit/inspect.js';
import { AuditLog } from '../src/audit/log.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { postgresMigration } from '../src/audit/postgres-migrate.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { TileEdge } from '../src/audit/tile-edge.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { PostgresTokenLedger } from '../src/breakglass/postgres-ledger.js';
import { migrate } from '../src/store/migrations.js';
import { toHex } from '../src/util/bytes.js';
import { batchOf } from './support/audit-store-contract.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

/** Ids for the outbox records these tests seal (records.ts). */
const producer = new OutboxProducer();

let db: TestPool;
let counter = 0;
const created: string[] = [];
beforeAll(async () => {
  db = await testPool();
});
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

const origin = 'keywarden.example/store-contract';
const { signerKey, verifierKey } = generateNoteKey(origin, new Uint8Array(32).fill(12));
const open = (schema: string, more: Partial<Parameters<typeof AuditLog.open>[0]> = {}) =>
  AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey, pollMs: 5, ...more });
const entry = (n: number): Uint8Array => encodeEntry(sampleEvent(n));

async function verify(store: PostgresAuditStore) {
  const size = await store.size();
  return verifyAuditLog({ verifierKey, entries: await store.read(0, size), checkpoints: await store.checkpoints(), head: (await store.state()).head! });
}

describe('AuditLog over PostgresAuditStore', () => {
  it('appends verify; a reopened log continues the same tree; the tables hold tiles, not one row per checkpoint', async () => {
    const schema = await freshSchema();
    const log = await open(schema);
    for (let i = 0; i < 10; i++) expect(await log.append(sampleEvent(i))).toMatchObject({ index: i, size: i + 1 });
    await log.append([sampleEvent(10), sampleEvent(11)]);
    await log.close();
    const again = await open(schema);
    expect(again.size).toBe(12);
    expect(await again.append(sampleEvent(12))).toMatchObject({ index: 12, size: 13 });
    const store = new PostgresAuditStore(db.pool, { schema });
    expect((await verify(store)).problems).toEqual([]);
    const tiles = await db.pool.query(`SELECT level, idx, width FROM "${schema}".audit_tiles ORDER BY level, idx, width`);
    expect(tiles.rows.map((r) => [r.level, Number(r.idx), r.width])).toEqual([[0, 0, 13]]); // narrower partials were replaced
    await again.close();
  });

  it('each entry row keeps its own leaf hash, whether the batch brings the hashes (the sequencer) or not', async () => {
    const schema = await freshSchema();
    const log = await open(schema);
    await log.append(Array.from({ length: 5 }, (_, i) => sampleEvent(i)));
    await log.append(sampleEvent(5));
    await log.close();
    const store = new PostgresAuditStore(db.pool, { schema });
    expect(await store.acquireSequencer()).toBe(true);
    const edge = await edgeAt(store, 6);
    // A batch without leaf hashes, and one whose hashes do not match its entries in number: the store hashes.
    await store.integrate(batchOf(edge, [entry(6), entry(7)]));
    await store.integrate({ ...batchOf(edge, [entry(8)]), leafHashes: [] });
    const rows = await db.pool.query(`SELECT idx, entry, leaf_hash FROM "${schema}".audit_entries ORDER BY idx`);
    expect(rows.rows.map((r) => Number(r.idx))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of rows.rows) expect(toHex(new Uint8Array(r.leaf_hash))).toBe(toHex(leafHash(new Uint8Array(r.entry))));
    await store.releaseSequencer();
  });

  it('two instances, one sequencer: the other records through the outbox; both see one verifiable tree', async () => {
    const schema = await freshSchema();
    const a = await open(schema);
    const b = await open(schema);
    expect([a.isSequencer, b.isSequencer]).toEqual([true, false]);
    const receipts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append(sampleEvent(100 + i))));
    expect(receipts.map((r) => r.index).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    for (const r of receipts) expect(r.size).toBeGreaterThan(r.index);
    await b.sync();
    expect(b.size).toBe(10);
    expect(verifyAuditLog({ verifierKey, entries: await Promise.all(Array.from({ length: 10 }, (_, i) => b.entry(i))), checkpoints: [b.latestCheckpoint!] }).ok).toBe(true);
    expect(await b.proof(3)).toContain('index 3');
    await a.close();
    await b.close();
  });

  it('8 instances x 25 concurrent appends: indices 0..199 exactly once, every receipt\'s checkpoint covers it, checkpoints only grow', async () => {
    const schema = await freshSchema();
    const logs = await Promise.all(Array.from({ length: 8 }, () => open(schema)));
    const receipts = (await Promise.all(logs.map(async (log, w) => {
      const out = [];
      for (let i = 0; i < 25; i++) out.push(await log.append(sampleEvent(w * 1000 + i)));
      return out;
    }))).flat();
    expect(receipts.map((r) => r.index).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const store = new PostgresAuditStore(db.pool, { schema });
    const report = await verify(store);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, entries: 200, unsignedTail: 0 });
    const sizes = (await db.pool.query(`SELECT size FROM "${schema}".audit_checkpoints ORDER BY seq`)).rows.map((r) => Number(r.size));
    expect(sizes).toEqual([...sizes].sort((x, y) => x - y));
    for (const r of receipts) expect(Number(r.checkpoint.split('\n')[1])).toBeGreaterThan(r.index);
    const stored = (await store.read(0, 200)).map((b) => toHex(b)).sort();
    expect(stored).toEqual(logs.flatMap((_, w) => Array.from({ length: 25 }, (_, i) => toHex(entry(w * 1000 + i)))).sort());
    await Promise.all(logs.map((l) => l.close()));
  });
});

describe('records in a caller transaction', () => {
  it('ROLLBACK leaves no trace; COMMIT makes it durable, integrated and checkpointed after the commit', async () => {
    const schema = await freshSchema();
    const log = await open(schema);
    await log.append(sampleEvent(0));
    const client = await db.pool.connect();
    let pending;
    try {
      await client.query('BEGIN');
      await log.record(sampleEvent(1), { tx: client });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      pending = await log.record([sampleEvent(2), sampleEvent(3)], { tx: client, checkpoint: true });
      expect(pending.index).toBeUndefined();
      await client.query('COMMIT');
    } finally {
      client.release(); // PGlite has one connection: the sequencer needs it back
    }
    expect(await pending.checkpointed()).toMatchObject({ index: 1, size: 3 });
    const ids = (await new PostgresAuditStore(db.pool, { schema }).read(0, 3)).map((e) => decodeEntry(e).id);
    expect(ids).toEqual([0, 2, 3].map((i) => sampleEvent(i).id));
    await expect(log.append(sampleEvent(4), { tx: client })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.tx' });
    await log.close();
  });
});

describe('PostgresTokenLedger with the outbox', () => {
  const expires = () => new Date(Date.now() + 3_600_000);

  it('20 concurrent consumes of one jti: exactly one wins, and only its intent is recorded', async () => {
    const schema = await freshSchema();
    const ledger = new PostgresTokenLedger(db.pool, { schema });
    const log = await open(schema);
    const jti = `jti-${randomBytes(4).toString('hex')}`;
    let recorded = 0;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      ledger.consume(jti, expires(), async (tx) => {
        recorded++;
        await log.record(sampleEvent(i), { tx });
      })));
    expect(results.filter((r) => r)).toHaveLength(1);
    expect(recorded).toBe(1);
    await log.flush();
    expect(log.size).toBe(1);
    expect(await ledger.consume(jti, expires(), async () => {})).toBe(false);
    await log.close();
  });

  it('the intent recorded in the same transaction is rolled back with the token; the token stays unused', async () => {
    const schema = await freshSchema();
    const ledger = new PostgresTokenLedger(db.pool, { schema });
    const log = await open(schema);
    await expect(ledger.consume('tok-2', expires(), async (tx) => {
      await log.record(sampleEvent(1), { tx });
      throw new Error('refused after intent');
    })).rejects.toThrow('refused after intent');
    await log.flush();
    expect(log.size).toBe(0);
    expect(await ledger.consume('tok-2', expires(), async (tx) => void (await log.record(sampleEvent(1), { tx })))).toBe(true);
    await log.flush();
    expect(log.size).toBe(1);
    await log.close();
  });
});

describe('one sequencer at a time', () => {
  it('the lease is exclusive until it expires; a step that does not start at the head is refused and writes nothing', async () => {
    const schema = await freshSchema();
    const a = new PostgresAuditStore(db.pool, { schema, leaseMs: 300 });
    const b = new PostgresAuditStore(db.pool, { schema, leaseMs: 300 });
    expect(await a.acquireSequencer()).toBe(true);
    expect(await b.acquireSequencer()).toBe(false);
    expect(await a.acquireSequencer()).toBe(true); // renewal
    await new Promise((r) => setTimeout(r, 400));
    expect(await b.acquireSequencer()).toBe(true); // a's lease ran out
    expect(await a.acquireSequencer()).toBe(false);
    const edgeA = TileEdge.empty(false);
    const edgeB = TileEdge.empty(false);
    await b.integrate(batchOf(edgeB, [entry(1), entry(2)]));
    // a still believes the log is empty: its step is refused, nothing of it is stored.
    await expect(a.integrate(batchOf(edgeA, [entry(3)]))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect((await b.read(0, 10)).map(toHex)).toEqual([entry(1), entry(2)].map(toHex));
    await b.releaseSequencer();
    expect(await a.acquireSequencer()).toBe(true);
  });
});

describe('forged rows are never adopted or signed over (issue #10, defect 1)', () => {
  it('an entry row past the head: open refuses it, the running sequencer stops instead of signing over it, repair drops it', async () => {
    const schema = await freshSchema();
    const log = await open(schema);
    await log.append(sampleEvent(1));
    await log.append(sampleEvent(2));
    await db.pool.query(`INSERT INTO "${schema}".audit_entries (idx, entry, leaf_hash) VALUES (2, $1, $2)`, [Buffer.from(entry(99)), Buffer.from(leafHash(entry(99)))]);
    await expect(log.append(sampleEvent(3))).rejects.toMatchObject({ code: expect.stringMatching(/ERR_AUDIT_(UNAVAILABLE|CORRUPT)/) });
    expect((await new PostgresAuditStore(db.pool, { schema }).checkpoints()).length).toBe(2); // nothing signed over it
    await log.close();
    await expect(open(schema)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 2 });
    const repaired = await open(schema, { repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(decodeEntry(await repaired.entry(2)).type).toBe('audit.repaired');
    await repaired.append(sampleEvent(4));
    expect((await verify(new PostgresAuditStore(db.pool, { schema }))).ok).toBe(true);
    await repaired.close();
  });

  it('an outbox row without a valid MAC is quarantined with its reason, never integrated', async () => {
    const schema = await freshSchema();
    const log = await open(schema);
    const intruder = recordKeys(generateNoteKey(origin, new Uint8Array(32).fill(13)).signerKey);
    const store = new PostgresAuditStore(db.pool, { schema });
    await store.enqueue(sealOutboxRecord(intruder.mac, [entry(66)], true, producer.next()));
    await log.append(sampleEvent(67));
    await log.flush();
    const q = await db.pool.query(`SELECT reason FROM "${schema}".audit_quarantine`);
    expect(q.rows.map((r) => r.reason)).toEqual([expect.stringContaining('MAC')]);
    expect((await store.read(0, log.size)).map((e) => decodeEntry(e).id)).toEqual([sampleEvent(67).id]);
    expect(log.stats().quarantined).toBe(1);
    await log.close();
  });
});

describe('migration from the 0.1 layout (entries rows, one checkpoint per append)', () => {
  /** What a 0.1 log left in the database after schema migration 6: entries and per-append checkpoints, no tiles. */
  async function legacyLog(schema: string, n: number, unsigned = 0): Promise<{ notes: string[]; tree: MerkleTree }> {
    const signer = newNoteSigner(signerKey);
    const tree = new MerkleTree();
    const notes: string[] = [];
    for (let i = 0; i < n + unsigned; i++) {
      const e = entry(i);
      tree.append(leafHash(e));
      await db.pool.query(`INSERT INTO "${schema}".audit_entries (idx, entry, leaf_hash) VALUES ($1, $2, $3)`, [i, Buffer.from(e), Buffer.from(leafHash(e))]);
      if (i < n) {
        notes.push(signCheckpoint({ origin, size: i + 1, rootHash: tree.root(), extensions: [] }, signer));
        await db.pool.query(`INSERT INTO "${schema}".audit_checkpoints (size, note) VALUES ($1, $2)`, [i + 1, notes[i]]);
      }
    }
    // Schema migration 6 ran over a populated 0.1 log: the data migration is still to do.
    await db.pool.query(`UPDATE "${schema}".audit_migration SET done = false`);
    return { notes, tree };
  }

  it('migrates resumably: an interrupted run resumes; roots and checkpoints are unchanged; 0.1 instances fail closed', async () => {
    const schema = await freshSchema();
    // 0.1 instances lock the head row to append: it is gone (renamed), so they fail closed.
    expect((await db.pool.query(`SELECT to_regclass($1) AS t`, [`"${schema}".audit_head`])).rows[0].t).toBeNull();
    const { notes, tree } = await legacyLog(schema, 40);
    const chunk = postgresMigration.chunk;
    postgresMigration.chunk = 7;
    try {
      // Interrupt the migration in its third chunk: that transaction fails (as a crash would end it).
      let chunks = 0;
      const flaky = new Proxy(db.pool, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target);
          if (prop !== 'connect') return typeof v === 'function' ? v.bind(target) : v;
          return async () => {
            const client = await target.connect();
            return new Proxy(client, {
              get(c, p2) {
                const f = Reflect.get(c, p2, c);
                if (p2 !== 'query') return typeof f === 'function' ? f.bind(c) : f;
                return (sql: unknown, ...rest: unknown[]) => {
                  // keywarden sends statements as { text, values, name } objects
                  const text = typeof sql === 'string' ? sql : ((sql as { text?: string } | null)?.text ?? '');
                  if (text.includes('audit_migration SET size') && ++chunks === 3) {
                    return Promise.reject(Object.assign(new Error('connection lost'), { code: '08006' }));
                  }
                  return (f as (...a: unknown[]) => unknown).call(c, sql, ...rest);
                };
              },
            });
          };
        },
      });
      await expect(AuditLog.open({ store: new PostgresAuditStore(flaky, { schema }), signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      const progress = Number((await db.pool.query(`SELECT size FROM "${schema}".audit_migration`)).rows[0].size);
      expect(progress).toBe(14); // two chunks of 7 committed

      const log = await open(schema);
      expect(log.size).toBe(40);
      expect(toHex(await log.root(40))).toBe(toHex(tree.root()));
      for (const k of [1, 17, 33]) expect(toHex(await log.root(k))).toBe(toHex(tree.root(k)));
      expect(await log.consistency(12)).toContain('old 12');
      const store = new PostgresAuditStore(db.pool, { schema });
      expect(await store.checkpoints()).toEqual(notes);
      await log.append(sampleEvent(40));
      expect((await verify(store)).problems).toEqual([]);
      await log.close();
    } finally {
      postgresMigration.chunk = chunk;
    }
  });

  it('a 0.1 unsigned tail stays past the head: open refuses it until the operator repairs', async () => {
    const schema = await freshSchema();
    await legacyLog(schema, 5, 1);
    await expect(open(schema)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 5 });
    const log = await open(schema, { repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(decodeEntry(await log.entry(5)).type).toBe('audit.repaired');
    await log.close();
  });
});
