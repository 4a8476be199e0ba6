/**
 * Replay after an operator repair (outside-style attack on the replay guard, 2026-11-30): a
 * repair cuts the tree back, and a guard bound only to a size at least the tree's let an older
 * guard (from before the repair) be put back after new records were integrated, which were then
 * replayed. The guard is bound to its exact tree head and re-bound by the repair.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type StoreEnv, copyRecord, storeEnvs, waitSize } from './support/audit-replay.js';

const keys = generateNoteKey('keywarden.example/replay-repair', new Uint8Array(32).fill(33));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const copy = copyRecord;


function suite(name: string, make: () => Promise<StoreEnv>) {
  describe(`guard rollback after a repair on ${name}`, () => {
    it('an older guard sealed at a size >= the repaired tree must not re-admit records integrated after the repair', async () => {
      const env = await make();
      try {
        const O = { signerKey: keys.signerKey, replayWindowMs: 60_000, checkpointIntervalMs: 3_600_000, lingerMs: 0 };
        let store = await env.open();
        let log = await AuditLog.open({ store, ...O });
        const P = new OutboxProducer();
        // Checkpointed prefix: 2 entries.
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(1), entry(2)], false, P.next()));
        const C = (await log.flush()).size;
        // A pending tail (no checkpoint): 3 more entries, three batches.
        for (const n of [3, 4, 5]) {
          await store.enqueue(sealOutboxRecord(rk.mac, [entry(n)], false, P.next()));
          await waitSize(store, C + n - 2);
        }
        const N = await store.size();
        const gN = await env.getGuard(); // the attacker reads the guard sealed at N
        await log.close();

        // The attacker damages the head: the operator repairs (drops back to the checkpoint C).
        await env.forgeHead();
        store = await env.open();
        await expect(AuditLog.open({ store, ...O })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        log = await AuditLog.open({ store, ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
        expect(log.size).toBe(C + 1); // C, plus the audit.repaired entry

        // Fresh records after the repair (the attacker copies them while they sit in the outbox).
        const Q = new OutboxProducer();
        const r1 = sealOutboxRecord(rk.mac, [entry(11)], false, Q.next());
        const r2 = sealOutboxRecord(rk.mac, [entry(12)], false, Q.next());
        await store.enqueue(copy(r1));
        await store.enqueue(copy(r2));
        await waitSize(store, C + 3);
        const S = await store.size();
        expect(S).toBeLessThanOrEqual(N);
        await log.close();

        // The attacker puts the pre-repair guard (sealed at N >= S) back and replays r1, r2.
        await env.setGuard(gN);
        store = await env.open();
        let reopened: AuditLog | undefined;
        try {
          reopened = await AuditLog.open({ store, ...O });
        } catch (err) {
          expect(err).toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
          return; // the claim held
        }
        await store.enqueue(copy(r1));
        await store.enqueue(copy(r2));
        const size = (await reopened.flush()).size;
        const idsInLog = (await store.read(0, size)).map((e) => decodeEntry(e).id);
        await reopened.close();
        const dup = idsInLog.filter((id, i) => idsInLog.indexOf(id) !== i);
        expect(dup, 'events in the log twice').toEqual([]);
      } finally {
        await env.cleanup();
      }
    });
  });
}

const envs = storeEnvs('repair');
suite('FileAuditStore', envs.file);
suite('PostgresAuditStore', envs.pg);
