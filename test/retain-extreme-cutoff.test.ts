/**
 * retain() accepts olderThanMs up to 2^47 and any past `before`. The cut-off minus the margin
 * (and, with includeIdle, minus rotation.maxAgeMs, itself up to 2^47) is handed to the store as a
 * Date without clamping. MemoryKeyStore answers an empty page; PostgresKeyStore fails the whole
 * run with ERR_STORE_FAILED (SQLSTATE 22008 timestamp out of range / 22007 invalid Date).
 * (Outside review, 2026-12-01.)
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError, type KeyStore } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

async function outcome(p: Promise<{ versions: number; complete: boolean }>): Promise<string> {
  try {
    const r = await p;
    return `versions=${r.versions} complete=${r.complete}`;
  } catch (e) {
    return isKeywardenError(e) ? `${e.code}: ${e.message}` : String(e);
  }
}

const CASES = [
  { name: 'olderThanMs 2^47 with includeIdle (rotation.maxAgeMs 2^47)', options: { olderThanMs: 2 ** 47, includeIdle: true } },
  { name: 'before = the earliest Date', options: { before: new Date(-8.64e15) } },
];

describe('retain() with the extreme cut-offs it accepts', () => {
  for (const store of ['memory', 'postgres'] as const) {
    for (const c of CASES) {
      it(`${store}: ${c.name} completes, shredding nothing`, async () => {
        const keyStore: KeyStore = store === 'memory' ? new MemoryKeyStore() : new PostgresKeyStore(db.pool, { schema: db.schema });
        const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, rotation: { maxAgeMs: 2 ** 47 } });
        const conv = `c-${store}-${c.name}`; // one schema for the whole file: a conversation per case
        await kw.encrypt(conv, new Uint8Array(1));
        await kw.rotate(conv);
        expect(await outcome(kw.retain(c.options))).toBe('versions=0 complete=true');
        kw.close();
      });
    }
  }
});
