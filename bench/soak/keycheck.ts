/**
 * The soak's closing check of the key store, after the last operation: every conversation's
 * versions are read back (`KeyStore.listVersions`) and checked against the rotation policy
 * (docs/KEYS.md §4) and the shreds the soak made (docs/KEYS.md §3):
 *
 * - why each version after a conversation's first exists: a manual `rotate` or `startGeneration`
 *   returned it, its predecessor was shredded while active (the next seal makes a new one), its
 *   predecessor was superseded at least 90% of `rotation.maxAgeMs` after activation (rotation by
 *   age, spread over the last 10%), or its predecessor's reservations reached
 *   `rotation.maxMessages` (rotation by count: seals reserved, including reservations a cache
 *   eviction forfeited, FORMAT.md §5). A version with none of these reasons is a failure;
 * - no version reserved more than `maxMessages` seals;
 * - no kept message (the reservoir and pages, ~10,000) was sealed at or after its version's age
 *   deadline (`activatedAt + maxAgeMs`, from the authenticated sealing time, FORMAT.md §3.1);
 * - the store's shredded versions are exactly the ones the shreds reported, and a conversation
 *   shredded as a whole and not started again ends in a `conversation`-scoped tombstone.
 */
import { type KeyStore, inspectCiphertext } from '../../src/node.js';
import type { ShredModel } from './model.js';
import type { Written } from './workload.js';

export interface KeyCheck {
  conversations: number;
  versions: { active: number; superseded: number; shredded: number };
  /** Why each version after a conversation's first was made. */
  new_versions: { by_call: number; by_count: number; by_age: number; after_shred: number; unexplained: number };
  max_sealed_reserved: number;
  over_budget: number;
  kept_messages_checked: number;
  sealed_past_age: number;
  shred_mismatches: number;
  problems: string[];
  ok: boolean;
}

export interface KeyCheckInput {
  keyStore: KeyStore;
  conversations: readonly string[];
  policy: { maxAgeMs: number; maxMessages: number };
  /** `conversation#version` of the versions manual rotations and new generations returned. */
  madeByCall: ReadonlySet<string>;
  model: ShredModel;
  kept: readonly Written[];
}

const MAX_PROBLEMS = 20;

export async function checkKeys(input: KeyCheckInput): Promise<KeyCheck> {
  const { policy } = input;
  const out: KeyCheck = {
    conversations: 0,
    versions: { active: 0, superseded: 0, shredded: 0 },
    new_versions: { by_call: 0, by_count: 0, by_age: 0, after_shred: 0, unexplained: 0 },
    max_sealed_reserved: 0,
    over_budget: 0,
    kept_messages_checked: 0,
    sealed_past_age: 0,
    shred_mismatches: 0,
    problems: [],
    ok: false,
  };
  const problem = (s: string) => void (out.problems.length < MAX_PROBLEMS && out.problems.push(s));
  const activatedAt = new Map<string, number>(); // of the versions kept messages name
  const wanted = new Set(input.kept.map((w) => `${w.conversation}#${w.version}`));
  for (const c of input.conversations) {
    const rows = await input.keyStore.listVersions(c);
    if (rows.length === 0) continue;
    out.conversations++;
    const shredded = new Set<number>();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out.versions[r.state]++;
      if (r.state === 'shredded') shredded.add(r.version);
      else {
        out.max_sealed_reserved = Math.max(out.max_sealed_reserved, r.sealedReserved);
        if (r.sealedReserved > policy.maxMessages) {
          out.over_budget++;
          problem(`${c} v${r.version} reserved ${r.sealedReserved} seals (limit ${policy.maxMessages})`);
        }
      }
      if (wanted.has(`${c}#${r.version}`)) activatedAt.set(`${c}#${r.version}`, r.activatedAt.getTime());
      if (i === 0) continue;
      const p = rows[i - 1]!;
      // Age before count: a version reserves its budget ahead of sealing (FORMAT.md §5), so a full
      // reservation says the budget was spent or forfeited, while the age is a fact of the record.
      const why = input.madeByCall.has(`${c}#${r.version}`) ? 'by_call'
        : p.state === 'shredded' && p.supersededAt == null ? 'after_shred'
        : p.supersededAt != null && p.supersededAt.getTime() - p.activatedAt.getTime() >= 0.9 * policy.maxAgeMs ? 'by_age'
        : p.sealedReserved >= policy.maxMessages ? 'by_count'
        : 'unexplained';
      out.new_versions[why]++;
      if (why === 'unexplained') problem(`${c} v${r.version}: v${p.version} (${p.state}, ${p.sealedReserved} reserved, active ${p.supersededAt == null ? '?' : p.supersededAt.getTime() - p.activatedAt.getTime()} ms) was replaced for no reason the soak knows`);
    }
    const model = input.model.shreddedVersions(c);
    if (JSON.stringify(model) !== JSON.stringify([...shredded].sort((a, b) => a - b))) {
      out.shred_mismatches++;
      problem(`${c}: shredded in the store ${JSON.stringify([...shredded])}, by the shreds' reports ${JSON.stringify(model)}`);
    }
    const last = rows[rows.length - 1]!;
    if (input.model.isClosed(c) !== (last.state === 'shredded' && last.shredScope === 'conversation')) {
      out.shred_mismatches++;
      problem(`${c}: closed by the model ${input.model.isClosed(c)}, latest version ${last.version} ${last.state}/${last.shredScope ?? '-'}`);
    }
  }
  for (const w of input.kept) {
    if (input.model.isShredded(w.conversation, w.version)) continue;
    const at = activatedAt.get(`${w.conversation}#${w.version}`);
    const sealedAt = Date.parse(inspectCiphertext(w.ct).sealedAt ?? '');
    if (at === undefined || Number.isNaN(sealedAt)) {
      problem(`message ${w.m}: no version ${w.version} in the store, or no sealing time`);
      out.sealed_past_age++;
      continue;
    }
    out.kept_messages_checked++;
    // sealedAt is whole seconds rounded down, so sealedAt <= the seal's clock < the deadline.
    if (sealedAt >= at + policy.maxAgeMs) {
      out.sealed_past_age++;
      problem(`message ${w.m} sealed ${sealedAt - at} ms after version ${w.version} of ${w.conversation} was activated (maxAgeMs ${policy.maxAgeMs})`);
    }
  }
  out.ok = out.new_versions.unexplained === 0 && out.over_budget === 0 && out.sealed_past_age === 0 && out.shred_mismatches === 0;
  return out;
}
