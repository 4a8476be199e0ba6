/**
 * A shred that finds its versions already shredded (another instance shredded them, and this one
 * did not hear of it: no watcher, or a notification lost) drops them from this instance's cache
 * too: the store has just said they are gone (outside review, 2026-12-01: after a DynamoDB
 * transaction left a shred stored without announcing it, a re-run of retention reported the
 * versions `alreadyShredded` and the instance went on decrypting with them).
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const enc = (s: string) => new TextEncoder().encode(s);
const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

describe('a shred that finds versions already shredded', () => {
  // (Retention scans never return shredded versions: there the cache's max age is the bound.)
  for (const how of ['shred'] as const) {
    it(`${how}: drops them from this instance's cache`, async () => {
      const keyStore = new MemoryKeyStore();
      const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
      let t = Date.UTC(2026, 0, 1);
      const now = () => new Date(t);
      const a = new Keywarden({ masterKey, keyStore, now });
      const b = new Keywarden({ masterKey, keyStore, now });
      const ct = await a.encrypt('conv', enc('old'));
      await a.rotate('conv');
      expect(await code(b.decrypt('conv', ct))).toBe('ok'); // version 1 cached in b
      await a.shred('conv', { versions: [1] }); // b hears nothing
      t += 3 * 86_400_000;
      const r = await b[how]('conv', { versions: [1] });
      expect(r.shredded).toEqual([]);
      expect(r.alreadyShredded).toEqual([1]);
      expect(await code(b.decrypt('conv', ct))).toBe('ERR_KEY_SHREDDED');
      a.close();
      b.close();
    });
  }
});
