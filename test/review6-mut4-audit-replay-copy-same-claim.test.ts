/**
 * Mutation review 4 (outbox replay, SECURITY.md: "a genuine outbox record copied back into the
 * outbox ... is quarantined, never signed into the log twice, on every store, through any outbox
 * file or row"; test/audit-outbox-replay.test.ts and test/audit-replay-*.test.ts).
 *
 * Surviving mutation: src/audit/sequencer.ts checking each claimed record against the guard as it
 * was BEFORE the batch (`this.#guard.check`) instead of the batch's working copy (`guard.check`),
 * which the records before it in the same claim have already been consumed into. Every replay in
 * the named tests was of a record integrated by an EARLIER step, so all of them still passed;
 * a copy that lands in the same claim as its original (copied while the original was pending)
 * was signed into the log twice.
 *
 * Now asserted, on every store: a record and its byte-for-byte copies, enqueued before the
 * sequencer's next step, are integrated once; the copies are quarantined; the log verifies.
 */
import { describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type StoreEnv, copyRecord, storeEnvs } from './support/audit-replay.js';

const keys = generateNoteKey('keywarden.example/replay-same-claim', new Uint8Array(32).fill(44));
const rk = recordKeys(keys.signerKey);
const envs = storeEnvs('r6m4same');
const memory = async (): Promise<StoreEnv> => {
  const store = new MemoryAuditStore();
  const none = async () => undefined;
  return { open: async () => store, cleanup: none, getGuard: none, setGuard: none, forgeHead: none };
};

for (const [name, make] of [['MemoryAuditStore', memory], ['FileAuditStore', envs.file], ['PostgresAuditStore', envs.pg]] as const) {
  describe(`outbox copies in the same claim as their original on ${name}`, () => {
    it('are quarantined: the record\'s entries are signed into the log once', async () => {
      const env = await make();
      try {
        const store = await env.open();
        const log = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: 60_000 });
        await log.flush();
        const producer = new OutboxProducer();
        const record = sealOutboxRecord(rk.mac, [encodeEntry(sampleEvent(1)), encodeEntry(sampleEvent(2))], false, producer.next());
        const other = sealOutboxRecord(rk.mac, [encodeEntry(sampleEvent(3))], false, producer.next());
        // Copied while still pending: original, a copy, another record, another copy — one claim.
        for (const r of [record, record, other, record]) await store.enqueue(copyRecord(r));
        const { size } = await log.flush();
        const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
        expect(ids).toEqual([1, 2, 3].map((n) => sampleEvent(n).id));
        await vi.waitFor(() => expect(log.stats().quarantined).toBe(2));
        const report = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, size), checkpoints: await store.checkpoints(), head: (await store.state()).head! });
        expect(report.problems).toEqual([]);
        await log.close();
      } finally {
        await env.cleanup();
      }
    });
  });
}
