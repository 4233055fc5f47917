// ESLint flat config. typescript-eslint's non-type-checked `recommended` set keeps `npm run lint` fast;
// `npm run typecheck` (tsc --strict) is the type-aware gate.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// Node globals for plain .js files (bin/, this file). Listed by hand instead of importing the
// `globals` package, which is only a transitive dependency here. TypeScript files need none:
// typescript-eslint turns off `no-undef` for them (tsc checks names).
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'setTimeout', 'clearTimeout',
    'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'queueMicrotask',
    'structuredClone', 'AbortController', 'AbortSignal', 'TextEncoder', 'TextDecoder', 'fetch',
  ].map((name) => [name, 'readonly']),
);

// `.only` left in a test silently skips the rest of the suite. (vitest also refuses it under CI.)
const noOnly = ['describe', 'it', 'test', 'suite', 'bench'].map((object) => ({
  object,
  property: 'only',
  message: 'Remove .only before committing: it silently skips every other test.',
}));

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'reports/', 'demo-data/', '.tmp/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: nodeGlobals,
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      'no-restricted-properties': ['error', ...noOnly],
    },
  },
  {
    // Library code logs through pino; only the CLI writes to the terminal directly.
    files: ['src/**/*.ts'],
    ignores: ['src/cli.ts', 'src/cli/**'],
    rules: { 'no-console': 'error' },
  },
);
