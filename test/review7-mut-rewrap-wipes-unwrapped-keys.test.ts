/**
 * Review 7 (mutation review). Guarantee (SECURITY.md: "keys keywarden owns are wiped: after use,
 * … when they arrive after a deadline"; docs/KEYS.md §6 and src/keys/rewrap.ts: "unwrap with the
 * source and wrap with the destination (the plaintext key is wiped at once)").
 *
 * Survived: in src/keys/rewrap.ts `rewrapOne`, the wipe after the wrap removed (`if (plain
 * instanceof Uint8Array) clean(plain);` → nothing), and the `onLate` handler of the unwrap's
 * deadline (`(late) => clean(late)`) dropped. Every data key a re-wrap unwrapped without
 * ReEncrypt — all of them, with local keys or a provider without `reEncryptDataKey` — then stayed
 * in memory in clear, and so did one whose unwrap answered after the deadline. The named tests
 * still passed: test/secret-hygiene.test.ts never re-wraps, and the re-wrap tests only check where
 * keys end up.
 *
 * Now asserted: after `rewrap` from a local old key to a local new key, every plaintext data key
 * the source provider handed out is all zeros (and the messages still open); and a source whose
 * unwrap ignores the abort signal and answers only after the re-wrap gave up (a gate opened by the
 * test once `rewrap` rejected — ordering, not timing) has its late key wiped.
 */
import { describe, expect, it } from 'vitest';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider, WrappedDataKey } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore } from '../src/node.js';

/** Forwards to a ring and records every plaintext data key it hands out; unwraps may be held at a gate. */
class Recording implements MasterKeyProvider {
  readonly keyId: string;
  readonly handed: Uint8Array[] = [];
  gate: Promise<void> | undefined;
  answered = 0;
  constructor(readonly inner: MasterKeyRing) {
    this.keyId = inner.keyId;
  }
  handlesKeyId(id: string): boolean {
    return this.inner.handlesKeyId(id);
  }
  async generateDataKey(ctx: Readonly<Record<string, string>>, o?: KmsCallOptions): Promise<GeneratedDataKey> {
    const g = await this.inner.generateDataKey(ctx, o);
    this.handed.push(g.plaintextKey);
    return g;
  }
  async unwrapDataKey(w: Uint8Array, ctx: Readonly<Record<string, string>>, id: string): Promise<Uint8Array> {
    const k = await this.inner.unwrapDataKey(w, ctx, id);
    this.handed.push(k);
    if (this.gate !== undefined) await this.gate; // ignores the signal on purpose
    this.answered++;
    return k;
  }
  wrapDataKey(k: Uint8Array, ctx: Readonly<Record<string, string>>, o?: KmsCallOptions): Promise<WrappedDataKey> {
    return this.inner.wrapDataKey(k, ctx, o);
  }
}

const enc = (s: string) => new TextEncoder().encode(s);
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('rewrap wipes the data keys it unwraps', () => {
  it('after wrapping them under the new master key', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:old' });
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:new' });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: oldKey, keyStore });
    const msgs = [];
    for (let i = 0; i < 6; i++) msgs.push({ conv: `c${i}`, ct: await before.encrypt(`c${i}`, enc(`m${i}`)) });
    before.close();

    const mk = new Recording(new MasterKeyRing(newKey, [oldKey]));
    const kw = new Keywarden({ masterKey: mk, keyStore });
    const report = await kw.rewrap({ concurrency: 2 });
    expect(report).toMatchObject({ complete: true, rewrapped: 6, failed: 0 });
    expect(mk.handed.length).toBeGreaterThanOrEqual(6);
    for (const k of mk.handed) expect(k.every((b) => b === 0)).toBe(true);
    for (const m of msgs) expect(new TextDecoder().decode(await kw.decrypt(m.conv, m.ct))).toBe(`m${m.conv.slice(1)}`);
    for (const k of mk.handed) expect(k.every((b) => b === 0)).toBe(true);
    kw.close();
  });

  it('when the unwrap answers after the deadline', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:old' });
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:new' });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: oldKey, keyStore });
    await before.encrypt('late', enc('x'));
    before.close();

    const mk = new Recording(new MasterKeyRing(newKey, [oldKey]));
    let open!: () => void;
    mk.gate = new Promise<void>((r) => (open = r));
    const kw = new Keywarden({ masterKey: mk, keyStore, timeouts: { kmsMs: 20 } });
    await expect(kw.rewrap({ maxAttempts: 1 })).rejects.toMatchObject({ code: 'ERR_KMS_UNAVAILABLE' });
    expect(mk.handed).toHaveLength(1);
    const late = mk.handed[0]!;
    expect(late.some((b) => b !== 0)).toBe(true); // a real key, not yet answered
    open(); // the provider answers now, after the re-wrap gave up
    while (mk.answered === 0) await settle();
    for (let i = 0; i < 5; i++) await settle();
    expect(late.every((b) => b === 0)).toBe(true);
    expect((await keyStore.getLatest('late'))!.masterKeyId).toBe('local:old');
    kw.close();
  });
});
