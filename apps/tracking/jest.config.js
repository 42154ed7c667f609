module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'tracking',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../../libs/testing/src/jest/global-setup.ts',
  globalTeardown: '<rootDir>/../../libs/testing/src/jest/global-teardown.ts',
};
