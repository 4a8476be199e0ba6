/**
 * A process for test/audit-file-open-race.test.ts: waits until the file GO appears in AUDIT_DIR's
 * parent (so that every process opens at the same moment), opens the FileAuditStore in
 * AUDIT_DIR, and prints `ok` or the error's code and message.
 */
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileAuditStore } from '../../src/audit/file-store.js';

const dir = process.env.AUDIT_DIR!;
for (;;) {
  try {
    await access(join(dirname(dir), 'GO'));
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 1));
  }
}
try {
  const store = await FileAuditStore.open(dir);
  await store.close();
  process.stdout.write('ok\n');
} catch (err) {
  process.stdout.write(`${(err as { code?: string }).code} ${(err as Error).message}\n`);
}
