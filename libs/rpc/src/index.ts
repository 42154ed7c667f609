export * from './app-error';
export * from './grpc-service.decorator';
export * from './grpc-server';
export * from './grpc-server.module';
