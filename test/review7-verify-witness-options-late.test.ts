/**
 * Outside review 7 (verify): mistakes in the auditor's OWN witness configuration were judged
 * only after the whole log had been read, or blamed on the log.
 *
 * - `verifyAuditStream` / `verifyAuditLog` checked `witnesses` (one key listed twice, under one
 *   name or two), `witnessQuorum` and `witnessMaxAgeMs` in checkWitnesses, at the END
 *   (src/audit/verify.ts): every entry and checkpoint was read first, then InvalidInputError.
 * - `keywarden audit verify --witness K --witness K` therefore opened and read the whole log and
 *   then exited 3 ("could not complete: witnesses: …", an option that does not exist) instead of
 *   2, the exit status of a wrong command line; with a `--dir` that does not exist it said so
 *   (exit 3) rather than naming the flag.
 * - A witness entry that is not a cosigner verifier key (a typo, or the log's own type 0x01
 *   key) was reported as a `witness` PROBLEM OF THE LOG — "a witness cosignature on the latest
 *   checkpoint is invalid: malformed verifier key" — and it made the quorum fail even when the
 *   other witnesses had cosigned.
 *
 * - A `now` that is not a function threw the engine's TypeError ("input.now is not a function"),
 *   again only after the full read.
 *
 * Now: checkWitnessOptions runs before anything is read, in both verifiers and in the CLI (before
 * the source is opened); a key that is not a cosigner key is ERR_INVALID_INPUT naming
 * `witnesses`; the CLI maps the parameters to `--witness`, `--quorum` and `--witness-max-age`
 * (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { generateCosignerKey } from '../src/audit/checkpoint.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { signedSampleLog } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const ORIGIN = 'keywarden.example/review7-witness-options';
const log = signedSampleLog(ORIGIN, 73, 5);
const a = generateCosignerKey('witness.example/a', new Uint8Array(32).fill(1));
const aAgain = generateCosignerKey('witness.example/a2', new Uint8Array(32).fill(1));

describe('witness options are the caller\'s, checked before the log is read', () => {
  for (const [label, witnesses] of [
    ['one key listed twice', [a.verifierKey, a.verifierKey]],
    ['one key under two names', [a.verifierKey, aAgain.verifierKey]],
    ['not a key', [a.verifierKey, 'witness.example/b+1234abcd+nonsense']],
    ["the log's own note key", [a.verifierKey, log.keys.verifierKey]],
  ] as const) {
    it(`${label}: verifyAuditStream throws ERR_INVALID_INPUT (witnesses) before reading an entry`, async () => {
      let read = 0;
      function* entries() {
        for (const e of log.entries) {
          read++;
          yield e;
        }
      }
      await expect(verifyAuditStream({ verifierKey: log.keys.verifierKey, entries: entries(), checkpoints: [log.note(5)], witnesses: [...witnesses] }))
        .rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'witnesses' });
      expect(read).toBe(0);
      expect(() => verifyAuditLog({ verifierKey: log.keys.verifierKey, entries: log.entries, checkpoints: [log.note(5)], witnesses: [...witnesses] }))
        .toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'witnesses' }));
    });
  }

  it('a quorum above the number of witnesses: refused before reading', async () => {
    let read = 0;
    const checkpoints = (async function* () {
      read++;
      yield log.note(5);
    })();
    await expect(verifyAuditStream({ verifierKey: log.keys.verifierKey, entries: log.entries, checkpoints, witnesses: [a.verifierKey], witnessQuorum: 2 }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'witnessQuorum' });
    expect(read).toBe(0);
  });

  it('a clock that is not a function: ERR_INVALID_INPUT (now) before reading, not a TypeError after', async () => {
    const input = { verifierKey: log.keys.verifierKey, entries: log.entries, checkpoints: [log.note(5)], witnesses: [a.verifierKey], witnessMaxAgeMs: 60_000 };
    let read = 0;
    const checkpoints = (async function* () {
      read++;
      yield log.note(5);
    })();
    await expect(verifyAuditStream({ ...input, checkpoints, now: 1 as unknown as () => number })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'now' });
    expect(read).toBe(0);
    expect(() => verifyAuditLog({ ...input, now: 1 as unknown as () => number })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'now' }));
  });

  it('audit verify with one --witness twice: usage error (exit 2) naming --witness, before the log is opened', async () => {
    const r = await cli(['audit', 'verify', '--dir', '/nonexistent/kw-review7', '--key', log.keys.verifierKey, '--witness', a.verifierKey, '--witness', aAgain.verifierKey]);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^keywarden audit verify: --witness: one witness key under two names/);
  });
});
