/**
 * Rotation policy (docs/KEYS.md §4): a key version is replaced once it is `maxAgeMs` old or has
 * sealed `maxMessages`. Rotation by age is lazy — checked when a message is sealed, so idle
 * conversations cost nothing — and spread: each (conversation, version) rotates at a fixed point
 * in the last JITTER of its age, derived from a hash of its identity, so conversations created at
 * the same moment (a migration, a launch) do not all rotate at the same moment. Across instances
 * the store's compare-and-set makes exactly one new version per conversation.
 */
import { assertInt, ownOptions } from '../util/validate.js';

/** `KeywardenOptions.rotation`. */
export interface RotationOptions {
  /**
   * Rotate a key version once it is this old (ms since its activation), on the next seal.
   * At least one minute. Default: never by age.
   */
  maxAgeMs?: number;
  /** Rotate a key version once it has sealed this many messages (never above the suite's bound). */
  maxMessages?: number;
}

/** The validated policy the lifecycle applies. */
export interface RotationPolicy {
  /** Infinity when there is no age limit. */
  maxAgeMs: number;
  /** Infinity when only the suite's bound applies. */
  maxMessages: number;
}

/** Share of the age over which rotations are spread (the last 10%). */
export const ROTATION_JITTER = 0.1;

/** Validates `options.rotation` (and folds in the older `maxMessagesPerKey`). */
export function rotationPolicy(options: unknown, maxMessagesPerKey: number | undefined): RotationPolicy {
  // ownOptions refuses null, arrays and unknown keys, naming the parameter.
  const o = ownOptions('options.rotation', options as RotationOptions | undefined, ['maxAgeMs', 'maxMessages']);
  if (o.maxAgeMs !== undefined) assertInt('options.rotation.maxAgeMs', o.maxAgeMs, 60_000, 2 ** 47);
  if (o.maxMessages !== undefined) assertInt('options.rotation.maxMessages', o.maxMessages, 1, Number.MAX_SAFE_INTEGER);
  return { maxAgeMs: o.maxAgeMs ?? Infinity, maxMessages: Math.min(o.maxMessages ?? Infinity, maxMessagesPerKey ?? Infinity) };
}

/**
 * When a version activated at `activatedAtMs` is due, in ms since 1970: between 90% and 100% of
 * `maxAgeMs` after activation, at a point fixed by a hash of (conversation, version).
 */
export function rotateAt(policy: RotationPolicy, conversationId: string, version: number, activatedAtMs: number): number {
  if (policy.maxAgeMs === Infinity) return Infinity;
  return Math.ceil(activatedAtMs + policy.maxAgeMs * (1 - ROTATION_JITTER * spread(conversationId, version)));
}

/** The latest a version can still seal under this policy (for retention of idle versions). */
export function lastSealBy(policy: RotationPolicy, activatedAtMs: number): number {
  return activatedAtMs + policy.maxAgeMs;
}

/** A number in [0, 1) from FNV-1a over the id's UTF-16 code units and the version. */
function spread(conversationId: string, version: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < conversationId.length; i++) h = Math.imul(h ^ conversationId.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (version >>> 0), 0x01000193);
  h ^= h >>> 15;
  return (h >>> 0) / 2 ** 32;
}
