module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'launcher',
  rootDir: __dirname,
  // End-to-end: the platform is started as a user starts it, from the built output.
  globalSetup: '<rootDir>/test/build-once.ts',
  globalTeardown: '<rootDir>/../../libs/testing/src/jest/global-teardown.ts',
  testTimeout: 180_000,
};
