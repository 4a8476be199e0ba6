/**
 * Outside review (2026-12-02, a new user's first hour): the package exports
 * `keywarden/dynamodb` (DynamoDbKeyStore) and declares `@aws-sdk/client-dynamodb` as an
 * optional peer dependency, but the README's "Install" section named only the KMS client and
 * `pg`, and its API table — the list of what to import from where — had no row for
 * `keywarden/dynamodb`. A user following the README could not find the DynamoDB key store,
 * and one who found it (docs/KEYS.md §10) got `Cannot find package '@aws-sdk/client-dynamodb'`
 * on import, with nothing in Install telling them to add it.
 *
 * Now: every subpath in package.json "exports" has a row in the README's API table, and every
 * optional peer dependency has an `npm install` line in its Install section.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/** The README section under `## name`, up to the next `## `. */
function section(name: string): string {
  const start = readme.indexOf(`\n## ${name}\n`);
  expect(start, `README has no "## ${name}" section`).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

const subpaths = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'keywarden' : `keywarden/${k.slice(2)}`));
const optionalPeers = Object.entries(pkg.peerDependenciesMeta).filter(([, m]) => m.optional).map(([name]) => name);

describe('README covers the whole package surface', () => {
  it('keywarden/dynamodb and @aws-sdk/client-dynamodb are part of it', () => {
    expect(subpaths).toContain('keywarden/dynamodb');
    expect(optionalPeers).toContain('@aws-sdk/client-dynamodb');
  });

  it.each(subpaths)('the API table has a row for %s', (subpath) => {
    const rows = section('API').split('\n').filter((l) => l.startsWith(`| \`${subpath}\` |`));
    expect(rows, `no "| \`${subpath}\` |" row in the README's API table`).toHaveLength(1);
  });

  it.each(optionalPeers)('Install says to install the optional peer %s', (peer) => {
    expect(section('Install')).toMatch(new RegExp(`^npm install ${peer.replace(/[/.]/g, '\\$&')}\\b`, 'm'));
  });
});
