/**
 * Review 6, mutation round 2 — guarantee (SECURITY.md): "keys keywarden owns are wiped: … when
 * they arrive after a deadline".
 *
 * Surviving mutation: in src/keys/key-path.ts `generateKey`, the `onLate` handler of the KMS
 * deadline (`(late) => wipeLate(late?.plaintextKey)`) replaced by a no-op. The named tests
 * (keywarden-cache, secret-hygiene, review6-keys-close-wipes-attachment-keys) only make an
 * *unwrap* answer late (secret-hygiene's `lateDelayMs`); a GenerateDataKey answering after the
 * deadline, whose plaintext data key nobody will ever use, was never checked, so it could stay in
 * memory unwiped.
 *
 * Now: a provider whose GenerateDataKey ignores the abort signal and answers only after keywarden
 * gave up (a gate opened by the test once encrypt rejected with ERR_KMS_UNAVAILABLE — ordering,
 * not timing) hands back a data key; that key's bytes are all zero once the late answer settled,
 * and nothing was stored under it.
 */
import { describe, expect, it } from 'vitest';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';

/** GenerateDataKey waits for `open()` whatever the abort signal says: a late answer. */
class LateGenerate implements MasterKeyProvider {
  readonly keyId: string;
  readonly handed: Uint8Array[] = [];
  #open!: () => void;
  readonly #gate = new Promise<void>((r) => (this.#open = r));
  #answered!: () => void;
  readonly answered = new Promise<void>((r) => (this.#answered = r));
  constructor(readonly inner: LocalMasterKey) {
    this.keyId = inner.keyId;
  }
  open(): void {
    this.#open();
  }
  async generateDataKey(ctx: Readonly<Record<string, string>>): Promise<GeneratedDataKey> {
    const g = await this.inner.generateDataKey(ctx);
    this.handed.push(g.plaintextKey);
    await this.#gate; // ignores the signal on purpose
    queueMicrotask(() => this.#answered());
    return g;
  }
  unwrapDataKey(w: Uint8Array, ctx: Readonly<Record<string, string>>, id: string, o?: KmsCallOptions): Promise<Uint8Array> {
    return this.inner.unwrapDataKey(w, ctx, id, o);
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe('a data key that GenerateDataKey returns after the deadline', () => {
  it('is wiped, and nothing is stored under it', async () => {
    const mk = new LateGenerate(new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:late' }));
    const store = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: mk, keyStore: store, timeouts: { kmsMs: 20 } });
    const err = await kw.encrypt('conv', new Uint8Array([1, 2, 3])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isKeywardenError(err, 'ERR_KMS_UNAVAILABLE')).toBe(true);
    expect(mk.handed).toHaveLength(1);
    const late = mk.handed[0]!;
    expect(late.some((b) => b !== 0)).toBe(true); // a real key, not yet answered
    mk.open(); // the provider answers now, after keywarden gave up
    await mk.answered;
    for (let i = 0; i < 5; i++) await settle();
    expect(late.every((b) => b === 0)).toBe(true);
    expect(await store.getLatest('conv')).toBeUndefined();
    kw.close();
  });
});
