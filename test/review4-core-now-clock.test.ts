/**
 * Outside review 4 (core), 2026-12-02: Keywarden's `options.now` clock was checked to be a
 * function, never what it returned.
 *
 * What was wrong (src/keywarden.ts): the clock's result went straight into `now().getTime()`.
 * - A clock returning anything but a Date (a number, undefined) escaped from `encrypt` as a raw
 *   TypeError: no `code`, no parameter named (SECURITY.md: every error a public function throws
 *   is a KeywardenError).
 * - A clock returning an invalid Date, or one outside what format v2 can carry (1970..2106), was
 *   refused only by the seal itself (`sealingSeconds`), after the first encrypt of a conversation
 *   had generated a data key and STORED version 1 — with `createdAt: Invalid Date` — and after a
 *   cached key's seal budget was decremented. SECURITY.md: "bad input is refused naming the
 *   parameter, before anything is written". `rotate` and `startGeneration` stored such records
 *   without any error at all.
 * The same class of defect was fixed for break-glass's `now` in review 3
 * (test/review3-bg-now-option.test.ts).
 *
 * Now: every reading of the clock is checked (a Date whose time lies in 1970..2106, format v2's
 * range); anything else is ERR_INVALID_INPUT naming `options.now`, thrown before any master key
 * or key store call, so nothing is generated or stored.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';

const bad: [string, () => unknown][] = [
  ['a number', () => 1_800_000_000_000],
  ['undefined', () => undefined],
  ['an invalid Date', () => new Date(Number.NaN)],
  ['a Date after 2106', () => new Date('2200-01-01T00:00:00Z')],
  ['a Date before 1970', () => new Date('1969-12-31T23:59:59Z')],
  ['an object that says it is a Date', () => ({ getTime: () => 1_800_000_000_000, [Symbol.toStringTag]: 'Date' })],
];

function setup(now: () => unknown) {
  const keyStore = new MemoryKeyStore();
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  let generated = 0;
  const gen = masterKey.generateDataKey.bind(masterKey);
  masterKey.generateDataKey = (...a: Parameters<typeof gen>) => (generated++, gen(...a));
  const kw = new Keywarden({ masterKey, keyStore, now: now as () => Date });
  return { kw, keyStore, generated: () => generated };
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isKeywardenError(e) ? `${e.code}${'param' in e ? ` ${String(e.param)}` : ''}` : `raw ${(e as Error).constructor.name}`),
  );

describe('a clock that gives no valid Date is refused naming options.now, before anything is written (review 4, core)', () => {
  for (const [what, now] of bad) {
    it(`${what}: encrypt, encryptString, rotate, startGeneration, encryptAttachment`, async () => {
      const { kw, keyStore, generated } = setup(now);
      const calls: [string, () => Promise<unknown>][] = [
        ['encrypt', () => kw.encrypt('c', new Uint8Array(3))],
        ['encryptString', () => kw.encryptString('c', 'hi')],
        ['rotate', () => kw.rotate('c')],
        ['startGeneration', () => kw.startGeneration('c')],
        ['encryptAttachment', () => kw.encryptAttachment('c', new Uint8Array(3))],
      ];
      for (const [name, call] of calls) {
        expect(`${name}: ${await outcome(call())}`).toBe(`${name}: ERR_INVALID_INPUT options.now`);
      }
      expect(await keyStore.listVersions('c')).toEqual([]); // nothing stored
      expect(generated()).toBe(0); // no data key generated
    });
  }

  it('a cached key loses no seal of its budget to a refused clock', async () => {
    let t: unknown = new Date('2030-01-01T00:00:00Z');
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, maxMessagesPerKey: 3, now: () => t as Date });
    await kw.encrypt('c', new Uint8Array(1)); // v1, cached, 2 seals left
    t = new Date(Number.NaN);
    expect(await outcome(kw.encrypt('c', new Uint8Array(1)))).toBe('ERR_INVALID_INPUT options.now');
    expect(await outcome(kw.encrypt('c', new Uint8Array(1)))).toBe('ERR_INVALID_INPUT options.now');
    t = new Date('2030-01-01T00:00:01Z');
    // Both seals left are still there: the next two seal under version 1.
    const a = await kw.encrypt('c', new Uint8Array(1));
    const b = await kw.encrypt('c', new Uint8Array(1));
    expect([a[5], b[5]]).toEqual([1, 1]);
  });

  it('the control: a valid clock seals, with its time as the sealing time', async () => {
    const { kw, keyStore } = setup(() => new Date('2030-01-01T00:00:00Z'));
    const ct = await kw.encrypt('c', new Uint8Array(3));
    expect(Buffer.from(ct.subarray(6, 10)).readUInt32BE(0)).toBe(Date.parse('2030-01-01T00:00:00Z') / 1000);
    expect((await keyStore.listVersions('c')).map((r) => r.createdAt.toISOString())).toEqual(['2030-01-01T00:00:00.000Z']);
  });
});
