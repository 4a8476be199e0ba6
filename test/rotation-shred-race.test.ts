/**
 * A rotation whose new version is refused by the cache's shred fence (a shred of ANOTHER, older
 * version of the same conversation committed while the rotation waited for the KMS) leaves the
 * OLD version cached as active with `remaining = 0` (#rotateFrom sets it before #adopt, and
 * ignores #adopt's undefined). The next encrypt then goes through #refill even for an uncounted
 * suite (XChaCha20-Poly1305, limit Infinity) and calls reserveMessages(..., limit = Infinity).
 * PostgresKeyStore refuses a non-safe-integer limit: every encrypt of the conversation fails with
 * ERR_STORE_FAILED until the cache entry ages out (cache.maxAgeMs, 5 min by default).
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError, type KeyStore } from '../src/node.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';

const enc = (s: string) => new TextEncoder().encode(s);
const versionOf = (ct: Uint8Array) => new DataView(ct.buffer, ct.byteOffset).getUint32(2);

function gatedGenerate(real: LocalMasterKey) {
  let release: () => void = () => {};
  let entered: () => void = () => {};
  let waiting = Promise.resolve();
  let gate: Promise<void> | undefined;
  const kms: MasterKeyProvider = {
    keyId: real.keyId,
    async generateDataKey(c, o) {
      if (gate) {
        entered();
        await gate;
      }
      return real.generateDataKey(c, o);
    },
    unwrapDataKey: (w, c, id, o) => real.unwrapDataKey(w, c, id, o),
  };
  return {
    kms,
    close() {
      gate = new Promise<void>((r) => (release = r));
      waiting = new Promise<void>((r) => (entered = r));
    },
    entered: () => waiting,
    open() {
      gate = undefined;
      release();
    },
  };
}

async function outcome(p: Promise<Uint8Array>): Promise<string> {
  try {
    return `ok v${versionOf(await p)}`;
  } catch (e) {
    return isKeywardenError(e) ? `${e.code}: ${e.message}` : String(e);
  }
}

const db = migratedTestPool();

async function scenario(keyStore: KeyStore) {
  const g = gatedGenerate(new LocalMasterKey(LocalMasterKey.generateKey()));
  const kw = new Keywarden({ masterKey: g.kms, keyStore, suite: 'XChaCha20-Poly1305' });
  await kw.encrypt('conv', enc('m1')); // v1
  expect((await kw.rotate('conv')).version).toBe(2);
  g.close();
  const rotating = kw.rotate('conv'); // will create v3; waits in GenerateDataKey
  await g.entered();
  expect((await kw.shred('conv', { versions: [1] })).shredded).toEqual([1]); // an old version (retention, say)
  g.open();
  expect((await rotating).version).toBe(3);
  const first = await outcome(kw.encrypt('conv', enc('after rotate')));
  const second = await outcome(kw.encrypt('conv', enc('again')));
  kw.close();
  return [first, second];
}

describe('rotate() racing a shred of an older version', () => {
  it('memory store: the next encrypts seal under the new version', async () => {
    expect(await scenario(new MemoryKeyStore())).toEqual(['ok v3', 'ok v3']);
  });
  it('PostgreSQL store, XChaCha20-Poly1305: the next encrypts seal under the new version (not ERR_STORE_FAILED)', async () => {
    expect(await scenario(new PostgresKeyStore(db.pool, { schema: db.schema }))).toEqual(['ok v3', 'ok v3']);
  });
});
