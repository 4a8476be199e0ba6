/**
 * Every public entry fails with a KeywardenError naming the parameter, never a raw TypeError or
 * RangeError from deeper down (outside review, 2026-12-01: fifteen entries threw the engine's or
 * a dependency's error on a wrong type, and attachmentSize returned nonsense for nonsense).
 */
import { describe, expect, it } from 'vitest';
import * as audit from '../src/audit/index.js';
import * as bg from '../src/breakglass/node.js';
import * as root from '../src/node.js';
import * as att from '../src/stream/node.js';
import * as tlog from '../src/tlog.js';

const cases: [string, () => unknown][] = [
  ['parseBranchKeyId(undefined)', () => root.parseBranchKeyId(undefined as never)],
  ['encodeContext(undefined)', () => root.encodeContext(undefined as never)],
  ['attachmentSize(10n, 256)', () => root.attachmentSize(10n as never, 256)],
  ['attachmentSize(1000, 0)', () => root.attachmentSize(1000, 0)],
  ['attachmentSize(-100, 256)', () => root.attachmentSize(-100, 256)],
  ["attachmentSize('5', 256)", () => root.attachmentSize('5' as never, 256)],
  ['tlog.leafHash(undefined)', () => tlog.leafHash(undefined as never)],
  ['tlog.nodeHash(bytes, 0)', () => tlog.nodeHash(new Uint8Array(32), 0 as never)],
  ['tlog.decodeBundle(null)', () => tlog.decodeBundle(null as never)],
  ['tlog.encodeBundle(Uint8Array)', () => tlog.encodeBundle(new Uint8Array(32) as never)],
  ["tlog.formatTlogProof('x', {})", () => tlog.formatTlogProof('x' as never, {} as never, 'note')],
  ['tlog.signTreeHead({})', () => tlog.signTreeHead({} as never, undefined as never, new Uint8Array(32))],
  ['new FileAuditStore(42)', () => new (audit.FileAuditStore as unknown as new (d: unknown) => unknown)(42)],
  ["ciphertextsDigest(['x'])", () => audit.ciphertextsDigest(['x'] as never)],
  ['verifyAuditLog(undefined)', () => audit.verifyAuditLog(undefined as never)],
  ['nameSkeleton(undefined)', () => bg.nameSkeleton(undefined as never)],
  ['createRequest({}, null)', () => bg.createRequest({} as never, null as never)],
  ["createEncryptStream({}, 'c')", () => att.createEncryptStream({} as never, 'c')],
];

describe('public entries refuse bad input with a coded error', () => {
  it.each(cases)('%s', async (_name, f) => {
    let err: unknown;
    try {
      await f();
    } catch (e) {
      err = e;
    }
    expect(root.isKeywardenError(err), `${(err as Error | undefined)?.constructor?.name}: ${(err as Error | undefined)?.message}`).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });
});
