/**
 * Crypto-shredding through Keywarden (issue #12 point 1, docs/KEYS.md §3): what fails afterwards
 * and with which code, what is written to the audit log and when, the cache, new generations,
 * shredding single versions and a minimum decryptable version, and that bad input writes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { errorCode } from './support/fixtures.js';

const logKeys = generateNoteKey('keywarden.example/shred', new Uint8Array(32).fill(8));
const ids = new AuditIdHasher(new Uint8Array(32).fill(3));
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function setup(opts: { audit?: boolean } = {}) {
  const auditStore = new MemoryAuditStore();
  const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 500 });
  const keyStore = new MemoryKeyStore();
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const unwraps: string[] = [];
  const counting = {
    keyId: masterKey.keyId,
    generateDataKey: masterKey.generateDataKey.bind(masterKey),
    unwrapDataKey: (w: Uint8Array, ctx: Readonly<Record<string, string>>, id: string) => {
      unwraps.push(`${ctx['keywarden:conversation']}#${ctx['keywarden:key-version']}`);
      return masterKey.unwrapDataKey(w, ctx, id);
    },
  };
  const audit = opts.audit === false ? {} : { audit: { log, ids, actor: 'svc-dm' } };
  const kw = new Keywarden({ masterKey: counting, keyStore, ...audit });
  const events = async () => (await auditStore.read(0, await auditStore.size())).map(decodeEntry);
  return { kw, keyStore, masterKey: counting, log, auditStore, events, unwraps };
}

describe('shred', () => {
  it('a shredded conversation: decrypt, decryptMany and encrypt fail with ERR_KEY_SHREDDED, other conversations do not', async () => {
    const { kw, keyStore } = await setup();
    const a1 = await kw.encrypt('A', enc('one'), { aad: 'm1' });
    await kw.rotate('A');
    const a2 = await kw.encrypt('A', enc('two'));
    const b = await kw.encrypt('B', enc('bee'));
    const report = await kw.shred('A');
    expect(report).toEqual({ conversationId: 'A', shredded: [1, 2], alreadyShredded: [] });
    // The store kept tombstones without key bytes.
    expect((await keyStore.listVersions('A')).map((r) => [r.version, r.state, r.wrappedKey.length, r.shredScope])).toEqual([[1, 'shredded', 0, 'version'], [2, 'shredded', 0, 'conversation']]);
    expect(await errorCode(kw.decrypt('A', a1, { aad: 'm1' }))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(kw.decrypt('A', a2))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(kw.encrypt('A', enc('again')))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(kw.rotate('A'))).toBe('ERR_KEY_SHREDDED');
    const page = await kw.decryptMany('A', [{ ciphertext: a1, aad: 'm1' }, a2, new Uint8Array(3)]);
    expect(page.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ERR_KEY_SHREDDED', 'ERR_KEY_SHREDDED', 'ERR_DECRYPT_FAILED']);
    expect(dec(await kw.decrypt('B', b))).toBe('bee');
    // A fresh instance (cold cache) sees the same.
    const other = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore });
    expect(await errorCode(other.decrypt('A', a1, { aad: 'm1' }))).toBe('ERR_KEY_SHREDDED');
    expect((await kw.describeKeys('A')).map((k) => k.state)).toEqual(['shredded', 'shredded']);
  });

  it('records key.shredded in the same transaction, with HMAC ids only; an idempotent rerun adds nothing; the log verifies', async () => {
    const { kw, events, auditStore } = await setup();
    await kw.encrypt('dm:alice:bob', enc('x'));
    await kw.shred('dm:alice:bob');
    expect(await kw.shred('dm:alice:bob')).toEqual({ conversationId: 'dm:alice:bob', shredded: [], alreadyShredded: [1] });
    const evs = await events();
    expect(evs.map((e) => e.type)).toEqual(['key.created', 'key.shredded']);
    expect(evs[1]).toMatchObject({ conversation: ids.conversation('dm:alice:bob'), versions: [1], scope: 'conversation', reason: 'request', actor: 'svc-dm' });
    expect(new TextDecoder().decode(Buffer.concat(await auditStore.read(0, 2)))).not.toContain('alice');
    // Acknowledged once durable (docs/AUDIT.md §4.2): under the signed tree head, checkpointed within the interval.
    expect(verifyAuditLog({ verifierKey: logKeys.verifierKey, entries: await auditStore.read(0, 2), checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
  });

  it('fail-closed: when the audit log cannot record the shred, nothing is shredded', async () => {
    const { kw, auditStore, keyStore } = await setup();
    const ct = await kw.encrypt('C', enc('keep me'));
    // Every integration step fails: the record never lands, so the shred rolls back.
    auditStore.integrate = async () => {
      throw new Error('audit volume offline');
    };
    expect(await errorCode(kw.shred('C'))).toBe('ERR_AUDIT_UNAVAILABLE');
    expect((await keyStore.listVersions('C')).map((r) => r.state)).toEqual(['active']);
    expect(dec(await kw.decrypt('C', ct))).toBe('keep me');
  });

  it('drops the shredded keys from the cache at once, also from another instance sharing the cache', async () => {
    const { keyStore, masterKey } = await setup({ audit: false });
    const cache = new KeyCache();
    const one = new Keywarden({ masterKey, keyStore, cache });
    const ct = await one.encrypt('D', enc('d'));
    expect(cache.stats().size).toBe(1);
    await one.shred('D');
    expect(cache.stats().size).toBe(0);
    expect(await errorCode(one.decrypt('D', ct))).toBe('ERR_KEY_SHREDDED');
  });

  it('startGeneration lets a shredded id seal again with a new version; old ciphertexts stay unreadable', async () => {
    const { kw, events } = await setup();
    const old = await kw.encrypt('E', enc('old'));
    await kw.shred('E');
    const info = await kw.startGeneration('E');
    expect(info).toMatchObject({ version: 2, state: 'active' });
    const fresh = await kw.encrypt('E', enc('new'));
    expect(inspectCiphertext(fresh).keyVersion).toBe(2);
    expect(dec(await kw.decrypt('E', fresh))).toBe('new');
    expect(await errorCode(kw.decrypt('E', old))).toBe('ERR_KEY_SHREDDED');
    // Relabelling an old ciphertext with the new version number does not open it either.
    const relabelled = Uint8Array.from(old);
    new DataView(relabelled.buffer).setUint32(2, 2);
    expect(await errorCode(kw.decrypt('E', relabelled))).toBe('ERR_DECRYPT_FAILED');
    // On a conversation that is not shredded, startGeneration is the active version.
    expect((await kw.startGeneration('E')).version).toBe(2);
    expect((await events()).map((e) => [e.type, e.version ?? e.versions])).toEqual([['key.created', 1], ['key.shredded', [1]], ['key.created', 2]]);
  });

  it('concurrent startGeneration calls create one version', async () => {
    const { kw, keyStore } = await setup();
    await kw.encrypt('F', enc('f'));
    await kw.shred('F');
    const infos = await Promise.all(Array.from({ length: 10 }, () => kw.startGeneration('F')));
    expect(new Set(infos.map((i) => i.version))).toEqual(new Set([2]));
    expect((await keyStore.listVersions('F')).map((r) => r.state)).toEqual(['shredded', 'active']);
  });

  it('shreds single versions; the conversation goes on, a new version replacing a shredded active one', async () => {
    const { kw, events } = await setup();
    const v1 = await kw.encrypt('G', enc('v1'));
    await kw.rotate('G');
    const v2 = await kw.encrypt('G', enc('v2'));
    expect(await kw.shred('G', { versions: [1] })).toEqual({ conversationId: 'G', shredded: [1], alreadyShredded: [] });
    expect(await errorCode(kw.decrypt('G', v1))).toBe('ERR_KEY_SHREDDED');
    expect(dec(await kw.decrypt('G', v2))).toBe('v2');
    expect(await kw.shred('G', { versions: [2] })).toMatchObject({ shredded: [2] }); // the active one
    const v3 = await kw.encrypt('G', enc('v3'));
    expect(inspectCiphertext(v3).keyVersion).toBe(3);
    expect(dec(await kw.decrypt('G', v3))).toBe('v3');
    expect((await events()).filter((e) => e.type === 'key.shredded').map((e) => [e.versions, e.scope, e.reason])).toEqual([[[1], 'version', 'request'], [[2], 'version', 'request']]);
  });

  it('a minimum decryptable version (below) retires every older version', async () => {
    const { kw, events } = await setup();
    const cts: Uint8Array[] = [];
    for (let v = 1; v <= 4; v++) {
      if (v > 1) await kw.rotate('H');
      cts.push(await kw.encrypt('H', enc(`v${v}`)));
    }
    expect(await kw.shred('H', { below: 3 })).toEqual({ conversationId: 'H', shredded: [1, 2], alreadyShredded: [] });
    expect(await Promise.all(cts.map((c) => kw.decrypt('H', c).then((p) => dec(p), (e) => e.code)))).toEqual(['ERR_KEY_SHREDDED', 'ERR_KEY_SHREDDED', 'v3', 'v4']);
    expect(await kw.shred('H', { below: 2 })).toEqual({ conversationId: 'H', shredded: [], alreadyShredded: [1] });
    expect((await events()).filter((e) => e.type === 'key.shredded').map((e) => e.reason)).toEqual(['minimum-version']);
  });

  it('refuses bad input naming the parameter, and an unknown conversation, writing nothing', async () => {
    const { kw, events, keyStore } = await setup();
    await kw.encrypt('I', enc('i'));
    const cases: [unknown, string][] = [
      [{ versions: [] }, 'options.versions'], [{ versions: [0] }, 'options.versions[0]'], [{ versions: [1.5] }, 'options.versions[0]'],
      [{ below: 1 }, 'options.below'], [{ versions: [1], below: 2 }, 'options'], [{ bogus: 1 }, 'options.bogus'], [null, 'options'],
    ];
    for (const [options, param] of cases) {
      const err = await kw.shred('I', options as never).catch((e) => e);
      expect(err.code, JSON.stringify(options)).toBe('ERR_INVALID_INPUT');
      expect(err.message).toContain(param);
    }
    expect((await kw.shred('', undefined).catch((e) => e)).code).toBe('ERR_INVALID_INPUT');
    expect(await errorCode(kw.shred('never-seen'))).toBe('ERR_KEY_NOT_FOUND');
    expect(await errorCode(kw.shred('never-seen', { below: 3 }))).toBe('ERR_KEY_NOT_FOUND');
    expect((await keyStore.listVersions('I')).map((r) => r.state)).toEqual(['active']);
    expect((await events()).map((e) => e.type)).toEqual(['key.created']);
  });

  it('for any history of rotations and shreds: a message opens iff its version is not shredded (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constant<'seal'>('seal'), fc.constant<'rotate'>('rotate'), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 25 }), async (ops) => {
        const { kw } = await setup({ audit: false });
        const sealed: { ct: Uint8Array; version: number; text: string }[] = [];
        const shredded = new Set<number>();
        for (const [i, op] of ops.entries()) {
          if (op === 'seal') {
            const ct = await kw.encrypt('P', enc(`m${i}`));
            sealed.push({ ct, version: inspectCiphertext(ct).keyVersion, text: `m${i}` });
          } else if (op === 'rotate') await kw.rotate('P');
          else {
            const r = await kw.shred('P', { versions: [op] }).catch((e) => e);
            if (r.code === 'ERR_KEY_NOT_FOUND') continue;
            for (const v of r.shredded) shredded.add(v);
          }
        }
        for (const m of sealed) {
          const got = await kw.decrypt('P', m.ct).then((p) => dec(p), (e) => e.code);
          expect(got).toBe(shredded.has(m.version) ? 'ERR_KEY_SHREDDED' : m.text);
        }
      }),
      { numRuns: 40 },
    );
  });
});
