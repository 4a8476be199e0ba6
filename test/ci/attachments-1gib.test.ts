/**
 * Issue #16 acceptance: a 1 GiB attachment, generated on the fly, streams through encrypt →
 * decrypt (Node Transforms and Web Streams) with memory bounded — at most 1 MiB of it is ever
 * inside the pipeline, counted byte by byte (not timed) — and every byte comes back. The peak
 * RSS growth is also checked against a loose bound (it shows no accumulation of the attachment;
 * `npm run bench` reports the figures). In test/ci because it takes seconds, not milliseconds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../../src/node.js';
import { streamThrough } from '../support/stream-bound.js';

const GiB = 1 << 30;
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

describe('a 1 GiB attachment', () => {
  for (const api of ['node', 'web'] as const) {
    it(`${api}: encrypt → decrypt, 1 GiB, never more than 1 MiB in flight, every byte back`, async () => {
      const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
      let linux = true;
      try {
        writeFileSync('/proc/self/clear_refs', '5');
      } catch {
        linux = false;
      }
      const base = process.memoryUsage.rss();
      const r = await streamThrough(kw, api, GiB, 64 * 1024, false);
      expect(r).toMatchObject({ bytes: GiB, intact: true });
      expect(r.maxInFlight).toBeLessThanOrEqual(1 << 20);
      if (linux) expect(hwm() - base).toBeLessThan(256 << 20); // nowhere near the 1 GiB it carried
      kw.close();
    });
  }
});
