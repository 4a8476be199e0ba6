/**
 * Outside review (2026-12-02, a new user's first hour): the README's "What keywarden is, and is
 * not" — the section an evaluator reads to decide whether the library fits — ended with "Still
 * to come: crypto-shredding and re-wrapping under a new master key.", while the same README
 * documents `shred`, `retain` and `rewrap` (Methods table, "Key lifecycle" section, `keywarden
 * keys shred` / `keys rewrap`) and docs/KEYS.md §3 and §6 describe both at length. A reader
 * deciding on deletion guarantees (GDPR erasure, tenant off-boarding) or KMS key rotation was
 * told the features do not exist.
 *
 * Now: nothing the package ships is announced as "still to come": a feature named there has no
 * method in the README's Methods table and no `keywarden keys` command.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** Features and where the README documents each as shipped. */
const SHIPPED = [
  { words: /crypto-shredding|shredding/i, method: '| `shred(conversationId', command: 'keywarden keys shred' },
  { words: /re-?wrap/i, method: '| `rewrap(', command: 'keywarden keys rewrap' },
  { words: /retention/i, method: '| `retain(', command: 'keywarden keys retain' },
  { words: /rotation|rotate/i, method: '| `rotate(conversationId)', command: 'keywarden keys rotate' },
];

describe('README: nothing shipped is announced as still to come', () => {
  it.each(SHIPPED)('$command is documented as shipped', ({ method, command }) => {
    expect(readme).toContain(method);
    expect(readme).toContain(command);
  });

  it('no "still to come" / "not yet implemented" sentence names a shipped feature', () => {
    const sentences = readme
      .split(/(?<=[.!?])\s+/)
      .filter((s) => /still to come|not yet (implemented|available|supported)|coming soon|planned:/i.test(s));
    const stale = sentences.filter((s) => SHIPPED.some((f) => f.words.test(s)));
    expect(stale).toEqual([]);
  });
});
