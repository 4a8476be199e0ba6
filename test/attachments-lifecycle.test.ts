/**
 * Key lifecycle applies to attachments as to messages (issue #16, point 4): a shredded
 * conversation's attachments are unreadable through every API (`ERR_KEY_SHREDDED`), a retired
 * (shredded) version's too, while the conversation's later versions stay readable; sealing under
 * a shredded conversation is refused; a reader opened before a shred stops at its next range;
 * retention erases exactly the attachments of the versions it shreds, with the messages of those
 * versions, and never one younger than the cut-off (property); the rotation policy by age rotates
 * before an attachment is sealed, as before a message; break-glass refuses a shredded attachment
 * and records the failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectAttachment, inspectCiphertext } from '../src/node.js';
import { bytesOf, openVia, split } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';
import { errorCode } from './support/fixtures.js';

const CONV = 'dm:alice:bob';

describe('attachments and the key lifecycle', () => {
  it('a shredded conversation: its attachments fail with ERR_KEY_SHREDDED through every API, and no new one is sealed', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const kw = new Keywarden({ masterKey, keyStore });
    const a = await kw.encryptAttachment(CONV, bytesOf(5000, 1), { segmentSize: 1024, aad: 'att-1' });
    const other = await kw.encryptAttachment('dm:carol:dan', bytesOf(100, 2));
    await kw.shred(CONV);
    expect(await errorCode(kw.decryptAttachment(CONV, a, { aad: 'att-1' }))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(kw.openAttachment(CONV, a, { aad: 'att-1' }))).toBe('ERR_KEY_SHREDDED');
    for (const api of ['core', 'web', 'node'] as const) {
      const r = await openVia(api, kw, CONV, split(a, [100]), { aad: 'att-1' });
      expect(r.ok ? 'opened' : r.code, api).toBe('ERR_KEY_SHREDDED');
    }
    expect(await errorCode(kw.encryptAttachment(CONV, new Uint8Array(1)))).toBe('ERR_KEY_SHREDDED');
    // A cold instance sees the same; other conversations are untouched.
    const cold = new Keywarden({ masterKey, keyStore });
    expect(await errorCode(cold.decryptAttachment(CONV, a, { aad: 'att-1' }))).toBe('ERR_KEY_SHREDDED');
    expect(await cold.decryptAttachment('dm:carol:dan', other)).toEqual(bytesOf(100, 2));
  });

  it('a retired version (shred below): its attachments are gone, later versions\' still open', async () => {
    const { kw } = { kw: new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() }) };
    const v1 = await kw.encryptAttachment(CONV, bytesOf(3000, 1));
    await kw.rotate(CONV);
    const v2 = await kw.encryptAttachment(CONV, bytesOf(3000, 2));
    await kw.shred(CONV, { below: 2 });
    expect(await errorCode(kw.decryptAttachment(CONV, v1))).toBe('ERR_KEY_SHREDDED');
    expect(await kw.decryptAttachment(CONV, v2)).toEqual(bytesOf(3000, 2));
    expect(inspectAttachment(await kw.encryptAttachment(CONV, new Uint8Array(1))).keyVersion).toBe(2);
  });

  it('the rotation policy by age rotates before an attachment is sealed, as before a message', async () => {
    let t = T0;
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), rotation: { maxAgeMs: DAY }, now: () => new Date(t) });
    const first = await kw.encryptAttachment(CONV, new Uint8Array(10));
    t = T0 + 2 * DAY;
    const later = await kw.encryptAttachment(CONV, new Uint8Array(10));
    expect([inspectAttachment(first).keyVersion, inspectAttachment(later).keyVersion]).toEqual([1, 2]);
    expect(await kw.decryptAttachment(CONV, first)).toEqual(new Uint8Array(10));
  });

  it('break-glass: an attachment under a shredded version is refused with ERR_KEY_SHREDDED and recorded as failed', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const a = await d.kw.encryptAttachment('c0', bytesOf(2000, 3), { aad: 'att-3' });
    d.setTime(T0 + 20 * DAY);
    await d.kw.shred('c0');
    const err = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', a, { aad: 'att-3' }).catch((e) => e);
    expect(err.code).toBe('ERR_KEY_SHREDDED');
    const events = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
    expect(events.slice(-2).map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:failed']);
    expect(d.unwrapped).toEqual([]);
  });

  it('a reader opened before the shred stops at its next range with ERR_KEY_SHREDDED, and stays stopped', async () => {
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore });
    const pt = bytesOf(4000, 9);
    const a = await kw.encryptAttachment(CONV, pt, { segmentSize: 512, aad: 'att-9' });
    const reader = await kw.openAttachment(CONV, a, { aad: 'att-9' });
    expect(await reader.decryptRange(600, 100)).toEqual(pt.subarray(600, 700));
    await kw.shred(CONV);
    expect(await errorCode(reader.decryptRange(600, 100))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(reader.decryptRange(0, 0))).toBe('ERR_CLOSED'); // its attachment key was wiped with the failure
    // A version retired by shred({ below }) stops its readers the same way; the later version's reader reads on.
    const kw2 = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    const old = await kw2.openAttachment('c', await kw2.encryptAttachment('c', pt, { segmentSize: 512 }));
    await kw2.rotate('c');
    const young = await kw2.openAttachment('c', await kw2.encryptAttachment('c', pt, { segmentSize: 512 }));
    await kw2.shred('c', { below: 2 });
    expect(await errorCode(old.decryptRange(0, 10))).toBe('ERR_KEY_SHREDDED');
    expect(await young.decryptRange(3990, 10)).toEqual(pt.subarray(3990));
  });

  it('a shred by another instance stops this one\'s readers once its cached key is gone (as for messages)', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const reading = new Keywarden({ masterKey, keyStore, cache: { maxAgeMs: 1000 } });
    const pt = bytesOf(2000, 4);
    const reader = await reading.openAttachment(CONV, await reading.encryptAttachment(CONV, pt, { segmentSize: 256 }));
    const msg = await reading.encrypt(CONV, bytesOf(10, 1));
    await new Keywarden({ masterKey, keyStore }).shred(CONV);
    // Still cached here: ranges go on, exactly as the message still decrypts.
    expect(await reader.decryptRange(0, 5)).toEqual(pt.subarray(0, 5));
    expect(Uint8Array.from(await reading.decrypt(CONV, msg))).toEqual(bytesOf(10, 1));
    await new Promise((r) => setTimeout(r, 1100));
    // Past the cache's max age: both fail alike.
    expect(await errorCode(reading.decrypt(CONV, msg))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(reader.decryptRange(0, 5))).toBe('ERR_KEY_SHREDDED');
  });
});

describe('retention erases attachments with the messages of the same versions', () => {
  async function setup(rotationDays: number) {
    let t = T0;
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, now: () => new Date(t), rotation: { maxAgeMs: rotationDays * DAY } });
    return { kw, keyStore, setTime: (ms: number) => (t = ms) };
  }
  const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

  it('a year of weekly attachments and messages: the dry run touches nothing; the run erases exactly the planned versions\' attachments, through every API', async () => {
    const { kw, setTime } = await setup(30);
    const sealed: { att: Uint8Array; msg: Uint8Array; at: number; week: number }[] = [];
    for (let week = 0; week < 52; week++) {
      const at = T0 + week * 7 * DAY;
      setTime(at);
      sealed.push({ att: await kw.encryptAttachment(CONV, bytesOf(700, week + 1), { segmentSize: 256, aad: `att-${week}` }), msg: await kw.encrypt(CONV, bytesOf(10, week + 1)), at, week });
    }
    const now = T0 + 365 * DAY;
    setTime(now);
    const dry = await kw.retain({ olderThanMs: 90 * DAY, dryRun: true });
    expect(dry.versions).toBeGreaterThan(5);
    for (const s of sealed) expect(await outcome(kw.decryptAttachment(CONV, s.att, { aad: `att-${s.week}` }))).toBe('ok');
    const planned = new Set(dry.items.map((i) => i.version));
    const done = await kw.retain({ olderThanMs: 90 * DAY });
    expect(done.versions).toBe(dry.versions);
    const cutoff = now - 90 * DAY;
    let erased = 0;
    for (const s of sealed) {
      const v = inspectAttachment(s.att).keyVersion;
      const expected = planned.has(v) ? 'ERR_KEY_SHREDDED' : 'ok';
      if (planned.has(v)) erased++;
      const aad = { aad: `att-${s.week}` };
      expect(await outcome(kw.decryptAttachment(CONV, s.att, aad)), `week ${s.week}`).toBe(expected);
      expect(await outcome(kw.openAttachment(CONV, s.att, aad))).toBe(expected);
      const streamed = await openVia((['core', 'web', 'node'] as const)[s.week % 3]!, kw, CONV, split(s.att, [300]), aad);
      expect(streamed.ok ? 'ok' : streamed.code).toBe(expected);
      // The message sealed the same week under the same version shares its fate.
      expect(inspectCiphertext(s.msg).keyVersion).toBe(v);
      expect(await outcome(kw.decrypt(CONV, s.msg))).toBe(expected);
      if (s.at >= cutoff) expect(expected).toBe('ok'); // never one younger than the cut-off
    }
    expect(erased).toBeGreaterThan(0);
    expect(erased).toBeLessThan(sealed.length);
  });

  it('never erases an attachment younger than the cut-off, and erases every one of a shredded version, for any sealing history (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 20 * DAY }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 10, max: 120 }), fc.boolean(), async (gaps, keepDays, idle) => {
        const { kw, keyStore, setTime } = await setup(7);
        let t = T0;
        const sealed: { att: Uint8Array; at: number }[] = [];
        for (const g of gaps) {
          t += g;
          setTime(t);
          sealed.push({ att: await kw.encryptAttachment('P', bytesOf(300, g), { segmentSize: 256 }), at: t });
        }
        const now = t + 10 * DAY;
        setTime(now);
        await kw.retain({ olderThanMs: keepDays * DAY, includeIdle: idle });
        const shredded = new Set((await keyStore.listVersions('P')).filter((r) => r.state === 'shredded').map((r) => r.version));
        for (const s of sealed) {
          const got = await outcome(kw.decryptAttachment('P', s.att));
          expect(got).toBe(shredded.has(inspectAttachment(s.att).keyVersion) ? 'ERR_KEY_SHREDDED' : 'ok');
          if (s.at >= now - keepDays * DAY) expect(got).toBe('ok');
        }
      }),
      { numRuns: 25 },
    );
  });
});

