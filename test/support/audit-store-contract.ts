/**
 * The AuditStore contract, run against every audit store (memory, file, PostgreSQL on PGlite and
 * on a real server): integration steps are atomic and fenced by their start, entries and tiles
 * are copied in and out, the outbox hands records over in order and forgets them with the step
 * that integrates them, checkpoints only grow and can be pruned, and a log built on the store
 * verifies.
 */
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/audit/checkpoint.js';
import { encodeEntry } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { leafHash } from '../../src/audit/merkle.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord, signTreeHead } from '../../src/audit/records.js';
import type { AuditStore } from '../../src/audit/store.js';
import { TileEdge } from '../../src/audit/tile-edge.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { sampleEvent } from './audit-fixtures.js';

/** Ids for the outbox records these tests seal (records.ts). */
const producer = new OutboxProducer();

export const contractKeys = generateNoteKey('keywarden.example/store-contract', new Uint8Array(32).fill(12));
const rk = recordKeys(contractKeys.signerKey);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const entry = (n: number) => encodeEntry(sampleEvent(n));

/** A batch as a sequencer makes it: `entries` appended to `edge` (which it advances). */
export function batchOf(edge: TileEdge, entries: Uint8Array[], extra: { checkpoint?: boolean; consumed?: string[] } = {}) {
  const start = edge.size;
  for (const e of entries) edge.append(leafHash(e), e);
  const root = edge.root();
  const checkpoint = extra.checkpoint ? signCheckpoint({ origin: rk.origin, size: edge.size, rootHash: root, extensions: [] }, rk.signer) : undefined;
  return {
    start, entries, tiles: edge.take(), head: checkpoint ?? signTreeHead(rk.signer, edge.size, root), ...(checkpoint !== undefined && { checkpoint }),
    consumed: extra.consumed ?? [], quarantined: [], receipts: [],
  };
}

export function auditStoreContract(name: string, makeStore: () => Promise<AuditStore>, dispose: (s: AuditStore) => Promise<void> = (s) => s.close()) {
  describe(`AuditStore contract: ${name}`, () => {
    it('integrates steps in order, refuses one that does not start at its head, and keeps entries, tiles and the head', async () => {
      const s = await makeStore();
      try {
        expect(await s.acquireSequencer()).toBe(true);
        expect(await s.state()).toEqual({ head: undefined, checkpoint: undefined });
        expect(await s.size()).toBe(0);
        const edge = TileEdge.empty(s.keepsBundles);
        const first = batchOf(edge, Array.from({ length: 300 }, (_, i) => entry(i)));
        await s.integrate(first);
        const stale = batchOf(edge.clone(), [entry(999)]);
        await expect(s.integrate({ ...stale, start: 0 })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
        await s.integrate(batchOf(edge, [entry(300), entry(301)], { checkpoint: true }));
        expect(await s.size()).toBe(302);
        const { head, checkpoint } = await s.state();
        expect(head).toBe(checkpoint);
        expect((await s.read(0, 302)).map(text)).toEqual(Array.from({ length: 302 }, (_, i) => text(entry(i))));
        expect((await s.read(299, 301)).map(text)).toEqual([text(entry(299)), text(entry(300))]);
        const full = await s.readTile(0, 0, 256);
        expect(full?.length).toBe(8192);
        expect((await s.readTile(0, 0, 17))?.subarray(0, 17 * 32)).toEqual(full!.subarray(0, 17 * 32));
        expect((await s.readTile(0, 1, 46))?.length).toBeGreaterThanOrEqual(46 * 32);
        expect(await s.readTile(0, 2, 1)).toBeUndefined();
        if (s.readTiles !== undefined) {
          // The batch read answers exactly like readTile, position by position.
          const wants = [{ level: 0, index: 1, width: 46 }, { level: 0, index: 0, width: 17 }, { level: 0, index: 2, width: 1 }, { level: 0, index: 0, width: 256 }, { level: 1, index: 0, width: 1 }];
          const got = await s.readTiles(wants);
          expect(got.length).toBe(wants.length);
          for (const [i, w] of wants.entries()) expect(got[i]).toEqual(await s.readTile(w.level, w.index, w.width));
          expect(await s.readTiles([])).toEqual([]);
        }
        expect(await s.uncovered(302)).toEqual([]);
      } finally {
        await dispose(s);
      }
    });

    it('copies entries in and out: later mutation by the caller changes nothing stored', async () => {
      const s = await makeStore();
      try {
        await s.acquireSequencer();
        const e = entry(1);
        const original = text(e);
        await s.integrate(batchOf(TileEdge.empty(s.keepsBundles), [e]));
        e.fill(0);
        const [r] = await s.read(0, 1);
        expect(text(r!)).toBe(original);
        r!.fill(0);
        expect(text((await s.read(0, 1))[0]!)).toBe(original);
      } finally {
        await dispose(s);
      }
    });

    it('the outbox hands records over in order, and forgets them with the step that integrates them', async () => {
      const s = await makeStore();
      try {
        await s.acquireSequencer();
        const records = [0, 1, 2].map((i) => sealOutboxRecord(rk.mac, [entry(i)], i === 1, producer.next()));
        const tickets = [];
        for (const r of records) tickets.push(await s.enqueue(r));
        const claimed = await s.claim(10);
        expect(claimed.map((c) => c.ticket)).toEqual(tickets);
        expect(claimed.map((c) => [c.flags, text(c.bundle)])).toEqual(records.map((r) => [r.flags, text(r.bundle)]));
        expect((await s.claim(2)).map((c) => c.ticket)).toEqual(tickets.slice(0, 2));
        const edge = TileEdge.empty(s.keepsBundles);
        await s.integrate({ ...batchOf(edge, [entry(0), entry(1)], { consumed: tickets.slice(0, 2) }), receipts: [{ ticket: tickets[1]!, index: 1, count: 1, mac: new Uint8Array(32).fill(0xa5) }] });
        expect((await s.claim(10)).map((c) => c.ticket)).toEqual([tickets[2]]);
        // The sequencer's MAC comes back byte for byte (the writer checks it: waiters.ts).
        expect(await s.receipt(tickets[1]!)).toEqual({ index: 1, count: 1, mac: new Uint8Array(32).fill(0xa5) });
        expect(await s.receipt(tickets[0]!)).toBeUndefined();
        await s.integrate({ ...batchOf(edge, []), start: 2, quarantined: [{ ticket: tickets[2]!, reason: 'test' }] });
        expect(await s.claim(10)).toEqual([]);
      } finally {
        await dispose(s);
      }
    });

    it('checkpoints are kept in order, never after a larger one, and prunable', async () => {
      const s = await makeStore();
      try {
        await s.acquireSequencer();
        const edge = TileEdge.empty(s.keepsBundles);
        const notes: string[] = [];
        for (let i = 0; i < 4; i++) {
          const b = batchOf(edge, [entry(i)], { checkpoint: true });
          await s.integrate(b);
          notes.push(b.checkpoint!);
        }
        await s.appendCheckpoint(notes[1]!); // older than the latest: not published
        expect(await s.checkpoints()).toEqual(notes);
        await s.appendCheckpoint(notes[3]!); // the same size again (e.g. cosigned): published
        expect(await s.checkpoints()).toEqual([...notes, notes[3]]);
        expect(await s.pruneCheckpoints(2)).toBe(3);
        expect(await s.checkpoints()).toEqual([notes[3], notes[3]]);
        expect((await s.state()).checkpoint).toBe(notes[3]);
      } finally {
        await dispose(s);
      }
    });

    it('a log on it issues checkpoints in order and verifies', async () => {
      const s = await makeStore();
      try {
        const log = await AuditLog.open({ store: s, signerKey: contractKeys.signerKey });
        for (let i = 0; i < 7; i++) await log.append(sampleEvent(i));
        await log.append([sampleEvent(7), sampleEvent(8)]);
        const checkpoints = await s.checkpoints();
        expect(checkpoints.map((c) => Number(c.split('\n')[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 9]);
        const report = verifyAuditLog({ verifierKey: contractKeys.verifierKey, entries: await s.read(0, await s.size()), checkpoints });
        expect(report.problems).toEqual([]);
        expect(report.latest?.size).toBe(9);
        await log.close();
      } finally {
        await dispose(s);
      }
    });
  });
}
