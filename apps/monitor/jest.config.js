module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'monitor',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../../libs/testing/src/jest/global-setup.ts',
  globalTeardown: '<rootDir>/../../libs/testing/src/jest/global-teardown.ts',
};
