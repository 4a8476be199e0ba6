/**
 * A KMS (or store) call that never answers must not freeze a conversation (issue #11, defect 2):
 * keywarden puts its own deadline on every KMS and store call; at it, every waiter gets a
 * retryable error, and the next call starts afresh. Callers can also abort their own wait with an
 * AbortSignal. The real `@aws-sdk/client-kms` talks to the test endpoint on 127.0.0.1, which
 * accepts requests and never answers them (`hangNext`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';
import { wrapStore } from './support/fixtures.js';

let kms: KmsServer;
let keyArn: string;
beforeAll(async () => {
  kms = await startKmsServer();
  keyArn = kms.createKey().arn;
});
afterAll(async () => {
  await kms?.close();
});

const HUNG = Symbol('hung');
/** Settles `p`, or HUNG after `ms`: a test must never wait forever on the code under test. */
const within = <T>(p: Promise<T>, ms = 4000) => Promise.race([p.then((v) => v, (e: unknown) => e), new Promise<typeof HUNG>((r) => setTimeout(() => r(HUNG), ms))]);
const masterKey = () => new AwsKmsMasterKey({ client: kmsClientFor(kms), keyId: keyArn });
// The deadline of the hung calls below: long enough that the call after them, a real HTTP round
// trip to the endpoint, meets it on a loaded machine (300 ms did not, under Stryker).
const text = new TextEncoder().encode('hello');

describe('deadlines on KMS calls', () => {
  it('GenerateDataKey never answers: the caller and a joined waiter get ERR_KMS_UNAVAILABLE at the deadline; the next call starts afresh', async () => {
    kms.faults.reset();
    const kw = new Keywarden({ masterKey: masterKey(), keyStore: new MemoryKeyStore(), timeouts: { kmsMs: 1000 } });
    kms.faults.hangNext(1);
    const started = Date.now();
    const [a, b] = await Promise.all([within(kw.encrypt('conv', text)), within(kw.encrypt('conv', text))]);
    expect(a).not.toBe(HUNG);
    expect(b).not.toBe(HUNG);
    for (const e of [a, b]) expect(isKeywardenError(e, 'ERR_KMS_UNAVAILABLE') && e.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    // The endpoint answers again: a fresh load, not the stuck one.
    const ct = await within(kw.encrypt('conv', text));
    expect(ct).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(await kw.decrypt('conv', ct as Uint8Array))).toBe('hello');
    kw.close();
    kms.faults.reset();
  });

  it('Decrypt never answers on a cold open: same, and the key is unwrapped on the next call', async () => {
    kms.faults.reset();
    const store = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: masterKey(), keyStore: store });
    const ct = await writer.encrypt('cold', text);
    writer.close();
    const reader = new Keywarden({ masterKey: masterKey(), keyStore: store, timeouts: { kmsMs: 1000 } });
    kms.faults.hangNext(1);
    const e = await within(reader.decrypt('cold', ct));
    expect(isKeywardenError(e, 'ERR_KMS_UNAVAILABLE')).toBe(true);
    expect(new TextDecoder().decode((await within(reader.decrypt('cold', ct))) as Uint8Array)).toBe('hello');
    reader.close();
    kms.faults.reset();
  });

  it('the default deadline is finite', async () => {
    const kw = new Keywarden({ masterKey: masterKey(), keyStore: new MemoryKeyStore() });
    expect(kw.timeouts.kmsMs).toBeGreaterThan(0);
    expect(Number.isFinite(kw.timeouts.kmsMs)).toBe(true);
    expect(Number.isFinite(kw.timeouts.storeMs)).toBe(true);
    kw.close();
  });
});

describe('deadlines on key store calls', () => {
  it('a store read that never answers fails with ERR_STORE_FAILED (retryable) at the deadline; the next call starts afresh', async () => {
    const inner = new MemoryKeyStore();
    let hang = true;
    const store: KeyStore = wrapStore(inner, {
      getLatest: (c) => (hang ? new Promise(() => {}) : inner.getLatest(c)),
    });
    const kw = new Keywarden({ masterKey: masterKey(), keyStore: store, timeouts: { storeMs: 200 } });
    const e = await within(kw.encrypt('s', text));
    expect(isKeywardenError(e, 'ERR_STORE_FAILED') && e.retryable).toBe(true);
    hang = false;
    expect(await within(kw.encrypt('s', text))).toBeInstanceOf(Uint8Array);
    kw.close();
  });
});

describe('AbortSignal on the public async API', () => {
  it('an aborted signal rejects with ERR_ABORTED; aborting one caller does not fail another waiting on the same load', async () => {
    kms.faults.reset();
    kms.faults.latencyMs = 300;
    const kw = new Keywarden({ masterKey: masterKey(), keyStore: new MemoryKeyStore() });
    const ac = new AbortController();
    const mine = within(kw.encrypt('ab', text, { signal: ac.signal }));
    const theirs = within(kw.encrypt('ab', text));
    setTimeout(() => ac.abort(new Error('user went away')), 50);
    const m = await mine;
    expect(isKeywardenError(m, 'ERR_ABORTED')).toBe(true);
    expect(await theirs).toBeInstanceOf(Uint8Array);
    kms.faults.reset();
    // Already aborted: nothing is started.
    const done = AbortSignal.abort();
    const calls = kw.stats().kms.generateDataKey;
    expect(isKeywardenError(await within(kw.encrypt('new-one', text, { signal: done })), 'ERR_ABORTED')).toBe(true);
    expect(isKeywardenError(await within(kw.decryptMany('new-one', [], { signal: done })), 'ERR_ABORTED')).toBe(true);
    expect(isKeywardenError(await within(kw.rotate('new-one', { signal: done })), 'ERR_ABORTED')).toBe(true);
    expect(isKeywardenError(await within(kw.describeKeys('new-one', { signal: done })), 'ERR_ABORTED')).toBe(true);
    expect(kw.stats().kms.generateDataKey).toBe(calls);
    kw.close();
  });
});

describe('AbortSignal on the audit log and break-glass', () => {
  it('AuditLog.append with an aborted signal appends nothing', async () => {
    const { AuditLog } = await import('../src/audit/log.js');
    const { MemoryAuditStore } = await import('../src/audit/store.js');
    const { generateNoteKey } = await import('../src/audit/note.js');
    const { sampleEvent } = await import('./support/audit-fixtures.js');
    const store = new MemoryAuditStore();
    const log = await AuditLog.open({ store, signerKey: generateNoteKey('x.example/abort').signerKey });
    expect(isKeywardenError(await within(log.append(sampleEvent(1), { signal: AbortSignal.abort() })), 'ERR_ABORTED')).toBe(true);
    expect(await store.size()).toBe(0);
  });

  it('BreakGlass.decrypt with an aborted signal consumes nothing and unwraps nothing', async () => {
    const { deployment, token } = await import('./support/breakglass-fixtures.js');
    const d = await deployment();
    const tok = await token(d, [d.approvers.t1, d.approvers.t2, d.approvers.l1]);
    const page = d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    expect(isKeywardenError(await within(d.bg.decrypt(tok.text, 'c0', page, { signal: AbortSignal.abort() })), 'ERR_ABORTED')).toBe(true);
    expect(d.unwrapped).toHaveLength(0);
    expect((await d.bg.decrypt(tok.text, 'c0', page)).opened).toBe(6); // the token is still unused
  });
});
