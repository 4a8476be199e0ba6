import { defineConfig } from 'tsup';

// Library entry points (see package.json "exports"), then the CLI:
//  - index: portable core, every AEAD through @noble/ciphers (any JS runtime);
//  - node:  the same API with native node:crypto AEADs on the hot path;
//  - aws:   AwsKmsMasterKey, kept apart so the core never imports AWS code.
export default defineConfig([{
  entry: { index: 'src/index.ts', node: 'src/node.ts', aws: 'src/kms/aws.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,

  target: 'node22',
  splitting: true,
  treeshake: true,
  external: ['@aws-sdk/client-kms', 'pg'],
}, {
  // The `keywarden` command (package.json "bin"): ESM with a shebang.
  entry: { cli: 'src/cli/bin.ts' },
  format: ['esm'],
  sourcemap: true,
  target: 'node22',
  banner: { js: '#!/usr/bin/env node' },
  external: ['pg'],
}]);
