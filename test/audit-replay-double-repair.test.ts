/**
 * ReplayGuard.afterRepair accepts any authentic guard whose sealed size is >= the size
 * the repair cuts back to — it checks neither the root nor the lineage. After a first repair the
 * log has a new lineage; a guard from the OLD lineage (sealed at a larger size) put back before a
 * second repair is adopted, and it does not know the records integrated after the first repair:
 * they can be replayed into the log a second time.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type OutboxRecord, OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import type { AuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack2-repair', new Uint8Array(32).fill(71));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const copy = (r: OutboxRecord): OutboxRecord => ({ bundle: r.bundle.slice(), flags: r.flags, mac: r.mac.slice() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitSize(store: AuditStore, n: number) {
  for (let i = 0; i < 400; i++) {
    if ((await store.size()) >= n) return;
    await sleep(25);
  }
  throw new Error(`size never reached ${n}`);
}

describe('a guard from before an earlier repair, put back before a second repair', () => {
  it('must not re-admit records integrated between the two repairs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack2-'));
    const headPath = join(dir, 'head');
    const readHead = async () => {
      const scan = scanFrames(new Uint8Array(await readFile(headPath)));
      return { note: scan.records[0]!, json: JSON.parse(new TextDecoder().decode(scan.records[1]!)) as Record<string, unknown> };
    };
    const writeHead = (note: Uint8Array, json: unknown) => writeFile(headPath, Buffer.concat([MAGIC, frame(note), frame(new TextEncoder().encode(JSON.stringify(json)))]));
    const getGuard = async () => (await readHead()).json.guard as string;
    const setGuard = async (g: string) => {
      const { note, json } = await readHead();
      json.guard = g;
      await writeHead(note, json);
    };
    const forgeHead = async () => {
      const { note, json } = await readHead();
      const lines = new TextDecoder().decode(note).split('\n');
      // a tree head: line 3 is the root; a checkpoint: line 2
      const i = lines[0]!.startsWith('keywarden.audit/tree-head') ? 3 : 2;
      lines[i] = Buffer.alloc(32, 9).toString('base64');
      await writeHead(new TextEncoder().encode(lines.join('\n')), json);
    };
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
