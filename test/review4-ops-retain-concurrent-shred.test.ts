/**
 * Review 2026-12-02 (second): `retain` counted versions another shred took first.
 *
 * Was: the report's `versions` (and `conversations`) counted every row of each scanned page,
 * although `shredPage` found some of them already shredded — by a `shred` or another retention
 * run that committed between the scan and this run's transaction. Two retention jobs run at once
 * (two cron hosts) each reported the whole set, so the reports summed to twice what was erased,
 * and disagreed with the audit log's `key.shredded` entries, which name only what each shred did.
 *
 * Now: `versions`, `idleVersions` and `conversations` count what this run shredded; versions a
 * concurrent shred took first are reported apart, in `alreadyShredded`. For any split of a page
 * between a concurrent shred and the run, the run's count plus the concurrent shred's equals the
 * page, and equals the versions named by the run's audit entries.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import type { ScanRow } from '../src/store/types.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);
const logKeys = generateNoteKey('keywarden.example/retain-race', new Uint8Array(32).fill(2));

/** A memory store where another writer shreds chosen rows right after a scan returns them. */
class RacingStore extends MemoryKeyStore {
  takeFirst: (rows: ScanRow[]) => ScanRow[] = () => [];
  taken = 0;
  override async scanKeys(q: Parameters<MemoryKeyStore['scanKeys']>[0]): Promise<ScanRow[]> {
    const page = await super.scanKeys(q);
    for (const r of this.takeFirst(page)) {
      const res = await this.shred(r.conversationId, [r.version], new Date(T0 + 400 * DAY));
      this.taken += res.shredded.length;
    }
    return page;
  }
}

async function setup(conversations: number, weeks: number) {
  let t = T0;
  const auditStore = new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 500 });
  const keyStore = new RacingStore();
  const kw = new Keywarden({
    masterKey: new LocalMasterKey(new Uint8Array(32).fill(7)), keyStore, now: () => new Date(t),
    rotation: { maxAgeMs: 30 * DAY }, audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(1)), actor: 'retention-job' },
  });
  for (let w = 0; w < weeks; w++) {
    t = T0 + w * 7 * DAY;
    for (let c = 0; c < conversations; c++) await kw.encrypt(`c${c}`, enc('m'));
  }
  t = T0 + 365 * DAY;
  return { kw, keyStore, auditStore };
}

describe('retain with a concurrent shred', () => {
  it('counts only what this run shredded; what another shred took first is reported apart', async () => {
    const { kw, keyStore, auditStore } = await setup(3, 40);
    const dry = await kw.retain({ olderThanMs: 90 * DAY, dryRun: true });
    expect(dry.versions).toBeGreaterThan(6);
    // Another job takes every version of conversation c0 between the scan and the shred.
    keyStore.takeFirst = (rows) => rows.filter((r) => r.conversationId === 'c0');
    const done = await kw.retain({ olderThanMs: 90 * DAY });
    expect(keyStore.taken).toBeGreaterThan(0);
    expect(done.versions + keyStore.taken).toBe(dry.versions);
    expect(done.alreadyShredded).toBe(keyStore.taken);
    expect(done.conversations).toBe(dry.conversations - 1); // c0 was erased by the other job, not this run
    const evs = (await auditStore.read(0, await auditStore.size())).map(decodeEntry).filter((e) => e.type === 'key.shredded');
    expect(evs.reduce((n, e) => n + (e.versions as number[]).length, 0)).toBe(done.versions);
  });

  it('for any split of the pages between a concurrent shred and the run, the counts add up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 7 }), async (pick, batchSize) => {
        const { kw, keyStore, auditStore } = await setup(2, 16);
        const dry = await kw.retain({ olderThanMs: 90 * DAY, dryRun: true });
        let k = 0;
        keyStore.takeFirst = (rows) => rows.filter(() => pick[k++ % pick.length]!);
        const done = await kw.retain({ olderThanMs: 90 * DAY, batchSize });
        expect(done.versions + done.alreadyShredded).toBe(dry.versions);
        expect(done.alreadyShredded).toBe(keyStore.taken);
        const evs = (await auditStore.read(0, await auditStore.size())).map(decodeEntry).filter((e) => e.type === 'key.shredded' && e.reason === 'retention');
        expect(evs.reduce((n, e) => n + (e.versions as number[]).length, 0)).toBe(done.versions);
        const convs = new Set(evs.map((e) => e.conversation));
        expect(done.conversations).toBe(convs.size);
      }),
      { numRuns: 25 },
    );
  });
});
