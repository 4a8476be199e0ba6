/**
 * Outside review, 2026-12-01 (PostgreSQL key store): reproduced defects, each a case.
 */
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migrate } from '../src/store/migrations.js';
import { StoreError } from '../src/errors.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();
const store = () => new PostgresKeyStore(db.pool, { schema: db.schema });

describe('attack: master key reference cache', () => {
  it('a rolled-back transaction does not leave the store unable to write keys under a master key id it met in that transaction', async () => {
    const s = store();
    const mk = `mk-new-${Math.random()}`;
    const a = freshConversationId('a'); const b = freshConversationId('b'); const c = freshConversationId('c');
    await expect(s.transaction(async (tx) => {
      await tx.insertFirst(makeRecord(a, { masterKeyId: mk })); // adds the name (uncommitted)
      await tx.insertFirst(makeRecord(b, { masterKeyId: mk })); // finds its own uncommitted row
      throw new Error('app aborts');
    })).rejects.toThrow('app aborts');
    // Contract: "none of them" committed; the store must keep working.
    const res = await s.insertFirst(makeRecord(c, { masterKeyId: mk })).catch((e: unknown) => e);
    expect(res).toMatchObject({ inserted: true });
  });
});

describe('attack: partial writes before refusal', () => {
  it('insertFirst refusing a lone-surrogate id writes nothing (no master key row)', async () => {
    const s = store();
    const mk = `mk-junk-${Math.random()}`;
    await expect(s.insertFirst(makeRecord('bad\uD800', { masterKeyId: mk }))).rejects.toBeInstanceOf(StoreError);
    const rows = await db.pool.query(`SELECT 1 FROM "${db.schema}".keywarden_master_keys WHERE name = $1`, [mk]);
    expect(rows.rowCount).toBe(0);
  });
});

describe('attack: scanKeys superseded cursor', () => {
  it('pages over superseded rows whose time has microseconds (a row written by another writer) neither repeat nor loop', async () => {
    const s = store();
    const ids = [freshConversationId('us1'), freshConversationId('us2'), freshConversationId('us3')];
    for (const id of ids) {
      await s.insertFirst(makeRecord(id));
      await s.insertNext(makeRecord(id, { version: 2 }), 1);
    }
    // An operator's / older writer's rows: superseded_at with sub-millisecond precision.
    await db.pool.query(`UPDATE "${db.schema}".conversation_keys SET superseded_at = '2001-01-01 00:00:00.000500+00' WHERE conversation_id = ANY($1) AND state = 'superseded'`, [ids]);
    const seen: string[] = [];
    let after;
    for (let i = 0; i < 20; i++) {
      const page = await s.scanKeys({ by: 'superseded', before: new Date('2002-01-01'), after, limit: 1 });
      if (page.length === 0) break;
      seen.push(...page.map((r) => `${r.conversationId}/${r.version}`));
      after = page[page.length - 1];
    }
    expect(seen.sort()).toEqual(ids.map((id) => `${id}/1`).sort());
  });
});

describe('attack: schema names needing quotes', () => {
  for (const schema of ['user', 'select', 'order']) {
    it(`migrate and the store work in schema ${schema}`, async () => {
      const name = `${schema}`;
      try {
        await db.pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
        await migrate(db.pool, { schema: name, partitions: 2 });
        const s = new PostgresKeyStore(db.pool, { schema: name, changes: 'poll', pollIntervalMs: 20 });
        const heard: string[] = [];
        const stop = await s.subscribe((c, k) => heard.push(`${k}:${c}`));
        const c = freshConversationId();
        await s.insertFirst(makeRecord(c));
        await s.insertNext(makeRecord(c, { version: 2 }), 1);
        expect(await s.reserveMessages(c, 2, 5, 10)).toBe(5);
        await s.shred(c, 'conversation', new Date());
        await new Promise((r) => setTimeout(r, 200));
        await stop();
        expect(heard).toEqual([`rotated:${c}`, `shredded:${c}`]);
        expect((await s.summary()).versions.shredded).toBe(2);
      } finally {
        await db.pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      }
    });
  }
});

describe('attack: partial writes before refusal (updateWrappings)', () => {
  it('updateWrappings refusing an unsafe version writes nothing (no master key row)', async () => {
    const s = store();
    const mk = `mk-junk2-${Math.random()}`;
    const err = await s.updateWrappings([{ conversationId: 'x', version: 2 ** 60, expected: { masterKeyId: 'a', wrappedKey: new Uint8Array(1) }, next: { masterKeyId: mk, wrappedKey: new Uint8Array(1) } }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    const rows = await db.pool.query(`SELECT 1 FROM "${db.schema}".keywarden_master_keys WHERE name = $1`, [mk]);
    expect(rows.rowCount).toBe(0);
  });
});
