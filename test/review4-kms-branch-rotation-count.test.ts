/**
 * What was wrong: `BranchKeyProvider` documents `rotation: { maxAgeMs }` (branch keys rotate by
 * age only: they are uncounted, a branch version wraps any number of conversation keys), but it
 * validated the option with the conversation-key policy, which also takes `maxMessages`. So
 * `rotation: { maxMessages: 2 }` — an operator asking for a branch key per two new conversation
 * keys — was accepted and silently did nothing: every conversation key went on being wrapped under
 * branch version 1, forever. An option that is accepted must act (validation.test.ts: bad input is
 * refused naming the parameter, before anything is written).
 *
 * Now: `options.rotation.maxMessages` on a BranchKeyProvider is refused with ERR_INVALID_INPUT
 * naming it; `maxAgeMs` is accepted as before.
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

describe('BranchKeyProvider rotation options', () => {
  it('refuses rotation.maxMessages (branch keys are not counted), naming it', async () => {
    const store = new MemoryKeyStore();
    let made: BranchKeyProvider | undefined;
    let err: unknown;
    try {
      made = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store, rotation: { maxMessages: 2 } as never });
    } catch (e) {
      err = e;
    }
    if (made !== undefined) {
      // What it did instead: the option had no effect — four new conversation keys, one branch version.
      const kw = new Keywarden({ masterKey: made, keyStore: new MemoryKeyStore() });
      for (const c of ['a', 'b', 'c', 'd']) await kw.encrypt(`dm:${c}`, new Uint8Array(1));
      const versions = (await made.describeBranch('default')).length;
      made.close();
      expect.fail(`rotation.maxMessages was accepted and ignored: ${versions} branch version(s) after 4 new conversation keys`);
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.rotation.maxMessages' });
    expect(await store.summary()).toMatchObject({ conversations: 0 });
  });

  it('still takes rotation.maxAgeMs', () => {
    const p = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: new MemoryKeyStore(), rotation: { maxAgeMs: 3_600_000 } });
    p.close();
  });
});
