/**
 * Outside review 7 (break-glass): `PostgresTokenLedger` could only be used with an audit log on
 * PostgreSQL. docs/BREAK-GLASS.md §5 and SECURITY.md ("Use `PostgresTokenLedger` when more than
 * one process serves break-glass") send every multi-process deployment to it, and SECURITY.md
 * supports a `FileAuditStore` shared by the processes of one host. With that audit store (or a
 * MemoryAuditStore), every break-glass access failed: the ledger hands its transaction to the
 * intent's `record`, BreakGlass passed it on as `log.record(intent, { tx, checkpoint: true })`
 * whatever the log's store, and an audit store that joins no transactions refuses that. Observed:
 * a genuine token, fresh, in scope → `ERR_INVALID_INPUT` naming `options.tx` (a parameter the
 * caller never gave: "this audit store has no transactions to join"); nothing opened, ever.
 * Keywarden's own key lifecycle joins the caller's transaction only when
 * `audit.log.joinsTransactions` (src/keys/lifecycle.ts, src/keys/rewrap.ts).
 *
 * Where: src/breakglass/access.ts `#consumeWithIntent` (the ledger's `record` callback).
 *
 * Now: the intent joins the ledger's transaction only when the audit log can join one; otherwise
 * it is appended (integrated under a signed checkpoint) inside the ledger's step, as with the
 * in-memory ledger — before the token row commits, so an intent that cannot be recorded leaves
 * the token unused. The token opens its page once and is refused `ERR_BG_REPLAYED` after, also
 * through a second ledger on the same table (another process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { PostgresTokenLedger } from '../src/breakglass/postgres-ledger.js';
import { migrate } from '../src/store/migrations.js';
import { deployment, token } from './support/breakglass-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
let dir: string;
beforeAll(async () => {
  db = await testPool();
  await migrate(db.pool, { schema: db.schema });
  dir = await mkdtemp(join(tmpdir(), 'kw-review7-bg-'));
});
afterAll(async () => {
  await db?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string; param?: string }) => `${e.code}${e.param ? ` (${e.param})` : ''}`);

describe('PostgresTokenLedger with an audit log that joins no transactions', () => {
  it('a file audit store: the token opens its page once, intent and outcome on the log, then ERR_BG_REPLAYED', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 2).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const store = await FileAuditStore.open(join(dir, 'audit'));
    const log = await AuditLog.open({ store, signerKey: generateNoteKey('keywarden.example/review7-bg', new Uint8Array(32).fill(7)).signerKey, pollMs: 5 });
    const service = () => new BreakGlass({
      policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, now: d.now,
      audit: { log, ids: d.ids, actor: 'tns-console' }, ledger: new PostgresTokenLedger(db.pool, { schema: db.schema }),
    });
    try {
      const r = await service().decrypt(tok.text, 'c0', page);
      expect(r.opened).toBe(2);
      expect(await codeOf(service().decrypt(tok.text, 'c0', page))).toBe('ERR_BG_REPLAYED');
      const types = (await store.read(0, await store.size())).map(decodeEntry).map((e) => `${e.type}${e.outcome ? `:${e.outcome}` : ''}${e.refusal ? `:${e.refusal}` : ''}`);
      expect(types).toEqual(['breakglass.access', 'breakglass.outcome:released', 'breakglass.refused:ERR_BG_REPLAYED']);
    } finally {
      await log.close();
    }
  });

  it('an intent that cannot be recorded leaves the token unused in the PostgreSQL ledger', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 1).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const ledger = new PostgresTokenLedger(db.pool, { schema: db.schema });
    const bg = () => new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, now: d.now, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, ledger });
    const append = d.log.append.bind(d.log);
    let fail = true;
    (d.log as unknown as { append: typeof d.log.append }).append = (events, options) => {
      const isIntent = !Array.isArray(events) && (events as { type?: string }).type === 'breakglass.access';
      return fail && isIntent ? Promise.reject(Object.assign(new Error('down'), { code: 'ERR_AUDIT_UNAVAILABLE' })) : append(events, options);
    };
    expect(await codeOf(bg().decrypt(tok.text, 'c0', page))).not.toBe('resolved');
    expect(d.unwrapped).toEqual([]);
    fail = false;
    expect((await bg().decrypt(tok.text, 'c0', page)).opened).toBe(1);
  });
});
