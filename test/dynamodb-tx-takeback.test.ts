/**
 * Outside review, 2026-12-01 (second read): DynamoDbKeyStore.transaction take-back and retry. A
 * shred is never taken back (another writer may have been told it is done); a first use taken back
 * leaves an item without versions at a higher revision instead of deleting it (a write computed on
 * the taken-back version must not land on another first use); an event a run recorded is not
 * recorded again by the next run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { AuditLog } from '../src/audit/log.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { AuditIdHasher } from '../src/audit/entry.js';
import { generateNoteKey } from '../src/audit/note.js';
import { makeRecord, freshConversationId } from './support/store-contract.js';
import { type TestDynamo, raceClient, testDynamo } from './support/dynamodb.js';
import type { ShredResult } from '../src/store/types.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

describe('attack-review: DynamoDB transaction take-back', () => {
  it('a version another writer was told is shredded (alreadyShredded) is not resurrected by a take-back (run 2 rejects)', async () => {
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    const a = freshConversationId('a');
    const b = freshConversationId('b');
    for (const c of [a, b]) {
      await other.insertFirst(makeRecord(c));
      await other.insertNext(makeRecord(c, { version: 2 }), 1);
    }
    let told: ShredResult | undefined;
    const { client, state } = raceClient(dyn.client, async () => {
      // Instance Y: an explicit shred of a's version 1 — told it is shredded already.
      told = await other.shred(a, [1], new Date());
      // Instance Z seals on b meanwhile: the transaction's put of b loses.
      await other.reserveMessages(b, 2, 1, 1000);
    });
    const store = new DynamoDbKeyStore(client, { table: dyn.table });
    state.armed = true;
    let runs = 0;
    let duringRun2: string | undefined;
    const err = await store.transaction(async (tx) => {
      runs++;
      if (runs === 2) {
        duringRun2 = (await other.getVersion(a, 1))?.state;
        throw new Error('audit append failed (fail-closed): the change is dropped');
      }
      await tx.shred(a, [1], new Date());
      await tx.shred(b, [1], new Date());
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(told?.alreadyShredded).toEqual([1]); // Y's caller was told version 1 is gone
    expect(duringRun2).toBeDefined(); // (seen between the runs: see the report)
    const v1 = await other.getVersion(a, 1);
    expect(v1?.state, 'a v1 after the failed transaction').toBe('shredded');
    expect(v1?.wrappedKey.length).toBe(0);
  });

  it('a take-back that deletes a new conversation item does not let a write computed on it overwrite another first use (rev ABA)', async () => {
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    const a = freshConversationId('a');
    const b = freshConversationId('b');
    await other.insertFirst(makeRecord(b));
    const recX = makeRecord(a, { masterKeyId: 'X', wrappedKey: new Uint8Array(61).fill(0x11) });
    const recZ = makeRecord(a, { masterKeyId: 'Z', wrappedKey: new Uint8Array(61).fill(0x22) });

    // Instance W: reserveMessages on a — its GetItem sees X's stored item, its PutItem waits.
    let reached!: () => void;
    const wReached = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const wRelease = new Promise<void>((r) => (release = r));
    const wReal = dyn.newClient();
    const wClient = {
      send: async (cmd: unknown) => {
        if (cmd instanceof PutItemCommand && cmd.input.Item?.pk?.S === `c#${a}`) {
          reached();
          await wRelease;
        }
        return wReal.send(cmd as never);
      },
    } as unknown as DynamoDBClient;
    const w = new DynamoDbKeyStore(wClient, { table: dyn.table });
    let wDone: Promise<number> | undefined;
    let zRes: { inserted: boolean } | undefined;

    const { client, state } = raceClient(dyn.client, async () => {
      wDone = w.reserveMessages(a, 1, 5, 1000);
      await wReached;
      await other.reserveMessages(b, 1, 1, 1000); // b's put loses
    }, async () => {
      // a's first use was taken back: instance Z's first use of a wins now.
      zRes = await other.insertFirst(recZ);
      release();
      await wDone;
    });
    const store = new DynamoDbKeyStore(client, { table: dyn.table });
    state.armed = true;
    await store.transaction(async (tx) => {
      await tx.insertFirst(recX);
      await tx.reserveMessages(b, 1, 1, 1000);
    }).catch(() => undefined);
    expect(zRes?.inserted).toBe(true); // Z seals with its key from here on
    const v1 = await other.getVersion(a, 1);
    expect(v1?.masterKeyId, 'the stored version 1 must be the key Z was told it inserted').toBe('Z');
    expect(Array.from(v1!.wrappedKey)).toEqual(Array.from(recZ.wrappedKey));
  });
});

describe('attack-review: DynamoDB transaction retry and audit', () => {
  it('Keywarden.shred with audit on records key.shredded once when a reservation races the first run', async () => {
    const keys = generateNoteKey('keywarden.example/keys', new Uint8Array(32).fill(4));
    const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, appendTimeoutMs: 2000 });
    const recorded: string[] = [];
    const orig = log.record.bind(log);
    (log as { record: typeof log.record }).record = (events, options) => {
      for (const e of Array.isArray(events) ? events : [events]) recorded.push(`${(e as { type: string }).type}`);
      return orig(events, options);
    };
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    let target: string | undefined = undefined; // set once version 1 exists
    let fired = false;
    const client = {
      send: async (cmd: unknown) => {
        if (!fired && target !== undefined && cmd instanceof PutItemCommand && cmd.input.Item?.pk?.S === `c#${target}`) {
          fired = true;
          await other.reserveMessages(target, 1, 1, 1_000_000);
        }
        return dyn.client.send(cmd as never);
      },
    } as unknown as DynamoDBClient;
    const kw = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(client, { table: dyn.table }), audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(5)), actor: 'svc' } });
    const conv = freshConversationId();
    await kw.encrypt(conv, new Uint8Array(1));
    target = conv;
    recorded.length = 0;
    const res = await kw.shred(conv);
    expect(res.shredded).toEqual([1]);
    expect(recorded, 'one shred, one key.shredded entry').toEqual(['key.shredded']);
    kw.close();
  });
});
void GetItemCommand;
