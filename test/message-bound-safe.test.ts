/**
 * `rotation.maxMessages` and `maxMessagesPerKey` are validated as integers in [1, 2^53]
 * (src/keys/rotation.ts, src/keywarden.ts), and with XChaCha20-Poly1305 (no suite bound) the
 * limit passed to KeyStore.reserveMessages is that value. 2^53 is accepted by Keywarden but is
 * not a safe integer, and PostgresKeyStore refuses it ("limit must be a safe integer"): every
 * reservation fails with ERR_STORE_FAILED, so a cold instance cannot seal at all (outside review,
 * 2026-12-01). The bound is now Number.MAX_SAFE_INTEGER.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, isKeywardenError } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';

const enc = (s: string) => new TextEncoder().encode(s);

const db = migratedTestPool();

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isKeywardenError(e) ? `${e.code}: ${e.message}` : String(e);
  }
}

describe('the largest message bound with XChaCha20-Poly1305 on PostgreSQL', () => {
  for (const key of ['rotation', 'maxMessagesPerKey'] as const) {
    const opt = (n: number) => (key === 'rotation' ? { rotation: { maxMessages: n } } : { maxMessagesPerKey: n });
    const name = key === 'rotation' ? 'options.rotation.maxMessages' : 'options.maxMessagesPerKey';
    it(`${name}: 2^53 (not a safe integer) is refused at construction, naming the option`, () => {
      const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
      let err: unknown;
      try {
        new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }), suite: 'XChaCha20-Poly1305', ...opt(2 ** 53) });
      } catch (e) {
        err = e;
      }
      expect(isKeywardenError(err) && err.code).toBe('ERR_INVALID_INPUT');
      expect((err as Error).message).toContain(name);
    });
    it(`${name}: Number.MAX_SAFE_INTEGER is accepted, and a cold instance can seal`, async () => {
      const keyStore = new PostgresKeyStore(db.pool, { schema: db.schema });
      const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
      const conv = `conv-${key}`;
      const writer = new Keywarden({ masterKey, keyStore, suite: 'XChaCha20-Poly1305', ...opt(Number.MAX_SAFE_INTEGER) });
      expect(await outcome(writer.encrypt(conv, enc('first')))).toBe('ok'); // v1 created with its initial grant
      writer.close();
      const cold = new Keywarden({ masterKey, keyStore, suite: 'XChaCha20-Poly1305', ...opt(Number.MAX_SAFE_INTEGER) });
      expect(await outcome(cold.encrypt(conv, enc('second')))).toBe('ok');
      cold.close();
    });
  }
});
