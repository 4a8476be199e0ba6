/**
 * The outside security review (issue #10): one test per reproduced defect, written to fail on the
 * code as reviewed and pass after its fix. Defects 1 (unsigned audit tail) and 9 (outcome
 * records) are in test/audit-unsigned-tail.test.ts and test/breakglass-outcome.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { BreakGlass } from '../src/breakglass/node.js';
import type { TokenLedger } from '../src/breakglass/ledger.js';
import type { AeadImpl } from '../src/aead/types.js';
import { Keywarden, KeyCache, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

/** Sets `Object.prototype[name]` for the duration of `fn` (prototype pollution by an attacker). */
async function withPolluted<T>(name: string, value: unknown, fn: () => Promise<T>): Promise<T> {
  Object.defineProperty(Object.prototype, name, { value, configurable: true, writable: true, enumerable: false });
  try {
    return await fn();
  } finally {
    delete (Object.prototype as Record<string, unknown>)[name];
  }
}

describe('#10.2 break-glass window is [from, to)', () => {
  it('a key version activated exactly at `to` is not unwrapped and its messages are not released', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    // c0 v1 covers days 0-10, v2 starts exactly at day 10: the window ends there.
    const tok = await token(d, [t1, t2, l1], { scope: { from: new Date(T0).toISOString(), to: new Date(T0 + 10 * DAY).toISOString() } });
    const page = d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const r = await d.bg.decrypt(tok.text, 'c0', page);
    expect(r.results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['ok', 'ok', 'ok', 'ERR_BG_OUT_OF_SCOPE', 'ERR_BG_OUT_OF_SCOPE', 'ERR_BG_OUT_OF_SCOPE']);
    expect(d.unwrapped.map((u) => u.version)).toEqual(['c0#1']);
  });
});

describe('#10.3 a shared KeyCache is partitioned by master key instance, not by the id it claims', () => {
  it('an instance whose master key cannot unwrap does not read keys another instance unwrapped', async () => {
    const cache = new KeyCache();
    const keyStore = new MemoryKeyStore();
    const good = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:shared-id' });
    const impostor = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:shared-id' }); // other bytes, same claim
    const a = new Keywarden({ masterKey: good, keyStore, cache });
    const b = new Keywarden({ masterKey: impostor, keyStore, cache });
    const ct = await a.encryptString('conv', 'secret', { aad: 'm1' });
    expect(await a.decryptString('conv', ct, { aad: 'm1' })).toBe('secret');
    // b must unwrap on its own, and its master key cannot.
    expect(await codeOf(b.decrypt('conv', ct, { aad: 'm1' }))).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    // decryptMany reports a KMS failure for the whole page, as decrypt does.
    expect(await codeOf(b.decryptMany('conv', [{ ciphertext: ct, aad: 'm1' }]))).toBe('ERR_KMS_INVALID_CIPHERTEXT');
    // The same provider instance still shares: no second unwrap for a second Keywarden.
    const c = new Keywarden({ masterKey: good, keyStore, cache });
    expect(await c.decryptString('conv', ct, { aad: 'm1' })).toBe('secret');
    expect(c.stats().kms.unwrapDataKey).toBe(0);
  });
});

describe('#10.4 replay protection does not depend on reusing one BreakGlass instance', () => {
  it('a service that builds a BreakGlass per request still redeems a token once', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 1).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const make = () => new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, now: d.now });
    expect((await make().decrypt(tok.text, 'c0', page)).opened).toBe(1);
    expect(await codeOf(make().decrypt(tok.text, 'c0', page))).toBe('ERR_BG_REPLAYED');
  });
});

describe('#10.5 options are read from own properties only', () => {
  it('a polluted Object.prototype.aead never receives a data key (Keywarden)', async () => {
    const seen: Uint8Array[] = [];
    const evil: AeadImpl = {
      name: 'evil',
      seal(_s, key, _n, pt) {
        seen.push(Uint8Array.from(key));
        return pt;
      },
      open(_s, key) {
        seen.push(Uint8Array.from(key));
        return null;
      },
    };
    await withPolluted('aead', evil, async () => {
      const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
      expect(kw.implementation).toBe('node');
      const ct = await kw.encryptString('c', 'hello');
      expect(await kw.decryptString('c', ct)).toBe('hello');
    });
    expect(seen).toEqual([]);
  });

  it('a polluted Object.prototype.ledger or .now does not replace BreakGlass defaults', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 1).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const alwaysFresh: TokenLedger = { consume: async (_j, _e, record) => (await record(), true) };
    await withPolluted('ledger', alwaysFresh, async () => {
      const make = () => new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, now: d.now });
      expect((await make().decrypt(tok.text, 'c0', page)).opened).toBe(1);
      expect(await codeOf(make().decrypt(tok.text, 'c0', page))).toBe('ERR_BG_REPLAYED');
    });
    // A polluted clock would let an expired token through: the default is the real clock.
    await withPolluted('now', () => new Date(T0), async () => {
      const d2 = await deployment();
      const late = await token(d2, [d2.approvers.t1, d2.approvers.t2, d2.approvers.l1], { exp: Math.floor(Date.now() / 1000) - 10 });
      const bg = new BreakGlass({ policy: d2.policy, masterKey: d2.masterKey, keyStore: d2.keyStore, audit: { log: d2.log, ids: d2.ids, actor: 'x' } });
      expect(await codeOf(bg.decrypt(late.text, 'c0', page))).not.toBe('ok');
    });
  });
});

describe('#10.6 aad strings must be well-formed Unicode', () => {
  it('lone surrogates are refused as input instead of colliding with U+FFFD', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    for (const aad of ['id-\uD800', 'id-\uDC00', '\uDBFF']) {
      await expect(kw.encryptString('c', 'x', { aad })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.aad' });
      const ct = await kw.encryptString('c', 'x', { aad: 'id-\uFFFD' });
      await expect(kw.decrypt('c', ct, { aad })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.aad' });
      await expect(kw.decryptMany('c', [{ ciphertext: ct, aad }])).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'items[0].aad' });
    }
    // Well-formed astral characters are fine.
    const ct = await kw.encryptString('c', 'x', { aad: 'id-😀' });
    expect(text(await kw.decrypt('c', ct, { aad: 'id-😀' }))).toBe('x');
  });
});

describe('#10.8 a constructor that throws has no side effects', () => {
  it('a refused Keywarden does not keep a shared cache partition alive', async () => {
    const cache = new KeyCache();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    expect(() => new Keywarden({ masterKey, keyStore, cache, watchKeyChanges: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ param: 'options.watchKeyChanges' }));
    expect(() => new Keywarden({ masterKey, keyStore, cache, audit: { log: {} as AuditLog, ids: {} as never, actor: 'x' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
    const kw = new Keywarden({ masterKey, keyStore, cache });
    await kw.encryptString('c', 'x');
    expect(cache.stats().size).toBe(1);
    kw.close(); // the last live instance: the partition must be wiped
    expect(cache.stats().size).toBe(0);
  });

  it('a refused Keywarden does not subscribe to key changes', async () => {
    let subscribed = 0;
    const keyStore = new MemoryKeyStore();
    const spy = Object.assign(Object.create(keyStore) as MemoryKeyStore, { subscribe: async () => (subscribed++, async () => {}) });
    expect(() => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: spy, watchKeyChanges: true, maxMessagesPerKey: -1 })).toThrow();
    await new Promise((r) => setTimeout(r, 10));
    expect(subscribed).toBe(0);
  });
});
