/**
 * The AuditStore contract, run against every audit store (memory, file, PostgreSQL on PGlite and
 * on a real server): ordered append-only entries, copies in and out, checkpoints in order, and a
 * log built on it that verifies.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import type { AuditStore } from '../../src/audit/store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { sampleEvent } from './audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/store-contract', new Uint8Array(32).fill(12));
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

export function auditStoreContract(name: string, makeStore: () => Promise<AuditStore>, dispose: (s: AuditStore) => Promise<void> = (s) => s.close()) {
  describe(`AuditStore contract: ${name}`, () => {
    it('appends in order and returns the first index of each append', async () => {
      const s = await makeStore();
      try {
        expect(await s.size()).toBe(0);
        expect(await s.append([bytes('a'), bytes('b')])).toBe(0);
        expect(await s.append([bytes('c')])).toBe(2);
        expect(await s.size()).toBe(3);
        expect((await s.read(0, 3)).map(text)).toEqual(['a', 'b', 'c']);
        expect((await s.read(1, 2)).map(text)).toEqual(['b']);
      } finally {
        await dispose(s);
      }
    });

    it('copies entries in and out: later mutation by the caller changes nothing stored', async () => {
      const s = await makeStore();
      try {
        const e = bytes('original');
        await s.append([e]);
        e.fill(0);
        const [r] = await s.read(0, 1);
        expect(text(r!)).toBe('original');
        r!.fill(0);
        expect(text((await s.read(0, 1))[0]!)).toBe('original');
      } finally {
        await dispose(s);
      }
    });

    it('a log on it issues checkpoints in order and verifies', async () => {
      const s = await makeStore();
      try {
        const log = await AuditLog.open({ store: s, signerKey: keys.signerKey });
        for (let i = 0; i < 7; i++) await log.append(sampleEvent(i));
        await log.append([sampleEvent(7), sampleEvent(8)]);
        const checkpoints = await s.checkpoints();
        expect(checkpoints.map((c) => Number(c.split('\n')[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 9]);
        const report = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await s.read(0, await s.size()), checkpoints });
        expect(report.problems).toEqual([]);
        expect(report.latest?.size).toBe(9);
      } finally {
        await dispose(s);
      }
    });
  });
}
