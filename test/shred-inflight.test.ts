/**
 * Shreds against what is already under way (found by an outside review, 2026-11-30):
 * - a key load that read the store before a shred committed and finished after it put the
 *   shredded key back into the cache, on the very instance that shredded it: decrypts started
 *   after `shred()` resolved opened the conversation's messages until `cache.maxAgeMs`, and with
 *   an uncounted suite encrypts sealed new messages under the shredded version (lost for good);
 * - on the memory key store, a shred that rolled back (its audit append failed, fail closed)
 *   restored a wrapped key it had already zeroed in place: the version it was meant to keep was
 *   unreadable by any other instance.
 */
import { describe, expect, it } from 'vitest';
import { AuditIdHasher } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A master key whose unwraps wait at a gate while `gated` (a slow KMS, under the test's control). */
function gatedKms() {
  const real = new LocalMasterKey(LocalMasterKey.generateKey());
  let open: () => void = () => {};
  let gate: Promise<void> | undefined;
  let entered: () => void = () => {};
  let waiting = new Promise<void>((r) => (entered = r));
  const kms: MasterKeyProvider = {
    keyId: real.keyId,
    generateDataKey: (ctx) => real.generateDataKey(ctx),
    async unwrapDataKey(w, ctx, id, o) {
      if (gate !== undefined) {
        entered();
        await gate;
      }
      return real.unwrapDataKey(w, ctx, id, o);
    },
  };
  return {
    kms,
    close() {
      gate = new Promise((r) => (open = r));
      waiting = new Promise<void>((r) => (entered = r));
    },
    /** Resolves once an unwrap waits at the gate. */
    entered: () => waiting,
    open() {
      gate = undefined;
      open();
    },
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isKeywardenError(err) ? err.code : `not a KeywardenError: ${String(err)}`;
  }
}

describe('a shred wins over key loads already under way', () => {
  for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305'] as const) {
    it(`no decrypt or encrypt started after shred() resolved uses the shredded key (${suite})`, async () => {
      const keyStore = new MemoryKeyStore();
      const g = gatedKms();
      const writer = new Keywarden({ masterKey: g.kms, keyStore, suite });
      const ct = await writer.encrypt('conv', enc('secret'));
      writer.close();

      const kw = new Keywarden({ masterKey: g.kms, keyStore, suite }); // cold cache
      g.close();
      const decrypting = kw.decrypt('conv', ct).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
      const encrypting = kw.encrypt('conv', enc('racing')).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
      await g.entered(); // the loads have read the store and wait for the KMS
      expect((await kw.shred('conv')).shredded).toEqual([1]);
      g.open();
      // Started before the shred: either outcome is linearizable, but nothing may stay cached.
      expect(['ok', 'ERR_KEY_SHREDDED']).toContain(await decrypting);
      expect(['ok', 'ERR_KEY_SHREDDED']).toContain(await encrypting);
      expect(await codeOf(kw.decrypt('conv', ct))).toBe('ERR_KEY_SHREDDED');
      expect(await codeOf(kw.encrypt('conv', enc('after the shred')))).toBe('ERR_KEY_SHREDDED');
    });
  }

  it('another instance\'s shred, heard through watchKeyChanges, wins over a load under way there', async () => {
    const keyStore = new MemoryKeyStore();
    const g = gatedKms();
    const a = new Keywarden({ masterKey: g.kms, keyStore });
    const ct = await a.encrypt('conv', enc('secret'));
    const b = new Keywarden({ masterKey: g.kms, keyStore, watchKeyChanges: true });
    g.close();
    const loading = b.decrypt('conv', ct).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    await g.entered();
    await a.shred('conv'); // a's cache holds the key: no unwrap, no gate
    await new Promise((r) => setTimeout(r, 20)); // the change notification reaches b
    g.open();
    expect(['ok', 'ERR_KEY_SHREDDED']).toContain(await loading);
    expect(await codeOf(b.decrypt('conv', ct))).toBe('ERR_KEY_SHREDDED');
    a.close();
    b.close();
  });

  it('a shred of one version: later decrypts of it fail, other versions still open', async () => {
    const keyStore = new MemoryKeyStore();
    const g = gatedKms();
    const writer = new Keywarden({ masterKey: g.kms, keyStore });
    const v1 = await writer.encrypt('conv', enc('one'));
    await writer.rotate('conv');
    const v2 = await writer.encrypt('conv', enc('two'));
    writer.close();

    const kw = new Keywarden({ masterKey: g.kms, keyStore });
    g.close();
    const loading = kw.decrypt('conv', v1).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    await g.entered();
    await kw.shred('conv', { versions: [1] });
    g.open();
    expect(['ok', 'ERR_KEY_SHREDDED']).toContain(await loading);
    expect(await codeOf(kw.decrypt('conv', v1))).toBe('ERR_KEY_SHREDDED');
    expect(new TextDecoder().decode(await kw.decrypt('conv', v2))).toBe('two');
  });
});

describe('a shred wins over a rotation under way', () => {
  for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305'] as const) {
    it(`a version stored by rotate() just before a shred is not cached as active (${suite})`, async () => {
      // The shred commits between the rotation's insert and its cache insert (a second read of the
      // first fix: inserts outside a load were not fenced).
      const inner = new MemoryKeyStore();
      const ref: { kw?: Keywarden } = {};
      let fired = false;
      const keyStore = new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'insertNext') {
            return async (...a: Parameters<MemoryKeyStore['insertNext']>) => {
              const r = await target.insertNext(...a);
              if (!fired) {
                fired = true;
                await ref.kw!.shred('conv');
              }
              return r;
            };
          }
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
        },
      });
      const kw = (ref.kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, suite }));
      await kw.encrypt('conv', enc('one'));
      await kw.rotate('conv');
      expect(fired).toBe(true);
      expect((await kw.describeKeys('conv')).map((k) => k.state)).toEqual(['shredded', 'shredded']);
      expect(await codeOf(kw.encrypt('conv', enc('after the shred')))).toBe('ERR_KEY_SHREDDED');
    });
  }
});

describe('memory key store: a shred that rolls back keeps the key', () => {
  it('a shred whose audit append fails leaves the version readable by another instance', async () => {
    const auditStore = new MemoryAuditStore();
    const log = await AuditLog.open({ store: auditStore, signerKey: generateNoteKey('shred.test/log', new Uint8Array(32).fill(8)).signerKey, appendTimeoutMs: 500 });
    const ids = new AuditIdHasher(new Uint8Array(32).fill(3));
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const kw = new Keywarden({ masterKey, keyStore, audit: { log, ids, actor: 'svc' } });
    const ct = await kw.encrypt('C', enc('keep me'));
    const wrapped = Uint8Array.from((await keyStore.getVersion('C', 1))!.wrappedKey);
    auditStore.integrate = () => Promise.reject(new Error('audit volume offline'));
    expect(await codeOf(kw.shred('C'))).toBe('ERR_AUDIT_UNAVAILABLE');
    const after = (await keyStore.getVersion('C', 1))!;
    expect(after.state).toBe('active');
    expect(Buffer.from(after.wrappedKey).equals(wrapped)).toBe(true);
    const other = new Keywarden({ masterKey, keyStore });
    expect(new TextDecoder().decode(await other.decrypt('C', ct))).toBe('keep me');
  });
});
