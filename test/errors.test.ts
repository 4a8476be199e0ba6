/**
 * The error contract: stable codes, one class per code family, and recognition across copies of
 * the module (the ESM and CommonJS builds of the package are two copies of every class; a second
 * copy is simulated here by importing the module under another id — the packed-tarball check of
 * the same across the real builds is test/ci/dist/import-esm.mjs).
 */
import { describe, expect, it } from 'vitest';
import * as A from '../src/errors.js';

// A second, independent instance of the module: other class objects, same registered brand.
const SECOND_COPY = '../src/errors.js?second-copy';
const B = (await import(/* @vite-ignore */ SECOND_COPY)) as typeof A;

const samples = (m: typeof A) => [
  new m.InvalidInputError('options.aad', 'expected bytes'),
  new m.DecryptionError(),
  new m.UnsupportedFormatError('x'),
  new m.KeyNotFoundError('x'),
  new m.KeyLimitError('x'),
  new m.KmsError('ERR_KMS_UNAVAILABLE', 'x'),
  new m.StoreError('x'),
  new m.AuditUnavailableError('x'),
  new m.AuditEntryError('x'),
  new m.AuditCorruptError('x', 3),
  new m.BreakGlassError('ERR_BG_REPLAYED', 'x'),
  new m.ClosedError(),
  new m.InternalError('x', new TypeError('bug')),
];
const classes = (m: typeof A) => [
  m.InvalidInputError, m.DecryptionError, m.UnsupportedFormatError, m.KeyNotFoundError, m.KeyLimitError, m.KmsError, m.StoreError,
  m.AuditUnavailableError, m.AuditEntryError, m.AuditCorruptError, m.BreakGlassError, m.ClosedError, m.InternalError,
];

describe('errors', () => {
  it('the second copy really is another module instance', () => {
    expect(B.KeywardenError).not.toBe(A.KeywardenError);
  });

  it('isKeywardenError recognises errors of either copy, and checks the code when given', () => {
    for (const e of [...samples(A), ...samples(B)]) {
      expect(A.isKeywardenError(e)).toBe(true);
      expect(B.isKeywardenError(e)).toBe(true);
      expect(A.isKeywardenError(e, e.code)).toBe(true);
      expect(A.isKeywardenError(e, e.code === 'ERR_CLOSED' ? 'ERR_DECRYPT_FAILED' : 'ERR_CLOSED')).toBe(false);
    }
  });

  it('isKeywardenError refuses look-alikes', () => {
    const fake = Object.assign(new Error('x'), { code: 'ERR_DECRYPT_FAILED', retryable: false, name: 'DecryptionError' });
    for (const v of [fake, { code: 'ERR_DECRYPT_FAILED' }, null, undefined, 'ERR_DECRYPT_FAILED', new TypeError('x')]) {
      expect(A.isKeywardenError(v)).toBe(false);
    }
  });

  it('instanceof works across copies, for the base and for exactly the right subclass', () => {
    const a = samples(A);
    const b = samples(B);
    for (let i = 0; i < a.length; i++) {
      expect(b[i]).toBeInstanceOf(A.KeywardenError);
      expect(a[i]).toBeInstanceOf(B.KeywardenError);
      expect(b[i]).toBeInstanceOf(Error);
      classes(A).forEach((C, j) => expect(b[i] instanceof C, `${b[i]!.name} instanceof A.${C.name}`).toBe(i === j));
      classes(B).forEach((C, j) => expect(a[i] instanceof C, `${a[i]!.name} instanceof B.${C.name}`).toBe(i === j));
    }
    expect({ code: 'ERR_DECRYPT_FAILED' } instanceof A.DecryptionError).toBe(false);
  });

  it('codes, retryable and fields are stable', () => {
    const [inv, dec, , , , kms, store, auditU, , corrupt] = samples(A);
    expect(inv).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.aad', message: 'options.aad: expected bytes', retryable: false });
    expect(dec).toMatchObject({ code: 'ERR_DECRYPT_FAILED', message: 'decryption failed', name: 'DecryptionError' });
    expect('cause' in dec!).toBe(false); // one uniform error: nothing says which check failed
    expect(kms!.retryable).toBe(true);
    expect(new A.KmsError('ERR_KMS_ACCESS_DENIED', 'x').retryable).toBe(false);
    expect(store!.retryable).toBe(false);
    expect(new A.StoreError('x', new Error('driver'), true)).toMatchObject({ retryable: true, cause: new Error('driver') });
    expect(auditU!.retryable).toBe(true);
    expect((corrupt as A.AuditCorruptError).at).toBe(3);
  });

  it('every class declares the codes its instances carry', () => {
    for (const e of samples(A)) {
      const C = e.constructor as typeof A.KeywardenError;
      expect(C.codes).toContain(e.code);
    }
  });
});
