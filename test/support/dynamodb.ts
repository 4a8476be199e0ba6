/**
 * A DynamoDB-compatible server for tests: dynalite (an implementation of the DynamoDB API on
 * LevelDB, here in memory) on 127.0.0.1 in this process, and a real `@aws-sdk/client-dynamodb`
 * client pointed at it with dummy credentials. Each call gets its own server and table.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../../src/store/dynamodb/store.js';

// dynalite ships no type declarations: its one export makes an http.Server.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface TestDynamo {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  table: string;
  client: DynamoDBClient;
  /** Another client of the same server (e.g. for another process's settings). */
  newClient(): DynamoDBClient;
  close(): Promise<void>;
}

/**
 * A client of the test server. The SDK's standard retries stay on (3 attempts, as users run it):
 * a pooled socket the server has just closed as idle surfaces as ECONNRESET, which the SDK
 * retries; with one attempt the contract tests failed at random on it (CI, 100 concurrent calls).
 */
export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 3 });
}

export async function testDynamo(): Promise<TestDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Idle keep-alive sockets stay open longer than the client keeps them, so the server never
  // closes one the client is about to reuse (Node's default is 5 s).
  Object.assign(server, { keepAliveTimeout: 65_000, headersTimeout: 66_000 }); // an http.Server (typed as net.Server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = dynamoClient(endpoint);
  const table = `kw-test-${randomBytes(6).toString('hex')}`;
  await DynamoDbKeyStore.createTable(client, table);
  const clients = [client];
  return {
    endpoint,
    table,
    client,
    newClient() {
      const c = dynamoClient(endpoint);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * While armed: lets the first conversation PutItem through and runs `beforeSecondPut` before the
 * second; `afterTakeBack` after the first write that leaves an item without versions (the take-back
 * of a first use; before, a DeleteItem).
 */
export function raceClient(real: DynamoDBClient, beforeSecondPut: () => Promise<void>, afterTakeBack?: () => Promise<void>) {
  const state = { armed: false, puts: 0 };
  const client = {
    send: async (cmd: unknown) => {
      if (state.armed && cmd instanceof PutItemCommand && cmd.input.Item?.pk?.S?.startsWith('c#')) {
        state.puts++;
        if (state.puts === 2) {
          state.armed = false;
          await beforeSecondPut();
        }
      }
      const emptied = (cmd instanceof PutItemCommand && cmd.input.Item?.v?.L?.length === 0) || cmd instanceof DeleteItemCommand;
      if (emptied && afterTakeBack !== undefined) {
        const out = await real.send(cmd as never);
        const h = afterTakeBack;
        afterTakeBack = undefined;
        await h();
        return out;
      }
      return real.send(cmd as never);
    },
  } as unknown as DynamoDBClient;
  return { client, state };
}
