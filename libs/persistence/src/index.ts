export * from './data-source';
export * from './persistence.module';
export * from './migration-cli';
export * from './pg-errors';
