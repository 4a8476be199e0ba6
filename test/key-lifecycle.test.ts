/**
 * KeyLifecycle (src/keys/lifecycle.ts) through Keywarden, where the counts of store and KMS calls
 * are the behaviour (found by mutation testing, issue #11): single-flight loads are per
 * conversation and version, a key known from a decrypt is reused for sealing without another
 * unwrap, one reservation serves concurrent sealers, a rotation stops this process sealing with
 * the old version at once, a grant of 0 follows another instance's rotation (also with
 * autoRotate off), and a lost first-use race records no audit event.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { AuditIdHasher } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { Keywarden, type KeywardenOptions, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { errorCode, wrapStore } from './support/fixtures.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A MemoryKeyStore that counts calls by method. */
function countingStore(inner = new MemoryKeyStore()) {
  const calls: Record<string, number> = {};
  const count = (m: string) => (calls[m] = (calls[m] ?? 0) + 1);
  const store: KeyStore = wrapStore(inner, {
    getLatest: (c) => (count('getLatest'), inner.getLatest(c)),
    getVersion: (c, v) => (count('getVersion'), inner.getVersion(c, v)),
    reserveMessages: (c, v, n, l) => (count('reserve'), inner.reserveMessages(c, v, n, l)),
  });
  return { inner, store, calls };
}

describe('single-flight loads are per conversation and version', () => {
  it('concurrent first encrypts of different conversations each get their own key', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey, keyStore });
    const ids = ['a', 'b', 'c', 'd'];
    const cts = await Promise.all(ids.map((id) => kw.encrypt(id, text(id))));
    const reader = new Keywarden({ masterKey, keyStore });
    for (const [i, id] of ids.entries()) expect(str(await reader.decrypt(id, cts[i]!))).toBe(id);
    expect(kw.stats().kms.generateDataKey).toBe(4);
  });

  it('concurrent cold decrypts of different conversations and versions each unwrap their own key', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey, keyStore });
    const msgs: [string, Uint8Array, string][] = [];
    for (const id of ['a', 'b']) {
      msgs.push([id, await writer.encrypt(id, text(`${id}1`)), `${id}1`]);
      await writer.rotate(id);
      msgs.push([id, await writer.encrypt(id, text(`${id}2`)), `${id}2`]);
    }
    const reader = new Keywarden({ masterKey, keyStore });
    const out = await Promise.all(msgs.map(([id, ct]) => reader.decrypt(id, ct)));
    expect(out.map(str)).toEqual(msgs.map((m) => m[2]));
    expect(reader.stats().kms.unwrapDataKey).toBe(4);
  });
});

describe('cached keys are reused', () => {
  it('a key known from a decrypt seals without another unwrap, and stays the active key', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const { inner, store, calls } = countingStore();
    const ct = await new Keywarden({ masterKey, keyStore: inner }).encrypt('c', text('first'));
    const kw = new Keywarden({ masterKey, keyStore: store, reservationSize: 100 });
    expect(str(await kw.decrypt('c', ct))).toBe('first');
    expect(kw.stats().kms.unwrapDataKey).toBe(1);
    const own = await kw.encrypt('c', text('second'));
    expect(kw.stats().kms).toEqual({ generateDataKey: 0, unwrapDataKey: 1 });
    // The decrypted version was the active one: no store read to find it, one reservation.
    for (let i = 0; i < 5; i++) await kw.encrypt('c', text('more'));
    expect(calls.getLatest).toBeUndefined();
    expect(calls.reserve).toBe(1);
    expect(kw.stats().kms).toEqual({ generateDataKey: 0, unwrapDataKey: 1 });
    expect(str(await new Keywarden({ masterKey, keyStore: inner }).decrypt('c', own))).toBe('second');
  });

  it('a cached version whose active pointer was dropped (a change notice) becomes the active key again after one store read', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const inner = new MemoryKeyStore();
    const calls: Record<string, number> = {};
    let notify: ((c: string, change: 'rotated' | 'shredded') => void) | undefined;
    const store: KeyStore = wrapStore(inner, {
      getLatest: (c) => ((calls.getLatest = (calls.getLatest ?? 0) + 1), inner.getLatest(c)),
      subscribe: async (onChange) => ((notify = onChange), async () => undefined),
    });
    const kw = new Keywarden({ masterKey, keyStore: store, watchKeyChanges: true, reservationSize: 100 });
    await kw.ready();
    await kw.encrypt('c', text('first'));
    expect(calls.getLatest).toBe(1);
    // A notice that turns out to change nothing (another instance's rotation lost its race, say).
    notify!('c', 'rotated');
    for (let i = 0; i < 5; i++) expect(inspectCiphertext(await kw.encrypt('c', text('more'))).keyVersion).toBe(1);
    expect(calls.getLatest).toBe(2);
    expect(kw.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: 0 });
    await kw.close();
  });

  it('repeated decrypts of an old version read the store and unwrap once', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const { inner, store, calls } = countingStore();
    const writer = new Keywarden({ masterKey, keyStore: inner });
    const old = await writer.encrypt('c', text('v1'));
    await writer.rotate('c');
    const kw = new Keywarden({ masterKey, keyStore: store });
    for (let i = 0; i < 3; i++) expect(str(await kw.decrypt('c', old))).toBe('v1');
    expect([calls.getVersion, kw.stats().kms.unwrapDataKey]).toEqual([1, 1]);
  });
});

describe('reservations and rotation', () => {
  it('concurrent sealers that run out together share one reservation', async () => {
    const { inner, store, calls } = countingStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store, maxMessagesPerKey: 1000, reservationSize: 5 });
    for (let i = 0; i < 5; i++) await kw.encrypt('c', text('m')); // the new version's own 5
    expect(calls.reserve).toBeUndefined();
    const cts = await Promise.all(Array.from({ length: 5 }, () => kw.encrypt('c', text('m'))));
    expect(calls.reserve).toBe(1);
    expect((await inner.getLatest('c'))?.sealedReserved).toBe(10);
    expect(cts.every((ct) => inspectCiphertext(ct).keyVersion === 1)).toBe(true);
  });

  it('after rotate, this instance seals with the new version at once, though the old one has seals left', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), reservationSize: 100 });
    expect(inspectCiphertext(await kw.encrypt('c', text('m'))).keyVersion).toBe(1);
    await kw.rotate('c');
    expect(inspectCiphertext(await kw.encrypt('c', text('m'))).keyVersion).toBe(2);
    await kw.rotate('c');
    const cts = await Promise.all(Array.from({ length: 3 }, () => kw.encrypt('c', text('m'))));
    expect(cts.map((ct) => inspectCiphertext(ct).keyVersion)).toEqual([3, 3, 3]);
  });

  it('a spent version another instance rotated: the newer version is used, with no key generated here, also with autoRotate off', async () => {
    for (const autoRotate of [true, false]) {
      const keyStore = new MemoryKeyStore();
      const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
      const opts: KeywardenOptions = { masterKey, keyStore, maxMessagesPerKey: 2, reservationSize: 1, autoRotate };
      const a = new Keywarden(opts);
      expect((await Promise.all([a.encrypt('c', text('1')), a.encrypt('c', text('2'))].map(async (p) => inspectCiphertext(await p).keyVersion)))).toEqual([1, 1]);
      await new Keywarden(opts).rotate('c');
      expect(inspectCiphertext(await a.encrypt('c', text('3'))).keyVersion).toBe(2);
      expect(a.stats().kms.generateDataKey).toBe(1);
    }
  });

  it('rotate: a store that loses the version it just returned is ERR_STORE_FAILED', async () => {
    const inner = new MemoryKeyStore();
    const store = wrapStore(inner, { getVersion: async () => undefined });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store });
    expect(await errorCode(kw.rotate('c'))).toBe('ERR_STORE_FAILED');
    expect((await inner.getLatest('c'))?.version).toBe(1);
  });
});

describe('audit of a lost race', () => {
  it('two instances racing the first use of a conversation record one key.created', async () => {
    const keys = generateNoteKey('keywarden.example/race', new Uint8Array(32).fill(6));
    const auditStore = new MemoryAuditStore();
    const log = await AuditLog.open({ store: auditStore, signerKey: keys.signerKey });
    const audit = { log, ids: new AuditIdHasher(new Uint8Array(32).fill(7)), actor: 'svc' };
    const inner = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    // Both instances see no key, then both insert: one wins, the other adopts its key.
    let hidden = 2;
    const blind = wrapStore(inner, { getLatest: async (c) => (hidden-- > 0 ? undefined : inner.getLatest(c)) });
    const a = new Keywarden({ masterKey, keyStore: blind, audit });
    const b = new Keywarden({ masterKey, keyStore: blind, audit });
    const [x, y] = await Promise.all([a.encrypt('c', text('x')), b.encrypt('c', text('y'))]);
    expect(inspectCiphertext(x).keyVersion).toBe(1);
    expect(inspectCiphertext(y).keyVersion).toBe(1);
    expect(a.stats().kms.generateDataKey + b.stats().kms.generateDataKey).toBe(2);
    const entries = (await auditStore.read(0, await auditStore.size())).map(decodeEntry);
    expect(entries.map((e) => [e.type, e.version])).toEqual([['key.created', 1]]);
    expect(str(await a.decrypt('c', y))).toBe('y');
  });
});
