/**
 * The `keywarden` command: `keywarden audit …` (./audit.ts) and `keywarden token …` (./token.ts).
 */
import { EXIT, IncompleteError, UsageError, auditCommand } from './audit.js';
import { migrateCommand } from './migrate.js';
import { tokenCommand } from './token.js';

const USAGE = `usage:
  keywarden audit verify --dir DIR --key VKEY [--trusted CHECKPOINT_FILE] [--witness VKEY]... [--quorum N] [--json]
  keywarden audit prove INDEX --dir DIR --key VKEY
  keywarden audit entry INDEX --dir DIR
  keywarden audit consistency OLD_SIZE --dir DIR --key VKEY
  keywarden audit keygen ORIGIN
  keywarden token keygen --id ID --out-private FILE --out-public FILE
  keywarden token request --policy ID --aud AUD --requester WHO --reason CODE --detail TEXT --conversation ID... --from ISO --to ISO --max-messages N --expires-in SECONDS [--out FILE]
  keywarden token approve --token FILE --key PRIVATE_JWK_FILE --id APPROVER_ID [--out FILE]
  keywarden token inspect --token FILE --policy POLICY_JSON_FILE [--json]
  keywarden migrate [--database-url URL] [--schema NAME]
VKEY is a signed-note verifier key or @file. Exit: 0 ok, 1 problems found, 2 usage, 3 could not complete.
`;

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io = { out: (s: string | Uint8Array) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) }): Promise<number> {
  try {
    if (argv[0] === 'migrate') return await migrateCommand(argv.slice(1), { out: (s) => io.out(s), err: (s) => io.err(s) });
    if (argv[0] === 'token') return await tokenCommand(argv.slice(1), { out: (s) => io.out(s), err: (s) => io.err(s) });
    if (argv[0] !== 'audit') throw new UsageError(argv[0] ? `unknown command ${argv[0]}` : 'no command');
    return await auditCommand(argv.slice(1), io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`keywarden: ${err.message}\n${USAGE}`);
      return EXIT.USAGE;
    }
    io.err(`keywarden: could not complete: ${err instanceof IncompleteError ? err.message : (err as Error).message}\n`);
    return EXIT.INCOMPLETE;
  }
}
