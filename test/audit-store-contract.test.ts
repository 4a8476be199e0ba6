/** The AuditStore contract on every audit store (PostgreSQL: PGlite, or the server at DATABASE_URL). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { migrate } from '../src/store/migrations.js';
import { auditStoreContract } from './support/audit-store-contract.js';
import { type TestPool, testPool } from './support/pg.js';

auditStoreContract('MemoryAuditStore', async () => new MemoryAuditStore());

auditStoreContract(
  'FileAuditStore',
  async () => FileAuditStore.open(await mkdtemp(join(tmpdir(), 'kw-asc-'))),
  async (s) => {
    await s.close();
    await rm((s as FileAuditStore).dir, { recursive: true, force: true });
  },
);

let db: TestPool;
let n = 0;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (let i = 0; i < n; i++) await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_a${i}" CASCADE`);
  await db?.close();
});
auditStoreContract('PostgresAuditStore', async () => {
  // A fresh schema per test: every test starts from an empty log.
  const schema = `${db.schema}_a${n++}`;
  await migrate(db.pool, { schema });
  return new PostgresAuditStore(db.pool, { schema });
}, async () => {});
