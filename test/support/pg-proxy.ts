/**
 * A PostgreSQL wire-protocol proxy on 127.0.0.1 in front of a real server, reproducing what the
 * key stores meet behind poolers and PostgreSQL-compatible engines (issue #15):
 * - `drop-notifications`: forwards everything except NotificationResponse messages — what a
 *   transaction-mode pooler (PgBouncer) amounts to for LISTEN: the LISTEN succeeds on a server
 *   session that then serves other clients, so its notifications never reach this one;
 * - `refuse-listen`: answers a simple-protocol `LISTEN` itself with SQLSTATE 0A000
 *   (feature_not_supported), as CockroachDB and YugabyteDB do, and forwards everything else.
 * Startup, authentication and every other message pass through unchanged (no TLS: the test
 * server is on 127.0.0.1 without it).
 */
import net from 'node:net';

export interface PgProxy {
  /** `url` with the proxy's port. */
  url: string;
  close(): Promise<void>;
}

/** Splits a typed-message stream (type byte + int32 length) into whole messages. */
function framer(onMessage: (type: number, msg: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1) + 1;
      if (buf.length < len) break;
      onMessage(buf[0]!, buf.subarray(0, len));
      buf = buf.subarray(len);
    }
  };
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function listenRefused(): Buffer {
  const field = (code: string, value: string) => Buffer.concat([Buffer.from(code, 'latin1'), Buffer.from(value, 'utf8'), Buffer.from([0])]);
  const error = message('E', Buffer.concat([field('S', 'ERROR'), field('V', 'ERROR'), field('C', '0A000'), field('M', 'unimplemented: LISTEN'), Buffer.from([0])]));
  return Buffer.concat([error, message('Z', Buffer.from('I', 'latin1'))]);
}

export async function startPgProxy(upstreamUrl: string, mode: 'drop-notifications' | 'refuse-listen'): Promise<PgProxy> {
  const up = new URL(upstreamUrl);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const server = net.connect(Number(up.port || 5432), up.hostname);
    sockets.add(client).add(server);
    const end = () => {
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    // Server to client: typed messages throughout (no TLS answer byte: the client asks for none).
    server.on('data', framer((type, msg) => {
      if (mode === 'drop-notifications' && type === 0x41 /* 'A' NotificationResponse */) return;
      client.write(msg);
    }));
    // Client to server: the startup message has no type byte; everything after it does.
    let started = false;
    const typed = framer((type, msg) => {
      if (mode === 'refuse-listen' && type === 0x51 /* 'Q' */ && /^\s*LISTEN\b/i.test(msg.subarray(5, msg.length - 1).toString('utf8'))) {
        client.write(listenRefused());
        return;
      }
      server.write(msg);
    });
    client.on('data', (chunk: Buffer) => {
      if (started) return typed(chunk);
      started = true;
      const len = chunk.readUInt32BE(0);
      server.write(chunk.subarray(0, len));
      if (chunk.length > len) typed(chunk.subarray(len));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
