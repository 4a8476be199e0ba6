/**
 * The KMS fault suite (issue #11): the real `@aws-sdk/client-kms` against the KMS-compatible
 * endpoint on 127.0.0.1, with throttling bursts, 5xx, dropped sockets, responses slower than the
 * deadline and no response at all. For each: callers get keywarden's typed, retryable error; the
 * instance recovers by itself when the endpoint does; no key is lost or duplicated; the audit
 * log has exactly one `key.created` per stored key and verifies; break-glass fails closed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { MemoryAuditStore } from '../../src/audit/store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { AwsKmsMasterKey } from '../../src/kms/aws.js';
import { Keywarden, MemoryKeyStore, isKeywardenError } from '../../src/node.js';
import { type KmsServer, kmsClientFor, startKmsServer } from '../support/kms-server.js';

let kms: KmsServer;
let keyArn: string;
beforeAll(async () => {
  kms = await startKmsServer();
  keyArn = kms.createKey().arn;
});
afterAll(async () => {
  await kms?.close();
});

const logKey = generateNoteKey('keywarden.example/kms-faults', new Uint8Array(32).fill(8));
const text = (i: number) => new TextEncoder().encode(`message ${i}`);

/** A service instance with an audit log, against the endpoint, with the SDK's retries cut to 2 attempts. */
async function instance(store = new MemoryKeyStore(), auditStore = new MemoryAuditStore()) {
  const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(kms, { maxAttempts: 2 }), keyId: keyArn });
  const log = await AuditLog.open({ store: auditStore, signerKey: logKey.signerKey });
  const kw = new Keywarden({ masterKey, keyStore: store, timeouts: { kmsMs: 400 }, audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(1)), actor: 'svc' } });
  return { kw, store, auditStore, log, masterKey };
}

/** What must hold after any run, faults or not. */
async function invariants(store: MemoryKeyStore, auditStore: MemoryAuditStore, acked: { conv: string; ct: Uint8Array; i: number }[], kw: Keywarden, log: AuditLog) {
  await log.flush(); // every acknowledged record integrated under a signed tree head
  const entries = await auditStore.read(0, await auditStore.size());
  const created = entries.map(decodeEntry).filter((e) => e.type === 'key.created');
  expect(created.length).toBe(store.size); // one record per stored key, no more, no fewer
  expect(verifyAuditLog({ verifierKey: logKey.verifierKey, entries, checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
  for (const a of acked) {
    expect((await store.listVersions(a.conv)).filter((r) => r.version === 1)).toHaveLength(1);
    expect(new TextDecoder().decode(await kw.decrypt(a.conv, a.ct))).toBe(`message ${a.i}`);
  }
}

type Fault = 'throttle' | 'fail500' | 'fail503' | 'drop' | 'slow' | 'hang';
function inject(f: Fault, n: number): void {
  if (f === 'throttle') kms.faults.throttleNext(n);
  else if (f === 'fail500') kms.faults.failNext(n, 500);
  else if (f === 'fail503') kms.faults.failNext(n, 503);
  else if (f === 'drop') kms.faults.dropNext(n);
  else if (f === 'slow') kms.faults.latencyMs = 700; // beyond the 400 ms deadline
  else kms.faults.hangNext(n);
}

describe('KMS faults', () => {
  for (const f of ['throttle', 'fail500', 'fail503', 'drop', 'slow', 'hang'] as const) {
    it(`${f}: typed retryable error, then recovery with no restart; nothing lost, duplicated or half-recorded`, async () => {
      kms.faults.reset();
      const { kw, store, auditStore, log } = await instance();
      inject(f, 4); // more than the SDK's 2 attempts
      const err = await kw.encrypt(`c-${f}`, text(0)).catch((e) => e);
      expect(isKeywardenError(err, 'ERR_KMS_UNAVAILABLE')).toBe(true);
      expect(err.retryable).toBe(true);
      expect(store.size).toBe(0); // no key stored for a failed generate
      kms.faults.reset();
      const ct = await kw.encrypt(`c-${f}`, text(0));
      await invariants(store, auditStore, [{ conv: `c-${f}`, ct, i: 0 }], kw, log);
      // A cold instance (fresh cache) opening it during the same fault fails the same way and recovers too.
      const cold = await instance(store, auditStore);
      inject(f, 4);
      expect(isKeywardenError(await cold.kw.decrypt(`c-${f}`, ct).catch((e) => e), 'ERR_KMS_UNAVAILABLE')).toBe(true);
      kms.faults.reset();
      expect(new TextDecoder().decode(await cold.kw.decrypt(`c-${f}`, ct))).toBe('message 0');
      kw.close();
      cold.kw.close();
    });
  }

  it('a burst over many new conversations with faults arriving at random: every acknowledged ciphertext decrypts, one key per conversation, one record per key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom<Fault>('throttle', 'fail500', 'drop'), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 4 }), async (faults) => {
        kms.faults.reset();
        const { kw, store, auditStore, log } = await instance();
        const acked: { conv: string; ct: Uint8Array; i: number }[] = [];
        const ops = Array.from({ length: 60 }, (_, i) => ({ conv: `b-${i % 15}`, i }));
        let k = 0;
        for (let round = 0; round < 3; round++) {
          const [f, n] = faults[k++ % faults.length]!;
          inject(f, n);
          const results = await Promise.all(ops.map(async (o) => ({ o, r: await kw.encrypt(o.conv, text(o.i)).catch((e: unknown) => e) })));
          for (const { o, r } of results) {
            if (r instanceof Uint8Array) acked.push({ conv: o.conv, ct: r, i: o.i });
            else expect(isKeywardenError(r) && r.retryable, String(r)).toBe(true);
          }
        }
        kms.faults.reset();
        await invariants(store, auditStore, acked, kw, log);
        kw.close();
      }),
      { numRuns: 6 },
    );
  });
});

describe('break-glass under KMS faults', () => {
  it('fails closed: ERR_KMS_UNAVAILABLE, no plaintext, the intent and a failed outcome on the record', async () => {
    const { BreakGlass } = await import('../../src/breakglass/node.js');
    const { approveRequest, createRequest, encodeToken, generateApproverKey } = await import('../../src/breakglass/token.js');
    kms.faults.reset();
    const { kw, store, auditStore, log, masterKey } = await instance();
    const cts = await Promise.all([0, 1, 2].map((i) => kw.encrypt('bg-conv', text(i), { aad: `m${i}` })));
    const [a, b] = await Promise.all(['a1', 'a2'].map((id) => generateApproverKey(id)));
    const policy = {
      id: 'p', audience: 'dm.example.com', factors: [{ name: 'tns', threshold: 2, approvers: [a!, b!].map((k) => ({ id: k.id, publicJwk: k.publicJwk })) }],
      allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 3600, maxScope: { conversations: 1, messages: 10, windowSeconds: 86_400 },
    };
    const bg = new BreakGlass({ policy, masterKey, keyStore: store, audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(1)), actor: 'tns' }, timeouts: { kmsMs: 400 } });
    const req = createRequest({
      policy: 'p', aud: 'dm.example.com', requester: 'r', reason: 'USER_REPORT_REVIEW', detail: 'case 1',
      scope: { conversations: ['bg-conv'], from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000), maxMessages: 10, operation: 'decrypt' },
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    const token = encodeToken({ request: req, approvals: [await approveRequest(req, a!), await approveRequest(req, b!)] });
    kms.faults.hangNext(4);
    const err = await bg.decrypt(token, 'bg-conv', cts.map((ct, i) => ({ ciphertext: ct, aad: `m${i}` }))).catch((e) => e);
    kms.faults.reset();
    expect(isKeywardenError(err, 'ERR_KMS_UNAVAILABLE')).toBe(true);
    const events = (await auditStore.read(0, await auditStore.size())).map(decodeEntry).filter((e) => e.type.startsWith('breakglass'));
    expect(events.map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:failed']);
    expect(events[1]).toMatchObject({ messages: 0 });
    kw.close();
  });
});
