export * from './bootstrap';
export * from './runtime.tokens';
