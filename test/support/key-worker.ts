/**
 * A service instance in its own process, for cross-process tests of key changes
 * (test/key-changes-multiprocess.test.ts): a Keywarden on the shared PostgreSQL key store,
 * driven by JSON lines on stdin — `{ "id", "op": "encrypt"|"decrypt", "conv", "hex" }` — and
 * answering `{ "id", "ok", "hex" | "code" }` on stdout, concurrently. WATCH=1 subscribes to key
 * changes; CACHE_MAX_AGE_MS bounds the cache; BRANCH=1 wraps conversation keys under branch keys
 * (the branch_keys table of the same schema).
 */
import { createInterface } from 'node:readline';
import pg from 'pg';
import { BranchKeyProvider, Keywarden, LocalMasterKey, inspectCiphertext } from '../../src/node.js';
import { PostgresKeyStore } from '../../src/store/postgres.js';

const env = (k: string) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`missing ${k}`);
  return v;
};
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 4 });
pool.on('error', () => {});
const local = new LocalMasterKey(Buffer.from(env('MASTER_KEY'), 'hex'));
const kw = new Keywarden({
  masterKey: process.env.BRANCH === '1' ? new BranchKeyProvider({ masterKey: local, store: new PostgresKeyStore(pool, { schema: env('SCHEMA'), keys: 'branches' }) }) : local,
  keyStore: new PostgresKeyStore(pool, { schema: env('SCHEMA') }),
  watchKeyChanges: env('WATCH') === '1',
  cache: { maxAgeMs: Number(env('CACHE_MAX_AGE_MS')) },
});
await kw.ready();
process.stdout.write(`${JSON.stringify({ ready: true, watch: kw.stats().watch.state })}\n`);
async function handle(line: string): Promise<void> {
  const { id, op, conv, hex } = JSON.parse(line) as { id: number; op: string; conv: string; hex: string };
  try {
    const bytes = Buffer.from(hex, 'hex');
    const out = op === 'encrypt' ? await kw.encrypt(conv, bytes) : await kw.decrypt(conv, bytes);
    process.stdout.write(`${JSON.stringify({ id, ok: true, hex: Buffer.from(out).toString('hex'), version: op === 'encrypt' ? inspectCiphertext(out).keyVersion : undefined })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ id, ok: false, code: (err as { code?: string }).code ?? String(err) })}\n`);
  }
}
const pending = new Set<Promise<void>>();
for await (const line of createInterface({ input: process.stdin })) {
  const p = handle(line).finally(() => pending.delete(p));
  pending.add(p);
}
await Promise.all(pending);
kw.close();
await pool.end();
