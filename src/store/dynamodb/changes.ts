/**
 * Change detection for the DynamoDB key store (docs/KEYS.md §10): a change sequence of small
 * items partitioned by minute, read by polling — DynamoDB has no LISTEN, and Streams need a
 * consumer per shard. A writer adds `x#<kind>#<minute>` / `<ms>#<random>` after its change is
 * stored; a poller queries the partitions of the minutes it has not finished, for sort keys after
 * its cursor minus LOOKBACK_MS (writers' clocks and in-flight writes may land slightly in the
 * past), and skips items it has delivered. Staleness: `pollIntervalMs`. A change item lost with
 * its writer (a crash between the two writes) is bounded by the cache's max age, as a missed
 * NOTIFY is. Items carry `ttl` (10 minutes) for the table's time-to-live deletion.
 * @module
 */
import { PutItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import type { KeyChange } from '../types.js';
import type { Item, KeyKind } from './codec.js';

const LOOKBACK_MS = 5000;
const MINUTE = 60_000;
const TTL_SECONDS = 600;

function sortKey(ms: number, suffix: string): string {
  return `${String(ms).padStart(15, '0')}#${suffix}`;
}

/** Appends one change (one PutItem). */
export async function recordChange(client: DynamoDBClient, table: string, kind: KeyKind, id: string, change: KeyChange, now = Date.now()): Promise<void> {
  await client.send(new PutItemCommand({
    TableName: table,
    Item: {
      pk: { S: `x#${kind}#${Math.floor(now / MINUTE)}` },
      sk: { S: sortKey(now, randomBytes(8).toString('hex')) },
      id: { S: id },
      k: { S: change === 'shredded' ? 's' : 'r' },
      ttl: { N: String(Math.floor(now / 1000) + TTL_SECONDS) },
    },
  }));
}

/**
 * Polls the change sequence every `intervalMs`; a failed poll ends it through `onLost`. Resolves
 * after a first poll succeeded, and rejects when it fails: a subscriber that cannot read the
 * sequence is not listening (outside review, 2026-12-01: resolving before any poll let the key
 * watcher count every dead poller as a reconnect, so it never backed off a throttled table).
 */
export async function pollChanges(
  client: DynamoDBClient, table: string, kind: KeyKind, intervalMs: number,
  onChange: (id: string, change: KeyChange) => void, onLost: ((err: unknown) => void) | undefined,
): Promise<() => Promise<void>> {
  let cursor = Date.now();
  /** Sort keys delivered within the look-back window, with their time. */
  const seen = new Map<string, number>();
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();

  const pollOnce = async () => {
    const now = Date.now();
    const from = cursor - LOOKBACK_MS;
    for (let minute = Math.floor(from / MINUTE); minute <= Math.floor(now / MINUTE); minute++) {
      let start: Item | undefined;
      do {
        const res = await client.send(new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND sk > :from',
          ExpressionAttributeValues: { ':pk': { S: `x#${kind}#${minute}` }, ':from': { S: sortKey(from, '') } },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }));
        for (const item of res.Items ?? []) {
          const sk = item.sk?.S;
          const id = item.id?.S;
          if (sk === undefined || id === undefined || seen.has(sk)) continue;
          seen.set(sk, Number(sk.slice(0, 15)));
          if (!done) onChange(id, item.k?.S === 's' ? 'shredded' : 'rotated');
        }
        start = res.LastEvaluatedKey;
      } while (start !== undefined);
    }
    cursor = now;
    for (const [sk, at] of seen) if (at < cursor - 2 * LOOKBACK_MS) seen.delete(sk);
  };
  const schedule = () => {
    if (done) return;
    timer = setTimeout(() => {
      running = pollOnce().then(schedule, (err: unknown) => {
        if (done) return;
        done = true;
        onLost?.(err);
      });
    }, intervalMs);
    timer.unref?.();
  };
  await pollOnce();
  schedule();
  return async () => {
    done = true;
    clearTimeout(timer);
    await running.catch(() => undefined);
  };
}
