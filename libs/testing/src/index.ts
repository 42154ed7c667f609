export * from './ports';
export * from './postgres';
export * from './s3-server';
export * from './grpc';
export * from './kafka-mock';
export * from './service-contract';
