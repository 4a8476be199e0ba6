/**
 * One worker process of the multi-process test (test/multiprocess-postgres.test.ts): encrypts
 * the first message of every conversation, in its own order, against the shared PostgreSQL key
 * store and audit log, and appends each acknowledged ciphertext to ACK_FILE before moving on.
 */
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { AuditIdHasher } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import { Keywarden, LocalMasterKey } from '../../src/node.js';
import { PostgresKeyStore } from '../../src/store/postgres.js';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const schema = env('SCHEMA');
const worker = Number(env('WORKER'));
const count = Number(env('CONVERSATIONS'));
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 6 });
pool.on('error', () => {});
const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema }), signerKey: env('SIGNER_KEY'), appendTimeoutMs: 30_000 });
const kw = new Keywarden({
  masterKey: new LocalMasterKey(Buffer.from(env('MASTER_KEY'), 'hex')),
  keyStore: new PostgresKeyStore(pool, { schema }),
  audit: { log, ids: new AuditIdHasher(Buffer.from(env('AUDIT_KEY'), 'hex')), actor: `worker-${worker}` },
});
// Each worker walks the conversations in a different order, 20 at a time, so first uses collide.
const order = Array.from({ length: count }, (_, i) => (i * (2 * worker + 1) + worker * 37) % count);
for (let i = 0; i < order.length; i += 20) {
  await Promise.all(
    order.slice(i, i + 20).map(async (c) => {
      const text = `worker ${worker} conversation ${c}`;
      const ct = await kw.encrypt(`mp-${c}`, new TextEncoder().encode(text));
      appendFileSync(env('ACK_FILE'), `${c} ${Buffer.from(ct).toString('hex')} ${Buffer.from(text).toString('hex')}\n`);
    }),
  );
}
kw.close();
await pool.end();
