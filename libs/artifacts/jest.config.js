// No Postgres here: the S3 suite starts its own moto_server, so no global setup.
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'artifacts',
  rootDir: __dirname,
  testTimeout: 60_000,
};
