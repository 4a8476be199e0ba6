/**
 * Review 3 (format): attachmentSize() accepts segment sizes and lengths that no attachment can
 * have, and returns a size for them.
 *
 * Where: src/stream/format.ts:122-127 — `segmentSize` is only checked to be ≥ 1 and
 * `plaintextLength` ≥ 0, while the format (docs/FORMAT.md §9.1, §9.5) allows segment sizes
 * 256 ..= 16 MiB only and at most 2^40 plaintext bytes. attachmentSize(1000, 100) returns 1206,
 * a size that geometry()/inspectAttachment/openAttachment then refuse for every header; an
 * attachment of 2^40 + 1 bytes cannot be sealed, yet gets a size. (The earlier fix,
 * test/public-entry-errors.test.ts, only covered non-integers, negatives and 0.)
 *
 * Correct behaviour: `assertInt('segmentSize', segmentSize, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)`
 * and `assertInt('plaintextLength', plaintextLength, 0, MAX_ATTACHMENT_BYTES)`, i.e.
 * ERR_INVALID_INPUT naming the parameter, as the segmentSize option of the sealing calls does.
 *
 * Now: segmentSize must be 256..16 MiB and plaintextLength 0..2^40, as in the format.
 */
import { describe, expect, it } from 'vitest';
import { attachmentSize } from '../src/node.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('attachmentSize refuses what the format cannot hold', () => {
  it.each([
    ['segment size below 256', 1000, 100, 'segmentSize'],
    ['segment size above 16 MiB', 1000, 16 * 1024 * 1024 + 1, 'segmentSize'],
    ['plaintext above 2^40 bytes', 2 ** 40 + 1, 65536, 'plaintextLength'],
  ])('%s', (_name, length, segmentSize, param) => {
    expect(thrown(() => attachmentSize(length, segmentSize))).toMatchObject({ code: 'ERR_INVALID_INPUT', param });
  });
});
