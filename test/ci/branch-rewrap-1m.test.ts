/**
 * Issue #13, acceptance: master-key re-wrap in branch mode on 1,000,000 conversations makes
 * O(branches) KMS calls. The real @aws-sdk/client-kms against the KMS-compatible endpoint on
 * 127.0.0.1; 16 branches (one per shard), two of them rotated, so 18 branch key versions.
 * After the re-wrap the old master key is disabled on the endpoint and conversations sampled
 * across every branch version open on a fresh instance. Figures are printed (closing notes).
 *
 * KEYWARDEN_BRANCH_REWRAP_N overrides the conversation count (default 1,000,000).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../../src/kms/aws.js';
import { BranchKeyProvider, Keywarden, MasterKeyRing, MemoryKeyStore } from '../../src/node.js';
import { type KmsServer, kmsClientFor, startKmsServer } from '../support/kms-server.js';

const N = Number(process.env.KEYWARDEN_BRANCH_REWRAP_N ?? 1_000_000);
const SHARDS = 16;
const branchFor = (conversationId: string) => `shard-${createHash('sha256').update(conversationId).digest()[0]! % SHARDS}`;
const id = (i: number) => `dm:${i}`;

let kms: KmsServer;
beforeAll(async () => {
  kms = await startKmsServer();
});
afterAll(async () => {
  await kms?.close();
});

describe(`branch mode: master-key re-wrap of ${N.toLocaleString('en-US')} conversations`, () => {
  it('touches the branch keys only: O(branch versions) KMS calls, no conversation record changes, every sampled message opens under the new key alone', async () => {
    const oldKey = kms.createKey({ alias: 'alias/old' });
    const newKey = kms.createKey({ alias: 'alias/new' });
    const client = kmsClientFor(kms);
    const oldMaster = new AwsKmsMasterKey({ client, keyId: oldKey.arn });
    const newMaster = new AwsKmsMasterKey({ client, keyId: newKey.arn });
    const branchStore = new MemoryKeyStore();
    const keyStore = new MemoryKeyStore();

    // N conversations through the public API, each with its first message (kept for a sample).
    const branches = new BranchKeyProvider({ masterKey: oldMaster, store: branchStore, branchFor });
    const writer = new Keywarden({ masterKey: branches, keyStore, cache: { maxEntries: 10_000 } });
    const samples = new Map<number, Uint8Array>();
    const body = (i: number) => new TextEncoder().encode(`first message of ${id(i)}`);
    const rotateAt = new Set([Math.floor(N / 3), Math.floor((2 * N) / 3)]);
    const t0 = performance.now();
    const LANES = 64;
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      let done = 0;
      while (next < N) {
        const i = next++;
        // Two branches rotate on the way: later conversations in them use version 2.
        if (rotateAt.has(i)) await branches.rotateBranch(branchFor(id(i)));
        const ct = await writer.encrypt(id(i), body(i));
        // An encrypt with the branch key cached resolves without I/O: every lane yields now and
        // then so that the endpoint's sockets (served by this process) get the event loop.
        if (++done % 32 === 0) await new Promise((r) => setImmediate(r));
        if (i % 997 === 0 || i === N - 1) samples.set(i, ct);
      }
    }));
    const createMs = performance.now() - t0;
    const summaryBefore = await keyStore.summary();
    expect(summaryBefore.conversations).toBe(N);
    const bs = await branchStore.summary();
    const branchVersions = bs.versions.active + bs.versions.superseded;
    expect(branchVersions).toBeGreaterThanOrEqual(SHARDS);
    expect(branchVersions).toBeLessThanOrEqual(SHARDS + 2);

    // The re-wrap: a ring that unwraps with the old key, and the new key as destination.
    kms.resetCounters();
    const moving = new BranchKeyProvider({ masterKey: new MasterKeyRing(newMaster, [oldMaster]), store: branchStore, branchFor });
    const t1 = performance.now();
    const report = await new Keywarden({ masterKey: moving, keyStore }).rewrap({ to: newMaster });
    const rewrapMs = performance.now() - t1;
    const rewrapCalls = { ...kms.calls };
    const totalCalls = Object.values(rewrapCalls).reduce((a, b) => a + b, 0);
    expect(report).toMatchObject({ rewrapped: branchVersions, complete: true });
    expect(totalCalls).toBeGreaterThanOrEqual(branchVersions); // each branch version was moved by KMS
    expect(totalCalls).toBeLessThanOrEqual(2 * branchVersions + 2); // and nothing per conversation
    expect(await keyStore.summary()).toEqual(summaryBefore); // no conversation record changed
    expect((await branchStore.summary()).byMasterKey).toEqual({ [newKey.arn]: branchVersions });

    // The old key disabled: a fresh instance with the new key alone opens messages of every branch version.
    kms.setKeyState(oldKey.keyId, 'Disabled');
    kms.resetCounters();
    const reader = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: newMaster, store: branchStore, branchFor }), keyStore });
    for (const [i, ct] of samples) expect(new TextDecoder().decode(await reader.decrypt(id(i), ct))).toBe(`first message of ${id(i)}`);
    const openCalls = Object.values(kms.calls).reduce((a, b) => a + b, 0);
    expect(openCalls).toBeLessThanOrEqual(branchVersions); // one unwrap per branch version, at most

    console.log(
      `branch re-wrap: ${N.toLocaleString('en-US')} conversations in ${SHARDS} branches (${branchVersions} branch key versions) created in ${(createMs / 1000).toFixed(1)} s ` +
        `(${Math.round(N / (createMs / 1000)).toLocaleString('en-US')}/s); master-key re-wrap: ${totalCalls} KMS calls (${JSON.stringify(rewrapCalls)}) in ${rewrapMs.toFixed(0)} ms; ` +
        `${samples.size} sampled messages opened under the new key alone with ${openCalls} KMS calls`,
    );
  }, 1_800_000); // ~1-2 min on a quiet 2-core machine; generous for a loaded one
});
