/**
 * Outside review 7 (format): the suite tables exported from the root entry point were mutable.
 *
 * `SUITES`, the `SuiteInfo` objects in it (the very objects `suiteById`, `suiteByName`, the header
 * parser and every Keywarden instance use) and `SuiteId` were plain objects: typed `readonly`, but
 * not frozen. Any code of the application or of a dependency could change them, without a word,
 * for the whole process:
 *
 * - `suiteByName('AES-256-GCM').maxMessagesPerKey = Infinity` (or a smaller number) changed the
 *   NIST SP 800-38D bound keywarden enforces (docs/FORMAT.md §5, SECURITY.md "a key version seals
 *   at most 2^32 messages (AES-GCM)"): with Infinity no seal was counted at all; with 2, version 1
 *   rotated after two messages;
 * - `SUITES[1].nonceLength = 24` made `encrypt` seal AES-256-GCM messages with a 24-byte nonce
 *   (50 bytes of overhead, not the 38 of docs/FORMAT.md §3.1) that no other implementation of the
 *   format reads, and that keywarden itself no longer opens once the value is back;
 * - `SuiteId.AES_256_GCM = 2` made `suiteById(1)` undefined: every AES message failed to open.
 *
 * Where: src/format/suites.ts (`SuiteId`, `SUITES`).
 *
 * Now: `SuiteId`, `SUITES` and each `SuiteInfo` are frozen: an assignment throws (ES modules are
 * strict) and changes nothing; keywarden keeps sealing and counting as docs/FORMAT.md says.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, SUITES, SuiteId, inspectCiphertext, suiteById, suiteByName } from '../src/node.js';

type Mutable = Record<string, unknown>;

/** Tries an assignment; restores the old value if it took (so a failing run leaves nothing behind). */
function tryAssign(target: object, key: string, value: unknown): { threw: boolean; took: boolean } {
  const t = target as Mutable;
  const old = t[key];
  let threw = false;
  try {
    t[key] = value;
  } catch {
    threw = true;
  }
  const took = t[key] === value;
  if (took) {
    try {
      t[key] = old;
    } catch {
      // frozen after all
    }
  }
  return { threw, took };
}

describe('the exported suite tables cannot be changed', () => {
  it('SuiteId, SUITES and every SuiteInfo refuse assignments and keep their values', () => {
    const aes = suiteByName('AES-256-GCM')!;
    expect(tryAssign(aes, 'maxMessagesPerKey', Infinity)).toEqual({ threw: true, took: false });
    expect(tryAssign(aes, 'nonceLength', 24)).toEqual({ threw: true, took: false });
    expect(tryAssign(suiteById(2)!, 'nonceLength', 12)).toEqual({ threw: true, took: false });
    expect(tryAssign(SUITES, '1', SUITES[2])).toEqual({ threw: true, took: false });
    expect(tryAssign(SuiteId, 'AES_256_GCM', 2)).toEqual({ threw: true, took: false });
    expect(suiteById(1)).toMatchObject({ id: 1, name: 'AES-256-GCM', nonceLength: 12, tagLength: 16, keyLength: 32, maxMessagesPerKey: 2 ** 32 });
    expect(suiteById(2)).toMatchObject({ id: 2, name: 'XChaCha20-Poly1305', nonceLength: 24, maxMessagesPerKey: Infinity });
    expect(SuiteId).toEqual({ AES_256_GCM: 1, XCHACHA20_POLY1305: 2 });
  });

  it('an attempted change does not alter what encrypt seals or how many messages a version may seal', async () => {
    const aes = SUITES[SuiteId.AES_256_GCM] as unknown as Mutable;
    const saved = { nonceLength: aes.nonceLength, maxMessagesPerKey: aes.maxMessagesPerKey };
    try {
      try {
        aes.nonceLength = 24;
      } catch {
        // refused: what the fix does
      }
      try {
        aes.maxMessagesPerKey = 2;
      } catch {
        // refused
      }
      const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
      const cts: Uint8Array[] = [];
      for (let i = 0; i < 4; i++) cts.push(await kw.encrypt('dm:alice:bob', new Uint8Array([i])));
      for (const ct of cts) {
        // docs/FORMAT.md §3.1: 10-byte header, 12-byte nonce, tag: 38 bytes of overhead; one version.
        expect(ct.length).toBe(1 + 38);
        expect(inspectCiphertext(ct)).toMatchObject({ suite: 'AES-256-GCM', keyVersion: 1, overhead: 38 });
      }
      await kw.close();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        try {
          aes[k] = v;
        } catch {
          // frozen
        }
      }
    }
  });
});
