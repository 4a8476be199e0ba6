/**
 * Orders of the maintenance scans (types.ts ScanQuery / WrappedQuery), the same as every other
 * store's: time, then conversation id (UTF-16 code units), then version.
 * @module
 */
import type { ScanRow } from '../types.js';

type Ref = { conversationId: string; version: number };

/** (conversation id, version) order: scanWrapped's. */
export function compareRef(a: Ref, b: Ref): number {
  return a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : a.version - b.version;
}

/** (time, conversation id, version) order: scanKeys'. */
export function compareScan(a: ScanRow, b: ScanRow): number {
  return a.at.getTime() - b.at.getTime() || compareRef(a, b);
}
