/**
 * Outside review 6 (parsers): `parseNote` / `openNote` (src/audit/note.ts, `keywarden/tlog`)
 * took bytes only when `message instanceof Uint8Array`: a note read into a Uint8Array of another
 * realm (node:vm, a worker's structured clone as some runtimes deliver it) was refused as
 * ERR_NOTE_MALFORMED "note must be a string or bytes", although every other entry point takes what
 * the engine says is a Uint8Array (util/validate.ts isBytes).
 *
 * Now: any Uint8Array the engine recognises is parsed as UTF-8 bytes, exactly like the same note
 * as a string or as this realm's bytes; anything else is still ERR_NOTE_MALFORMED.
 */
import fc from 'fast-check';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { generateNoteKey, newNoteSigner, newNoteVerifier, openNote, parseNote, signNote } from '../src/audit/note.js';
import { attempt, params } from './support/fuzz.js';

const KEY = generateNoteKey('log.example/r6', new Uint8Array(32).fill(5));
const otherRealm = (b: Uint8Array): Uint8Array => vm.runInNewContext('new Uint8Array(b)', { b }) as Uint8Array;

describe('parseNote and openNote: bytes of another realm', () => {
  it('a note as another realm\'s Uint8Array parses and opens as the same note as text', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9 .é]{0,12}$/), { minLength: 1, maxLength: 4 }), (lines) => {
        const note = signNote(`${lines.join('\n')}\n`, newNoteSigner(KEY.signerKey));
        const bytes = otherRealm(new TextEncoder().encode(note));
        expect(bytes instanceof Uint8Array).toBe(false); // really another realm's
        const fromText = parseNote(note);
        const r = attempt(() => parseNote(bytes));
        expect(r.ok ? r.value : r.error.code).toEqual(fromText);
        expect(attempt(() => openNote(bytes, [newNoteVerifier(KEY.verifierKey)]).text)).toEqual({ ok: true, value: fromText.text });
      }),
      params(50),
    );
  });

  it('not bytes is still ERR_NOTE_MALFORMED', () => {
    for (const v of [new Uint16Array(4), new DataView(new ArrayBuffer(4)), [104, 10], { length: 2 }, null, 5]) {
      const r = attempt(() => parseNote(v as never));
      expect(r.ok ? 'ok' : r.error.code).toBe('ERR_NOTE_MALFORMED');
    }
  });
});
