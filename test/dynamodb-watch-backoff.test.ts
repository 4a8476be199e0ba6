/**
 * Outside review, 2026-12-01. watchKeyChanges on DynamoDB when every poll fails (throttling, a missing table, denied
 * credentials): DynamoDbKeyStore.subscribe resolves before its first poll, so KeyWatcher counts
 * each lost poller as a successful (re)subscription, resets its backoff to 50 ms and reports
 * `listening`. The documented schedule (50, 100, 200, ... ms, capped at 30 s) never applies:
 * every instance keeps hitting a throttled table at about 1 / (pollIntervalMs + 50 ms) for ever,
 * and drops all its cached active versions on every cycle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

describe('watchKeyChanges on DynamoDB with failing polls', () => {
  it('backs off (50, 100, 200, ... ms) and does not report listening while no poll succeeds', async () => {
    let queries = 0;
    const client = {
      send: async (cmd: unknown) => {
        if (cmd instanceof QueryCommand) {
          queries++;
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $retryable: { throttling: true } });
        }
        return dyn.client.send(cmd as never);
      },
    } as unknown as DynamoDBClient;
    const kw = new Keywarden({
      masterKey: new LocalMasterKey(LocalMasterKey.generateKey()),
      keyStore: new DynamoDbKeyStore(client, { table: dyn.table, pollIntervalMs: 10 }),
      watchKeyChanges: true,
    });
    await kw.ready();
    const states = new Set<string>();
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      states.add(kw.stats().watch.state);
      await new Promise((r) => setTimeout(r, 5));
    }
    const watch = kw.stats().watch;
    kw.close();
    // With the documented backoff, 3 s of failures allow about 7 attempts (50+100+...+1600 ms, times [0.5, 1)).
    expect(queries, `polls against a throttled table in 3 s (watch stats: ${JSON.stringify(watch)})`).toBeLessThanOrEqual(15);
    expect(states.has('listening'), `states seen: ${[...states].join(', ')}`).toBe(false);
  });
});
