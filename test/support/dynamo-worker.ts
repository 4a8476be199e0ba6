/**
 * One worker process of test/multiprocess-dynamodb.test.ts: against the shared DynamoDB-compatible
 * server, encrypts the first message of every conversation in its own order (first uses collide),
 * rotates every fifth conversation once (rotations collide), and appends each acknowledged
 * ciphertext to ACK_FILE before moving on.
 */
import { appendFileSync } from 'node:fs';
import { Keywarden, LocalMasterKey } from '../../src/node.js';
import { DynamoDbKeyStore } from '../../src/store/dynamodb/store.js';
import { dynamoClient } from './dynamodb.js';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const worker = Number(env('WORKER'));
const count = Number(env('CONVERSATIONS'));
const client = dynamoClient(env('ENDPOINT'));
const kw = new Keywarden({
  masterKey: new LocalMasterKey(Buffer.from(env('MASTER_KEY'), 'hex')),
  keyStore: new DynamoDbKeyStore(client, { table: env('TABLE') }),
});
const order = Array.from({ length: count }, (_, i) => (i * (2 * worker + 1) + worker * 37) % count);
for (let i = 0; i < order.length; i += 20) {
  await Promise.all(
    order.slice(i, i + 20).map(async (c) => {
      const text = `worker ${worker} conversation ${c}`;
      const ct = await kw.encrypt(`mp-${c}`, new TextEncoder().encode(text));
      appendFileSync(env('ACK_FILE'), `${c} ${Buffer.from(ct).toString('hex')} ${Buffer.from(text).toString('hex')}\n`);
      if (c % 5 === 0) await kw.rotate(`mp-${c}`);
    }),
  );
}
kw.close();
client.destroy();
