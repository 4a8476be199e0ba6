/**
 * Review 7 (cache): an instance sharing a KeyCache (same key store and master key) waited out
 * another instance's deadlines instead of its own. Loads are single-flight per cache partition,
 * and the partition id covered the rotation policy but not `timeouts`: a decrypt on an instance
 * with `timeouts.kmsMs: 100` joined a load started by one with `kmsMs: 600_000` and, with the KMS
 * not answering, was still pending 3 s later (observed; it would have waited the full ten minutes).
 * KeywardenOptions.timeouts: "keywarden's own deadlines ... Past a deadline the call fails with a
 * retryable ERR_KMS_UNAVAILABLE / ERR_STORE_FAILED for everyone waiting on it".
 *
 * Where: src/keywarden.ts, the Keywarden constructor (the cache partition id).
 *
 * Now: the partition id includes the deadlines, so instances with other timeouts neither join
 * each other's loads nor use keys loaded under the other's deadlines; the strict instance fails
 * at its own deadline with ERR_KMS_UNAVAILABLE, and both open the message once the KMS answers.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KmsCallOptions } from '../src/kms/provider.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const HUNG = Symbol('hung');
/** Settles `p`, or HUNG after `ms`: a test must never wait forever on the code under test. */
const within = <T>(p: Promise<T>, ms = 3000) => Promise.race([p.then((v) => v, (e: unknown) => e), new Promise<typeof HUNG>((r) => setTimeout(() => r(HUNG), ms))]);

/** A local master key whose unwraps can be made to hang (a KMS that stops answering) until released. */
class HangingMasterKey extends LocalMasterKey {
  hang = false;
  readonly #held: (() => void)[] = [];
  release(): void {
    this.hang = false;
    for (const r of this.#held.splice(0)) r();
  }
  override async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, options?: KmsCallOptions): Promise<Uint8Array> {
    if (this.hang) await new Promise<void>((r) => this.#held.push(r));
    return super.unwrapDataKey(wrappedKey, context, masterKeyId, options);
  }
}

describe('instances sharing a KeyCache with different timeouts (review 7, cache)', () => {
  it('a decrypt that joins another instance\'s load still fails at its own KMS deadline', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new HangingMasterKey(LocalMasterKey.generateKey());
    const writer = new Keywarden({ masterKey, keyStore });
    const m1 = await writer.encrypt('conv', enc('one'), { aad: 'm1' });
    writer.close();

    const cache = new KeyCache();
    const patient = new Keywarden({ masterKey, keyStore, cache, timeouts: { kmsMs: 600_000 } });
    const strict = new Keywarden({ masterKey, keyStore, cache, timeouts: { kmsMs: 100 } });
    masterKey.hang = true; // the KMS stops answering
    const slow = patient.decrypt('conv', m1, { aad: 'm1' }).then((b) => b, (e: unknown) => e); // its load waits up to 10 minutes
    const out = await within(strict.decrypt('conv', m1, { aad: 'm1' }));
    // strict's own deadline is 100 ms: past it, ERR_KMS_UNAVAILABLE (retryable), whoever started the load.
    expect(out).not.toBe(HUNG);
    expect(isKeywardenError(out) && { code: out.code, retryable: out.retryable }).toEqual({ code: 'ERR_KMS_UNAVAILABLE', retryable: true });

    masterKey.release(); // the KMS answers again
    expect(dec((await slow) as Uint8Array)).toBe('one');
    expect(dec(await strict.decrypt('conv', m1, { aad: 'm1' }))).toBe('one');
    patient.close();
    strict.close();
  });
});
