/**
 * Unit tests of the frontend's pure logic (countdown, clock skew, when to warn and poll,
 * presence throttling, the wording). They run in plain Node; the one JupyterLab package
 * they use, @jupyterlab/translation (its `nullTranslator`, English), ships ES modules,
 * which ts-jest turns into CommonJS like our own sources.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/labextension/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs' } }]
  },
  transformIgnorePatterns: ['/node_modules/(?!(@jupyterlab|@lumino)/)']
};
