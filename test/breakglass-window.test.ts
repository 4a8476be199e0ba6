/**
 * Issue #12, exact break-glass windows (docs/FORMAT.md §3.3): for random
 * windows over conversations with many messages per key version, break-glass never returns a
 * message sealed outside [from, to), and returns every one whose recorded sealing second lies
 * inside it, whatever key versions the messages use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

const HOUR = 3_600_000;
const START = T0 + 21 * DAY; // after the fixture's own messages

describe('break-glass windows are exact (format v2)', () => {
  it('never returns a message sealed outside [from, to), with many messages per key version', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    let run = 0;
    let maxPerVersion = 0;
    let maxVersions = 0;
    await fc.assert(
      fc.asyncProperty(
        // 10..40 messages at increasing times over up to 10 days (ms resolution), each possibly
        // preceded by a rotation: several messages per key version, versions of uneven length.
        fc.array(fc.record({ gap: fc.integer({ min: 1, max: 30 * HOUR }), rotate: fc.integer({ min: 0, max: 7 }).map((x) => x === 0) }), { minLength: 10, maxLength: 40 }),
        // A window: hour-aligned (what legal requests name) or at any millisecond.
        fc.oneof(
          fc.record({ from: fc.integer({ min: 0, max: 300 }).map((h) => START + h * HOUR), span: fc.integer({ min: 1, max: 200 }).map((h) => h * HOUR) }),
          fc.record({ from: fc.integer({ min: START - DAY, max: START + 12 * DAY }), span: fc.integer({ min: 1, max: 12 * DAY }) }),
        ),
        async (plan, window) => {
          const conv = `w${run++}`;
          let t = START;
          const sealed: { ct: Uint8Array; aad: string; at: number; version: number }[] = [];
          for (const [i, step] of plan.entries()) {
            t += step.gap;
            d.setTime(t);
            if (step.rotate && i > 0) await d.kw.rotate(conv);
            const ct = await d.kw.encryptString(conv, `message ${i}`, { aad: `m${i}` });
            sealed.push({ ct, aad: `m${i}`, at: t, version: new DataView(ct.buffer, ct.byteOffset).getUint32(2) });
          }
          d.setTime(t + HOUR);
          const from = window.from;
          const to = Math.min(from + window.span, from + 60 * DAY);
          const tok = await token(d, [t1, t2, l1], { scope: { conversations: [conv], from: new Date(from).toISOString(), to: new Date(to).toISOString(), maxMessages: 50 } });
          const r = await d.bg.decrypt(tok.text, conv, sealed.map((m) => ({ ciphertext: m.ct, aad: m.aad })));
          let opened = 0;
          r.results.forEach((x, k) => {
            const m = sealed[k]!;
            const second = Math.floor(m.at / 1000) * 1000;
            if (x.ok) {
              opened++;
              expect(new TextDecoder().decode(x.plaintext)).toBe(`message ${k}`);
              expect(m.at >= from && m.at < to, `message ${k} sealed at ${new Date(m.at).toISOString()} returned for [${new Date(from).toISOString()}, ${new Date(to).toISOString()})`).toBe(true);
            } else {
              expect(x.error.code).toBe('ERR_BG_OUT_OF_SCOPE');
            }
            // Complete at the format's resolution: a message whose whole sealing second is inside opens.
            expect(x.ok).toBe(second >= from && second + 1000 <= to);
          });
          expect(r.opened).toBe(opened);
          const perVersion = new Map<number, number>();
          for (const m of sealed) perVersion.set(m.version, (perVersion.get(m.version) ?? 0) + 1);
          maxPerVersion = Math.max(maxPerVersion, ...perVersion.values());
          maxVersions = Math.max(maxVersions, perVersion.size);
        },
      ),
      { numRuns: Number(process.env.KEYWARDEN_FUZZ_RUNS ?? 60) },
    );
    // The runs did exercise windows cutting through versions holding many messages.
    expect(maxPerVersion).toBeGreaterThanOrEqual(8);
    expect(maxVersions).toBeGreaterThanOrEqual(3);
  });
});
