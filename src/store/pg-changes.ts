/**
 * Key-change detection for the PostgreSQL stores (docs/KEYS.md §5): LISTEN/NOTIFY where the
 * connection supports it, else polling a change sequence.
 *
 * Every rotation and shred both NOTIFYs and appends a row to `keywarden_key_changes` in the
 * writer's transaction (migration 4). A subscriber in `auto` mode LISTENs and then proves that
 * notifications reach it — it NOTIFYs itself a random probe and waits for it. Engines without
 * LISTEN (CockroachDB, YugabyteDB) refuse the LISTEN; transaction-mode poolers (PgBouncer) accept
 * it on a server session that is handed to another client at once, so the probe never comes
 * back. Either way the subscriber polls the change sequence instead: one indexed range query per
 * `pollIntervalMs`, which is then the bound on staleness (a notification's is the round trip).
 *
 * Sequence values are taken at INSERT, not at COMMIT: a row can become visible after a row with
 * a higher number was read. The poller therefore remembers the numbers it skipped ("gaps") and
 * asks for them again until they appear or `GAP_WAIT_MS` passes (a rolled-back writer leaves a
 * gap for ever). A change missed anyway is bounded by the cache's max age, as with NOTIFY.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { StoreError } from '../errors.js';
import { isRetryable, poolQuery, quoteIdent, toStoreError } from './pg.js';

/** How a subscription detects changes: chosen per subscription in `auto` mode. */
export type ChangeDetection = 'listen' | 'poll';

/** How long a skipped sequence number is asked for again before it counts as rolled back. */
const GAP_WAIT_MS = 30_000;
/** At most this many skipped numbers are remembered (a large jump is a sequence cache, not writers). */
const MAX_GAPS = 10_000;
/** Rows of one poll query; a full page polls again at once. */
const PAGE = 1000;
/** Change rows older than this are deleted by pollers (at most once per PRUNE_EVERY_MS each). */
const KEEP_MINUTES = 10;
const PRUNE_EVERY_MS = 60_000;
/** How long `auto` waits for its own probe notification. */
const PROBE_MS = 2000;

/** Calls for one payload (`r:<id>` / `s:<id>`, as NOTIFY sends). */
type OnPayload = (payload: string) => void;

/**
 * LISTENs on `channel` on a dedicated connection. With `probe`, checks that its own NOTIFY comes
 * back within PROBE_MS and resolves to undefined when it does not, or when the server refuses
 * LISTEN with a non-transient error (so `auto` can poll instead).
 * @internal
 */
export async function listenForChanges(
  pool: Pool, channel: string, onPayload: OnPayload, onLost: ((err: unknown) => void) | undefined, probe: boolean,
): Promise<(() => Promise<void>) | undefined> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStoreError('subscribe', err);
  }
  // A listener for the client's whole life, whatever path releases it: an 'error' event with no
  // listener (a backend terminated while the client is idle in the pool or between our own
  // handlers) would be an uncaught exception in the caller's process (seen in the PostgreSQL
  // fault suite: terminated backends under traffic).
  client.on('error', () => undefined);
  let done = false;
  let probeToken: string | undefined;
  let probeHeard: (() => void) | undefined;
  const release = (destroy: boolean) => {
    done = true;
    client.off('notification', onNotification);
    client.release(destroy || undefined);
  };
  // The session can die (server restart, terminated backend): report it once, drop the client.
  const lost = (err: unknown) => {
    if (done) return;
    release(true);
    onLost?.(err);
  };
  const onError = (err: unknown) => lost(err);
  const onEnd = () => lost(new StoreError('postgres key store: the LISTEN connection ended', undefined, true));
  const onNotification = (msg: { channel: string; payload?: string | undefined }) => {
    if (msg.channel !== channel || typeof msg.payload !== 'string') return;
    if (msg.payload.startsWith('p:')) {
      if (msg.payload === probeToken) probeHeard?.();
      return; // another subscriber's probe
    }
    onPayload(msg.payload);
  };
  client.on('error', onError);
  client.on('end', onEnd);
  client.on('notification', onNotification);
  const listen = `LISTEN ${quoteIdent(channel)}`;
  try {
    await client.query(listen);
    if (probe) {
      probeToken = `p:${randomBytes(9).toString('base64url')}`;
      const heard = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), PROBE_MS);
        probeHeard = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      await client.query('SELECT pg_notify($1, $2)', [channel, probeToken]);
      if (!(await heard)) {
        await client.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
        client.off('error', onError);
        client.off('end', onEnd);
        release(false);
        return undefined;
      }
      // Again, so that the session's last statement names the channel (pg_stat_activity.query):
      // operators find a schema's LISTEN session by it.
      await client.query(listen);
    }
  } catch (err) {
    client.off('end', onEnd);
    release(true);
    if (probe && !isRetryable(err)) return undefined; // LISTEN unsupported here: poll
    throw toStoreError('subscribe', err);
  }
  return async () => {
    if (done) return;
    done = true;
    client.off('notification', onNotification);
    client.off('end', onEnd);
    const unlistened = await client.query(`UNLISTEN ${quoteIdent(channel)}`).then(() => true, () => false);
    client.off('error', onError);
    client.release(unlistened ? undefined : true); // a session that failed is not pooled again
  };
}

/**
 * Polls `"schema".keywarden_key_changes` every `intervalMs` for rows of `kind` (`keys` or
 * `branches`), from the current end of the sequence on. A failed poll ends the subscription
 * through `onLost` (the caller subscribes again, as after a lost LISTEN connection).
 * @internal
 */
export async function pollForChanges(
  pool: Pool, schema: string, kind: string, intervalMs: number, onPayload: OnPayload, onLost: ((err: unknown) => void) | undefined,
): Promise<() => Promise<void>> {
  const table = `${quoteIdent(schema)}.keywarden_key_changes`;
  let last = 0n;
  /** Skipped sequence numbers (as decimal strings) and when they were first skipped. */
  const gaps = new Map<string, number>();
  try {
    // The last PAGE numbers of the sequence, not only its end: a number missing below the end
    // may be a writer still in flight, whose change commits after this subscription exists. It
    // is a gap like those found later (asked for again until GAP_WAIT_MS), else it would never
    // be reported (outside review, 2026-12-02: a rotation numbered before a committed one and
    // committed after subscribe() was lost for good). A number pruned or rolled back long ago
    // is asked for in vain, and forgotten like any gap.
    // (`n`, not `seq`: ORDER BY would take the text alias and sort "9" above "10".)
    const res = await poolQuery<{ n: string }>(pool,
      `SELECT seq::text AS n FROM ${table} WHERE seq > (SELECT coalesce(max(seq), 0) FROM ${table}) - ${PAGE} ORDER BY seq DESC`);
    const present = new Set(res.rows.map((r) => r.n));
    if (res.rows.length > 0) {
      last = BigInt(res.rows[0]!.n);
      const now = Date.now();
      const low = last > BigInt(PAGE) ? last - BigInt(PAGE) : 0n;
      for (let g = low + 1n; g < last && gaps.size < MAX_GAPS; g++) if (!present.has(g.toString())) gaps.set(g.toString(), now);
    }
  } catch (err) {
    throw toStoreError('subscribe', err);
  }
  let done = false;
  let lastPrune = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();

  const pollOnce = async () => {
    for (;;) {
      // `n`, not `seq`: ORDER BY would take a text alias `seq` and read the page in text order
      // (1, 10, 11, 2, ...; outside review, 2026-12-02: a shred could be reported before the
      // rotation that preceded it, and a page was the first 1,000 numbers as text).
      const res = await poolQuery<{ n: string; kind: string; payload: string }>(
        pool,
        `SELECT seq::text AS n, kind, payload FROM ${table} WHERE seq > $1 OR seq = ANY($2::bigint[]) ORDER BY seq LIMIT ${PAGE}`,
        [last.toString(), [...gaps.keys()]],
      );
      const now = Date.now();
      for (const row of res.rows) {
        const seq = BigInt(row.n);
        if (seq > last) {
          for (let g = last + 1n; g < seq && gaps.size < MAX_GAPS; g++) gaps.set(g.toString(), now);
          last = seq;
        } else {
          gaps.delete(row.n);
        }
        if (!done && row.kind === kind) onPayload(row.payload);
      }
      for (const [g, since] of gaps) if (now - since > GAP_WAIT_MS) gaps.delete(g);
      if (res.rows.length < PAGE) break;
    }
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await poolQuery(pool, `DELETE FROM ${table} WHERE at < now() - interval '${KEEP_MINUTES} minutes'`);
    }
  };
  const schedule = () => {
    if (done) return;
    timer = setTimeout(() => {
      running = pollOnce().then(schedule, (err: unknown) => {
        if (done) return;
        done = true;
        onLost?.(toStoreError('subscribe (poll)', err));
      });
    }, intervalMs);
    timer.unref?.();
  };
  schedule();
  return async () => {
    done = true;
    clearTimeout(timer);
    await running.catch(() => undefined);
  };
}
