// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const databaseImports = {
  paths: [
    { name: 'knex', message: 'The gateway serves from Redis alone (DESIGN §1, §9.2).' },
    { name: 'objection', message: 'The gateway serves from Redis alone (DESIGN §1, §9.2).' },
    { name: 'pg', message: 'The gateway serves from Redis alone (DESIGN §1, §9.2).' },
  ],
  patterns: [
    { group: ['**/db', '**/db/**', '**/src/db/**'], message: 'The gateway never imports src/db (DESIGN §1).' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['src/gateway/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', databaseImports] },
  },
  {
    // Services and pure logic stay free of the HTTP framework and the queue library (STYLE.md).
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'koa', message: 'Services never import Koa.' },
          { name: 'bullmq', message: 'Services never import BullMQ; processors call services.' },
        ],
      }],
    },
  },
);
