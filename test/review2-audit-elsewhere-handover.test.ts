/**
 * The tail an opening reader skipped while "another live instance holds LOCK" is to be judged by
 * the next holder (docs/AUDIT.md §4.3). AuditLog.open skips it, then takes the role itself with
 * the state it inspected (#takeRole(known)): when the holder has gone between the two (it closed
 * or died just after the inspection) and the head did not move, nobody judges the tail and the
 * new sequencer starts over forged entries past the head.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { encodeBundle, tilePath } from '../src/audit/tiles.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/handover', new Uint8Array(32).fill(47));

describe('open while the LOCK holder leaves', () => {
  it('does not become the sequencer over a forged tail it never judged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-handover-'));
    try {
      const a = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await a.append([sampleEvent(0), sampleEvent(1), sampleEvent(2)]);
      expect(a.isSequencer).toBe(true);
      const forged = Array.from({ length: 256 }, (_, i) => encodeEntry({ ...sampleEvent(1000 + i), actor: 'forged' }));
      const path = join(dir, tilePath('entries', 2));
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, encodeBundle(forged));
      const real = await FileAuditStore.open(dir);
      // The holder A exits right after B's inspection asked whether it is there.
      const store = new Proxy(real, {
        get(t, prop) {
          if (prop === 'sequencerElsewhere') {
            return async () => {
              const r = await t.sequencerElsewhere();
              await a.close();
              return r;
            };
          }
          const v = Reflect.get(t, prop, t) as unknown;
          return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
        },
      });
      let b: AuditLog | undefined;
      const outcome = await AuditLog.open({ store, signerKey: keys.signerKey })
        .then((l) => { b = l; return l.isSequencer ? 'sequencer over the forged tail' : 'not sequencer'; }, (e: { code?: string }) => e.code);
      await b?.close();
      if (b === undefined) await real.close();
      await a.close();
      expect(['ERR_AUDIT_CORRUPT', 'not sequencer']).toContain(outcome);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
