/**
 * Crypto-shredding at its edges (src/keys/lifecycle.ts, docs/KEYS.md §3; found by mutation
 * testing, issue #11): an unknown conversation with and without an audit log, closing a
 * conversation whose versions were all shredded one by one (recorded, and it stops sealing), and a
 * new generation that loses to another shred.
 */
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { errorCode, wrapStore } from './support/fixtures.js';

const logKeys = generateNoteKey('keywarden.example/shred-edges', new Uint8Array(32).fill(5));
const ids = new AuditIdHasher(new Uint8Array(32).fill(6));
const enc = (s: string) => new TextEncoder().encode(s);

async function setup(opts: { audit: boolean; store?: (inner: MemoryKeyStore) => KeyStore }) {
  const auditStore = new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 500 });
  const inner = new MemoryKeyStore();
  const keyStore = opts.store ? opts.store(inner) : inner;
  const kw = new Keywarden({
    masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore,
    ...(opts.audit ? { audit: { log, ids, actor: 'svc' } } : {}),
  });
  const events = async () => (await auditStore.read(0, await auditStore.size())).map(decodeEntry);
  return { kw, inner, events };
}

describe('shred edges', () => {
  for (const audit of [false, true]) {
    it(`a conversation with no key: a conversation shred is ERR_KEY_NOT_FOUND, a version shred shreds nothing; nothing is stored or recorded (audit ${audit ? 'on' : 'off'})`, async () => {
      const { kw, inner, events } = await setup({ audit });
      expect(await errorCode(kw.shred('nobody'))).toBe('ERR_KEY_NOT_FOUND');
      expect(await kw.shred('nobody', { versions: [1, 2] })).toEqual({ conversationId: 'nobody', shredded: [], alreadyShredded: [] });
      expect(await inner.listVersions('nobody')).toEqual([]);
      expect(await events()).toEqual([]);
      // The conversation is not closed by either: its first seal creates version 1.
      await kw.encrypt('nobody', enc('hi'));
      expect((await inner.getLatest('nobody'))?.version).toBe(1);
    });
  }

  it('closing a conversation whose every version was shredded one by one is recorded, and it stops sealing until a new generation', async () => {
    const { kw, inner, events } = await setup({ audit: true });
    await kw.encrypt('V', enc('v1'));
    expect((await inner.listVersions('V')).map((r) => r.state)).toEqual(['active']);
    expect(await kw.shred('V', { versions: [1] })).toMatchObject({ shredded: [1] });
    // Closed by nothing yet: the conversation shred finds no key left to shred, but closes it.
    expect(await kw.shred('V')).toEqual({ conversationId: 'V', shredded: [], alreadyShredded: [1] });
    const shreds = (await events()).filter((e) => e.type === 'key.shredded');
    expect(shreds.map((e) => [e.versions, e.scope, e.reason])).toEqual([[[1], 'version', 'request'], [[], 'conversation', 'request']]);
    expect(shreds[1]).toMatchObject({ conversation: ids.conversation('V') });
    expect((await inner.listVersions('V')).map((r) => [r.state, r.shredScope])).toEqual([['shredded', 'conversation']]);
    expect(await errorCode(kw.encrypt('V', enc('again')))).toBe('ERR_KEY_SHREDDED');
    // A second conversation shred changes nothing and records nothing.
    expect(await kw.shred('V')).toEqual({ conversationId: 'V', shredded: [], alreadyShredded: [1] });
    expect((await events()).filter((e) => e.type === 'key.shredded')).toHaveLength(2);
    expect((await kw.startGeneration('V')).version).toBe(2);
  });

  it('startGeneration that loses to another shred of the conversation is ERR_KEY_SHREDDED and stores nothing', async () => {
    let shredFirst = false;
    // No audit log: with one, inserts run on the store's transaction handle, past this wrapper.
    const { kw, inner } = await setup({
      audit: false,
      store: (s) => wrapStore(s, {
        // Another instance shreds the new generation's first version just before ours lands.
        insertNext: async (record, expected, options) => {
          if (!shredFirst) return s.insertNext(record, expected, options);
          shredFirst = false;
          const theirs = await s.insertNext({ ...record }, expected, options);
          await s.shred(record.conversationId, 'conversation', new Date());
          expect(theirs.inserted).toBe(true);
          return { inserted: false, record: (await s.getLatest(record.conversationId))! };
        },
      }),
    });
    await kw.encrypt('R', enc('r'));
    await kw.shred('R');
    shredFirst = true;
    expect(await errorCode(kw.startGeneration('R'))).toBe('ERR_KEY_SHREDDED');
    expect((await inner.listVersions('R')).map((r) => r.state)).toEqual(['shredded', 'shredded']);
    expect(await errorCode(kw.encrypt('R', enc('x')))).toBe('ERR_KEY_SHREDDED');
  });
});
