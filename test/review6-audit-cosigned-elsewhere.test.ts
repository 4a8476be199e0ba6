/**
 * Outside review 6 (audit cosignatures across instances): docs/AUDIT.md §3 says
 * `acceptCosignatures` stores a cosigned checkpoint "so later proofs carry the cosignatures" and
 * that on PostgreSQL any instance can call it. Accepted on an instance that is not the
 * sequencer, it never reached the sequencer's proofs: the sequencer's `sync()` returned at once
 * without reading the store (src/audit/log.ts), so its `proof()` and `consistency()` kept
 * serving the plain checkpoint of the same size — and its next checkpoint is a new, uncosigned
 * one, so the cosignatures never came (not even "at the next checkpoint").
 *
 * Now: the sequencer's `sync()` reads the store's latest checkpoint too and adopts it when it
 * verifies, is not older than its own and states its tree (same root at that size); proofs on
 * the sequencer then carry the cosignatures accepted anywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner } from '../src/audit/checkpoint.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review6-cosigned-elsewhere', new Uint8Array(32).fill(64));
const witness = generateCosignerKey('witness.review6.example', new Uint8Array(32).fill(65));

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db?.close();
});

describe('cosignatures accepted on another instance reach the sequencer\'s proofs', () => {
  it('PostgreSQL: accepted on a producer, carried by the sequencer\'s proof() and consistency()', async () => {
    const schema = `${db.schema}_r6cosig`;
    await migrate(db.pool, { schema });
    const S = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, checkpointIntervalMs: 86_400_000, pollMs: 5 });
    const W = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, sequencer: false, pollMs: 5 });
    try {
      expect(S.isSequencer).toBe(true);
      const { checkpoint } = await S.append([sampleEvent(0), sampleEvent(1)]); // checkpoint of size 2
      const cosigned = cosignCheckpoint(checkpoint, newCosigner(witness.signerKey, () => 1_790_000_000));
      await W.acceptCosignatures(cosigned, [witness.verifierKey]);
      expect(await W.proof(1)).toContain('— witness.review6.example ');
      expect(await S.proof(1)).toContain('— witness.review6.example ');
      expect(await S.consistency(1)).toContain('— witness.review6.example ');
      // A later batch without a checkpoint does not take it back.
      await S.record(sampleEvent(2));
      expect(S.stats().checkpointSize).toBe(2);
      expect(await S.proof(0)).toContain('— witness.review6.example ');
      expect(S.latestCheckpoint).toBe(cosigned);
    } finally {
      await W.close();
      await S.close();
    }
  });
});
