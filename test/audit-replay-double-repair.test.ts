/**
 * ReplayGuard.afterRepair accepts any authentic guard whose sealed size is >= the size
 * the repair cuts back to — it checks neither the root nor the lineage. After a first repair the
 * log has a new lineage; a guard from the OLD lineage (sealed at a larger size) put back before a
 * second repair is adopted, and it does not know the records integrated after the first repair:
 * they can be replayed into the log a second time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { copyRecord, fileGuard, waitSize } from './support/audit-replay.js';

const keys = generateNoteKey('keywarden.example/attack2-repair', new Uint8Array(32).fill(71));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const copy = copyRecord;

describe('a guard from before an earlier repair, put back before a second repair', () => {
  it('must not re-admit records integrated between the two repairs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack2-'));
    const { getGuard, setGuard, forgeHead } = fileGuard(dir);
    const O = { signerKey: keys.signerKey, replayWindowMs: 60_000, checkpointIntervalMs: 3_600_000, lingerMs: 0 };
    try {
      // Lineage A: a checkpoint at 2, then a pending tail up to 8 (no checkpoint).
      let store = await FileAuditStore.open(dir);
      let log = await AuditLog.open({ store, ...O });
      const P = new OutboxProducer();
      await store.enqueue(sealOutboxRecord(rk.mac, [entry(1), entry(2)], false, P.next()));
      const C = (await log.flush()).size;
      for (let n = 3; n <= 8; n++) {
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(n)], false, P.next()));
        await waitSize(store, n);
      }
      const guardA = await getGuard(); // authentic, sealed at size 8 (lineage A)
      await log.close();

      // Repair #1 (the attacker damaged the head): back to the checkpoint C.
      await forgeHead();
      store = await FileAuditStore.open(dir);
      log = await AuditLog.open({ store, ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
      expect(log.size).toBe(C + 1);

      // Lineage B: a genuine record r1, integrated and checkpointed. The attacker keeps a copy.
      const Q = new OutboxProducer();
      const r1 = sealOutboxRecord(rk.mac, [entry(11)], false, Q.next());
      await store.enqueue(copy(r1));
      await waitSize(store, C + 2);
      const D = (await log.flush()).size; // checkpoint covering r1's entry
      expect(D).toBeLessThan(8);
      await log.close();

      // Repair #2: the attacker damages the head again and puts back the lineage-A guard (sealed at 8 >= D).
      await forgeHead();
      await setGuard(guardA);
      store = await FileAuditStore.open(dir);
      let repaired: AuditLog;
      try {
        repaired = await AuditLog.open({ store, ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        return;
      }
      // r1 was sealed before this repair: the claim says it must be refused. Replay it.
      await store.enqueue(copy(r1));
      const size = (await repaired.flush()).size;
      const q = repaired.stats().quarantined;
      const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
      await repaired.close();
      expect(ids.filter((id) => id === sampleEvent(11).id), `log: ${ids.join(',')}; quarantined ${q}`).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
