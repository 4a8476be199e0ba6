/**
 * Review 7 (mutation review). Guarantee (test/shred-already-forgets.test.ts; SECURITY.md "a shred
 * wins over key loads already under way, on this instance …"): a shred that finds versions already
 * shredded drops them from this instance's cache too — the store has just said they are gone.
 *
 * Survived: in src/keys/lifecycle.ts `shredBatch` (the retention page), forgetting only the
 * versions this call shredded (`[...r.shredded, ...r.alreadyShredded]` → `r.shredded`). A
 * retention run whose scanned version was shredded by another instance between its scan and its
 * transaction reported it `alreadyShredded`, and the instance, which had not heard of that shred
 * (no watcher, a lost notification), went on decrypting with the cached key. The named test only
 * checks `shred` ("Retention scans never return shredded versions"), and
 * test/review4-ops-retain-concurrent-shred.test.ts checks the counts, never a decrypt after.
 *
 * Now asserted: instance B has version 1 cached; its retention scan returns version 1, which
 * instance A shreds before B's transaction; B's report counts it `alreadyShredded` and B's next
 * decrypt of a version-1 message fails with ERR_KEY_SHREDDED (the version-2 message still opens).
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { wrapStore } from './support/fixtures.js';

const DAY = 86_400_000;
const enc = (s: string) => new TextEncoder().encode(s);
const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

describe('retention that finds a scanned version shredded by another instance meanwhile', () => {
  it('drops it from this instance\'s cache', async () => {
    const inner = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    let t = Date.UTC(2026, 0, 1);
    const now = () => new Date(t);
    const a = new Keywarden({ masterKey, keyStore: inner, now });
    let raced = false;
    const racing: KeyStore = {
      ...wrapStore(inner, {}),
      async scanKeys(q) {
        const page = await inner.scanKeys(q);
        // Between this scan and the run's transaction, instance A shreds what was found.
        if (!raced && page.some((r) => r.conversationId === 'conv' && r.version === 1)) {
          raced = true;
          await a.shred('conv', { versions: [1] });
        }
        return page;
      },
    };
    const b = new Keywarden({ masterKey, keyStore: racing, now });
    const old = await a.encrypt('conv', enc('old'));
    await a.rotate('conv');
    const fresh = await a.encrypt('conv', enc('new'));
    t += 100 * DAY; // version 1 was superseded 100 days ago
    expect(await code(b.decrypt('conv', old))).toBe('ok'); // version 1 cached in b, now
    const r = await b.retain({ olderThanMs: 30 * DAY });
    expect(raced).toBe(true);
    expect(r).toMatchObject({ versions: 0, alreadyShredded: 1, complete: true });
    expect(await code(b.decrypt('conv', old))).toBe('ERR_KEY_SHREDDED');
    expect(new TextDecoder().decode(await b.decrypt('conv', fresh))).toBe('new');
    a.close();
    b.close();
  });
});
