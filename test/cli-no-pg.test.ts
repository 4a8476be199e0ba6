/** Without the optional `pg` package, the database commands exit 3 and say what to install. */
import { describe, expect, it, vi } from 'vitest';
import { generateNoteKey } from '../src/audit/note.js';
import { cli } from './support/cli.js';

const { verifierKey } = generateNoteKey('example.com/log');

// As if pg were not installed: importing it fails.
vi.mock('pg', () => {
  throw new Error("Cannot find package 'pg'");
});

describe('keywarden without pg', () => {
  it.each([
    [['migrate', '--database-url', 'postgres://u:secret@db.invalid/x']],
    [['audit', 'verify', '--database-url', 'postgres://u:secret@db.invalid/x', '--key', verifierKey]],
    [['audit', 'entry', '0'], { KEYWARDEN_DATABASE_URL: 'postgres://u:secret@db.invalid/x' }],
  ] as [string[], Record<string, string>?][])('%j: exit 3, one line naming the package', async (argv, env) => {
    const r = await cli(argv, env);
    expect(r.code, r.err).toBe(3);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^keywarden [a-z ]+: could not complete: the optional package 'pg' is not installed \(npm install pg\)\n$/);
    expect(r.err).not.toContain('secret');
  });

  it('commands that need no database still work', async () => {
    expect((await cli(['audit', 'verify', '--help'])).code).toBe(0);
  });
});
