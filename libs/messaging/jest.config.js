module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'messaging',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../testing/src/jest/global-setup.ts',
  globalTeardown: '<rootDir>/../testing/src/jest/global-teardown.ts',
  testTimeout: 120_000,
};
