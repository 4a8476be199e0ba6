/**
 * Fixtures for the `keywarden keys` tests: key files as an operator keeps them (a local master
 * key, the audit log's signer key, the audit HMAC key; mode 0600 in a temporary directory) and
 * conversations with keys and messages made through the library itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { expect } from 'vitest';
import { AuditIdHasher } from '../../src/audit/entry.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { Keywarden, LocalMasterKey } from '../../src/node.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresKeyStore } from '../../src/store/postgres.js';

/** Key files in a temporary directory, and the same keys in memory. */
export interface KeyFiles {
  dir: string;
  /** Local master key file (base64) and the key. */
  masterFile: string;
  master: LocalMasterKey;
  /** A second local master key (hex), e.g. a re-wrap destination. */
  otherFile: string;
  other: LocalMasterKey;
  signerFile: string;
  verifierKey: string;
  idsFile: string;
  ids: AuditIdHasher;
  /** Every secret as written, to check that no output contains one. */
  secrets: string[];
  /** `--audit-signer-key FILE --audit-ids-key FILE`. */
  audit: string[];
  cleanup(): Promise<void>;
}

export async function keyFiles(origin = 'keywarden.example/keys-cli'): Promise<KeyFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-keys-'));
  const master = randomBytes(32);
  const other = randomBytes(32);
  const idsKey = randomBytes(32);
  const log = generateNoteKey(origin);
  const masterText = master.toString('base64');
  const otherText = other.toString('hex');
  const idsText = idsKey.toString('base64');
  const f = (name: string) => join(dir, name);
  await writeFile(f('master.key'), `${masterText}\n`, { mode: 0o600 });
  await writeFile(f('other.key'), `${otherText}\n`, { mode: 0o600 });
  await writeFile(f('log.key'), `${log.signerKey}\n`, { mode: 0o600 });
  await writeFile(f('ids.key'), `${idsText}\n`, { mode: 0o600 });
  return {
    dir,
    masterFile: f('master.key'),
    master: new LocalMasterKey(master),
    otherFile: f('other.key'),
    other: new LocalMasterKey(other),
    signerFile: f('log.key'),
    verifierKey: log.verifierKey,
    idsFile: f('ids.key'),
    ids: new AuditIdHasher(idsKey),
    secrets: [masterText, otherText, idsText, log.signerKey, log.signerKey.split('+').slice(4).join('+')],
    audit: ['--audit-signer-key', f('log.key'), '--audit-ids-key', f('ids.key')],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A message sealed for the tests: conversation, aad, ciphertext and the text it holds. */
export interface Sealed {
  conv: string;
  aad: string;
  ct: Uint8Array;
  text: string;
}

/**
 * Migrates `schema` and seals two messages in each of `conversations`, rotating the first one
 * once between them. `now` sets the library's clock (to make versions that are old already).
 */
export async function seedConversations(pool: Pool, schema: string, master: LocalMasterKey, conversations: readonly string[], now?: () => Date): Promise<Sealed[]> {
  await migrate(pool, { schema });
  const kw = new Keywarden({ masterKey: master, keyStore: new PostgresKeyStore(pool, { schema }), ...(now !== undefined && { now }) });
  const out: Sealed[] = [];
  try {
    for (const [i, conv] of conversations.entries()) {
      for (let m = 0; m < 2; m++) {
        if (m === 1 && i === 0) await kw.rotate(conv);
        const text = `m${m} in ${conv}`;
        out.push({ conv, aad: `${conv}#${m}`, ct: await kw.encryptString(conv, text, { aad: `${conv}#${m}` }), text });
      }
    }
  } finally {
    kw.close();
  }
  return out;
}

/**
 * The `--json` scenarios of the `keys` and `inspect` commands for test/cli.test.ts (which checks
 * that every command with --json has one): each runs the command in process with --json through
 * `json` (exit code checked there) on a schema of `db` seeded on first use.
 */
export function keysJsonScenarios(
  testDb: () => { pool: Pool; url: string; schema: string; releaseConnections(): Promise<void> },
  json: (argv: string[], code?: number) => Promise<Record<string, unknown>>,
): Record<string, () => Promise<void>> {
  let ready: Promise<{ files: KeyFiles; sealed: Sealed[]; schema: string; db: ReturnType<typeof testDb> }> | undefined;
  const setup = () => (ready ??= (async () => {
    const db = testDb();
    const schema = `${db.schema}_keys_json`;
    const files = await keyFiles();
    const sealed = await seedConversations(db.pool, schema, files.master, ['json:a', 'json:b']);
    return { files, sealed, schema, db };
  })());
  const run = async (argv: string[]) => {
    const { files, schema, db } = await setup();
    await db.releaseConnections();
    try {
      return await json([...argv, '--database-url', db.url, '--schema', schema, ...files.audit]);
    } finally {
      await db.releaseConnections();
    }
  };
  return {
    'keys status': async () => {
      const { files, schema, db } = await setup();
      await db.releaseConnections();
      const v = await json(['keys', 'status', '--database-url', db.url, '--schema', schema]);
      await db.releaseConnections();
      expect(v).toMatchObject({ schema, conversations: 2, versions: { active: 2, superseded: 1, shredded: 0 }, byMasterKey: { [files.master.keyId]: 3 }, jobs: [] });
    },
    'keys rotate': async () => {
      const { files } = await setup();
      const v = await run(['keys', 'rotate', 'json:b', '--local-key-file', files.masterFile]);
      expect(v).toMatchObject({ conversationId: 'json:b', version: 2, previousVersion: 1, masterKeyId: files.master.keyId, suite: 'AES-256-GCM', audited: true });
    },
    'keys shred': async () => {
      const v = await run(['keys', 'shred', 'json:b', '--version', '1', '--yes']);
      expect(v).toEqual({ conversationId: 'json:b', scope: 'versions', shredded: [1], alreadyShredded: [], audited: true });
    },
    'keys start-generation': async () => {
      const { files } = await setup();
      const v = await run(['keys', 'start-generation', 'json:a', '--local-key-file', files.masterFile]);
      expect(v).toMatchObject({ conversationId: 'json:a', started: false, version: 2, masterKeyId: files.master.keyId });
    },
    'keys retain': async () => {
      const v = await run(['keys', 'retain', '--older-than', '90d', '--dry-run']);
      expect(v).toMatchObject({ dryRun: true, complete: true, versions: 0, items: [] });
    },
    'keys rewrap': async () => {
      const { files } = await setup();
      const v = await run(['keys', 'rewrap', '--to-local-key-file', files.otherFile, '--from-local-key-file', files.masterFile]);
      expect(v).toMatchObject({ to: files.other.keyId, complete: true, resumed: false, rewrapped: 3, failed: 0, kmsCalls: 6, interrupted: null });
    },
    inspect: async () => {
      const { files, sealed, schema, db } = await setup();
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      const file = join(files.dir, 'message.bin');
      await writeFile(file, sealed[0]!.ct);
      const v = await json(['inspect', file]);
      expect(v).toEqual({ file, size: sealed[0]!.ct.length, formatVersion: 2, suite: 'AES-256-GCM', keyVersion: 1, sealedAt: expect.any(String), overhead: 38, headerBytes: 10, nonceBytes: 12, bodyBytes: sealed[0]!.ct.length - 38, tagBytes: 16 });
      await files.cleanup();
    },
  };
}
