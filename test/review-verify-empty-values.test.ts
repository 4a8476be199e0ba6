/**
 * Outside review (CLI): an explicitly EMPTY value for the log's location is not refused.
 *
 * - `--database-url ''` is handed to node-postgres, whose empty connection string means "all
 *   defaults" (PGHOST/PGUSER/… or localhost:5432 as the OS user): the auditor's command silently
 *   connects to whatever database those defaults reach — although the same empty value in
 *   KEYWARDEN_DATABASE_URL / DATABASE_URL counts as unset (src/cli/common.ts parse()).
 * - `--dir ''` is taken as the current directory (join('', 'entries') → 'entries'); the error,
 *   if any, names neither the option nor the value.
 *
 * Correct behaviour: a usage error (exit 2) naming the option, before any file or connection is
 * opened.
 *
 * Now: any string option given as '' is a usage error naming it (src/cli/common.ts parse()).
 */
import { describe, expect, it } from 'vitest';
import { generateNoteKey } from '../src/audit/note.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/review-empty', new Uint8Array(32).fill(14));

describe('audit verify refuses empty location values', () => {
  it("--database-url '' is a usage error naming --database-url", async () => {
    const r = await cli(['audit', 'verify', '--database-url', '', '--key', keys.verifierKey]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 2, err: expect.stringContaining('--database-url') });
  });

  it("--dir '' is a usage error naming --dir", async () => {
    const r = await cli(['audit', 'verify', '--dir', '', '--key', keys.verifierKey]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 2, err: expect.stringContaining('--dir') });
  });
});
