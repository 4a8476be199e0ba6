/**
 * DynamoDbKeyStore (issue #15) against a DynamoDB-compatible server on 127.0.0.1 (dynalite,
 * test/support/dynamodb.ts) through the real @aws-sdk/client-dynamodb: the shared store contract,
 * the lifecycle contract with change notifications (polling), branch keys in the same table.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { InvalidInputError } from '../src/errors.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { freshConversationId, keyStoreContract, makeRecord } from './support/store-contract.js';
import { keyStoreLifecycleContract } from './support/store-lifecycle-contract.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

// Every call is an HTTP round trip to dynalite: on a loaded machine the property tests of the
// contract take far longer than on PostgreSQL.
vi.setConfig({ testTimeout: 300_000 });

let dyn: TestDynamo;
/** A server of its own for the lifecycle contract, whose whole-table scans then stay small. */
let lifecycle: TestDynamo;

beforeAll(async () => {
  dyn = await testDynamo();
  lifecycle = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
  await lifecycle?.close();
});

const store = (options: { keys?: 'conversations' | 'branches'; pollIntervalMs?: number } = {}) => new DynamoDbKeyStore(dyn.client, { table: dyn.table, pollIntervalMs: 20, ...options });

keyStoreContract('DynamoDbKeyStore', () => store());
keyStoreLifecycleContract('DynamoDbKeyStore', () => new DynamoDbKeyStore(lifecycle.client, { table: lifecycle.table, pollIntervalMs: 20 }), { notifications: true });
keyStoreContract('DynamoDbKeyStore (branch keys)', () => store({ keys: 'branches' }));

describe('DynamoDbKeyStore', () => {
  it('refuses bad arguments, naming them', () => {
    expect(() => new DynamoDbKeyStore({} as never, { table: dyn.table })).toThrow(/client/);
    expect(() => new DynamoDbKeyStore(dyn.client, { table: 'x' })).toThrow(InvalidInputError);
    expect(() => new DynamoDbKeyStore(dyn.client, { table: 'a b c' })).toThrow(/options\.table/);
    expect(() => new DynamoDbKeyStore(dyn.client, { table: dyn.table, keys: 'all' as never })).toThrow(/options\.keys/);
    expect(() => new DynamoDbKeyStore(dyn.client, { table: dyn.table, pollIntervalMs: 5 })).toThrow(/options\.pollIntervalMs/);
    expect(() => new DynamoDbKeyStore(dyn.client, { table: dyn.table, extra: 1 } as never)).toThrow(InvalidInputError);
  });

  it('conversation and branch keys of the same id live apart in one table', async () => {
    const id = freshConversationId();
    await store().insertFirst(makeRecord(id, { masterKeyId: 'conv' }));
    expect(await store({ keys: 'branches' }).getLatest(id)).toBeUndefined();
    await store({ keys: 'branches' }).insertFirst(makeRecord(id, { masterKeyId: 'branch' }));
    expect((await store().getLatest(id))?.masterKeyId).toBe('conv');
    expect((await store({ keys: 'branches' }).getLatest(id))?.masterKeyId).toBe('branch');
    const item = await dyn.client.send(new GetItemCommand({ TableName: dyn.table, Key: { pk: { S: `b#${id}` }, sk: { S: 'k' } } }));
    expect(item.Item?.rev?.N).toBe('1');
  });

  it('scanKeys and scanWrapped read the table once per whole scan, not once per page', async () => {
    const d = await testDynamo();
    try {
      let scanned = 0;
      d.client.middlewareStack.add((next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'ScanCommand') scanned += (out.output as { ScannedCount?: number }).ScannedCount ?? 0;
        return out;
      }, { step: 'initialize', name: 'countScanned' });
      const s = new DynamoDbKeyStore(d.client, { table: d.table });
      const ids = Array.from({ length: 60 }, () => freshConversationId());
      for (const id of ids) {
        await s.insertFirst(makeRecord(id, { activatedAt: new Date(1_000), createdAt: new Date(1_000) }));
        await s.insertNext(makeRecord(id, { version: 2, activatedAt: new Date(2_000), createdAt: new Date(2_000) }), 1);
      }
      for (const limit of [1, 7, 50]) {
        scanned = 0;
        const seen: string[] = [];
        let after: Awaited<ReturnType<typeof s.scanKeys>>[number] | undefined;
        for (let page = 0; page < 1_000; page++) {
          const rows = await s.scanKeys({ by: 'activated', before: new Date(10_000), after, limit });
          seen.push(...rows.map((r) => `${r.conversationId}#${r.version}`));
          if (rows.length < limit) break;
          after = rows.at(-1);
        }
        expect(new Set(seen).size).toBe(120);
        expect(seen).toHaveLength(120);
        // Items the server evaluated: each page's Scan starts at its cursor's item and reads at
        // most \`limit\` items past what the page uses (the table holds these 60 items only; a
        // scan that read the table per page would evaluate 60 per page: 7,260 for limit 1).
        const bound = 60 + (Math.ceil(120 / limit) + 1) * limit;
        expect(scanned).toBeLessThanOrEqual(bound);
        scanned = 0;
        const wrapped: string[] = [];
        let next: { conversationId: string; version: number } | undefined;
        for (let page = 0; page < 1_000; page++) {
          const rows = await s.scanWrapped({ notMasterKeyId: 'other', after: next, limit });
          wrapped.push(...rows.map((r) => `${r.conversationId}#${r.version}`));
          if (rows.length < limit) break;
          next = rows.at(-1);
        }
        expect(new Set(wrapped).size).toBe(120);
        expect(scanned).toBeLessThanOrEqual(bound);
      }
    } finally {
      await d.close();
    }
  });

  it('a shred leaves no wrapped key bytes in the stored item', async () => {
    const c = freshConversationId();
    const rec = makeRecord(c);
    await store().insertFirst(rec);
    await store().shred(c, 'conversation', new Date());
    const item = await dyn.client.send(new GetItemCommand({ TableName: dyn.table, Key: { pk: { S: `c#${c}` }, sk: { S: 'k' } } }));
    const w = item.Item?.v?.L?.[0]?.M?.w?.B;
    expect(w).toBeInstanceOf(Uint8Array);
    expect(w?.length).toBe(0);
  });

  it('Keywarden on DynamoDB: encrypt, rotate, decrypt; watchKeyChanges sees another instance rotate', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore: store() });
    const b = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table, pollIntervalMs: 20 }), watchKeyChanges: true, reservationSize: 1000 });
    await b.ready();
    const conv = freshConversationId();
    const ct1 = await b.encrypt(conv, new TextEncoder().encode('one'));
    expect(ct1[5]).toBe(1);
    await a.rotate(conv);
    let v = (await b.encrypt(conv, new Uint8Array(1)))[5];
    for (let i = 0; i < 100 && v !== 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      v = (await b.encrypt(conv, new Uint8Array(1)))[5];
    }
    expect(v).toBe(2);
    expect(new TextDecoder().decode(await a.decrypt(conv, ct1))).toBe('one');
    b.close();
    a.close();
  });
});
