/**
 * Review 7 (break-glass attachments): the reader `BreakGlass.openAttachment` returns ignored the
 * `signal` of `decryptRange` while it asked the key store whether the key version may still be
 * read (the per-range re-check that stops a reader after a shred). A Keywarden reader races that
 * same re-check against the signal (src/keywarden.ts `readable`: `raceAbort(…, signal)`), and the
 * signal is what a caller has to give up on a range (an HTTP client that went away).
 *
 * Observed: with the key store not answering, an aborted `decryptRange` of a break-glass reader
 * stayed pending — until the store deadline (10 s by default) ran out or the store answered —
 * where a Keywarden reader's fails at once with ERR_ABORTED.
 *
 * Where: src/breakglass/attachment.ts openAndVerify, `recheck` (its `signal` parameter dropped).
 *
 * Now: the re-check is raced against the signal, as Keywarden's: an abort fails the range with
 * ERR_ABORTED at once, and the reader stays usable.
 */
import { describe, expect, it } from 'vitest';
import type { KeyRecord } from '../src/keys/records.js';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('break-glass reader: decryptRange with a signal while the key store does not answer', () => {
  it('fails with ERR_ABORTED at the abort, not when the store answers', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const pt = bytesOf(5000, 3);
    const ct = await d.kw.encryptAttachment('c0', pt, { aad: 'att-3', segmentSize: 1024 });
    d.setTime(T0 + 20 * DAY);
    const { attachment } = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', ct, { aad: 'att-3' });

    // The key store stops answering (until released at the end).
    const real = d.keyStore.getVersion.bind(d.keyStore);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    d.keyStore.getVersion = async (c: string, v: number): Promise<KeyRecord | undefined> => {
      await gate;
      return real(c, v);
    };
    const ac = new AbortController();
    let settled: string | undefined;
    const range = attachment.decryptRange(0, 10, { signal: ac.signal }).then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
    void range.then((c) => (settled = c));
    await turns(5);
    expect(settled).toBeUndefined(); // waiting for the store, as it should
    ac.abort();
    await turns(20);
    expect(settled).toBe('ERR_ABORTED'); // the store still has not answered
    release();
    await range;

    // The reader is still usable once the store answers.
    d.keyStore.getVersion = real;
    expect(Buffer.from(await attachment.decryptRange(100, 50)).equals(Buffer.from(pt.subarray(100, 150)))).toBe(true);
    attachment.close();
  });
});
