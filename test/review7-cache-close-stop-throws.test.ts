/**
 * Review 7 (cache): `close()` of a Keywarden with `watchKeyChanges` left an unhandled promise
 * rejection when the key store's stop function (what `subscribe` resolves to) threw instead of
 * returning a rejected promise — e.g. a plain function that throws when its connection is already
 * gone. `close()` is synchronous and starts the watcher's close with `void`; `KeyWatcher.close`
 * caught only a rejected promise (`stop().catch(...)`), so the synchronous throw rejected the
 * promise nobody held (observed: an `unhandledRejection` event with the store's error, which
 * terminates a Node.js process under the default `--unhandled-rejections=throw`). The same throw
 * from a subscription that arrived after close (or was lost on arrival) escaped the same way.
 *
 * Where: src/keys/watch.ts `KeyWatcher.close` and `#subscribe` (reached from src/keywarden.ts
 * `Keywarden.close`).
 *
 * Now: a stop that throws, synchronously or not, is ignored as a rejected one is: close() ends
 * quietly and the instance is closed (ERR_CLOSED after).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyChange } from '../src/store/types.js';

/** A memory store whose subscriptions stop with a function that throws synchronously. */
class ThrowingStopStore extends MemoryKeyStore {
  override async subscribe(onChange: (conversationId: string, change: KeyChange) => void): Promise<() => Promise<void>> {
    const stop = await super.subscribe(onChange);
    return () => {
      void stop();
      throw new Error('connection already closed');
    };
  }
}

const seen: unknown[] = [];
const onUnhandled = (reason: unknown) => void seen.push(reason);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('close() with a key store whose stop throws (review 7, cache)', () => {
  it('leaves no unhandled rejection and closes the instance', async () => {
    process.on('unhandledRejection', onUnhandled);
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new ThrowingStopStore(), watchKeyChanges: true });
    await kw.ready();
    expect(kw.stats().watch.state).toBe('listening');
    await kw.encrypt('conv', new Uint8Array([1]));
    kw.close();
    await new Promise((r) => setTimeout(r, 50)); // let a rejection nobody handles be reported
    expect(seen.map(String)).toEqual([]);
    expect(kw.stats().watch.state).toBe('off');
    expect(await kw.encrypt('conv', new Uint8Array([1])).then(() => 'sealed', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)))).toBe('ERR_CLOSED');
  });
});
