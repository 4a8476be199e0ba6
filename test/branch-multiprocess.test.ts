/**
 * Branch keys across processes (issue #13 acceptance): 4 worker processes make the first use of
 * one branch and of the same 200 conversations at the same time, on one PostgreSQL database.
 * Exactly one branch key and one key per conversation are created, and every acknowledged
 * ciphertext opens in another process. Needs a real server (DATABASE_URL).
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { startKeyWorker } from './support/key-worker-client.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

describe('branch keys across processes (real PostgreSQL)', () => {
  it('4 processes, first use of one branch and 200 conversations at once: one branch key, one key each, everything opens', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const masterKey = LocalMasterKey.generateKey();
    const hex = Buffer.from(masterKey).toString('hex');
    const workers = await Promise.all(Array.from({ length: 4 }, () => startKeyWorker({ schema: db.schema, masterKeyHex: hex, branch: true })));
    try {
      const N = 200;
      const replies = await Promise.all(workers.flatMap((w, wi) => Array.from({ length: N }, (_, i) => {
        const c = (i * (2 * wi + 1) + wi * 37) % N; // each worker in its own order
        const text = `worker ${wi} conversation ${c}`;
        return w.call('encrypt', `bc-${c}`, new TextEncoder().encode(text)).then((r) => ({ r, c, text }));
      })));
      expect(replies.every(({ r }) => r.ok)).toBe(true);
      const branchStore = new PostgresKeyStore(db.pool, { schema: db.schema, keys: 'branches' });
      expect((await branchStore.listVersions('default')).map((r) => [r.version, r.state])).toEqual([[1, 'active']]);
      const keyStore = new PostgresKeyStore(db.pool, { schema: db.schema });
      for (let c = 0; c < N; c++) expect((await keyStore.listVersions(`bc-${c}`)).map((r) => [r.version, r.masterKeyId])).toEqual([[1, 'branch:default#1']]);
      const reader = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: new LocalMasterKey(masterKey), store: branchStore }), keyStore });
      for (const { r, c, text } of replies) expect(await reader.decryptString(`bc-${c}`, Buffer.from(r.hex!, 'hex'))).toBe(text);
      reader.close();
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });
});
