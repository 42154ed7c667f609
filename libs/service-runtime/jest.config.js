module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'service-runtime',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../testing/src/jest/global-setup.ts',
  globalTeardown: '<rootDir>/../testing/src/jest/global-teardown.ts',
};
