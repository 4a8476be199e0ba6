/**
 * Fuzzing the audit log's readers (issue #11): `decodeEntry`, `scanFrames` (the file format of
 * FileAuditStore, which the CLI reads without the store), `verifyAuditLog`, and
 * `FileAuditStore.open` + `AuditLog.open` over files on disk. Every mutant starts from a genuine
 * log of 14 entries (every event type) and its signed, witnessed checkpoints. Properties:
 *  - decodeEntry accepts exactly the canonical encoding of a valid event, and throws only
 *    KeywardenErrors;
 *  - scanFrames never throws, and what it returns is exactly the valid prefix of its input;
 *  - verifyAuditLog never throws for bad log data, its report is consistent (indices in range,
 *    ok exactly when there is no problem), and `ok` means the covered entries are the genuine ones
 *    — even when the log operator signs whatever checkpoints it likes;
 *  - a damaged store directory is refused as ERR_AUDIT_CORRUPT (never as a retryable outage),
 *    and a log opens only over the genuine entries;
 *  - the parsers take time linear in their input, and refuse oversized entries.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosignatureVerifier, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { MAX_ENTRY_BYTES, decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { frame, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner, parseVerifierKey } from '../src/audit/note.js';
import { toHex } from '../src/util/bytes.js';
import { type AuditVerifyInput, type AuditVerifyReport, verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { attempt, attemptAsync, deepText, expectLinear, mutatedBytes, mutatedJson, mutatedText, neverThrows, notBytes, params } from './support/fuzz.js';

const enc = new TextEncoder();
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const MAGIC = enc.encode('keywarden-audit-v1\n');
const withVersion = (json: string) => Buffer.concat([Uint8Array.of(1), enc.encode(json)]);

const ORIGIN = 'fuzz.example/log';
const LOG = generateNoteKey(ORIGIN, new Uint8Array(32).fill(21));
const LOG_SIGNER = newNoteSigner(LOG.signerKey);
const WITNESS = generateCosignerKey('fuzz.example/witness', new Uint8Array(32).fill(22));

const events = Array.from({ length: 14 }, (_, i) => sampleEvent(i));
const entries = events.map(encodeEntry);
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));
const signedAt = (size: number, root = tree.root(size), origin = ORIGIN) => signCheckpoint({ origin, size, rootHash: root, extensions: [] }, LOG_SIGNER);
const checkpoints = [signedAt(3), signedAt(7), cosignCheckpoint(signedAt(14), newCosigner(WITNESS.signerKey, () => 1_750_000_000))];
const framed = (records: readonly Uint8Array[]) => Buffer.concat([MAGIC, ...records.map(frame)]);

// ---------------------------------------------------------------------------------------------

/** decodeEntry accepts only `encodeEntry(event)` itself; anything else is a KeywardenError. */
function expectCanonicalOrRefused(bytes: unknown): void {
  const r = attempt(() => decodeEntry(bytes as Uint8Array));
  if (r.ok) expect(same(encodeEntry(r.value), bytes as Uint8Array)).toBe(true);
  else expect(['ERR_AUDIT_ENTRY', 'ERR_INVALID_INPUT']).toContain(r.error.code);
}

describe('fuzz: decodeEntry', () => {
  it('mutated entry bytes: the canonical encoding of a valid event, or ERR_AUDIT_ENTRY', () => {
    fc.assert(fc.property(mutatedBytes(entries), expectCanonicalOrRefused), params(300));
  });

  it('mutated entry JSON (fields replaced, deleted, added, swapped, duplicated, __proto__, deep nesting, CRLF, BOM): canonical or refused', () => {
    fc.assert(fc.property(mutatedJson(events), (text) => expectCanonicalOrRefused(withVersion(text))), params(300));
  });

  it('arbitrary bytes and arbitrary values: only KeywardenErrors', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.concat([Uint8Array.of(1), b])), notBytes), expectCanonicalOrRefused), params(300));
  });

  it('refuses an entry over MAX_ENTRY_BYTES before parsing it, and accepts one that fits', () => {
    const big = withVersion(`{"a":"${'x'.repeat(MAX_ENTRY_BYTES)}"}`);
    const r = attempt(() => decodeEntry(big));
    expect(!r.ok && r.error.message).toBe('entry: too large');
    // The largest kind of entry: an array field (key.shredded versions) right up to the limit.
    const fits = (n: number) => encodeEntry({ ...sampleEvent(2), versions: Array.from({ length: n }, (_, i) => 100_000 + i) } as never);
    let n = 1000;
    while (attempt(() => fits(n + 1000)).ok) n += 1000;
    expect(fits(n).length).toBeGreaterThan(MAX_ENTRY_BYTES - 8000);
    expect(decodeEntry(fits(n)).type).toBe('key.shredded');
    // As deep as the size limit allows: refused, not a stack overflow.
    const deep = attempt(() => decodeEntry(withVersion(deepText((MAX_ENTRY_BYTES - 2) / 2, 'array'))));
    expect(!deep.ok && deep.error.code).toBe('ERR_AUDIT_ENTRY');
  });

  it('takes time linear in the entry size (valid and invalid entries)', () => {
    const shredded = (n: number) => encodeEntry({ ...sampleEvent(2), versions: Array.from({ length: n }, (_, i) => i) } as never);
    expectLinear('decodeEntry (valid, n versions)', shredded, (b) => decodeEntry(b), 1000);
    const spaced = (n: number) => withVersion(`{${' '.repeat(n)}"id":${'['.repeat(n / 8)}${']'.repeat(n / 8)}}`);
    expectLinear('decodeEntry (whitespace and nesting)', spaced, (b) => attempt(() => decodeEntry(b)), 3000); // 8n stays under MAX_ENTRY_BYTES
  });
});

// ---------------------------------------------------------------------------------------------

/** scanFrames never throws; its records re-frame to exactly the bytes up to validEnd. */
function expectExactPrefix(data: Uint8Array): void {
  const s = neverThrows(() => scanFrames(data));
  expect(s.validEnd).toBeGreaterThanOrEqual(0);
  expect(s.validEnd).toBeLessThanOrEqual(data.length);
  const rebuilt = s.validEnd === 0 ? new Uint8Array(0) : framed(s.records);
  expect(same(rebuilt, data.subarray(0, s.validEnd))).toBe(true);
  if (s.damage) expect(s.damage.offset).toBe(s.validEnd);
  else expect(s.validEnd).toBe(data.length);
}

describe('fuzz: scanFrames', () => {
  const files = [framed(entries), framed(checkpoints.map((c) => enc.encode(c))), framed([]), framed([new Uint8Array(0)])];

  it('mutated store files: never throws, returns exactly the valid prefix (also as a view into a larger buffer)', () => {
    const asView = (b: Uint8Array) => Buffer.concat([Uint8Array.of(0xff, 0, 0, 0), b, Uint8Array.of(0, 0, 0, 9)]).subarray(4, 4 + b.length);
    fc.assert(fc.property(mutatedBytes(files), fc.boolean(), (b, view) => expectExactPrefix(view ? asView(b) : b)), params(300));
  });

  it('arbitrary bytes, with or without the file header: the same', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.boolean(), (b, magic) => expectExactPrefix(magic ? Buffer.concat([MAGIC, b]) : b)), params(300));
  });

  it('a record claiming 4 GiB in a short file is a torn tail, found without allocating it', () => {
    const data = Buffer.concat([MAGIC, Uint8Array.of(0xff, 0xff, 0xff, 0xff), new Uint8Array(20)]);
    const before = process.memoryUsage().arrayBuffers;
    const s = scanFrames(data);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    expect(s.damage).toEqual({ offset: MAGIC.length, torn: true, message: 'record of 4294967295 bytes truncated' });
  });

  it('takes time linear in the file size', () => {
    const file = (n: number) => framed(Array.from({ length: n }, (_, i) => entries[i % entries.length]!));
    expectLinear('scanFrames', file, scanFrames, 200);
  });
});

// ---------------------------------------------------------------------------------------------

/** What must hold of any report, whatever the input. */
function expectSaneReport(r: AuditVerifyReport, input: AuditVerifyInput): void {
  expect(r.entries).toBe(input.entries.length);
  expect(r.checkpoints).toBe(input.checkpoints.length);
  expect(r.ok).toBe(r.problems.length === 0);
  expect(r.unsignedTail).toBeGreaterThanOrEqual(0);
  expect(r.unsignedTail).toBeLessThanOrEqual(input.entries.length);
  for (const p of r.problems) {
    if (p.index !== undefined) {
      expect(Number.isSafeInteger(p.index) && p.index >= 0 && p.index <= input.entries.length, `${p.kind} index ${p.index}: ${p.message}`).toBe(true);
    }
    if (p.checkpoint !== undefined) expect(p.checkpoint >= 0 && p.checkpoint < input.checkpoints.length, `${p.kind} checkpoint ${p.checkpoint}`).toBe(true);
  }
}

/** An OK report vouches for genuine entries only: the latest checkpoint's root is the genuine tree's. */
function expectNoForgery(r: AuditVerifyReport, input: AuditVerifyInput): void {
  if (!r.ok || r.latest === undefined) return;
  expect(r.latest.size).toBeLessThanOrEqual(entries.length);
  expect(r.latest.root).toBe(hex(tree.root(r.latest.size)));
  for (let i = 0; i < r.latest.size; i++) expect(same(input.entries[i]!, entries[i]!)).toBe(true);
}

type Edit<T> = (xs: T[]) => T[];
function listEdit<T>(mutant: fc.Arbitrary<T>): fc.Arbitrary<Edit<T>> {
  return fc.oneof(
    fc.tuple(fc.nat(), mutant).map(([i, x]): Edit<T> => (xs) => xs.map((y, j) => (j === i % xs.length ? x : y))),
    fc.nat().map((i): Edit<T> => (xs) => xs.filter((_, j) => j !== i % xs.length)),
    fc.nat().map((i): Edit<T> => (xs) => xs.flatMap((y, j) => (j === i % xs.length ? [y, y] : [y]))),
    fc.tuple(fc.nat(), fc.nat()).map(([i, k]): Edit<T> => (xs) => {
      const out = [...xs];
      const a = i % xs.length, b = k % xs.length;
      [out[a], out[b]] = [out[b]!, out[a]!];
      return out;
    }),
    fc.nat().map((i): Edit<T> => (xs) => xs.slice(0, i % (xs.length + 1))),
    mutant.map((x): Edit<T> => (xs) => [...xs, x]),
  );
}

const entryEdit = listEdit(fc.oneof(mutatedBytes(entries), fc.nat({ max: 100 }).map((n) => encodeEntry(sampleEvent(n + 14)))));
const checkpointEdit = listEdit(fc.oneof(mutatedText(checkpoints), fc.constantFrom(...checkpoints)));
const genuine: AuditVerifyInput = { verifierKey: LOG.verifierKey, entries, checkpoints };

describe('fuzz: verifyAuditLog', () => {
  it('the genuine log is OK, witnessed', () => {
    const r = verifyAuditLog({ ...genuine, trusted: checkpoints[0]!, witnesses: [WITNESS.verifierKey], witnessQuorum: 1 });
    expect(r.problems).toEqual([]);
  });

  it('tampered entries (changed, dropped, duplicated, swapped, truncated, appended): never throws, always detected', () => {
    fc.assert(
      fc.property(fc.array(entryEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        const input = { ...genuine, entries: edits.reduce((xs, f) => f(xs), [...entries]) };
        const r = neverThrows(() => verifyAuditLog(input));
        expectSaneReport(r, input);
        const untouched = input.entries.length === entries.length && input.entries.every((e, i) => same(e, entries[i]!));
        expect(r.ok).toBe(untouched);
      }),
      params(30),
    );
  });

  it('tampered checkpoints, trusted checkpoint and witnesses: never throws; OK only over the genuine entries', () => {
    const trustedArb = fc.option(fc.oneof(fc.constantFrom(...checkpoints), mutatedText(checkpoints)), { nil: undefined });
    const witnessArb = fc.option(fc.oneof(fc.constant([WITNESS.verifierKey]), fc.array(mutatedText([WITNESS.verifierKey]), { maxLength: 2 })), { nil: undefined });
    fc.assert(
      fc.property(fc.array(checkpointEdit, { maxLength: 3 }), fc.array(entryEdit, { maxLength: 1 }), trustedArb, witnessArb, fc.option(fc.nat({ max: 3 }), { nil: undefined }), (cpEdits, entryEdits, trusted, witnesses, quorum) => {
        const input: AuditVerifyInput = {
          ...genuine,
          entries: entryEdits.reduce((xs, f) => f(xs), [...entries]),
          checkpoints: cpEdits.reduce((xs, f) => f(xs), [...checkpoints]),
          ...(trusted === undefined ? {} : { trusted }),
          ...(witnesses === undefined ? {} : { witnesses }),
          ...(quorum === undefined ? {} : { witnessQuorum: quorum }),
        };
        // A bad witness key, a quorum the witnesses given cannot meet (or with none to count), or
        // one witness key listed twice is the caller's input, not log data: it may throw, as a
        // KeywardenError.
        const r = attempt(() => verifyAuditLog(input));
        const badQuorum = quorum !== undefined && (quorum < 1 || quorum > (witnesses?.length ?? 0));
        // Twice = one parseable key listed twice (the library refuses that); keys that do not
        // parse are refused as well (below), however often they are listed (CI drew ["", ""] on
        // Node 24, seed 590749644).
        const keyOf = (w: string) => {
          try {
            return toHex(parseVerifierKey(w).publicKey);
          } catch {
            return undefined;
          }
        };
        const parsedKeys = (witnesses ?? []).map(keyOf).filter((k) => k !== undefined);
        const listedTwice = new Set(parsedKeys).size < parsedKeys.length;
        // A witness that is not a cosigner verifier key is the caller's input too (outside review
        // 7, test/review7-verify-witness-options-late.test.ts): refused, not a problem of the log.
        const badKey = (witnesses ?? []).some((w) => {
          try {
            newCosignatureVerifier(w);
            return false;
          } catch {
            return true;
          }
        });
        if (!r.ok) {
          const param = (r.error as { param?: string }).param;
          expect((witnesses !== undefined && r.error.code === 'ERR_NOTE_KEY') || (badQuorum && r.error.code === 'ERR_INVALID_INPUT') || ((listedTwice || badKey) && r.error.code === 'ERR_INVALID_INPUT' && param === 'witnesses')).toBe(true);
          return;
        }
        expect(badQuorum || listedTwice || badKey).toBe(false);
        expectSaneReport(r.value, input);
        expectNoForgery(r.value, input);
      }),
      params(30),
    );
  });

  it('a hostile log operator signing whatever checkpoints it likes: never throws, indices in range, OK only when the checkpoints are true', () => {
    const forged = fc
      .record({ size: fc.nat({ max: 20 }), genuineRoot: fc.boolean(), root: fc.uint8Array({ minLength: 32, maxLength: 32 }), otherOrigin: fc.boolean() })
      .map(({ size, genuineRoot, root, otherOrigin }) => signedAt(size, genuineRoot && size <= entries.length ? tree.root(size) : root, otherOrigin ? 'other.example/log' : ORIGIN));
    fc.assert(
      fc.property(fc.array(fc.oneof(forged, fc.constantFrom(...checkpoints)), { maxLength: 4 }), fc.option(forged, { nil: undefined }), fc.array(entryEdit, { maxLength: 1 }), (cps, trusted, entryEdits) => {
        const input: AuditVerifyInput = { ...genuine, entries: entryEdits.reduce((xs, f) => f(xs), [...entries]), checkpoints: cps, ...(trusted === undefined ? {} : { trusted }) };
        const r = neverThrows(() => verifyAuditLog(input));
        expectSaneReport(r, input);
        expectNoForgery(r, input);
      }),
      params(30),
    );
  });

  it('takes time about linear in the number of entries and checkpoints', () => {
    const log = (n: number): AuditVerifyInput => {
      const es = Array.from({ length: n }, (_, i) => encodeEntry(sampleEvent(i)));
      const t = new MerkleTree();
      for (const e of es) t.append(leafHash(e));
      const cps = [n / 2, n].map((size) => signCheckpoint({ origin: ORIGIN, size, rootHash: t.root(size), extensions: [] }, LOG_SIGNER));
      return { verifierKey: LOG.verifierKey, entries: es, checkpoints: cps };
    };
    expectLinear('verifyAuditLog', log, verifyAuditLog, 30);
  });
});

// ---------------------------------------------------------------------------------------------

describe('fuzz: FileAuditStore.open and AuditLog.open over damaged files', () => {
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'kw-fuzz-store-'));
  });
  afterAll(async () => rm(base, { recursive: true, force: true }));

  /** Writes the two files, opens store and log; damage is ERR_AUDIT_CORRUPT, and a log opens only over genuine entries. */
  async function expectCorruptOrGenuine(entriesFile: Uint8Array, checkpointsFile: Uint8Array): Promise<void> {
    const dir = await mkdtemp(join(base, 'd-'));
    try {
      await writeFile(join(dir, 'entries'), entriesFile);
      await writeFile(join(dir, 'checkpoints'), checkpointsFile);
      const s = await attemptAsync(() => FileAuditStore.open(dir));
      if (!s.ok) {
        expect(s.error.code, s.error.message).toBe('ERR_AUDIT_CORRUPT');
        return;
      }
      const store = s.value;
      try {
        const l = await attemptAsync(() => AuditLog.open({ store, signerKey: LOG.signerKey }));
        if (!l.ok) {
          expect(l.error.code, l.error.message).toBe('ERR_AUDIT_CORRUPT');
          return;
        }
        const read = await store.read(0, l.value.size);
        expect(read.every((e, i) => same(e, entries[i]!))).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const genuineFiles = { entries: framed(entries), checkpoints: framed(checkpoints.map((c) => enc.encode(c))) };
  // An attacker with write access recomputes the (unkeyed) checksums: records that frame
  // correctly but hold anything.
  const reframedCheckpoints = fc.array(fc.oneof(mutatedText(checkpoints).map((t) => enc.encode(t)), mutatedBytes(checkpoints.map((c) => enc.encode(c)))), { maxLength: 3 }).map(framed);
  const reframedEntries = fc.array(fc.oneof(mutatedBytes(entries), fc.constantFrom(...entries)), { maxLength: 14 }).map(framed);

  it('files damaged byte by byte, or re-framed with valid checksums around mutated records', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(genuineFiles.entries), mutatedBytes([genuineFiles.entries]), reframedEntries),
        fc.oneof(fc.constant(genuineFiles.checkpoints), mutatedBytes([genuineFiles.checkpoints]), reframedCheckpoints),
        expectCorruptOrGenuine,
      ),
      params(25, { heavy: true }),
    );
  });
});
