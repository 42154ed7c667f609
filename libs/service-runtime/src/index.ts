export * from './bootstrap';
export * from './runtime.tokens';
export * from './messaging.module';
export * from './replay-dead-letters.cli';
