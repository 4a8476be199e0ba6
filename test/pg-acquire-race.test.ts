/**
 * A connection that dies in the same TCP read that completes its start-up (found by
 * test/ci/faults-postgres.test.ts, "terminated backends under traffic", 1 run in 3): node-postgres
 * handles ReadyForQuery, hands the client over (the pool's own 'error' listener comes off), and
 * handles the FATAL in the same tick, before any code awaiting `pool.connect()` runs. With no
 * 'error' listener on the client that is an uncaught exception in the application's process.
 *
 * A 30-line PostgreSQL wire-protocol server on 127.0.0.1 sends exactly that sequence, so the race
 * happens every time. Each store operation must fail with keywarden's retryable error, and the
 * client must never emit 'error' with nobody listening.
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { PostgresKeyStore } from '../src/store/postgres.js';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');

/** AuthenticationOk, ReadyForQuery and a FATAL ErrorResponse, in one write, then close. */
const DYING = Buffer.concat([
  message('R', Buffer.from([0, 0, 0, 0])),
  message('Z', Buffer.from('I')),
  message('E', Buffer.concat([cstr('SFATAL'), cstr('VFATAL'), cstr('C57P01'), cstr('Mterminating connection due to administrator command'), Buffer.from([0])])),
]);

let server: Server;
let port: number;
const sockets = new Set<Socket>();
beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', () => socket.end(DYING)); // the start-up packet (no SSL requested)
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** A pool whose clients record any 'error' emitted while no listener is attached. */
function watchedPool() {
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'u', database: 'd', password: 'p', max: 2 });
  pool.on('error', () => undefined);
  const unheard: unknown[] = [];
  pool.on('connect', (client) => {
    const emit = client.emit.bind(client);
    client.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'error' && client.listenerCount('error') === 0) {
        unheard.push(args[0]); // would have been an uncaught exception
        return false;
      }
      return emit(event, ...args);
    }) as typeof client.emit;
  });
  return { pool, unheard };
}

describe('a connection that dies as it is handed over', () => {
  it('key store: every operation fails retryably, and no error goes unheard', async () => {
    const { pool, unheard } = watchedPool();
    const store = new PostgresKeyStore(pool, { schema: 'kw_race', changes: 'poll' });
    for (let i = 0; i < 4; i++) {
      const read = await store.getLatest(`c-${i}`).catch((e) => e);
      expect(read).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
      const tx = await store.transaction(async () => 1).catch((e) => e);
      expect(tx).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
    }
    expect(unheard).toEqual([]);
    await pool.end();
  });

  it('audit store: the same', async () => {
    const { pool, unheard } = watchedPool();
    const store = new PostgresAuditStore(pool, { schema: 'kw_race' });
    for (let i = 0; i < 4; i++) {
      const err = await store.size().catch((e) => e);
      expect(err).toMatchObject({ retryable: true });
    }
    expect(unheard).toEqual([]);
    await pool.end();
  });
});
