// Lint (`npm run lint`, a step of .ci/run). typescript-eslint's recommended type-checked rules
// on the library, the recommended ones elsewhere, and the project's own rules:
//  - the error contract: library code throws keywarden's errors, never a bare Error, TypeError
//    or RangeError (callers `switch` on err.code, issue #10);
//  - no floating promises in the library (an unawaited store or KMS call loses its failure).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.scratch/', 'test/interop/tlogcheck/', 'reports/', '.stryker-tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ThrowStatement > NewExpression[callee.name=/^(Error|TypeError|RangeError|SyntaxError)$/]",
          message: 'Throw a KeywardenError subclass with a stable code (src/errors.ts), not a built-in error.',
        },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      // Deliberate: `void promise` marks a fire-and-forget whose failure is handled elsewhere.
      'no-void': 'off',
      // Validators take `unknown` and narrow; these fire on the narrowing itself.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      // Async methods that implement an async interface synchronously are deliberate: a throw
      // becomes a rejection, as callers of the interface expect.
      '@typescript-eslint/require-await': 'off',
      // Rejections forward what was caught (an unknown), already a KeywardenError where it matters.
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
  {
    // Plain scripts run by node: CommonJS and ESM consumers of the built package.
    files: ['**/*.cjs', '**/*.mjs'],
    languageOptions: { globals: { require: 'readonly', process: 'readonly', console: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-control-regex': 'off',
    },
  },
);
