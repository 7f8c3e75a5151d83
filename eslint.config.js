// Lint: typescript-eslint's recommended rules (type-aware rules stay off to keep `npm run lint` fast).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'data/**', 'desktop/dist/**', '**/dist/**', 'test-artifacts/**', 'bench/results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly',
        clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly',
        clearImmediate: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly',
        queueMicrotask: 'readonly', structuredClone: 'readonly', performance: 'readonly', crypto: 'readonly',
        globalThis: 'readonly', window: 'readonly', document: 'readonly', customElements: 'readonly',
        HTMLElement: 'readonly', Event: 'readonly', CustomEvent: 'readonly', WebSocket: 'readonly',
        AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', localStorage: 'readonly',
        requestAnimationFrame: 'readonly', KeyboardEvent: 'readonly', MouseEvent: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      'eqeqeq': ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
