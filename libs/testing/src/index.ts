export * from './ports';
export * from './postgres';
export * from './s3-server';
export * from './grpc';
export * from './identity';
export * from './kafka-mock';
export { default as startRunPostgres } from './jest/global-setup';
export { default as stopRunPostgres } from './jest/global-teardown';
