/** `npm run demo -- --pglite DIR`: the demo on embedded PostgreSQL, twice over the same data. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('demo on PGlite', () => {
  it('runs end to end on the real schema, and again over the same data directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-demo-'));
    try {
      const run = () => execFileSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--pglite', join(dir, 'data')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const first = run();
      expect(first).toContain('applied migrations 1, 2');
      expect(first).toContain('replaying the same token: ERR_BG_REPLAYED');
      expect(first).toMatch(/conversation_keys\s+2 rows/);
      expect(first).toContain('OK');
      const second = run();
      expect(second).toContain('schema up to date');
      expect(second).toMatch(/audit_entries\s+6 rows/); // the log continued where the first run left it
      expect(second).toContain('OK');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000); // two cold starts of tsx + PGlite + four migrations: minutes on a loaded machine
});
