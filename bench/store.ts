/**
 * `npm run bench:store [-- --json] [-- --quick] [-- --sizes 1000000,10000000] [-- --partitions 16] [-- --duration-ms N] [-- --migrate-rows N] [-- --only pg,dynamodb]`
 *
 * The key store at scale (issue #15), in one run:
 * 1. PostgreSQL (DATABASE_URL; skipped without it), at each size (default 10^6 and 10^7 rows):
 *    bytes per key row (heap, indexes, TOAST; after VACUUM ANALYZE), lookup latency p50/p99 of
 *    random existing conversations through PostgresKeyStore (getVersion and getLatest, one at a
 *    time), new conversations/s through Keywarden (first encrypts, 64 in flight, one process, no
 *    audit), and the share of reservation updates that were HOT.
 *    Then migration 5 online on a populated table of the previous schema (`--migrate-rows`,
 *    default 10^6): copy rows/s, swap time, and the previous release's read and write latency
 *    on that table during the copy.
 * 2. The DynamoDB-compatible server (dynalite on 127.0.0.1, in this process) through the real
 *    @aws-sdk/client-dynamodb: DynamoDB calls per operation (new conversation, warm encrypt,
 *    cold decrypt, rotation, shred, reservation) counted by an SDK middleware, with latency.
 *
 * The table is filled in bulk by SQL with rows of the same shape the store writes (one active
 * version per conversation, ids `conv-<n>` inserted in random order, 61-byte wrapped keys — the
 * size LocalMasterKey produces; an AWS KMS ciphertext blob is ~184 bytes, 123 more per row),
 * then checked by reading rows back through the store. Progress goes to stderr; stdout carries
 * the report, or with --json exactly one JSON object. Schemas are dropped at the end.
 */
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { LocalMasterKey } from '../src/kms/local.js';
import { Keywarden } from '../src/node.js';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { migrate, migrateUpTo } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const json = flag('--json');
const quick = flag('--quick');
const ONLY = new Set((value('--only') ?? 'pg,dynamodb').split(','));
const SIZES = (value('--sizes') ?? (quick ? '10000,100000' : '1000000,10000000')).split(',').map(Number);
const PARTITIONS = Number(value('--partitions') ?? 16);
const DURATION = Number(value('--duration-ms') ?? (quick ? 2000 : 10_000));
const LOOKUPS = quick ? 2_000 : 20_000;
const MIGRATE_ROWS = Number(value('--migrate-rows') ?? (quick ? 20_000 : 1_000_000));
const url = process.env.DATABASE_URL;
const log = (s: string) => process.stderr.write(`${s}\n`);
const masterKey = new LocalMasterKey(new Uint8Array(32).fill(7));
const plaintext = new Uint8Array(200);

function pct(sorted: number[], p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 1000) / 1000;
}
const latencies = (xs: number[]) => {
  xs.sort((a, b) => a - b);
  return { p50_ms: pct(xs, 0.5), p99_ms: pct(xs, 0.99) };
};
/** A random integer in [0, n) (bench sampling; not a secret). */
const pick = (n: number) => Math.floor(Math.random() * n);

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<{ p50_ms: number; p99_ms: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    lat.push(performance.now() - t0);
  }
  return latencies(lat);
}

/** First encrypts of new conversations, `concurrency` in flight, for `ms`; returns conversations/s. */
async function newConversations(kw: Keywarden, prefix: string, ms: number, concurrency: number): Promise<{ perSec: number; count: number }> {
  let next = 0;
  let done = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await kw.encrypt(`${prefix}-${next++}`, plaintext);
      done++;
    }
  }));
  return { perSec: Math.round(done / ((performance.now() - t0) / 1000)), count: done };
}

// ---------------------------------------------------------------------------------------------
// 1. PostgreSQL

async function pgAtSize(admin: pg.Pool, size: number) {
  const schema = `kw_bench_store_${process.pid}_${size}`;
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrate(admin, { schema, partitions: PARTITIONS });
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  try {
    const store = new PostgresKeyStore(pool, { schema, changes: 'poll' });
    const kw = new Keywarden({ masterKey, keyStore: store, cache: { maxEntries: 100_000 } });
    // One conversation through the store registers the master key; the bulk rows reference it.
    await kw.encrypt('conv-seed', plaintext);
    const seeded = await admin.query(`SELECT master_key, suite FROM "${schema}".conversation_keys WHERE conversation_id = 'conv-seed'`);
    const { master_key: ref, suite } = seeded.rows[0] as { master_key: number; suite: string };
    const fill0 = performance.now();
    const CHUNK = 500_000;
    for (let from = 0; from < size; from += CHUNK) {
      const to = Math.min(size, from + CHUNK) - 1;
      // Random insertion order (as conversations arrive), 61 pseudo-random bytes per wrapped key.
      await admin.query(
        `INSERT INTO "${schema}".conversation_keys (version, created_at, activated_at, sealed_reserved, master_key, suite, state, conversation_id, wrapped_key)
         SELECT 1, now(), now(), 64, $1, $2, 'active', 'conv-' || i, substring(sha512(int8send(i)) from 1 for 61)
         FROM generate_series($3::bigint, $4::bigint) AS i ORDER BY md5(i::text)`,
        [ref, suite, from, to],
      );
      log(`  pg ${size}: filled ${to + 1} rows (${Math.round((performance.now() - fill0) / 1000)} s)`);
    }
    await admin.query(`VACUUM ANALYZE "${schema}".conversation_keys`);
    const sizes = (await admin.query(
      `SELECT sum(pg_relation_size(c.oid))::bigint AS heap, sum(pg_indexes_size(c.oid))::bigint AS indexes,
              sum(pg_total_relation_size(c.oid) - pg_relation_size(c.oid) - pg_indexes_size(c.oid))::bigint AS toast,
              sum(c.reltuples)::bigint AS rows
       FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
       WHERE i.inhparent = '"${schema}".conversation_keys'::regclass`,
    )).rows[0] as { heap: string; indexes: string; toast: string; rows: string };
    const indexes = (await admin.query(
      // Each partition's index by the name of the partitioned index it belongs to.
      `SELECT pi.relname AS name, sum(pg_relation_size(ci.oid))::bigint AS bytes
       FROM pg_index x JOIN pg_class ci ON ci.oid = x.indexrelid JOIN pg_inherits i ON i.inhrelid = x.indrelid
         JOIN pg_inherits ii ON ii.inhrelid = x.indexrelid JOIN pg_class pi ON pi.oid = ii.inhparent
       WHERE i.inhparent = '"${schema}".conversation_keys'::regclass GROUP BY 1 ORDER BY 1`,
    )).rows as { name: string; bytes: string }[];
    const rows = size + 1;
    const perRow = (b: string) => Math.round(Number(b) / rows);
    // Rows written in bulk read back through the store like its own.
    const probe = await store.getVersion(`conv-${pick(size)}`, 1);
    if (probe?.wrappedKey.length !== 61 || probe.state !== 'active') throw new Error('bulk rows do not read back through the store');

    for (let i = 0; i < 1_000; i++) await store.getVersion(`conv-${pick(size)}`, 1); // warm the connection and the plans
    const getVersion = await timed(LOOKUPS, () => store.getVersion(`conv-${pick(size)}`, 1));
    const getLatest = await timed(LOOKUPS, () => store.getLatest(`conv-${pick(size)}`));

    const created = await newConversations(kw, `new-${size}`, DURATION, 64);

    // Reservation updates of existing rows (the blocks a busy conversation takes), then the
    // share of HOT updates among the key table's updates since the fill.
    const stat = async () => (await admin.query(
      `SELECT sum(n_tup_upd)::bigint AS upd, sum(n_tup_hot_upd)::bigint AS hot FROM pg_stat_user_tables WHERE schemaname = $1 AND relname LIKE 'conversation_keys_p%'`,
      [schema],
    )).rows[0] as { upd: string; hot: string };
    await new Promise((r) => setTimeout(r, 1_500)); // statistics are flushed at most once a second
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const s0 = await stat();
    const reservations = quick ? 5_000 : 50_000;
    let r = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (r < reservations) {
        r++;
        await store.reserveMessages(`conv-${pick(size)}`, 1, 64, 1_000_000);
      }
    }));
    await new Promise((res) => setTimeout(res, 1_500));
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const s1 = await stat();
    const upd = Number(s1.upd) - Number(s0.upd);
    const hot = Number(s1.hot) - Number(s0.hot);
    // The hard case for HOT: busy conversations packed on the same pages — the first ones the
    // run created, consecutive rows at the end of each partition, as a platform's newest
    // conversations are — each row updated ~50 times, so a page must find room for new row
    // versions again and again (pruning reclaims the dead ones).
    const busy = Array.from({ length: Math.min(created.count, reservations / 50) }, (_, i) => `new-${size}-${i}`);
    r = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (r < reservations) {
        r++;
        await store.reserveMessages(busy[pick(busy.length)]!, 1, 64, 1_000_000_000);
      }
    }));
    await new Promise((res) => setTimeout(res, 1_500));
    await admin.query('SELECT pg_stat_clear_snapshot()');
    const s2 = await stat();
    const busyUpd = Number(s2.upd) - Number(s1.upd);
    const busyHot = Number(s2.hot) - Number(s1.hot);
    return {
      rows,
      partitions: PARTITIONS,
      fill_seconds: Math.round((performance.now() - fill0) / 100) / 10,
      bytes_per_row: { total: perRow(sizes.heap) + perRow(sizes.indexes) + perRow(sizes.toast), heap: perRow(sizes.heap), indexes: perRow(sizes.indexes), toast: perRow(sizes.toast) },
      index_bytes_per_row: Object.fromEntries(indexes.map((x) => [x.name, perRow(x.bytes)])),
      lookup: { getVersion, getLatest, samples: LOOKUPS },
      new_conversations_per_sec: created.perSec,
      reservation_updates: { updates: upd, hot_percent: upd === 0 ? null : Math.round((hot / upd) * 1000) / 10 },
      busy_reservation_updates: { conversations: busy.length, updates: busyUpd, hot_percent: busyUpd === 0 ? null : Math.round((busyHot / busyUpd) * 1000) / 10 },
    };
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

/**
 * Migration 5 online on a populated table of the previous schema (version 4): copy rate, and the
 * latency of the previous release's reads and reservation writes on that table while the copy
 * and the swap run (8 readers and 2 writers, one statement at a time each).
 */
async function pgMigration(admin: pg.Pool, size: number) {
  const schema = `kw_bench_migrate_${process.pid}_${size}`;
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrateUpTo(admin, { schema }, 4);
  const pool = new pg.Pool({ connectionString: url, max: 12 });
  try {
    const t = `"${schema}".conversation_keys`;
    const CHUNK = 500_000;
    for (let from = 0; from < size; from += CHUNK) {
      const to = Math.min(size, from + CHUNK) - 1;
      await admin.query(
        `INSERT INTO ${t} (conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at, sealed_reserved)
         SELECT 'conv-' || i, 1, 'local:bench', substring(sha512(int8send(i)) from 1 for 61), 'AES-256-GCM', 'active', now(), now(), 64
         FROM generate_series($1::bigint, $2::bigint) AS i ORDER BY md5(i::text)`,
        [from, to],
      );
    }
    await admin.query(`VACUUM ANALYZE ${t}`);
    log(`  pg migration ${size}: table of the previous schema filled`);
    let running = true;
    const reads: number[] = [];
    const writes: number[] = [];
    let failed = 0;
    const loop = (lat: number[], sql: string) => (async () => {
      while (running) {
        const t0 = performance.now();
        try {
          await pool.query(sql, [`conv-${pick(size)}`]);
        } catch {
          failed++; // after the swap the previous release's statements fail: it is the cut-over
          break;
        }
        lat.push(performance.now() - t0);
      }
    })();
    const load = [
      ...Array.from({ length: 8 }, () => loop(reads, `SELECT master_key_id, wrapped_key, state FROM ${t} WHERE conversation_id = $1 AND version = 1`)),
      ...Array.from({ length: 2 }, () => loop(writes, `UPDATE ${t} SET sealed_reserved = sealed_reserved + 64 WHERE conversation_id = $1 AND version = 1 AND master_key_id IS NOT NULL`)),
    ];
    const t0 = performance.now();
    const copy = await migrate(pool, { schema, partitions: PARTITIONS, copyOnly: true });
    const copySeconds = (performance.now() - t0) / 1000;
    running = false;
    await Promise.all(load);
    const during = { reads: latencies(reads), writes: latencies(writes), reads_max_ms: Math.round(reads.reduce((a, b) => Math.max(a, b), 0)), writes_max_ms: Math.round(writes.reduce((a, b) => Math.max(a, b), 0)) };
    const t1 = performance.now();
    const swap = await migrate(pool, { schema });
    const swapMs = performance.now() - t1;
    const rows = (await admin.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0] as { n: number };
    if (copy.readyToSwap !== 5 || !swap.applied.includes(5) || rows.n !== size) throw new Error('migration did not complete');
    return {
      rows: size,
      copy_seconds: Math.round(copySeconds * 10) / 10,
      rows_per_sec: Math.round(size / copySeconds),
      swap_ms: Math.round(swapMs),
      during_copy: { ...during, statements: reads.length + writes.length, failed },
    };
  } finally {
    await pool.end();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. DynamoDB-compatible server

async function dynamo() {
  const dynalite = createRequire(import.meta.url)('dynalite') as (o: Record<string, number>) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  Object.assign(server, { keepAliveTimeout: 65_000, headersTimeout: 66_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const calls: Record<string, number> = {};
  client.middlewareStack.add((next, context) => (a) => {
    calls[context.commandName!] = (calls[context.commandName!] ?? 0) + 1;
    return next(a);
  }, { step: 'initialize', name: 'keywardenBenchCount' });
  try {
    await DynamoDbKeyStore.createTable(client, 'kw-bench');
    const store = new DynamoDbKeyStore(client, { table: 'kw-bench' });
    const N = quick ? 200 : 1_000;
    const counted = async (name: string, op: (i: number) => Promise<unknown>) => {
      for (const k of Object.keys(calls)) delete calls[k];
      const lat = await timed(N, op);
      const perOp = Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, Math.round((v / N) * 100) / 100]));
      const total = Object.values(calls).reduce((a, b) => a + b, 0) / N;
      return [name, { calls_per_op: Math.round(total * 100) / 100, by_command: perOp, ...lat }] as const;
    };
    const kw = new Keywarden({ masterKey, keyStore: store, cache: { maxEntries: 10 * N } });
    const sealed: Uint8Array[] = [];
    const results = [
      await counted('new_conversation', async (i) => sealed.push(await kw.encrypt(`d-${i}`, plaintext))),
      await counted('warm_encrypt', (i) => kw.encrypt(`d-${i}`, plaintext)),
      // A fresh instance has nothing cached: each decrypt loads the conversation's key.
      await (async () => {
        const cold = new Keywarden({ masterKey, keyStore: store });
        return counted('cold_decrypt', (i) => cold.decrypt(`d-${i}`, sealed[i]!));
      })(),
      await counted('rotate', (i) => kw.rotate(`d-${i}`)),
      await counted('reserve_block', (i) => store.reserveMessages(`d-${i}`, 2, 1_024, 1_000_000)),
      await counted('shred_conversation', (i) => kw.shred(`d-${i}`)),
    ];
    return { operations: N, ...Object.fromEntries(results) };
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------

const report: Record<string, unknown> = { node: process.version, date: new Date().toISOString() };
if (ONLY.has('pg')) {
  if (url === undefined) {
    log('DATABASE_URL is not set: PostgreSQL part skipped');
    report.postgres = null;
  } else {
    const admin = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const server = (await admin.query('SHOW server_version')).rows[0] as { server_version: string };
      const out: Record<string, unknown> = { server_version: server.server_version };
      for (const size of SIZES) {
        log(`pg: ${size} rows`);
        out[String(size)] = await pgAtSize(admin, size);
      }
      log(`pg: online migration of ${MIGRATE_ROWS} rows`);
      out.migration = await pgMigration(admin, MIGRATE_ROWS);
      report.postgres = out;
    } finally {
      await admin.end();
    }
  }
}
if (ONLY.has('dynamodb')) {
  log('dynamodb (dynalite on 127.0.0.1)');
  report.dynamodb = await dynamo();
}
process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`);
