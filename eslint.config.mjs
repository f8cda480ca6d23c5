// Lint of the JupyterLab extension's TypeScript (npm run lint:check).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/', 'node_modules/', 'jupyter_cull_ext/', '.venv/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['labextension/src/**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: { projectService: false }
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      'no-console': 'error',
      eqeqeq: 'error',
      curly: 'error',
      'prefer-arrow-callback': 'error'
    }
  }
);
