/**
 * A producer process for test/audit-acks.test.ts: opens the FileAuditStore in AUDIT_DIR as a
 * pure producer (never the sequencer), records COUNT events one by one, and prints `acked <i>`
 * after each is acknowledged (durable in its outbox file). The test kills it with SIGKILL.
 */
import { FileAuditStore } from '../../src/audit/file-store.js';
import { AuditLog } from '../../src/audit/log.js';
import { sampleEvent } from './audit-fixtures.js';

const log = await AuditLog.open({ store: await FileAuditStore.open(process.env.AUDIT_DIR!), signerKey: process.env.SIGNER_KEY!, sequencer: false });
for (let i = 0; i < Number(process.env.COUNT); i++) {
  await log.record(sampleEvent(1000 + i));
  process.stdout.write(`acked ${i}\n`);
}
await new Promise(() => {}); // wait to be killed
