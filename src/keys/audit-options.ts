/**
 * Validation of the `audit` option that Keywarden and BranchKeyProvider take: the log, the id
 * hasher and the actor, checked at construction so that a bad option is refused naming itself
 * before any key is generated (an outside review found BranchKeyProvider taking any value and
 * failing on the first encrypt, after a KMS call).
 */
import { AuditIdHasher } from '../audit/entry.js';
import { AuditLog } from '../audit/log.js';
import { InvalidInputError } from '../errors.js';
import { ownOptions } from '../util/validate.js';
import type { KeyAuditOptions } from './lifecycle.js';

/** `{ log, ids, actor }` with each part checked; ERR_INVALID_INPUT naming `param` (or its part) otherwise. */
export function validKeyAudit(param: string, a: unknown): KeyAuditOptions {
  if (a === null || typeof a !== 'object') throw new InvalidInputError(param, 'expected { log, ids, actor }');
  const o = ownOptions(param, a as KeyAuditOptions, ['log', 'ids', 'actor']);
  if (!(o.log instanceof AuditLog)) throw new InvalidInputError(`${param}.log`, 'expected an AuditLog');
  if (!(o.ids instanceof AuditIdHasher)) throw new InvalidInputError(`${param}.ids`, 'expected an AuditIdHasher');
  // What every audit entry's `actor` must be (src/audit/entry.ts): refused here, not at the
  // first record, where it would replace the error being recorded (outside review, 2026-12-02).
  if (typeof o.actor !== 'string' || o.actor.length === 0 || o.actor.length > 1024 || !o.actor.isWellFormed()) {
    throw new InvalidInputError(`${param}.actor`, 'expected a non-empty well-formed string of at most 1024 characters');
  }
  return { log: o.log, ids: o.ids, actor: o.actor };
}
