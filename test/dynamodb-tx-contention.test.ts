/**
 * Outside review, 2026-12-01. DynamoDbKeyStore.transaction did not retry on a lost optimistic race and does not turn a lost
 * insert race into `inserted: false`: every Keywarden path that goes through a store
 * transaction (every Keywarden.shred; creation and rotation with audit on) fails with
 * ERR_STORE_FAILED when another instance touches the same conversation between the
 * transaction's GetItem and its PutItem, where MemoryKeyStore/PostgreSQL (and the
 * non-transactional DynamoDB path, 100 attempts) succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { AuditLog } from '../src/audit/log.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { AuditIdHasher } from '../src/audit/entry.js';
import { generateNoteKey } from '../src/audit/note.js';
import { freshConversationId } from './support/store-contract.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

/** A client that runs `hook` once, before the first PutItem on `pk`. */
function hookedClient(real: DynamoDBClient, pk: () => string | undefined, hook: () => Promise<void>): DynamoDBClient {
  let fired = false;
  return {
    send: async (cmd: unknown) => {
      if (!fired && cmd instanceof PutItemCommand && cmd.input.Item?.pk?.S === pk()) {
        fired = true;
        await hook();
      }
      return real.send(cmd as never);
    },
  } as unknown as DynamoDBClient;
}

const keys = generateNoteKey('keywarden.example/keys', new Uint8Array(32).fill(4));
const ids = new AuditIdHasher(new Uint8Array(32).fill(5));

describe('DynamoDB transaction under contention', () => {
  it('Keywarden.shred(conversation) succeeds when another instance reserves on the conversation meanwhile', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    let target: string | undefined = undefined; // set once version 1 exists
    const client = hookedClient(dyn.client, () => (target === undefined ? undefined : `c#${target}`), async () => {
      // Another instance seals a message meanwhile: one reservation on the active version.
      expect(await other.reserveMessages(target!, 1, 1, 1_000_000)).toBe(1);
    });
    const kw = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(client, { table: dyn.table }) });
    const conv = freshConversationId();
    await kw.encrypt(conv, new Uint8Array(1)); // version 1 (its PutItem is before `target` is set)
    target = conv;
    let err: unknown;
    const report = await kw.shred(conv).catch((e: unknown) => ((err = e), undefined));
    expect(err, `shred failed: ${String((err as Error)?.message)}`).toBeUndefined();
    expect(report?.shredded).toEqual([1]);
    kw.close();
  });

  it('with audit on, two instances sealing the first message of a new conversation at once both succeed', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const mk = async () => {
      const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, appendTimeoutMs: 2000 });
      return { log, ids, actor: 'svc' };
    };
    const a = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table }), audit: await mk() });
    const b = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table }), audit: await mk() });
    const failures: string[] = [];
    for (let i = 0; i < 10; i++) {
      const conv = freshConversationId();
      const res = await Promise.allSettled([a.encrypt(conv, new Uint8Array(1)), b.encrypt(conv, new Uint8Array(1))]);
      for (const r of res) if (r.status === 'rejected') failures.push(`${(r.reason as { code?: string }).code}: ${(r.reason as Error).message}`);
    }
    expect(failures).toEqual([]);
    a.close();
    b.close();
  });

  it('with audit on, Keywarden.rotate succeeds when another instance reserves on the conversation meanwhile', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    let target: string | undefined = undefined; // set once version 1 exists
    const client = hookedClient(dyn.client, () => (target === undefined ? undefined : `c#${target}`), async () => {
      expect(await other.reserveMessages(target!, 1, 1, 1_000_000)).toBe(1);
    });
    const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, appendTimeoutMs: 2000 });
    const kw = new Keywarden({ masterKey, keyStore: new DynamoDbKeyStore(client, { table: dyn.table }), audit: { log, ids, actor: 'svc' } });
    const conv = freshConversationId();
    await kw.encrypt(conv, new Uint8Array(1));
    target = conv;
    let err: unknown;
    const info = await kw.rotate(conv).catch((e: unknown) => ((err = e), undefined));
    expect(err, `rotate failed: ${String((err as Error)?.message)}`).toBeUndefined();
    expect(info?.version).toBe(2);
    kw.close();
  });
});
