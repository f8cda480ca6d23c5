/**
 * Unit tests of the frontend's pure logic (countdown, clock skew, when to warn and poll,
 * presence throttling). They import no JupyterLab package, so they run in plain Node.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/labextension/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
