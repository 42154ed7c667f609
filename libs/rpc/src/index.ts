export * from './app-error';
export * from './call-authentication';
export * from './grpc-service.decorator';
export * from './grpc-server';
export * from './grpc-server.module';
export * from './upstream-error';
