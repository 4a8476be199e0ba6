/**
 * `keywarden audit export`: publishes the log for auditors and witnesses as static files in the
 * C2SP tlog-tiles layout (src/audit/export.ts), incrementally.
 * @module
 */
import { exportLog } from '../audit/export.js';
import { newNoteVerifier } from '../audit/note.js';
import { MAX_KEY_FILE, readText } from './files.js';
import { AUDIT_SOURCE_USAGE, auditSource, auditSourceOptions } from './audit-source.js';
import { type CommandSpec, EXIT, UsageError } from './common.js';
import { jsonOption } from './options.js';

/** The `audit export` command. */
export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'write the checkpoint, tiles and entry bundles as static tlog-tiles files (incremental)',
  usage: `${AUDIT_SOURCE_USAGE} --key VKEY --out DIR [--trust-published] [--json]`,
  description:
    'DIR receives <DIR>/checkpoint, <DIR>/tile/<L>/<N>[.p/<W>] and <DIR>/tile/entries/<N>[.p/<W>]\n' +
    '(https://c2sp.org/tlog-tiles): serve it over HTTP, or hand it over, and any tlog-tiles client\n' +
    "verifies the log (Go: golang.org/x/mod/sumdb/tlog's TileHashReader). A second export into the\n" +
    'same DIR writes only what was added; the checkpoint is written last, and only when the tiles\n' +
    'recomputed from the entries match it. Every full tile and bundle published before is first\n' +
    'recomputed and compared (a read of the whole log; a missing or changed one is refused, nothing\n' +
    'written); --trust-published skips that for logs too large to re-read at every export.',
  options: [
    ...auditSourceOptions,
    { name: 'key', type: 'string', value: 'VKEY', required: true, description: "the log's verifier key, or @FILE to read it from FILE" },
    { name: 'out', type: 'string', value: 'DIR', required: true, description: 'the directory to publish (created if missing)' },
    { name: 'trust-published', type: 'boolean', description: 'do not re-read the full tiles and bundles published before (only the new entries are read)' },
    jsonOption,
  ],
  async run(args, ctx) {
    const source = auditSource(args);
    const value = args.required('key');
    const key = value.startsWith('@') ? (await readText(value.slice(1), 'key file', MAX_KEY_FILE)).trim() : value;
    try {
      newNoteVerifier(key);
    } catch (e) {
      throw new UsageError(`--key: not a verifier key (${(e as Error).message})`);
    }
    const out = args.required('out');
    const r = await source.use((s) => exportLog(s, out, key, { trustPublished: args.flag('trust-published') }));
    ctx.emit({ out, ...r }, `exported ${out}: checkpoint of size ${r.size} (from ${r.from}), ${r.files} tile and bundle files written\n`);
    return EXIT.OK;
  },
};
