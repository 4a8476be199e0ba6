/**
 * Retention by crypto-shredding (issue #12 point 2, docs/KEYS.md §7): with rotation by age,
 * "older than N" erases exactly the messages of versions that ended before the cut-off (minus the
 * documented margin), never a younger message; a dry run reports the same set and shreds nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);
const logKeys = generateNoteKey('keywarden.example/retention', new Uint8Array(32).fill(2));

async function setup(rotationDays = 30) {
  let t = T0;
  const auditStore = new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 500 });
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({
    masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, now: () => new Date(t),
    rotation: { maxAgeMs: rotationDays * DAY }, audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(1)), actor: 'retention-job' },
  });
  return { kw, keyStore, auditStore, setTime: (ms: number) => (t = ms) };
}

describe('retention', () => {
  it('shreds exactly the versions superseded before the cut-off; the dry run reports them first', async () => {
    const { kw, keyStore, auditStore, setTime } = await setup(30);
    // One message a week for a year in conversation A; B is sealed once at the start and again now.
    const sealed: { ct: Uint8Array; at: number; conv: string }[] = [];
    for (let week = 0; week < 52; week++) {
      setTime(T0 + week * 7 * DAY);
      sealed.push({ ct: await kw.encrypt('A', enc(`week ${week}`)), at: T0 + week * 7 * DAY, conv: 'A' });
    }
    setTime(T0);
    sealed.push({ ct: await kw.encrypt('B', enc('b-old')), at: T0, conv: 'B' });
    const now = T0 + 365 * DAY;
    setTime(now);
    sealed.push({ ct: await kw.encrypt('B', enc('b-new')), at: now, conv: 'B' });

    const dry = await kw.retain({ olderThanMs: 90 * DAY, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, cutoff: new Date(now - 90 * DAY).toISOString(), complete: true, truncated: false });
    expect(dry.versions).toBeGreaterThan(5);
    expect(dry.items).toHaveLength(dry.versions);
    expect((await keyStore.listVersions('A')).some((r) => r.state === 'shredded')).toBe(false); // nothing shredded
    const planned = new Set(dry.items.map((i) => `${i.conversationId}#${i.version}`));

    const done = await kw.retain({ olderThanMs: 90 * DAY });
    expect(done).toMatchObject({ versions: dry.versions, conversations: dry.conversations, dryRun: false, complete: true });
    const cutoff = now - 90 * DAY;
    for (const m of sealed) {
      const v = inspectCiphertext(m.ct).keyVersion;
      const got = await kw.decrypt(m.conv, m.ct).then(() => 'ok', (e) => e.code);
      if (planned.has(`${m.conv}#${v}`)) expect(got).toBe('ERR_KEY_SHREDDED');
      else expect(got).toBe('ok');
      // Never a message younger than the cut-off.
      if (m.at >= cutoff) expect(got).toBe('ok');
    }
    // Every shredded version ended before the cut-off (minus the margin).
    for (const r of [...(await keyStore.listVersions('A')), ...(await keyStore.listVersions('B'))]) {
      if (r.state === 'shredded') expect(r.supersededAt!.getTime()).toBeLessThan(cutoff);
    }
    const evs = (await auditStore.read(0, await auditStore.size())).map(decodeEntry).filter((e) => e.type === 'key.shredded');
    expect(evs.every((e) => e.reason === 'retention' && e.scope === 'version')).toBe(true);
    expect(evs.reduce((n, e) => n + (e.versions as number[]).length, 0)).toBe(done.versions);
    expect(verifyAuditLog({ verifierKey: logKeys.verifierKey, entries: await auditStore.read(0, await auditStore.size()), checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
    // Idempotent: a second run finds nothing.
    expect((await kw.retain({ olderThanMs: 90 * DAY })).versions).toBe(0);
  });

  it('keeps a version superseded inside the margin (an instance may still have sealed with it)', async () => {
    const { kw, keyStore, setTime } = await setup(30);
    await kw.encrypt('M', enc('m'));
    setTime(T0 + 40 * DAY);
    await kw.rotate('M'); // v1 superseded at day 40
    // Cut-off two minutes after the supersession: inside the margin (cache max age 5 min + 1 min).
    setTime(T0 + 40 * DAY + 2 * 60_000 + 90 * DAY);
    expect((await kw.retain({ olderThanMs: 90 * DAY })).versions).toBe(0);
    setTime(T0 + 40 * DAY + 7 * 60_000 + 90 * DAY);
    expect((await kw.retain({ olderThanMs: 90 * DAY })).versions).toBe(1);
    expect((await keyStore.listVersions('M')).map((r) => r.state)).toEqual(['shredded', 'active']);
  });

  it('includeIdle: also takes versions by their rotation deadline — active ones of idle conversations, and ones superseded late by lazy rotation', async () => {
    const { kw, keyStore, setTime } = await setup(30);
    const old = await kw.encrypt('idle', enc('old'));
    setTime(T0 + 200 * DAY);
    expect((await kw.retain({ olderThanMs: 90 * DAY })).versions).toBe(0); // not superseded
    const r = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true });
    expect(r).toMatchObject({ versions: 1, idleVersions: 1 });
    expect(await kw.decrypt('idle', old).catch((e) => e.code)).toBe('ERR_KEY_SHREDDED');
    const fresh = await kw.encrypt('idle', enc('new'));
    expect(inspectCiphertext(fresh).keyVersion).toBe(2);
    expect((await keyStore.listVersions('idle')).map((x) => x.state)).toEqual(['shredded', 'active']);
    // A conversation quiet for months, then active again: lazy rotation superseded its old version
    // only now, but its rotation deadline says it sealed nothing for months.
    setTime(T0 + 200 * DAY);
    const quiet = await kw.encrypt('quiet', enc('january'));
    setTime(T0 + 400 * DAY);
    const july = await kw.encrypt('quiet', enc('july'));
    expect((await keyStore.getVersion('quiet', 1))!.supersededAt!.getTime()).toBe(T0 + 400 * DAY);
    expect((await kw.retain({ olderThanMs: 90 * DAY })).versions).toBe(0); // superseded too recently
    const dry = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true, dryRun: true });
    expect(dry.items.filter((i) => i.conversationId === 'quiet')).toEqual([{ conversationId: 'quiet', version: 1, state: 'superseded', activatedAt: new Date(T0 + 200 * DAY).toISOString(), supersededAt: new Date(T0 + 400 * DAY).toISOString() }]);
    expect((await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true })).versions).toBeGreaterThanOrEqual(1);
    expect(await kw.decrypt('quiet', quiet).catch((e) => e.code)).toBe('ERR_KEY_SHREDDED');
    expect(new TextDecoder().decode(await kw.decrypt('quiet', july))).toBe('july');
    // A conversation that sealed recently keeps its active version.
    await kw.encrypt('busy', enc('x'));
    expect((await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true })).versions).toBe(0);
    expect((await keyStore.listVersions('busy')).map((x) => x.state)).toEqual(['active']);
  });

  it('never erases a message younger than the cut-off, for any sealing history (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 20 * DAY }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 10, max: 120 }), fc.boolean(), async (gaps, keepDays, idle) => {
        const { kw, setTime } = await setup(7);
        let t = T0;
        const sealed: { ct: Uint8Array; at: number }[] = [];
        for (const g of gaps) {
          t += g;
          setTime(t);
          sealed.push({ ct: await kw.encrypt('P', enc('x')), at: t });
        }
        const now = t + 10 * DAY;
        setTime(now);
        await kw.retain({ olderThanMs: keepDays * DAY, includeIdle: idle });
        for (const m of sealed) {
          if (m.at >= now - keepDays * DAY) expect(await kw.decrypt('P', m.ct).then(() => 'ok', (e) => e.code)).toBe('ok');
        }
      }),
      { numRuns: 30 },
    );
  });

  it('validates its options, naming them', async () => {
    const { kw } = await setup();
    for (const [o, param] of [
      [undefined, 'options'], [{}, 'options'], [{ olderThanMs: DAY, before: new Date(T0) }, 'options'], [{ olderThanMs: 10 }, 'options.olderThanMs'],
      [{ before: 'yesterday' }, 'options.before'], [{ before: '2999-01-01T00:00:00Z' }, 'options.before'], [{ olderThanMs: DAY, dryRun: 'yes' }, 'options.dryRun'],
      [{ olderThanMs: DAY, batchSize: 0 }, 'options.batchSize'], [{ olderThanMs: DAY, nope: 1 }, 'options.nope'],
    ] as const) {
      const err = await kw.retain(o as never).catch((e) => e);
      expect(err.code, JSON.stringify(o)).toBe('ERR_INVALID_INPUT');
      expect(err.message).toContain(param);
    }
    const noPolicy = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    expect((await noPolicy.retain({ olderThanMs: DAY, includeIdle: true }).catch((e) => e)).message).toContain('options.includeIdle');
  });
});
