/**
 * Outside review 6 (parsers, CLI): a private key pasted where a FILE is expected was printed in
 * full on stderr.
 *
 * `quote` (src/cli/help.ts) keeps a key pasted in the wrong place out of terminal logs — but only
 * for unknown commands and arguments. The "could not complete" errors name the file they could
 * not read, verbatim: `audit verify --key @PRIVATE+KEY+…` ("cannot read key file PRIVATE+KEY+…:
 * ENOENT"), `audit verify --dir PRIVATE+KEY+…` ("… does not exist"), `inspect PRIVATE+KEY+…`,
 * `token inspect --token '{"kty":"OKP","d":"…"}'` each repeated the log's signer key or an
 * approver's private JWK, the very inputs the CLI promises never to print.
 *
 * Now: whatever the error, a signer key (`PRIVATE+KEY+…`) or a JWK's `"d"` in it is not shown; the
 * rest of the line (the command, what failed) is as before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateNoteKey } from '../src/audit/note.js';
import { main } from '../src/cli/index.js';
import { params } from './support/fuzz.js';

const LOG = generateNoteKey('log.example/r6', new Uint8Array(32).fill(3));
const SEED = LOG.signerKey.split('+').at(-1)!;
const D = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
const JWK = JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', d: D });

async function run(argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env: {}, stdin: async () => new Uint8Array(0) });
  return { code, err: err.join(''), out: out.join('') };
}

function expectNoSecret(r: { err: string; out: string }, argv: string[]): void {
  for (const secret of [SEED, D]) {
    expect(r.err, JSON.stringify(argv)).not.toContain(secret);
    expect(r.out, JSON.stringify(argv)).not.toContain(secret);
  }
}

describe('keywarden CLI: a private key given as a file name is not printed', () => {
  it('the signer key or a private JWK in place of a FILE, --dir, --key @FILE, --token or --policy', async () => {
    const cases: string[][] = [
      ['audit', 'verify', '--dir', '/tmp', '--key', `@${LOG.signerKey}`],
      ['audit', 'verify', '--dir', LOG.signerKey, '--key', LOG.verifierKey],
      ['audit', 'prove', '0', '--dir', `/tmp/${LOG.signerKey}`, '--key', LOG.verifierKey],
      ['inspect', LOG.signerKey],
      ['inspect', JWK],
      ['token', 'inspect', '--token', JWK, '--policy', '/nonexistent'],
    ];
    for (const argv of cases) {
      const r = await run(argv);
      expect(r.code, JSON.stringify([argv, r.err])).toBeGreaterThanOrEqual(2);
      expectNoSecret(r, argv);
      expect(r.err).toMatch(/not shown/);
    }
  });

  it('any option of the read-only commands given a secret, alone or inside a path', async () => {
    const secret = fc.constantFrom(LOG.signerKey, JWK, `./keys/${LOG.signerKey}`, `@${LOG.signerKey}`, `${JWK}.json`);
    const option = fc.constantFrom('--dir', '--key', '--token', '--policy', '--trusted', '--witness');
    const command = fc.constantFrom(['audit', 'verify'], ['audit', 'entry'], ['token', 'inspect'], ['inspect']);
    await fc.assert(
      fc.asyncProperty(command, fc.array(fc.tuple(option, secret), { maxLength: 3 }), fc.option(secret, { nil: undefined }), async (c, opts, positional) => {
        const argv = [...c, ...opts.flatMap(([o, v]) => [`${o}=${v}`]), ...(positional === undefined ? [] : [positional])];
        expectNoSecret(await run(argv), argv);
      }),
      params(100),
    );
  });
});
