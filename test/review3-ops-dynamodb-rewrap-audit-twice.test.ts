/**
 * On DynamoDB, a re-wrap page whose transaction loses a race records its `key.rewrapped` entry
 * once per run of the transaction callback: the same keys appear twice in the audit log.
 *
 * Where: src/keys/rewrap.ts:295 (commitPage) calls `audit.log.record(events, join)` inside
 * `ctx.keyStore.transaction(...)` with no memory of what an earlier run recorded. On a store
 * without a transaction to join (DynamoDbKeyStore.transaction, src/store/dynamodb/store.ts), a lost
 * race — e.g. a service reserving a message on one of the page's conversations between the
 * transaction's GetItem and its PutItem, an everyday event for a live conversation — takes back
 * the conversations already stored and runs the callback again (up to 10 times), which records
 * the entry again. Keywarden's other audited changes avoid exactly this (src/keys/lifecycle.ts
 * #audited keeps a `recorded` set: "outside review, 2026-12-01: one shred racing one reservation
 * recorded key.shredded twice"); commitPage was not given the same treatment.
 *
 * Promised: docs/KEYS.md §10: "with an audit log, a run that lost its race may leave its entry
 * (…), never the reverse; an event a run recorded is not recorded again by the next."
 *
 * Correct: commitPage records each event at most once across the runs of one transaction
 * (e.g. the same `recorded` set as #audited), so the log holds one `key.rewrapped` per key moved.
 *
 * Now: a page run again after a lost race does not record a move it recorded already.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { MasterKeyRing } from '../src/kms/ring.js';
import { Keywarden } from '../src/node.js';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { freshConversationId } from './support/store-contract.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

const logKeys = generateNoteKey('keywarden.example/rewrap-race', new Uint8Array(32).fill(6));
const ids = new AuditIdHasher(new Uint8Array(32).fill(7));

describe('DynamoDB re-wrap page that loses a race to a reservation', () => {
  it('records key.rewrapped once per key', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const plain = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    const convs = [freshConversationId(), freshConversationId()];
    const seeder = new Keywarden({ masterKey: oldKey, keyStore: plain });
    for (const c of convs) await seeder.encrypt(c, new Uint8Array(1));
    seeder.close();

    // Between the transaction's first and second PutItem, a service seals a message in the
    // conversation whose put comes second: the page's transaction loses its race and runs again.
    let second: string | undefined;
    const state = { armed: false, puts: 0 };
    const raced = {
      send: async (cmd: unknown) => {
        const pk = cmd instanceof PutItemCommand ? cmd.input.Item?.pk?.S : undefined;
        if (state.armed && pk?.startsWith('c#') && ++state.puts === 2) {
          state.armed = false;
          second = pk.slice(2);
          expect(await plain.reserveMessages(second, 1, 1, 1_000_000)).toBe(1);
        }
        return dyn.client.send(cmd as never);
      },
    };
    const auditStore = new MemoryAuditStore();
    const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 5000 });
    const kw = new Keywarden({
      masterKey: new MasterKeyRing(newKey, [oldKey]),
      keyStore: new DynamoDbKeyStore(raced as never, { table: dyn.table }),
      audit: { log, ids, actor: 'ops' },
    });
    state.armed = true;
    const report = await kw.rewrap({ to: newKey, batchSize: 10 });
    expect(second, 'the race was staged').toBeDefined();
    expect(report).toMatchObject({ complete: true, rewrapped: 2, failed: 0 });

    await log.flush();
    const moved = (await auditStore.read(0, await auditStore.size())).map(decodeEntry)
      .filter((e) => e.type === 'key.rewrapped')
      .flatMap((e) => (e.keys as { conversation: string; version: number }[]).map((k) => `${k.conversation}#${k.version}`));
    // Each of the two keys was moved once: one record each.
    expect(moved.sort()).toEqual(convs.map((c) => `${ids.conversation(c)}#1`).sort());
    kw.close();
    await log.close();
  });
});
