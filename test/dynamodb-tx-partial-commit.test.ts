/**
 * Outside review, 2026-12-01. DynamoDbKeyStore.transaction across several conversations (retention's shred pages): when the
 * second conversation's conditional put loses to a concurrent writer, #undo puts the first one
 * back only if nothing touched it since. If another instance merely reserved messages on it
 * meanwhile, the undo is skipped: the first conversation's shred stays stored for good while the
 * transaction reports failure. Nothing announces that shred (announcements run only after a
 * fully successful commit), and a re-run finds those versions `alreadyShredded`, so it neither
 * announces them nor drops them from its own cache: the instance keeps decrypting with a key
 * that is shredded in the store.
 *
 * Now: the conversations already stored are taken back version by version (a reservation on
 * another version does not stand in the way) and the transaction runs again; a conversation
 * another writer built on stays stored, is announced, and the transaction fails retryably.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import type { ShredResult } from '../src/store/types.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { makeRecord, freshConversationId } from './support/store-contract.js';
import { type TestDynamo, raceClient, testDynamo } from './support/dynamodb.js';
import { AuditLog } from '../src/audit/log.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { AuditIdHasher } from '../src/audit/entry.js';
import { generateNoteKey } from '../src/audit/note.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

describe('DynamoDB multi-conversation transaction, conflict on the second conversation', () => {
  it('store level: a conflict on the second conversation runs the transaction again: both stored, both announced', async () => {
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table, pollIntervalMs: 20 });
    const a = freshConversationId('a');
    const b = freshConversationId('b');
    for (const c of [a, b]) {
      await other.insertFirst(makeRecord(c));
      await other.insertNext(makeRecord(c, { version: 2 }), 1);
    }
    const { client, state } = raceClient(dyn.client, async () => {
      // Another instance seals on both conversations meanwhile (one reservation each).
      await other.reserveMessages(a, 2, 1, 1000);
      await other.reserveMessages(b, 2, 1, 1000);
    });
    const store = new DynamoDbKeyStore(client, { table: dyn.table, pollIntervalMs: 20 });
    const heard: string[] = [];
    const stop = await other.subscribe((id, change) => heard.push(`${change}:${id}`));
    state.armed = true;
    let runs = 0;
    await store.transaction(async (tx) => {
      runs++;
      await tx.shred(a, [1], new Date());
      await tx.shred(b, [1], new Date());
    });
    expect(runs).toBe(2); // the first run lost the race on b
    await new Promise((r) => setTimeout(r, 300)); // several polls
    await stop();
    for (const c of [a, b]) {
      expect((await other.getVersion(c, 1))?.state).toBe('shredded');
      expect((await other.getVersion(c, 2))?.sealedReserved).toBe(1); // the other instance's reservation kept
      expect(heard).toContain(`shredded:${c}`);
    }
  });

  it('store level: a shred is never taken back: it stays stored and announced, and the next run finds it done', async () => {
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table, pollIntervalMs: 20 });
    const a = freshConversationId('a');
    const b = freshConversationId('b');
    for (const c of [a, b]) await other.insertFirst(makeRecord(c));
    const told: ShredResult[] = [];
    const { client, state } = raceClient(dyn.client, async () => {
      // Another instance shreds a's version 1 too, and is told it was shredded already (it then
      // drops the key); and writes b, so the transaction's write of b loses.
      told.push(await other.shred(a, [1], new Date()));
      await other.reserveMessages(b, 1, 1, 1000);
    });
    const store = new DynamoDbKeyStore(client, { table: dyn.table, pollIntervalMs: 20 });
    const heard: string[] = [];
    const stop = await other.subscribe((id, change) => heard.push(`${change}:${id}`));
    state.armed = true;
    const runs: ShredResult[][] = [];
    await store.transaction(async (tx) => {
      runs.push([await tx.shred(a, [1], new Date()), await tx.shred(b, [1], new Date())]);
    });
    await new Promise((r) => setTimeout(r, 300));
    await stop();
    expect(told[0]!.alreadyShredded).toEqual([1]);
    expect(runs).toHaveLength(2);
    expect(runs[1]![0]!.alreadyShredded).toEqual([1]); // the second run finds a's shred done
    expect(runs[1]![1]!.shredded).toEqual([1]);
    for (const c of [a, b]) expect((await other.getVersion(c, 1))?.state).toBe('shredded');
    expect(heard).toContain(`shredded:${a}`);
    expect(heard).toContain(`shredded:${b}`);
  });

  it('Keywarden.retain (audit on): after a page that failed this way and a successful re-run, the instance no longer decrypts shredded versions', async () => {
    const own = await testDynamo(); // a table of its own: retention scans the whole table
    const dyn = own;
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    const keys = generateNoteKey('keywarden.example/keys', new Uint8Array(32).fill(4));
    const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, appendTimeoutMs: 2000 });
    const audit = { log, ids: new AuditIdHasher(new Uint8Array(32).fill(5)), actor: 'svc' };
    const a = freshConversationId('ra');
    const b = freshConversationId('rb');
    const { client, state } = raceClient(dyn.client, async () => {
      await other.reserveMessages(a, 2, 1, 1_000_000);
      await other.reserveMessages(b, 2, 1, 1_000_000);
    });
    let offset = 0;
    const kw = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(client, { table: dyn.table }), audit, now: () => new Date(Date.now() + offset) });
    const text = new TextEncoder().encode('old secret');
    const cts = new Map<string, Uint8Array>();
    for (const c of [a, b]) {
      cts.set(c, await kw.encrypt(c, text));
      await kw.rotate(c);
      expect(new TextDecoder().decode(await kw.decrypt(c, cts.get(c)!))).toBe('old secret'); // v1 cached here
    }
    offset = 3 * 86_400_000; // three days later
    state.armed = true;
    // The page loses the race once, takes back what it stored and runs again.
    const first = await kw.retain({ olderThanMs: 86_400_000 });
    expect(first.versions).toBe(2);
    await kw.retain({ olderThanMs: 86_400_000 }); // a re-run finds nothing more
    for (const c of [a, b]) {
      expect((await other.getVersion(c, 1))?.state).toBe('shredded');
      const res = await kw.decrypt(c, cts.get(c)!).then(() => 'DECRYPTED', (e: { code?: string }) => e.code);
      expect(res, `${c} v1 is shredded in the store`).toBe('ERR_KEY_SHREDDED');
    }
    kw.close();
    await own.close();
  });
});
