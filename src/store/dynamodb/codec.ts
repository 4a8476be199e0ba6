/**
 * The DynamoDB item layout of the key store (docs/KEYS.md §10). One table, partition key `pk`
 * and sort key `sk`, both strings:
 *
 * | item              | pk                         | sk                | attributes                      |
 * | ----------------- | -------------------------- | ----------------- | ------------------------------- |
 * | conversation keys | `c#<conversation id>`      | `k`               | `rev` (N), `v` (L of M)          |
 * | branch keys       | `b#<branch id>`            | `k`               | as above                        |
 * | job state         | `j#<c or b>#<job name>`    | `j`               | `st` (S, JSON)                  |
 * | change sequence   | `x#<c or b>#<minute>`      | `<ms>#<random>`   | `id` (S), `k` (S), `ttl` (N)     |
 *
 * A version is a map with short names — `w` wrapped key (B), `m` master key id, `s` suite,
 * `st` state (`a`ctive, `s`uperseded, `x` shredded), `c`/`a`/`u`/`d` created, activated,
 * superseded and shredded times (N, ms), `r` messages reserved, `sc` shred scope — so an item
 * stays small: a version costs about 40 bytes plus its wrapped key and master key id, and an
 * item (400 KB at most) holds about 1,000 versions with 256-byte KMS blobs.
 * @module
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { KeyRecord, KeyState } from '../../keys/records.js';
import type { SuiteName } from '../../format/suites.js';
import { StoreError } from '../../errors.js';
import type { Conversation } from './conversation.js';

export type Item = Record<string, AttributeValue>;

/** Which keys an item holds: conversation keys (`c`) or branch keys (`b`). */
export type KeyKind = 'c' | 'b';

export const KEYS_SK = 'k';

export function conversationKey(kind: KeyKind, id: string): Item {
  return { pk: { S: `${kind}#${id}` }, sk: { S: KEYS_SK } };
}

const STATE_CODE: Record<KeyState, string> = { active: 'a', superseded: 's', shredded: 'x' };
const CODE_STATE: Record<string, KeyState> = { a: 'active', s: 'superseded', x: 'shredded' };

function n(value: number): AttributeValue {
  return { N: String(value) };
}

function encodeVersion(r: KeyRecord): AttributeValue {
  const m: Item = {
    w: { B: r.wrappedKey.slice() },
    m: { S: r.masterKeyId },
    s: { S: r.suite },
    st: { S: STATE_CODE[r.state] },
    c: n(r.createdAt.getTime()),
    a: n(r.activatedAt.getTime()),
    r: n(r.sealedReserved),
  };
  if (r.supersededAt) m.u = n(r.supersededAt.getTime());
  if (r.shreddedAt) m.d = n(r.shreddedAt.getTime());
  if (r.shredScope) m.sc = { S: r.shredScope };
  return { M: m };
}

export function encodeConversation(kind: KeyKind, c: Conversation, rev: number): Item {
  return { ...conversationKey(kind, c.id), rev: n(rev), v: { L: c.versions.map(encodeVersion) } };
}

function num(v: AttributeValue | undefined, what: string): number {
  const x = v?.N === undefined ? Number.NaN : Number(v.N);
  if (!Number.isSafeInteger(x)) throw new StoreError(`dynamodb key store: unreadable item (${what})`);
  return x;
}

function str(v: AttributeValue | undefined, what: string): string {
  if (typeof v?.S !== 'string') throw new StoreError(`dynamodb key store: unreadable item (${what})`);
  return v.S;
}

export function decodeConversation(id: string, item: Item | undefined): Conversation {
  if (item === undefined) return { id, rev: 0, versions: [] };
  const list = item.v?.L;
  if (!Array.isArray(list)) throw new StoreError('dynamodb key store: unreadable item (versions)');
  const versions = list.map((v, i): KeyRecord => {
    const m = v.M;
    if (!m || !(m.w?.B instanceof Uint8Array)) throw new StoreError('dynamodb key store: unreadable item (version)');
    const state = CODE_STATE[str(m.st, 'state')];
    if (state === undefined) throw new StoreError('dynamodb key store: unreadable item (state)');
    const scope = m.sc?.S;
    return {
      conversationId: id,
      version: i + 1,
      masterKeyId: str(m.m, 'master key id'),
      wrappedKey: Uint8Array.from(m.w.B),
      suite: str(m.s, 'suite') as SuiteName,
      state,
      createdAt: new Date(num(m.c, 'createdAt')),
      activatedAt: new Date(num(m.a, 'activatedAt')),
      supersededAt: m.u ? new Date(num(m.u, 'supersededAt')) : null,
      sealedReserved: num(m.r, 'sealedReserved'),
      shreddedAt: m.d ? new Date(num(m.d, 'shreddedAt')) : null,
      shredScope: scope === 'version' || scope === 'conversation' ? scope : null,
    };
  });
  return { id, rev: num(item.rev, 'rev'), versions };
}

/** The conversation id of an item's `pk` (`c#...` / `b#...`). */
export function idOf(item: Item): string {
  return str(item.pk, 'pk').slice(2);
}
