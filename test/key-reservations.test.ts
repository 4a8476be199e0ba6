/**
 * Message reservations (docs/FORMAT.md §5) counted exactly, call by call (found by mutation
 * testing, issue #11): a new version comes with min(reservationSize, limit) seals, a version
 * loaded from the store with none, each reservation asks for reservationSize under the limit,
 * a grant of 0 rotates; the last key version cannot be rotated from.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, type KeywardenOptions, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';
import { errorCode, wrapStore } from './support/fixtures.js';

const text = new TextEncoder().encode('m');

/** A MemoryKeyStore that logs reservations as [version, count asked, limit, granted]. */
function loggingStore() {
  const inner = new MemoryKeyStore();
  const reservations: [number, number, number, number][] = [];
  const reads = { active: 0 };
  const store = wrapStore(inner, {
    getLatest: async (c) => (reads.active++, inner.getLatest(c)),
    reserveMessages: async (c, v, n, l) => {
      const granted = await inner.reserveMessages(c, v, n, l);
      reservations.push([v, n, l, granted]);
      return granted;
    },
  });
  return { inner, store, reservations, reads };
}

async function sealMany(kw: Keywarden, n: number, id = 'c') {
  const versions: number[] = [];
  for (let i = 0; i < n; i++) versions.push(inspectCiphertext(await kw.encrypt(id, text)).keyVersion);
  return versions;
}

describe('reservations, counted exactly', () => {
  it('limit 33, blocks of 3: 3 with the new version, then 3 at a time, then 0 rotates', async () => {
    const { inner, store, reservations, reads } = loggingStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    // A block is min(reservationSize, ceil(limit / 16)): 3 here (docs/KEYS.md §4).
    const kw = new Keywarden({ masterKey, keyStore: store, maxMessagesPerKey: 33, reservationSize: 3 });
    const versions = await sealMany(kw, 34);
    expect(versions).toEqual([...Array<number>(33).fill(1), 2]);
    expect(reservations).toEqual([...Array.from({ length: 10 }, () => [1, 3, 33, 3]), [1, 3, 33, 0]]);
    // The spent version's key is reused from the cache while checking which version is active
    // (no unwrap), and the new version is the active one afterwards (no further store reads).
    expect(kw.stats().kms).toEqual({ generateDataKey: 2, unwrapDataKey: 0 });
    const readsAfterRotation = reads.active;
    expect((await inner.listVersions('c')).map((r) => [r.version, r.state, r.sealedReserved])).toEqual([[1, 'superseded', 33], [2, 'active', 3]]);
    // The new version's 3 seals need no reservation.
    expect(await sealMany(kw, 2)).toEqual([2, 2]);
    expect(reservations).toHaveLength(11);
    expect(reads.active).toBe(readsAfterRotation);
    expect(await sealMany(kw, 1)).toEqual([2]);
    expect(reservations.at(-1)).toEqual([2, 3, 33, 3]);
  });

  it('a block is at most 1/16 of the limit: limit 4 under reservationSize 1024 reserves one seal at a time', async () => {
    const { inner, store, reservations } = loggingStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store, maxMessagesPerKey: 4, reservationSize: 1024 });
    expect(await sealMany(kw, 5)).toEqual([1, 1, 1, 1, 2]);
    expect(reservations).toEqual([[1, 1, 4, 1], [1, 1, 4, 1], [1, 1, 4, 1], [1, 1, 4, 0]]);
    expect((await inner.listVersions('c')).map((r) => r.sealedReserved)).toEqual([4, 1]);
  });

  it('a version loaded from the store (not created here) reserves before its first seal; grants add up', async () => {
    const { inner, store, reservations } = loggingStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const opts: KeywardenOptions = { masterKey, keyStore: store, maxMessagesPerKey: 100, reservationSize: 5 };
    const a = new Keywarden(opts);
    const first = await a.encrypt('c', text); // creates version 1 with 5 seals
    expect(reservations).toEqual([]);
    const b = new Keywarden(opts);
    expect(await sealMany(b, 6)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(reservations).toEqual([[1, 5, 100, 5], [1, 5, 100, 5]]);
    // Known from a decrypt first: still reserves before sealing, and both keep working.
    const c = new Keywarden(opts);
    expect(new Uint8Array(await c.decrypt('c', first))).toEqual(text);
    const ct = await c.encrypt('c', text);
    expect(reservations.at(-1)).toEqual([1, 5, 100, 5]);
    expect(new Uint8Array(await a.decrypt('c', ct))).toEqual(text);
    expect((await inner.getLatest('c'))?.sealedReserved).toBe(20);
  });

  it('XChaCha20-Poly1305 without maxMessagesPerKey: no reservation, ever, also for a version loaded from the store; with it, counted', async () => {
    const { store, reservations } = loggingStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const opts: KeywardenOptions = { masterKey, keyStore: store, suite: 'XChaCha20-Poly1305', reservationSize: 1 };
    expect(await sealMany(new Keywarden(opts), 5)).toEqual([1, 1, 1, 1, 1]);
    expect(await sealMany(new Keywarden(opts), 5)).toEqual([1, 1, 1, 1, 1]);
    expect(reservations).toEqual([]);
    expect(await sealMany(new Keywarden({ ...opts, maxMessagesPerKey: 2 }), 3, 'd')).toEqual([1, 1, 2]);
    expect(reservations).toEqual([[1, 1, 2, 1], [1, 1, 2, 0]]);
  });

  it('another instance rotated meanwhile: a grant of 0 switches to the newer version without rotating again', async () => {
    const { inner, store } = loggingStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const opts: KeywardenOptions = { masterKey, keyStore: store, maxMessagesPerKey: 100, reservationSize: 2 };
    const a = new Keywarden(opts);
    const b = new Keywarden(opts);
    expect(await sealMany(a, 2)).toEqual([1, 1]);
    await b.rotate('c');
    expect(await sealMany(a, 1)).toEqual([2]);
    expect((await inner.listVersions('c')).map((r) => r.version)).toEqual([1, 2]);
  });
});

describe('the last key version', () => {
  it('a conversation at version 2^32 - 1 cannot rotate (ERR_KEY_LIMIT_REACHED) and asks the KMS for nothing', async () => {
    const inner = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    await new Keywarden({ masterKey, keyStore: inner }).encrypt('c', text);
    const at = (r: KeyRecord | undefined): KeyRecord | undefined => r && { ...r, version: 0xffff_ffff };
    const store = wrapStore(inner, { getLatest: async (c) => at(await inner.getLatest(c)) });
    const kw = new Keywarden({ masterKey, keyStore: store });
    expect(await errorCode(kw.rotate('c'))).toBe('ERR_KEY_LIMIT_REACHED');
    expect(kw.stats().kms.generateDataKey).toBe(0);
    // One below the last: rotating is attempted (the store refuses this fake history, not keywarden).
    const below = new Keywarden({ masterKey, keyStore: wrapStore(inner, { getLatest: async (c) => { const r = await inner.getLatest(c); return r && { ...r, version: 0xffff_fffe }; } }) });
    expect(await errorCode(below.rotate('c'))).not.toBe('ERR_KEY_LIMIT_REACHED');
    expect(below.stats().kms.generateDataKey).toBe(1);
  });
});
