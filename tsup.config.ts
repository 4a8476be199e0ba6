import { defineConfig } from 'tsup';

// Library entry points (package.json "exports"). Each subpath has ONE set of type declarations;
// where the runtime differs (the root and break-glass pick native node:crypto AEADs on Node),
// the Node build exports exactly the same names (test/types/exports.ts), so those
// declarations describe both builds under every resolver (node16, bundler, CommonJS).
//  - index / index.node:           the envelope API, portable (@noble/ciphers) / Node;
//  - breakglass / breakglass.node: break-glass access, portable / Node;
//  - tlog:     transparency-log primitives (portable);
//  - audit:    the audit log and its stores (Node: FileAuditStore uses node:fs);
//  - postgres: PostgreSQL stores (Node; `pg` is an optional peer, types only);
//  - aws:      AwsKmsMasterKey (the other entries never import AWS code);
//  - dynamodb: DynamoDbKeyStore (`@aws-sdk/client-dynamodb` is an optional peer);
//  - attachments: Node streams and file helpers for attachments (Node: node:stream, node:fs).
export default defineConfig([{
  entry: {
    index: 'src/index.ts',
    'index.node': 'src/node.ts',
    breakglass: 'src/breakglass/index.ts',
    'breakglass.node': 'src/breakglass/node.ts',
    tlog: 'src/tlog.ts',
    audit: 'src/audit/index.ts',
    postgres: 'src/postgres.ts',
    aws: 'src/kms/aws.ts',
    dynamodb: 'src/dynamodb.ts',
    attachments: 'src/stream/node.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  target: 'node22',
  splitting: true,
  treeshake: true,
  external: ['@aws-sdk/client-kms', '@aws-sdk/client-dynamodb', 'pg'],
}, {
  // The `keywarden` command (package.json "bin"): ESM with a shebang.
  entry: { cli: 'src/cli/bin.ts' },
  format: ['esm'],
  sourcemap: true,
  target: 'node22',
  banner: { js: '#!/usr/bin/env node' },
  external: ['pg'],
}]);
