/**
 * A seal never outlives its version's age deadline (docs/KEYS.md §4), even when loading the key
 * takes long. Found by `npm run soak` (issue #11): encrypt checked the deadline with the time
 * taken before it waited for the key (a cache miss: store read and KMS unwrap, seconds under KMS
 * faults), then sealed with the time after the wait, so a version that came due meanwhile sealed
 * past `activatedAt + maxAgeMs` (the soak saw 60.66 s under `maxAgeMs: 60000`). The attachment
 * path kept the old check until an outside review (2026-12-01) found it: its case is below.
 */
import { expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectAttachment, inspectCiphertext } from '../src/node.js';
import type { KmsCallOptions } from '../src/kms/provider.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const AGE = 60_000;

/**
 * Version 1 made at T0 by one instance; then a second instance (a cold cache) at 80 % of the age
 * whose KMS takes 30 % of it to unwrap (of the test's clock). Returns the second instance.
 */
async function coldInstanceNearDeadline(): Promise<{ second: Keywarden; keyStore: MemoryKeyStore }> {
  let t = T0;
  let slowUnwrapMs = 0;
  class SlowUnwrap extends LocalMasterKey {
    override async unwrapDataKey(w: Uint8Array, c: Readonly<Record<string, string>>, id: string, o?: KmsCallOptions): Promise<Uint8Array> {
      t += slowUnwrapMs;
      return super.unwrapDataKey(w, c, id, o);
    }
  }
  const masterKey = new SlowUnwrap(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const now = () => new Date(t);
  const first = new Keywarden({ masterKey, keyStore, now, rotation: { maxAgeMs: AGE } });
  expect(inspectCiphertext(await first.encrypt('c', new Uint8Array(8))).keyVersion).toBe(1);
  first.close();
  t = T0 + 0.8 * AGE;
  slowUnwrapMs = 0.3 * AGE;
  return { second: new Keywarden({ masterKey, keyStore, now, rotation: { maxAgeMs: AGE } }), keyStore };
}

/** Whether `sealedAt` is at or past the age deadline of `version`. */
async function pastAge(keyStore: MemoryKeyStore, version: number, sealedAt: string): Promise<boolean> {
  const named = (await keyStore.listVersions('c')).find((r) => r.version === version)!;
  return Date.parse(sealedAt) >= named.activatedAt.getTime() + AGE;
}

it('a version that comes due while its key is loading is rotated, not sealed past its age', async () => {
  const { second, keyStore } = await coldInstanceNearDeadline();
  const info = inspectCiphertext(await second.encrypt('c', new Uint8Array(8)));
  expect({ version: info.keyVersion, sealedPastAge: await pastAge(keyStore, info.keyVersion, info.sealedAt!) }).toEqual({ version: 2, sealedPastAge: false });
  second.close();
});

it('an attachment sealed while its key loads is not sealed past its version\'s age either', async () => {
  const { second, keyStore } = await coldInstanceNearDeadline();
  const sealed = await second.encryptAttachment('c', new Uint8Array(300), { segmentSize: 256 });
  const info = inspectAttachment(sealed);
  expect({ version: info.keyVersion, sealedPastAge: await pastAge(keyStore, info.keyVersion, info.sealedAt) }).toEqual({ version: 2, sealedPastAge: false });
  // It opens, under the version it names.
  expect(await second.decryptAttachment('c', sealed)).toEqual(new Uint8Array(300));
  second.close();
});
