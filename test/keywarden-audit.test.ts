/** Key lifecycle events reach the audit log, fail-closed and in the key's transaction. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, VERSION } from '../src/node.js';
import { AuditIdHasher } from '../src/audit/entry.js';

const keys = generateNoteKey('keywarden.example/keys', new Uint8Array(32).fill(4));
const ids = new AuditIdHasher(new Uint8Array(32).fill(5));
const text = (s: string) => new TextEncoder().encode(s);

async function setup(store = new MemoryAuditStore()) {
  const log = await AuditLog.open({ store, signerKey: keys.signerKey, appendTimeoutMs: 200 });
  const keyStore = new MemoryKeyStore();
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, audit: { log, ids, actor: 'svc-dm' } });
  return { log, store, keyStore, kw };
}
const events = async (store: MemoryAuditStore) => (await store.read(0, await store.size())).map(decodeEntry);

describe('key lifecycle audit', () => {
  it('records key.created once under a burst of first encrypts, and key.rotated, with HMAC ids only', async () => {
    const { store, kw } = await setup();
    await Promise.all(Array.from({ length: 200 }, () => kw.encrypt('dm:alice:bob', text('hi'))));
    await kw.rotate('dm:alice:bob');
    const evs = await events(store);
    expect(evs.map((e) => [e.type, e.version])).toEqual([['key.created', 1], ['key.rotated', 2]]);
    expect(evs.every((e) => e.conversation === ids.conversation('dm:alice:bob'))).toBe(true);
    expect(evs[0]).toMatchObject({ actor: 'svc-dm', lib: `keywarden/${VERSION}`, suite: 'AES-256-GCM' });
    expect(evs[1]).toMatchObject({ fromVersion: 1 });
    const raw = new TextDecoder().decode(Buffer.concat(await store.read(0, 2)));
    expect(raw).not.toContain('alice');
    // Acknowledged once durable: integrated under the signed tree head, checkpointed within the interval.
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, 2), checkpoints: await store.checkpoints(), head: (await store.state()).head! }).ok).toBe(true);
  });

  it('fail-closed: when the audit log cannot record, no key is stored and nothing is sealed', async () => {
    const broken = new MemoryAuditStore();
    broken.integrate = async () => {
      throw new Error('audit disk unavailable');
    };
    const { keyStore, kw } = await setup(broken);
    const err = await kw.encrypt('dm:x', text('m')).catch((e) => e);
    expect(err.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(await keyStore.getLatest('dm:x')).toBeUndefined(); // the insert was rolled back
  });

  it('a hanging audit store times out into ERR_AUDIT_UNAVAILABLE for rotations too', async () => {
    const store = new MemoryAuditStore();
    const { keyStore, kw } = await setup(store);
    await kw.encrypt('dm:y', text('m'));
    store.integrate = () => new Promise(() => {});
    expect((await kw.rotate('dm:y').catch((e) => e)).code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect((await keyStore.listVersions('dm:y')).map((r) => r.version)).toEqual([1]);
  });

  it('validates the audit option', () => {
    const mk = new LocalMasterKey(LocalMasterKey.generateKey());
    expect(() => new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), audit: { log: {} as never, ids, actor: 'a' } })).toThrow(expect.objectContaining({ param: 'options.audit.log' }));
    expect(() => new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), audit: { x: 1 } as never })).toThrow(expect.objectContaining({ param: 'options.audit.x' }));
  });

  it('VERSION matches package.json', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
  });
});
