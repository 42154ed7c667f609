export * from './bootstrap';
export * from './runtime.tokens';
export * from './messaging.module';
