/**
 * Review 7 (mutation review). Guarantee (docs/KEYS.md §7, `RetentionOptions.dryRun`): a dry run
 * reports what the run would shred — "the dry run reports the same set" (header of
 * test/keywarden-retention.test.ts) — and `RetentionReport.versions` counts key versions, each
 * once.
 *
 * Survived: in src/keys/retention.ts `applyRetention`, the dry run's filter of the `activated`
 * (includeIdle) pass dropped (`pass.by === 'activated' && o.dryRun ? page.filter(…) : page` →
 * `false ? … : page`). In a dry run nothing leaves the scan, so a version superseded before the
 * cut-off AND activated before the idle bound was reported by both passes: twice in `items`,
 * twice in `versions` and once in `idleVersions`, while the real run shreds it once. The named
 * tests still passed: their includeIdle dry run has no version that both passes match (they check
 * one conversation's items, never the totals against the real run).
 *
 * Now asserted: with versions taken by both passes, an includeIdle dry run's `versions`,
 * `idleVersions`, `conversations` and item set equal what the real run then shreds, and no
 * version is listed twice.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

describe('retain({ includeIdle, dryRun })', () => {
  it('reports each version once, as the real run shreds it', async () => {
    let t = T0;
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, now: () => new Date(t), rotation: { maxAgeMs: 30 * DAY } });
    // 'old': v1 activated at T0, superseded at day 40 (both passes match it); v2 active and idle since.
    await kw.encrypt('old', enc('a'));
    t = T0 + 40 * DAY;
    await kw.encrypt('old', enc('b'));
    // 'old2': three versions, the first two superseded long ago.
    t = T0 + 10 * DAY;
    await kw.encrypt('old2', enc('a'));
    t = T0 + 50 * DAY;
    await kw.encrypt('old2', enc('b'));
    t = T0 + 90 * DAY;
    await kw.encrypt('old2', enc('c'));
    expect((await keyStore.listVersions('old')).map((r) => r.state)).toEqual(['superseded', 'active']);
    expect((await keyStore.listVersions('old2')).map((r) => r.state)).toEqual(['superseded', 'superseded', 'active']);

    t = T0 + 400 * DAY;
    const dry = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true, dryRun: true });
    const listed = dry.items.map((i) => `${i.conversationId}#${i.version}`);
    expect(new Set(listed).size).toBe(listed.length);
    expect(dry.items).toHaveLength(dry.versions);

    const done = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true });
    expect(done.versions).toBe(5);
    expect(dry).toMatchObject({ versions: done.versions, idleVersions: done.idleVersions, conversations: done.conversations, complete: true, truncated: false });
    const shredded = [...(await keyStore.listVersions('old')), ...(await keyStore.listVersions('old2'))].filter((r) => r.state === 'shredded').map((r) => `${r.conversationId}#${r.version}`);
    expect(new Set(listed)).toEqual(new Set(shredded));
    kw.close();
  });
});
